"""Rendered JSON bodies remembered by the bytes they were rendered from: a page the task service answers
again (its own cache makes that the common case) is not converted again.

Converting a 50-chore ListChoresResponse into JSON costs the gateway ~0.6 ms (50 messages walked field by
field into dicts, then orjson); looking up its body by a BLAKE2b-256 digest of the response bytes costs
~0.02 ms. The key is the content itself, so nothing ever needs invalidating: a changed page is other bytes,
hence another key; a page nobody asks for again ages out of the LRU (`entries`, each about 15 KB of JSON for
50 chores). The conversion must be a function of the bytes alone (no caller, no request in it) for this to
hold — the converters are.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable

from prometheus_client import Counter

RENDERED = Counter(
    "hearth_gateway_rendered_total", "Bodies looked up by their response bytes, by outcome (hit, miss)", ["outcome"]
)


class RenderedBodies:
    def __init__(self, entries: int = 512) -> None:
        if entries < 1:
            raise ValueError("room for at least one body")
        self.entries = entries
        self._bodies: OrderedDict[bytes, bytes] = OrderedDict()
        self._hit = RENDERED.labels("hit")
        self._miss = RENDERED.labels("miss")

    def body(self, response: bytes, render: Callable[[bytes], bytes]) -> bytes:
        """`render(response)`, remembered by the digest of `response`."""
        digest = hashlib.blake2b(response, digest_size=32).digest()
        body = self._bodies.get(digest)
        if body is not None:
            self._bodies.move_to_end(digest)
            self._hit.inc()
            return body
        self._miss.inc()
        body = render(response)
        self._bodies[digest] = body
        if len(self._bodies) > self.entries:
            self._bodies.popitem(last=False)
        return body


__all__ = ["RenderedBodies"]
