"""kit.field_mask: AIP-134 update masks, one behaviour for every Update method."""

from __future__ import annotations

import pytest
from google.protobuf import api_pb2, source_context_pb2, timestamp_pb2, type_pb2
from google.protobuf.field_mask_pb2 import FieldMask

from kit.errors import InvalidArgument
from kit.field_mask import UpdateMask, present_fields

MASK = UpdateMask(
    updatable=("title", "description", "points", "recurrence"),
    output_only=("name", "create_time", "etag"),
)


def refused(mask: list[str], present: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    with pytest.raises(InvalidArgument) as raised:
        MASK.paths(mask, present=present)
    return [(v.field, v.message) for v in raised.value.violations]


def test_the_named_paths_are_set() -> None:
    assert MASK.paths(["points", "title"]) == ["title", "points"]


def test_paths_come_back_once_each_in_the_declared_order() -> None:
    assert MASK.paths(["recurrence", "title", "recurrence"]) == ["title", "recurrence"]


def test_a_named_path_is_set_even_when_absent_from_the_request() -> None:
    # Naming a field in the mask and leaving it out of the request clears it (AIP-134).
    assert MASK.paths(["description"], present=()) == ["description"]


def test_an_empty_mask_means_the_fields_present_in_the_request() -> None:
    assert MASK.paths([], present={"points", "title"}) == ["title", "points"]


def test_an_empty_mask_ignores_present_fields_that_are_not_updatable() -> None:
    assert MASK.paths([], present={"name", "create_time", "title", "unheard_of"}) == ["title"]


def test_an_empty_mask_and_nothing_present_sets_nothing() -> None:
    assert MASK.paths([]) == []


def test_the_wildcard_means_every_updatable_field() -> None:
    assert MASK.paths(["*"], present=()) == ["title", "description", "points", "recurrence"]


def test_the_wildcard_cannot_be_combined_with_other_paths() -> None:
    assert refused(["*", "title"]) == [("update_mask", "'*' cannot be combined with other paths")]
    assert refused(["title", "*"]) == [("update_mask", "'*' cannot be combined with other paths")]


def test_the_wildcard_named_twice_is_still_the_wildcard() -> None:
    assert MASK.paths(["*", "*"]) == list(MASK.updatable)


def test_output_only_paths_are_ignored() -> None:
    assert MASK.paths(["name", "title", "etag"]) == ["title"]
    assert MASK.paths(["create_time"]) == []


def test_an_unknown_path_is_refused_naming_it() -> None:
    assert refused(["colour"]) == [("update_mask", "cannot update 'colour'")]


def test_every_unknown_path_is_named_once() -> None:
    assert refused(["colour", "title", "size", "colour"]) == [
        ("update_mask", "cannot update 'colour'"),
        ("update_mask", "cannot update 'size'"),
    ]


def test_a_nested_path_of_an_updatable_field_says_to_replace_the_whole_field() -> None:
    assert refused(["recurrence.every"]) == [
        ("update_mask", "cannot update 'recurrence.every' (replace the whole 'recurrence')")
    ]


def test_a_nested_path_of_an_output_only_field_is_refused_as_such() -> None:
    assert refused(["create_time.seconds"]) == [
        ("update_mask", "cannot update 'create_time.seconds' ('create_time' is output only)")
    ]


@pytest.mark.parametrize("path", ["", " title", "Title", "title "])
def test_paths_are_exact(path: str) -> None:
    assert [field for field, _ in refused([path])] == ["update_mask"]


def test_the_error_message_names_the_paths() -> None:
    with pytest.raises(InvalidArgument) as raised:
        MASK.paths(["colour"])
    assert "colour" in raised.value.message
    assert raised.value.grpc_code.name == "INVALID_ARGUMENT"


def test_a_mask_declaration_cannot_name_a_field_both_ways() -> None:
    with pytest.raises(ValueError, match="title"):
        UpdateMask(updatable=("title",), output_only=("title",))


def test_a_mask_declaration_cannot_name_the_wildcard() -> None:
    with pytest.raises(ValueError, match="not a field name"):
        UpdateMask(updatable=("*",))


def test_a_mask_accepts_any_iterable_of_paths() -> None:
    # A protobuf FieldMask's `paths` is a repeated container, not a list.
    assert MASK.paths(FieldMask(paths=["points"]).paths) == ["points"]


# --- present_fields ------------------------------------------------------------------------------------


def test_scalars_without_presence_are_present_when_not_default() -> None:
    assert present_fields(timestamp_pb2.Timestamp(seconds=5)) == {"seconds"}
    assert present_fields(timestamp_pb2.Timestamp(seconds=0, nanos=0)) == set()


def test_messages_are_present_when_set_even_if_empty() -> None:
    api = api_pb2.Api(name="x", source_context=source_context_pb2.SourceContext())
    assert present_fields(api) == {"name", "source_context"}


def test_repeated_fields_are_present_when_not_empty() -> None:
    assert present_fields(api_pb2.Api(methods=[api_pb2.Method(name="m")])) == {"methods"}
    assert present_fields(api_pb2.Api(methods=[])) == set()


def test_enums_are_present_when_not_the_zero_value() -> None:
    assert present_fields(type_pb2.Type(syntax=type_pb2.SYNTAX_PROTO3)) == {"syntax"}
    assert present_fields(type_pb2.Type(syntax=type_pb2.SYNTAX_PROTO2)) == set()


# --- nested paths ----------------------------------------------------------------------------------------

NESTED = UpdateMask(
    updatable=("title", "assignment", "recurrence"),
    output_only=("name",),
    nested={"assignment": frozenset({"grace_minutes", "rotate"}), "recurrence": frozenset({"weekly.days"})},
)


def test_a_declared_nested_path_sets_its_field_and_names_the_member() -> None:
    mask = ["assignment.grace_minutes", "title", "recurrence.weekly.days", "assignment.rotate"]
    assert NESTED.paths(mask) == ["title", "assignment", "recurrence"]
    assert NESTED.nested_paths(mask) == {"assignment": ("grace_minutes", "rotate"), "recurrence": ("weekly.days",)}


def test_a_field_named_whole_and_by_a_member_is_replaced_whole() -> None:
    mask = ["assignment.grace_minutes", "assignment"]
    assert NESTED.paths(mask) == ["assignment"]
    assert NESTED.nested_paths(mask) == {}


def test_an_undeclared_member_is_refused_naming_it() -> None:
    with pytest.raises(InvalidArgument) as raised:
        NESTED.paths(["assignment.colour", "recurrence.weekly"])
    assert [v.message for v in raised.value.violations] == [
        "cannot update 'assignment.colour' ('assignment' has no such member)",
        "cannot update 'recurrence.weekly' ('recurrence' has no such member)",
    ]


def test_nested_paths_can_only_be_declared_for_updatable_fields() -> None:
    with pytest.raises(ValueError, match="name"):
        UpdateMask(updatable=("title",), output_only=("name",), nested={"name": frozenset({"x"})})
