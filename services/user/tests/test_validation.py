"""The user service's field checks (services/user/validation.py) and its event payloads (events.py), pure."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import UTC, datetime
from zoneinfo import available_timezones

import pytest
from babel import Locale
from babel.localedata import locale_identifiers
from hypothesis import assume, given
from hypothesis import strategies as st

from kit.text import CONTROL_CHARACTERS_MESSAGE
from kit.validation import REQUIRED_MESSAGE, Violations
from services.user import events, validation
from services.user.models import Household, User


def refusals(errors: Violations) -> list[tuple[str, str]]:
    return [(violation.field, violation.message) for violation in errors]


def test_every_problem_is_collected() -> None:
    errors = Violations()

    address = validation.email(errors, "not-an-email")
    name = validation.name(errors, "display_name", " " + "x" * 101)
    tag = validation.locale(errors, "locale", "", default="en")
    validation.password(errors, "short")
    validation.role(errors, "invite.role", "owner", ("admin", "member", "child"))

    assert errors.fields == ["email", "display_name", "password", "invite.role"]
    assert (address, name, tag) == ("", "x" * 101, "en")


@pytest.mark.parametrize(
    ("given", "expected"),
    [("Ann@Example.COM", "ann@example.com"), ("  bob@example.com ", "bob@example.com")],
)
def test_emails_are_normalised(given: str, expected: str) -> None:
    errors = Violations()
    assert validation.email(errors, given) == expected
    assert not errors


def test_an_email_with_control_characters_is_refused_by_the_shared_rule() -> None:
    errors = Violations()
    assert validation.email(errors, "a\x00@example.com", "invite.email") == ""
    assert [(v.field, v.message) for v in errors] == [("invite.email", CONTROL_CHARACTERS_MESSAGE)]


def test_a_login_answers_a_malformed_address_like_an_unknown_one() -> None:
    assert validation.login_email("nope") == ""
    assert validation.login_email("Ann@Example.com") == "ann@example.com"


def test_a_password_with_a_nul_is_refused() -> None:
    errors = Violations()
    validation.password(errors, "a perfectly long pass\x00phrase")
    assert [(v.field, v.message) for v in errors] == [("password", "must not contain NUL characters")]


def test_a_password_longer_than_128_characters_is_refused_on_its_field() -> None:
    errors = Violations()
    validation.password(errors, "ab1!" * 32)
    validation.password(errors, "ab1!" * 32 + "x", "new_password")
    assert refusals(errors) == [("new_password", "must be at most 128 characters")]


def test_a_common_password_is_refused_on_its_field() -> None:
    errors = Violations()
    validation.password(errors, "Password1 ")
    assert refusals(errors) == [("password", "is too common; choose another")]


# --- display names -------------------------------------------------------------------------------------

# What draws nothing: format characters (zero-width space, word joiner, BOM, bidi marks, soft hyphen), spaces and
# separators (no-break, ideographic, line and paragraph), combining marks alone, the Hangul fillers, blank Braille.
INVISIBLE = [
    "\u200b",
    "\u2060",
    "\ufeff",
    "\u00a0",
    "\u00ad",
    "\u200e\u200f",
    "\u202e",
    "\u3000",
    "\u2028\u2029",
    "\u0301\u0308",
    "\u20dd",
    "\ufe0f",
    "\u115f\u1160",
    "\u3164",
    "\uffa0",
    "\u2800",
    "\U000e0041",
    " \t\n ",
    "\x85",
]
CANCEL_TAG = "\U000e007f"
invisible_characters = st.one_of(
    st.characters(categories=["Cf", "Zs", "Zl", "Zp", "Mn", "Mc", "Me"]),
    st.sampled_from("\t\n\r\x85\u115f\u1160\u3164\uffa0\u2800"),
)


def expected_refusal(invisible: str) -> str:
    # Only white space (what str.strip removes) is an empty name, as in every text field.
    return REQUIRED_MESSAGE if not invisible.strip() else validation.NAME_INVISIBLE_MESSAGE


@pytest.mark.parametrize("invisible", INVISIBLE)
def test_a_name_of_only_invisible_characters_is_refused(invisible: str) -> None:
    errors = Violations()
    assert validation.name(errors, "display_name", invisible) == ""
    assert refusals(errors) == [("display_name", expected_refusal(invisible))]


@given(st.text(invisible_characters, min_size=1))
def test_any_name_of_only_invisible_characters_is_refused(invisible: str) -> None:
    errors = Violations()
    validation.name(errors, "household.display_name", invisible)
    assert refusals(errors) == [("household.display_name", expected_refusal(invisible))]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("", REQUIRED_MESSAGE),
        ("   ", REQUIRED_MESSAGE),
        ("\u00a0\u3000", REQUIRED_MESSAGE),
        ("\u200b", validation.NAME_INVISIBLE_MESSAGE),
        (" \u200b\u2060 ", validation.NAME_INVISIBLE_MESSAGE),
        ("\u0301", validation.NAME_INVISIBLE_MESSAGE),
        ("\u3164", validation.NAME_INVISIBLE_MESSAGE),
    ],
)
def test_an_empty_name_is_required_and_an_invisible_one_is_named_so(given: str, message: str) -> None:
    errors = Violations()
    validation.name(errors, "display_name", given)
    assert refusals(errors) == [("display_name", message)]


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("\u200bAnn\u200b", "Ann"),
        ("\ufeff Ann \u00a0", "Ann"),
        ("\u0301Ann\u2060", "Ann"),  # a mark with nothing before it to change
        ("\u3164Ann\u3164", "Ann"),
        ("Jose\u0301", "Jos\u00e9"),  # NFC: one é however it was typed
        ("Spinal Tap\u0308", "Spinal Tap\u0308"),  # a mark NFC cannot compose stays on its letter (p̈)
        ("\u2764\ufe0f", "\u2764\ufe0f"),  # the variation selector makes the heart an emoji
        ("1\ufe0f\u20e3", "1\ufe0f\u20e3"),  # keycap one
        ("\U0001f469\u200d\U0001f469\u200d\U0001f467", "\U0001f469\u200d\U0001f469\u200d\U0001f467"),
        ("Scots \U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f", None),  # a flag
        ("Ann\U000e0067\U000e0062\U000e007f", "Ann"),  # tags after a letter are no flag
        ("Ann \U000e0041", "Ann"),
        ("\u0645\u06cc\u200c\u062e\u0648\u0627\u0645", None),  # Persian: the joiner inside stays
        ("Zoë Smith", None),
    ],
)
def test_a_name_is_nfc_without_invisible_characters_at_its_ends(given: str, stored: str | None) -> None:
    errors = Violations()
    assert validation.name(errors, "display_name", given) == (stored or given)
    assert not errors


@given(st.text(invisible_characters), st.text(min_size=1), st.text(invisible_characters))
def test_invisible_characters_around_a_name_change_nothing(before: str, name: str, after: str) -> None:
    # Marks after a name belong to its last character, and tags up to a cancel tag after a symbol are an emoji.
    assume(not after or unicodedata.category(after[0]) not in ("Mn", "Mc", "Me"))
    assume(not (CANCEL_TAG in after and unicodedata.category(name[-1]) == "So"))
    plain, padded = Violations(), Violations()
    stored = validation.name(plain, "display_name", name)
    if not plain:
        assert validation.name(padded, "display_name", before + name + after) == stored
        assert not padded


@given(st.text())
def test_an_accepted_name_is_visible_nfc_trimmed_and_stays_as_it_is(value: str) -> None:
    errors = Violations()
    stored = validation.name(errors, "display_name", value)
    if not errors:
        assert 1 <= len(stored) <= validation.NAME_MAX
        assert unicodedata.is_normalized("NFC", stored)
        assert any(validation.is_visible(char) for char in stored)
        assert validation.is_visible(stored[0])
        again = Violations()
        assert validation.name(again, "display_name", stored) == stored
        assert not again


def test_a_name_is_at_most_100_characters_once_trimmed_and_composed() -> None:
    errors = Violations()
    assert validation.name(errors, "display_name", "\u200b" + "x" * 100 + "\u200b") == "x" * 100
    assert validation.name(errors, "display_name", "e\u0301" * 100) == "\u00e9" * 100
    assert not errors
    validation.name(errors, "display_name", "x" * 101)
    assert refusals(errors) == [("display_name", "must be at most 100 characters")]


@pytest.mark.parametrize("given", ["Ev\x00e", "\x00", "Ann\x1b", "\u200bAnn\x7f", "\x1fAnn", "x" * 200 + "\x00"])
def test_control_characters_in_a_name_are_refused_not_stripped(given: str) -> None:
    errors = Violations()
    validation.name(errors, "display_name", given)
    assert refusals(errors) == [("display_name", CONTROL_CHARACTERS_MESSAGE)]


# --- locales -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("en", "en"),
        ("de-DE", "de-DE"),
        ("de-de", "de-DE"),
        ("DE-de", "de-DE"),
        ("pt-BR", "pt-BR"),
        ("es-419", "es-419"),
        ("en-001", "en-001"),
        ("zh-TW", "zh-TW"),  # as sent: Babel's zh-Hant-TW is what it means, not what was said
        ("ZH-HANT-tw", "zh-Hant-TW"),
        ("sr-latn-rs", "sr-Latn-RS"),
        ("ca-ES-VALENCIA", "ca-ES-valencia"),
        ("en-Latn-US", "en-US"),  # English is written in Latin anyway
        ("iw", "he"),  # deprecated codes are their successors'
        ("in-ID", "id-ID"),
        ("tl", "fil"),
        ("deu", "de"),
        (" fr ", "fr"),
    ],
)
def test_a_known_locale_is_stored_in_its_canonical_form(given: str, stored: str) -> None:
    errors = Violations()
    assert validation.locale(errors, "locale", given) == stored
    assert not errors


@pytest.mark.parametrize(
    "given",
    [
        "xx-YY-ZZ-123",
        "../etc",
        "en_US.UTF-8",
        "en-US.UTF-8",
        "de_DE",  # POSIX's separator: the tag is de-DE
        "en-US@euro",
        "C",
        "root",
        "und",  # undetermined: Babel would read it as en-US
        "xx",
        "en-XX",
        "en-UK",  # the United Kingdom is GB
        "en-Cyrl",  # Babel would fall back to en
        "de-1901",  # ... and to de
        "de-CH-1996",
        "es-ES-u-co-trad",
        "x-klingon",
        "i-klingon",
        "en-",
        "-en",
        "en--US",
        "e n",
        "\u0435n",  # a Cyrillic e
        "\uff45\uff4e",  # full-width
    ],
)
def test_anything_but_a_known_language_tag_is_refused_naming_it(given: str) -> None:
    errors = Violations()
    assert validation.locale(errors, "user.locale", given) == given.strip()
    assert refusals(errors) == [("user.locale", validation.unknown_locale_message(given.strip()))]
    assert validation.canonical_locale(given) is None


@pytest.mark.parametrize("identifier", sorted(locale_identifiers()))
def test_every_locale_babel_has_data_for_is_accepted(identifier: str) -> None:
    tag = identifier.replace("_", "-")
    canonical = validation.canonical_locale(tag)
    assert canonical is not None
    assert canonical.lower() == tag.lower()  # only the case of a variant changes (ca-ES-VALENCIA → ca-ES-valencia)
    assert validation.canonical_locale(canonical) == canonical
    assert validation.canonical_locale(tag.swapcase()) == canonical


@given(
    st.one_of(
        st.text(max_size=validation.LOCALE_MAX),
        st.from_regex(r"[a-zA-Z]{2,3}(-[a-zA-Z]{4})?(-([a-zA-Z]{2}|[0-9]{3}))?(-[a-zA-Z0-9]{5,8})?", fullmatch=True),
        st.sampled_from(sorted(locale_identifiers())).map(lambda identifier: identifier.replace("_", "-").upper()),
    )
)
def test_a_stored_locale_is_canonical_and_babel_reads_it(value: str) -> None:
    errors = Violations()
    stored = validation.locale(errors, "locale", value, default="en")
    if not errors:
        assert validation.canonical_locale(stored) == stored
        assert validation.canonical_locale(stored.upper()) == stored
        assert Locale.parse(stored, sep="-")


def test_an_empty_locale_takes_the_default_and_a_long_one_is_refused_by_length() -> None:
    errors = Violations()
    assert validation.locale(errors, "locale", "", default=validation.DEFAULT_LOCALE) == "en"
    assert not errors
    validation.locale(errors, "locale", "")
    validation.locale(errors, "user.locale", "x" * 36)
    validation.locale(errors, "other", "d\x00e")
    assert refusals(errors) == [
        ("locale", REQUIRED_MESSAGE),
        ("user.locale", "must be at most 35 characters"),
        ("other", CONTROL_CHARACTERS_MESSAGE),
    ]


# --- time zones ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given",
    [
        "localtime",  # the host's own zone: another one on every machine
        "posixrules",
        "Factory",
        "right/Europe/Berlin",
        "posix/Europe/Berlin",
        "right/UTC",
        "Europe/../UTC",
        "../UTC",
        "/UTC",
        "/usr/share/zoneinfo/UTC",
        "europe/berlin",  # canonical case only
        "EUROPE/BERLIN",
        "utc",
        "Europe\\Berlin",
    ],
)
def test_a_time_zone_is_an_iana_name_nothing_else(given: str) -> None:
    errors = Violations()
    errors.time_zone("user.time_zone", given)
    assert refusals(errors) == [("user.time_zone", f"{given!r} is not an IANA time zone")]


@given(st.sampled_from(sorted(available_timezones() - {"localtime", "Factory"})))
def test_every_iana_zone_is_accepted_as_spelt_and_in_no_other_case(zone: str) -> None:
    errors = Violations()
    assert errors.time_zone("time_zone", zone) == zone
    assert not errors
    for other in {zone.lower(), zone.upper(), zone.swapcase()} - {zone}:
        errors.time_zone("time_zone", other)
        assert errors.fields == ["time_zone"]
        errors.items.clear()


def test_event_payloads_carry_the_rows_as_they_are_after_the_change() -> None:
    now = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)
    owner, other = uuid.UUID(int=2), uuid.UUID(int=1)
    user = User(id=owner, display_name="Ann", time_zone="Europe/Berlin", locale="de")
    home = Household(id=uuid.UUID(int=9), name="Home", time_zone="UTC")

    assert events.user_registered(user).display_name == "Ann"
    assert list(events.user_updated(user, ["locale"]).changed) == ["locale"]
    assert events.household_created(home, owner).owner_id == str(owner)
    updated = events.household_updated(home, ["time_zone"], [owner, other])
    assert list(updated.member_ids) == [str(other), str(owner)]  # sorted: the same event for the same change
    joined = events.member_joined(home.id, user, "owner", now)
    assert (joined.user_id, joined.role, joined.joined_at.ToDatetime(UTC)) == (str(owner), "owner", now)
    assert events.member_updated(home.id, owner, "admin").role == "admin"
    assert events.member_left(home.id, other).user_id == str(other)
