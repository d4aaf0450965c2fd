"""Languages of the texts the gateway writes: which one a request asked for, and the catalogue that holds them.

The catalogue is gettext: `gateway/locales/<lang>/LC_MESSAGES/messages.po`, one per language, read once with Babel
(`read_po`; no compiled `.mo` to drift from its source). Its msgids are the English texts as the code writes them;
a text with values in it is one parameterised msgid (`must be at most %(max_length)s characters`), which
`scripts/messages.py` extracts from the f-string that writes it. The services only ever write English, so a
service's message is looked up by its English form: exactly, or by matching it against the parameterised msgids
(the values caught there are put into the translation as they are). Anything the catalogue does not hold stays
English, and the caller is told so (`Rendered.translated`).

The language is negotiated from `Accept-Language` (RFC 9110 §12.5.4 ranges with q-values, RFC 4647 lookup:
`de-CH` → `de`) only when a problem is rendered — never on a successful request — from a cached parse of a
header cut to a bounded length and number of ranges, so a hostile header costs a little once and a dict
lookup after that.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from babel.messages.pofile import read_po

DEFAULT = "en"
DOMAIN = "messages"
LOCALES = Path(__file__).parent / "locales"
# Catalogue contexts (msgctxt): problem titles are keyed apart from detail and field texts.
TITLE = "title"
# Accept-Language beyond this many characters or ranges is not read: real browsers send a handful of ranges in
# well under 100 characters; the rest of a longer header cannot change the answer for a sane client.
MAX_HEADER_CHARS = 256
MAX_RANGES = 12
# RFC 9110 language-range (RFC 4647 basic range) with an optional weight (q is 0..1 with up to 3 decimals).
_RANGE = re.compile(
    r"\s*(?P<tag>\*|[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*)\s*(?:;\s*[qQ]\s*=\s*(?P<q>0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?))?\s*",
    re.ASCII,
)
# Texts longer than this are not matched against the parameterised msgids (a few lazy groups each: a bounded text
# keeps the matching cheap whatever the values in it); our messages are far shorter.
MAX_MATCHED_CHARS = 1000
# A python-format placeholder of a msgid: `%(name)s`.
_PLACEHOLDER = re.compile(r"%\((?P<name>[a-z_][a-z0-9_]*)\)s")


def placeholders(msgid: str) -> list[str]:
    return _PLACEHOLDER.findall(msgid)


@dataclass(frozen=True)
class Catalogue:
    """One language's translations: (context, msgid) → text. Fuzzy and empty entries are left out (they fall
    back to English)."""

    language: str
    texts: Mapping[tuple[str | None, str], str]


@dataclass(frozen=True)
class Pattern:
    """A parameterised msgid as a regex that reads its values back out of the English text."""

    msgid: str
    regex: re.Pattern[str]


def _pattern(msgid: str) -> Pattern:
    parts: list[str] = []
    end = 0
    seen: set[str] = set()
    for match in _PLACEHOLDER.finditer(msgid):
        parts.append(re.escape(msgid[end : match.start()].replace("%%", "%")))
        name = match["name"]
        # A value named twice is the same value: the second occurrence must repeat the first.
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.+?)")
        seen.add(name)
        end = match.end()
    parts.append(re.escape(msgid[end:].replace("%%", "%")))
    return Pattern(msgid, re.compile("".join(parts), re.DOTALL))


def _literal_length(msgid: str) -> int:
    return len(_PLACEHOLDER.sub("", msgid))


@functools.cache
def catalogues() -> dict[str, Catalogue]:
    """Every language with a catalogue under LOCALES, read once."""
    found: dict[str, Catalogue] = {}
    for po in sorted(LOCALES.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        language = po.parent.parent.name.lower()
        with po.open("rb") as file:
            catalog = read_po(file, locale=None, domain=DOMAIN)
        texts: dict[tuple[str | None, str], str] = {}
        for message in catalog:
            if not message.id or message.fuzzy or not isinstance(message.id, str):
                continue
            if isinstance(message.string, str) and message.string:
                texts[(message.context, message.id)] = message.string
        found[language] = Catalogue(language, texts)
    if DEFAULT not in found:
        raise RuntimeError(f"no {DEFAULT} catalogue under {LOCALES}")
    return found


@functools.cache
def patterns() -> tuple[Pattern, ...]:
    """The parameterised msgids (of the English catalogue, the source), most specific first: the one with the
    most literal text wins when two could read the same text ("must be between 1 and %(max)s" before
    "must be between %(low)s and %(high)s")."""
    msgids = {msgid for (context, msgid) in catalogues()[DEFAULT].texts if context is None and placeholders(msgid)}
    return tuple(_pattern(msgid) for msgid in sorted(msgids, key=lambda m: (-_literal_length(m), m)))


def load() -> None:
    """Read the catalogues now (at startup): a broken .po fails the start, not the first error's answer."""
    patterns()


def languages() -> frozenset[str]:
    return frozenset(catalogues())


# --- negotiation ---------------------------------------------------------------------------------------


def negotiate(header: str | None) -> str:
    """The language to answer in for this Accept-Language value: the acceptable range with the highest q (the
    earlier one on a tie) that a catalogue serves, by RFC 4647 lookup (`de-CH-1996` → `de-ch-1996`, `de-ch`,
    `de`); DEFAULT for `*`, for nothing acceptable and for a header that cannot be read."""
    if not header:
        return DEFAULT
    if len(header) > MAX_HEADER_CHARS:
        # The range cut in two by the limit is not read; whole ones before it are.
        header = header[:MAX_HEADER_CHARS].rpartition(",")[0]
    return _negotiate(header)


@functools.lru_cache(maxsize=256)
def _negotiate(header: str) -> str:
    available = languages()
    for tag in _ranges(header):
        if tag == "*":
            return DEFAULT
        while tag:
            if tag in available:
                return tag
            tag = tag.rpartition("-")[0]
    return DEFAULT


def _ranges(header: str) -> list[str]:
    """The acceptable ranges (lower case), best first; unreadable ranges and q=0 (\"not acceptable\") left out."""
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",", MAX_RANGES)[:MAX_RANGES]):
        match = _RANGE.fullmatch(part)
        if match is None:
            continue
        q = float(match["q"]) if match["q"] else 1.0
        if q > 0:
            weighted.append((-q, index, match["tag"].lower()))
    return [tag for _, _, tag in sorted(weighted)]


def language_of(scope: Mapping[str, Any]) -> str:
    """The negotiated language of an ASGI request (its Accept-Language header; sent twice, the two are one list,
    RFC 9110 §5.3)."""
    values = [value for name, value in scope.get("headers", ()) if name == b"accept-language"]
    if not values:
        return DEFAULT
    return negotiate(b",".join(values).decode("latin-1"))


# --- translation ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    text: str
    # False: the catalogue had nothing for it in the language asked for, and `text` is the English.
    translated: bool


def gettext(
    msgid: str, language: str, params: Mapping[str, object] | None = None, context: str | None = None
) -> Rendered:
    """`msgid` (a catalogue msgid, with `params` for its placeholders) in `language`; English when untranslated."""
    found = catalogues().get(language, catalogues()[DEFAULT]).texts.get((context, msgid))
    template = found if found is not None else catalogues()[DEFAULT].texts.get((context, msgid), msgid)
    text = template % dict(params) if params is not None and placeholders(template) else template
    return Rendered(text, found is not None or language == DEFAULT)


def translate(english: str, language: str) -> Rendered:
    """An English text written elsewhere (a service's message) in `language`: by its msgid, or by the
    parameterised msgid it was written from, its values carried over. English when nothing matches."""
    if language == DEFAULT:
        return Rendered(english, True)
    return _translate(english, language)


@functools.lru_cache(maxsize=1024)
def _translate(english: str, language: str) -> Rendered:
    texts = catalogues().get(language, catalogues()[DEFAULT]).texts
    found = texts.get((None, english))
    if found is not None:
        return Rendered(found, True)
    if len(english) > MAX_MATCHED_CHARS:
        return Rendered(english, False)
    for pattern in patterns():
        match = pattern.regex.fullmatch(english)
        if match is not None:
            template = texts.get((None, pattern.msgid))
            if template is None:
                return Rendered(english, False)
            return Rendered(template % match.groupdict(), True)
    return Rendered(english, False)


class Text(Protocol):
    """Something shown to a client that can be written in any language of the catalogue."""

    def render(self, language: str) -> Rendered: ...


@dataclass(frozen=True, slots=True)
class English:
    """A text written in English elsewhere (a service's message), translated by its English form."""

    text: str

    def render(self, language: str) -> Rendered:
        return translate(self.text, language)


@dataclass(frozen=True, slots=True)
class Message:
    """A catalogue msgid and the values of its placeholders."""

    msgid: str
    params: Mapping[str, object] | None = None
    context: str | None = None

    def render(self, language: str) -> Rendered:
        return gettext(self.msgid, language, self.params, self.context)


@dataclass(frozen=True, slots=True)
class Joined:
    """Texts joined as kit.validation joins a request's field problems: `[lead: ]field: text; field: text`
    (an item without a field is its text alone). Field names are the API's, never translated."""

    lead: Text | None
    items: tuple[tuple[str | None, Text], ...]

    def render(self, language: str) -> Rendered:
        parts = [(field, text.render(language)) for field, text in self.items]
        summary = "; ".join(f"{field}: {r.text}" if field is not None else r.text for field, r in parts)
        translated = all(r.translated for _, r in parts)
        if self.lead is None:
            return Rendered(summary, translated)
        lead = self.lead.render(language)
        return Rendered(f"{lead.text}: {summary}", translated and lead.translated)


def N_(msgid: str) -> str:
    """Marks a literal as a msgid for scripts/messages.py; the text is translated where it is rendered."""
    return msgid


def NC_(context: str, msgid: str) -> str:
    """N_ for a msgid in a context (msgctxt), such as the problem titles (TITLE)."""
    return msgid


def content_language(language: str, rendered: Iterable[Rendered]) -> str:
    """`Content-Language` of a document written in `language`: with `en` beside it when some text in it
    stayed English (a message the catalogue does not hold, a library's own words)."""
    if language != DEFAULT and not all(item.translated for item in rendered):
        return f"{language}, {DEFAULT}"
    return language


__all__ = [
    "DEFAULT",
    "MAX_HEADER_CHARS",
    "MAX_RANGES",
    "NC_",
    "N_",
    "TITLE",
    "English",
    "Joined",
    "Message",
    "Rendered",
    "Text",
    "catalogues",
    "content_language",
    "gettext",
    "language_of",
    "languages",
    "load",
    "negotiate",
    "placeholders",
    "translate",
]
