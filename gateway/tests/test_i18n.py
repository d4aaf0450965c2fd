"""Localised problems (issue 14, point 4): the catalogue, Accept-Language negotiation, and problems in German through
the real gateway and services."""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from babel.messages.pofile import read_po
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from gateway import i18n, problems, schemas
from kit.errors import FieldViolation, InvalidArgument, registered_errors
from tests.support.api import API, create_household, sign_up
from tests.support.fixtures import http_fixture, stack_fixture
from tests.support.stack import SERVICES

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import messages  # scripts/messages.py, the catalogue's extractor

# The tests that talk to the stack run in its loop (the module's); the others are plain functions.
live = pytest.mark.asyncio(loop_scope="module")
stack = stack_fixture(SERVICES, gateway=True)
http = http_fixture()

DE = {"Accept-Language": "de"}


def every_code() -> list[tuple[int, str]]:
    """Every (status, code) a problem can carry (problems.codes_for) and every code with a title."""
    pairs = {(status, code) for status in range(400, 600) for code in problems.codes_for(status)}
    pairs |= {(cls.http_status, cls.code) for cls in registered_errors()}
    known = {code for _, code in pairs}
    pairs |= {(500, code) for code in problems.TITLES if code not in known}
    return sorted(pairs)


# --- the catalogue -------------------------------------------------------------------------------------


def test_en_and_de_are_served() -> None:
    assert {"en", "de"} <= i18n.languages()


@pytest.mark.parametrize("language", sorted(i18n.languages() - {i18n.DEFAULT}))
@pytest.mark.parametrize(("status", "code"), every_code())
def test_every_error_code_renders_in_english_and_every_other_language(status: int, code: str, language: str) -> None:
    english = problems.problem_body(status, code, correlation_id="c")
    other = problems.problem_body(status, code, correlation_id="c", language=language)
    assert code in problems.TITLES, code
    assert english["title"] == problems.TITLES[code]
    for key in ("title", "detail"):
        assert other[key], (code, key)
        assert other[key] != english[key], (code, key, other[key])
    assert (other["status"], other["code"], other["type"]) == (english["status"], english["code"], english["type"])


def test_german_is_among_the_languages_rendered() -> None:
    assert problems.problem_body(404, "not_found", correlation_id="c", language="de")["title"] == "Nicht gefunden"


def test_every_text_the_code_writes_is_translated_in_every_language() -> None:
    report = messages.check()
    assert report.untranslated == [], "run `python scripts/messages.py` and translate the new msgids"


@pytest.mark.parametrize("po", messages.po_files(), ids=lambda p: p.parent.parent.name)
def test_no_entry_is_untranslated_or_fuzzy_and_placeholders_match(po: Path) -> None:
    with po.open("rb") as file:
        catalog = read_po(file)
    assert not catalog.fuzzy
    for message in catalog:
        if not message.id:
            continue
        assert isinstance(message.string, str), message.id
        assert message.string, f"{po}: untranslated {message.id!r}"
        assert not message.fuzzy, f"{po}: fuzzy {message.id!r}"
        assert sorted(i18n.placeholders(message.string)) == sorted(i18n.placeholders(str(message.id))), message.id


def test_german_differs_from_english_except_for_what_is_not_words() -> None:
    german = i18n.catalogues()["de"].texts
    same = [msgid for (_, msgid), text in german.items() if text == msgid]
    assert same == []


def test_the_extractor_turns_f_strings_into_parameterised_msgids() -> None:
    found = {(f.msgid, f.path) for f in messages.extract()}
    assert ("must be at most %(max_length)s characters", "kit/validation.py") in found  # too_long_message
    assert ("%(name)s is not an IANA time zone", "kit/validation.py") in found  # errors.add(f"{name!r} ...")
    assert ("chore not found", "services/task/service.py") in found  # NotFound("...")
    assert ("request bodies are limited to %(max_body_bytes)s bytes", "gateway/middleware.py") in found  # problem()
    # a detail written into a variable first, then passed on
    assert any(msgid.startswith("this Idempotency-Key was used") for msgid, _ in found)
    # joins of values are not texts
    assert not any(msgid == "%(field_name)s: %(message)s" for msgid, _ in found)


def test_the_update_is_stable() -> None:
    # Merging the code's msgids into the committed catalogues changes nothing: they are up to date.
    for po in messages.po_files():
        catalog = messages.read(po)
        catalog.update(messages.template_catalog(), no_fuzzy_matching=True, update_header_comment=False)
        assert {(m.context, m.id) for m in catalog if m.id} == {(m.context, m.id) for m in messages.read(po) if m.id}


# --- negotiation ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("de", "de"),
        ("DE", "de"),
        ("de-CH", "de"),
        ("de-CH-1996", "de"),
        ("en;q=0.5, de;q=0.9", "de"),
        ("fr, de;q=0.1", "de"),
        ("fr", "en"),
        ("*", "en"),
        ("*;q=0.5, de;q=0.4", "en"),
        ("de;q=0, en", "en"),
        ("de;q=0", "en"),
        ("fr;q=0.5, de;q=0.5", "de"),
        ("en, de", "en"),
        ("de, en", "de"),
        ("de;q=1.000", "de"),
        ("  de ;  q=0.7 ", "de"),
        ("", "en"),
        (None, "en"),
        # malformed: skipped range by range, never an error
        ("de;q=2", "en"),
        ("de;q=abc, fr", "en"),
        ("de;q=abc, de-AT;q=0.3", "de"),
        (";;;,,,", "en"),
        ("😀", "en"),
        ("de-", "en"),
        ("x" * 9 + ", de", "de"),
    ],
)
def test_negotiation(header: str | None, language: str) -> None:
    assert i18n.negotiate(header) == language


def test_a_hostile_header_is_read_only_up_to_a_bound() -> None:
    # Ranges past MAX_RANGES are not read, nor characters past MAX_HEADER_CHARS.
    assert i18n.negotiate("fr," * (i18n.MAX_RANGES - 1) + "de") == "de"
    assert i18n.negotiate("fr," * i18n.MAX_RANGES + "de") == "en"
    assert i18n.negotiate("de;q=0.1," + "fr;q=0.5," * 100_000) == "de"
    assert i18n.negotiate("x" * (i18n.MAX_HEADER_CHARS - 2) + ",de") == "en"  # cut in two at the limit: not read
    assert i18n.negotiate("de," + "x" * 1_000_000) == "de"
    started = time.perf_counter()
    for n in range(300):  # each one different: no help from the cache
        assert i18n.negotiate(f"{n}," + "fr-FR;q=0.5, " * 10_000) == "en"
    assert time.perf_counter() - started < 1.0  # a bounded parse: well under a millisecond each


def test_language_of_an_asgi_request() -> None:
    assert i18n.language_of({"headers": [(b"accept-language", b"de-DE,de;q=0.9")]}) == "de"
    # sent twice: one list
    assert i18n.language_of({"headers": [(b"accept-language", b"fr"), (b"accept-language", b"de;q=0.5")]}) == "de"
    assert i18n.language_of({"headers": [(b"accept-language", b"\xff\xfe")]}) == "en"
    assert i18n.language_of({"headers": []}) == "en"


# --- translation of texts written elsewhere --------------------------------------------------------------


def test_a_service_message_with_values_is_translated_with_its_values() -> None:
    assert i18n.translate("must be at most 200 characters", "de").text == "darf höchstens 200 Zeichen lang sein"
    # the most specific msgid wins: "must be between 1 and %(max_every)s" is not "… %(low)s and %(high)s"
    assert i18n.translate("'Mars/Base' is not an IANA time zone", "de").text == "'Mars/Base' ist keine IANA-Zeitzone"
    # a text beyond the bound is not matched against the parameterised msgids (nor does it cost their matching)
    long = "x" * i18n.MAX_MATCHED_CHARS + " is not an IANA time zone"
    assert i18n.translate(long, "de") == i18n.Rendered(long, False)
    hostile = " id " * 2_000 + " is not a valid id"
    started = time.perf_counter()
    assert not i18n.translate(hostile, "de").translated
    assert time.perf_counter() - started < 0.5
    unknown = i18n.translate("a library's own words", "de")
    assert (unknown.text, unknown.translated) == ("a library's own words", False)


def test_a_detail_that_lists_field_violations_is_translated_part_by_part() -> None:
    violations = [
        FieldViolation("user.time_zone", "'Mars' is not an IANA time zone"),
        FieldViolation("display_name", "is required"),
    ]
    summary = "user.time_zone: 'Mars' is not an IANA time zone; display_name: is required"
    response = problems.from_error(InvalidArgument(f"the account details are not valid: {summary}", violations))
    # English: the service's words, with the JSON field names the client sent (user.time_zone → timezone)
    assert json.loads(response.body)["detail"] == (
        "the account details are not valid: timezone: 'Mars' is not an IANA time zone; display_name: is required"
    )
    response.in_language("de")
    german = json.loads(response.body)
    assert german["detail"] == (
        "Die Kontodaten sind ungültig: timezone: 'Mars' ist keine IANA-Zeitzone; display_name: ist erforderlich"
    )
    assert german["errors"] == [
        {"field": "timezone", "message": "'Mars' ist keine IANA-Zeitzone"},
        {"field": "display_name", "message": "ist erforderlich"},
    ]
    assert response.headers["content-language"] == "de"
    assert response.headers["content-length"] == str(len(response.body))
    # kit's other joins: invalid(field, message), and an update mask's list of refusals
    single = problems.from_error(
        InvalidArgument("photo: this chore requires a photo", [FieldViolation("photo", "this chore requires a photo")])
    )
    single.in_language("de")
    assert json.loads(single.body)["detail"] == "photo_id: Diese Aufgabe erfordert ein Foto"
    refusals = [FieldViolation("update_mask", "cannot update 'a'"), FieldViolation("update_mask", "cannot update 'b'")]
    mask = problems.from_error(InvalidArgument("update_mask: cannot update 'a'; cannot update 'b'", refusals))
    mask.in_language("de")
    assert (
        json.loads(mask.body)["detail"] == "update_mask: 'a' kann nicht geändert werden; 'b' kann nicht geändert werden"
    )


def test_content_language_names_english_too_when_a_text_stayed_english() -> None:
    response = problems.problem(422, "validation_failed", "a library's own words")
    response.in_language("de")
    assert response.headers["content-language"] == "de, en"
    assert response.headers["vary"] == "Accept-Language"


# --- through the real gateway and services ---------------------------------------------------------------


def localised(response: httpx.Response, status: int, language: str = "de") -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["content-language"] == language
    assert "accept-language" in response.headers["vary"].lower()
    body: dict[str, object] = response.json()
    return body


@live
async def test_a_404_from_a_service_in_german(http: httpx.AsyncClient) -> None:
    person = await sign_up(http, "Nicht")
    answer = await http.get(f"{API}/households/{uuid.uuid4()}", headers={**person.headers, **DE})
    problem = localised(answer, 404)
    assert (problem["title"], problem["detail"], problem["code"]) == (
        "Nicht gefunden",
        "Haushalt nicht gefunden",
        "not_found",
    )
    english = localised(await http.get(f"{API}/households/{uuid.uuid4()}", headers=person.headers), 404, "en")
    assert (english["title"], english["detail"]) == ("Not found", "household not found")


@live
async def test_the_fast_route_answers_in_german_too(http: httpx.AsyncClient) -> None:
    person = await sign_up(http, "Schnell")
    answer = await http.get(f"{API}/households/{uuid.uuid4()}/chores", headers={**person.headers, **DE})
    assert localised(answer, 404)["detail"] == "Haushalt nicht gefunden"


@live
async def test_a_422_from_request_validation_has_german_field_messages(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Feld")
    hid = await create_household(http, owner)
    body = {
        "title": "x" * 201,
        "points": "20",
        "colour": "red",
        "recurrence": {"kind": "sometimes"},
        "assignment": {"strategy": "unassigned"},
    }
    answer = await http.post(f"{API}/households/{hid}/chores", json=body, headers={**owner.headers, **DE})
    problem = localised(answer, 422)
    assert (problem["title"], problem["detail"]) == ("Die Anfrage ist ungültig", "Die Anfrage ist ungültig")
    errors = problem["errors"]
    assert isinstance(errors, list)
    fields = {e["field"]: e["message"] for e in errors}
    assert fields["title"] == "darf höchstens 200 Zeichen lang sein"
    assert fields["points"] == "muss eine ganze Zahl sein"
    assert fields["colour"] == "unbekanntes Feld"
    assert fields["recurrence.kind"].startswith("muss einer dieser Werte sein: once, interval, weekly")
    missing = await http.post(f"{API}/households/{hid}/chores", json={"title": "x"}, headers={**owner.headers, **DE})
    assert {e["message"] for e in localised(missing, 422)["errors"]} == {"ist erforderlich"}  # type: ignore[union-attr]
    malformed = await http.post(
        f"{API}/households/{hid}/chores",
        content=b"{nope",
        headers={**owner.headers, **DE, "Content-Type": "application/json"},
    )
    assert [e["message"] for e in localised(malformed, 422)["errors"]] == ["fehlerhaftes JSON"]  # type: ignore[union-attr]


@live
async def test_a_422_from_a_service_has_german_field_messages_and_detail(http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Zone")
    answer = await http.post(
        f"{API}/households", json={"name": "Home", "timezone": "Mars/Base"}, headers={**owner.headers, **DE}
    )
    problem = localised(answer, 422)
    errors = problem["errors"]
    assert errors == [{"field": "timezone", "message": "'Mars/Base' ist keine IANA-Zeitzone"}]
    assert "'Mars/Base' ist keine IANA-Zeitzone" in str(problem["detail"])
    assert "timezone: " in str(problem["detail"])


@live
async def test_a_library_message_is_translated_or_stays_english_and_the_answer_says_so(http: httpx.AsyncClient) -> None:
    def register(email: str) -> dict[str, object]:
        return {"email": email, "password": "correct horse battery", "display_name": "X"}

    # email_validator's own English words: its frequent refusals are in the catalogue (problems.LIBRARY_TEXTS) …
    common = await http.post(f"{API}/auth/register", json=register("no-at-sign.example.com"), headers=DE)
    assert localised(common, 422)["errors"] == [
        {"field": "email", "message": "Eine E-Mail-Adresse muss ein @-Zeichen enthalten."}
    ]
    # … a rarer one is not: the title is German, the field message English, and Content-Language names both.
    rare = await http.post(f"{API}/auth/register", json=register("a..b@example.com"), headers=DE)
    problem = localised(rare, 422, "de, en")
    assert problem["title"] == "Die Anfrage ist ungültig"
    assert problem["errors"] == [{"field": "email", "message": "An email address cannot have two periods in a row."}]


@live
@pytest.mark.parametrize(
    ("header", "title"),
    [
        ("en;q=0.5, de;q=0.9", "Nicht gefunden"),
        ("fr, de;q=0.1", "Nicht gefunden"),
        ("de-CH", "Nicht gefunden"),
        ("fr", "Not found"),
        ("*", "Not found"),
        ("de;q=nonsense", "Not found"),
        (";;;=,,,q", "Not found"),
        ("de;q=0.1," + "fr;q=0.2," * 2_000, "Nicht gefunden"),
    ],
)
async def test_accept_language_through_the_gateway(http: httpx.AsyncClient, header: str, title: str) -> None:
    answer = await http.get(f"{API}/nowhere", headers={"Accept-Language": header})
    language = "de" if title == "Nicht gefunden" else "en"
    assert localised(answer, 404, language)["title"] == title


@live
async def test_problems_the_gateway_writes_itself_are_german(http: httpx.AsyncClient) -> None:
    too_large = await http.post(f"{API}/households", content=b"x" * (2 * 1024 * 1024), headers=DE)
    assert localised(too_large, 413)["detail"] == f"Anfragetexte sind auf {1024 * 1024} Bytes begrenzt"
    bad_key = await http.post(f"{API}/households", json={}, headers={**DE, "Idempotency-Key": "x" * 201})
    problem = localised(bad_key, 422)
    assert problem["errors"] == [
        {"field": "Idempotency-Key", "message": "muss aus 1 bis 200 sichtbaren ASCII-Zeichen bestehen (etwa eine UUID)"}
    ]
    unauthenticated = await http.get(f"{API}/users/me", headers=DE)
    assert localised(unauthenticated, 401)["detail"] == "Ein Bearer-Zugriffstoken ist erforderlich"
    assert unauthenticated.headers["www-authenticate"].startswith("Bearer")


@live
async def test_successes_carry_no_content_language(http: httpx.AsyncClient) -> None:
    person = await sign_up(http, "Ok")
    me = await http.get(f"{API}/users/me", headers={**person.headers, **DE})
    assert me.status_code == 200
    assert "content-language" not in me.headers
    hid = await create_household(http, person)
    listed = await http.get(f"{API}/households/{hid}/chores", headers={**person.headers, **DE})
    assert listed.status_code == 200
    assert "content-language" not in listed.headers


@live
async def test_the_openapi_document_names_the_problem_headers(http: httpx.AsyncClient) -> None:
    spec = (await http.get("/openapi.json")).json()
    answer = spec["paths"]["/api/v1/households/{hid}"]["get"]["responses"]["404"]
    assert {"Content-Language", "Vary", "X-Correlation-ID"} <= set(answer["headers"])


@pytest.mark.parametrize("language", sorted(i18n.languages() - {i18n.DEFAULT}))
def test_every_parameterised_message_is_read_back_as_itself(language: str) -> None:
    # No other msgid's pattern takes a text written from this one (which would translate it as something else).
    catalogue = i18n.catalogues()[language].texts
    for context, msgid in i18n.catalogues()[i18n.DEFAULT].texts:
        names = i18n.placeholders(msgid)
        if context is not None or not names:
            continue
        values = {name: f"<{name}:7>" for name in names}
        english = msgid % values
        assert i18n.translate(english, language).text == catalogue[(None, msgid)] % values, msgid


def test_pydantic_errors_in_our_words_with_their_values() -> None:
    body = {
        "title": "",
        "points": 5000,
        "estimated_minutes": -1,
        "labels": ["a"] * 21,
        "requires_photo": "yes",
        "colour": "red",
        "recurrence": {"kind": "sometimes", "every": "2", "time": "25:00", "months": "all"},
        "assignment": {"strategy": "fixed", "assignees": [""] * 51},
        "first_due_at": "tomorrow",
    }
    with pytest.raises(ValidationError) as caught:
        schemas.ChoreBody.model_validate(body)
    validation = RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in caught.value.errors()])
    response = problems.from_validation(validation)
    english = {e["field"]: e["message"] for e in json.loads(response.body)["errors"]}
    response.in_language("de")
    german = {e["field"]: e["message"] for e in json.loads(response.body)["errors"]}
    assert response.headers["content-language"] == "de"  # every type sent here has our words
    assert english["title"] == "must not be empty"
    assert english["points"] == "must be at most 1000"
    assert english["estimated_minutes"] == "must be at least 0"
    assert english["labels"] == "must have at most 20 items"
    assert english["requires_photo"] == "must be true or false"
    assert english["colour"] == "unknown field"
    assert english["recurrence.kind"] == "must be one of once, interval, weekly, monthly, yearly, rrule, adaptive"
    assert english["recurrence.every"] == "must be an integer"
    assert english["recurrence.time"] == "must match the pattern ^([01]\\d|2[0-3]):[0-5]\\d$"
    assert english["recurrence.months"] == "must be a list"
    assert english["assignment.assignees"] == "must have at most 50 items"
    assert english["first_due_at"] == "must be an RFC 3339 date-time"
    assert german["points"] == "darf höchstens 1000 sein"
    assert german["labels"] == "darf höchstens 20 Einträge haben"
    assert (
        german["recurrence.kind"]
        == "muss einer dieser Werte sein: once, interval, weekly, monthly, yearly, rrule, adaptive"
    )
    assert all(german[field] != english[field] for field in english)


def test_the_english_catalogue_is_the_msgids_themselves() -> None:
    # English wording is changed where the code writes it (services answer gRPC callers in it too); the en
    # catalogue only says which texts exist, so a problem never reads differently from the service's own message.
    assert all(text == msgid for (_, msgid), text in i18n.catalogues()[i18n.DEFAULT].texts.items())
