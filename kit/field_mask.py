"""Update masks (AIP-134), one behaviour for every Update method.

A resource declares once which of its fields an update may set and which are output only:

    CHORE_MASK = UpdateMask(updatable=("title", "points", ...), output_only=("name", "create_time", ...))

and each update asks it which fields to set:

    paths = CHORE_MASK.paths(request.update_mask.paths, present=present_fields(request.chore))

- `*` means every updatable field and cannot be combined with other paths;
- an empty mask means the updatable fields present in the request (`present`);
- output-only paths are ignored (AIP-161: a client may send back the resource it read, mask and all);
- any other path is refused: INVALID_ARGUMENT on field `update_mask`, one violation naming each path.
Paths come back once each, in the order of `updatable` (whatever order the mask named them in).
Nested paths ("recurrence.every") are updatable only where the resource declares them (`nested`: the sub-paths
of a field that may be named on their own, e.g. `assignment.grace_minutes`); `paths` then names the top-level field
and `nested_paths` says which of its members to set: the resource merges them into its stored value. A field named
whole as well as by a member is replaced whole. Any other nested path is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from google.protobuf.message import Message

from kit.errors import FieldViolation, InvalidArgument

WILDCARD = "*"
FIELD = "update_mask"


@dataclass(frozen=True)
class UpdateMask:
    """The fields of one resource an update may set (`updatable`) and those it ignores (`output_only`)."""

    updatable: tuple[str, ...]
    output_only: tuple[str, ...] = ()
    # updatable field → the sub-paths of it that may be named on their own ("grace_minutes", "weekly.days")
    nested: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if WILDCARD in self.updatable or WILDCARD in self.output_only:
            raise ValueError(f"{WILDCARD!r} is not a field name")
        both = set(self.updatable) & set(self.output_only)
        if both:
            raise ValueError(f"fields both updatable and output only: {sorted(both)}")
        if not set(self.nested) <= set(self.updatable):
            raise ValueError(
                f"nested paths of fields that are not updatable: {sorted(set(self.nested) - set(self.updatable))}"
            )

    def _top(self, path: str) -> str | None:
        """The updatable field `path` sets: itself, or the field a declared nested path belongs to."""
        if path in self.updatable:
            return path
        top, _, rest = path.partition(".")
        return top if rest in self.nested.get(top, ()) else None

    def paths(self, mask: Iterable[str], *, present: Iterable[str] = ()) -> list[str]:
        """The updatable fields this update sets (see the module's rules); INVALID_ARGUMENT on `update_mask`."""
        requested = list(mask)
        if not requested:
            given = set(present)
            return [path for path in self.updatable if path in given]
        if WILDCARD in requested:
            if any(path != WILDCARD for path in requested):
                message = f"{WILDCARD!r} cannot be combined with other paths"
                raise InvalidArgument(f"{FIELD}: {message}", [FieldViolation(FIELD, message)])
            return list(self.updatable)
        violations = [
            FieldViolation(FIELD, self._refusal(path))
            for path in dict.fromkeys(requested)  # each unknown path once, in the order named
            if self._top(path) is None and path not in self.output_only
        ]
        if violations:
            summary = "; ".join(v.message for v in violations)
            raise InvalidArgument(f"{FIELD}: {summary}", violations)
        named = {self._top(path) for path in requested}
        return [path for path in self.updatable if path in named]

    def nested_paths(self, mask: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """Field → the members of it the mask names (in the order named), for the fields named only by members:
        the ones to merge into the stored value. Call after `paths` (which refuses what is not declared)."""
        requested = list(mask)
        members: dict[str, list[str]] = {}
        for path in dict.fromkeys(requested):
            top, _, rest = path.partition(".")
            if rest and top not in requested and rest in self.nested.get(top, ()):
                members.setdefault(top, []).append(rest)
        return {top: tuple(named) for top, named in members.items()}

    def _refusal(self, path: str) -> str:
        top = path.split(".", 1)[0]
        if top != path and top in self.nested:
            return f"cannot update {path!r} ({top!r} has no such member)"
        if top != path and top in self.updatable:
            return f"cannot update {path!r} (replace the whole {top!r})"
        if top != path and top in self.output_only:
            return f"cannot update {path!r} ({top!r} is output only)"
        return f"cannot update {path!r}"


def present_fields(message: Message) -> frozenset[str]:
    """The fields set in `message` (the implied mask when a request names none): singular fields that are
    not at their default or, with presence (`optional`, messages), are set; repeated fields that are
    not empty. A field set to its default without presence is indistinguishable from one left out."""
    return frozenset(descriptor.name for descriptor, _ in message.ListFields())


__all__ = ["FIELD", "WILDCARD", "UpdateMask", "present_fields"]
