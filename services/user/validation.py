"""What the user service accepts, as pure checks that add to a `kit.validation.Violations`.

The shared rules (text PostgreSQL and people can hold, IANA time zones, request ids) are kit.validation's;
the limits and formats of the user service's own fields are here: names, locales, emails, passwords, roles.
Each check returns the value to use (normalised) whether or not it was valid, as kit's do, so a use case
validates straight through and raises once with every problem.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection

from babel import Locale, UnknownLocaleError
from babel.core import get_global, parse_locale
from email_validator import EmailNotValidError

from kit.text import CONTROL_CHARACTERS_MESSAGE, has_control_characters, normalized_email
from kit.validation import REQUIRED_MESSAGE, Violations
from services.user import passwords

# Display names of people and households.
NAME_MAX = 100
# BCP 47 tags are short; 35 characters holds the longest in common use with room to spare.
LOCALE_MAX = 35
DEFAULT_LOCALE = "en"
DEFAULT_TIME_ZONE = "UTC"

NAME_INVISIBLE_MESSAGE = "must contain a visible character"

# What draws nothing by itself: control and format characters (U+200B zero-width space, U+2060 word joiner, U+FEFF,
# bidirectional marks, tags), spaces and separators (U+00A0, U+3000, U+2028), and combining marks, which only
# change the character before them. Unassigned and private-use code points are not among them: they may be
# characters newer than Python's Unicode database (an emoji), or a font's.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "Mc", "Me"})
_COMBINING = frozenset({"Mn", "Mc", "Me"})
# Letters and symbols that draw as blank space, the usual fillers of "empty" names elsewhere: the Hangul fillers
# (U+115F, U+1160, U+3164, U+FFA0) and the blank Braille pattern (U+2800).
_BLANK = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# Tag characters spell out the flags of Scotland, England and Wales after a black flag, up to a cancel tag.
_TAGS = range(0xE0020, 0xE0080)
_CANCEL_TAG = "\U000e007f"


def is_visible(char: str) -> bool:
    return char not in _BLANK and unicodedata.category(char) not in _INVISIBLE_CATEGORIES


def strip_invisible(value: str) -> str:
    """`value` without the invisible characters it starts and ends with.

    At the end, combining marks go with the character they follow: they stay on a visible one (the U+FE0F of
    "❤️", an accent NFC has no single character for) and go with an invisible one. So do tags ending in a cancel
    tag with the symbol before them (🏴 and its tags are the flag of Scotland)."""
    start, end = 0, len(value)
    while start < end and not is_visible(value[start]):
        start += 1
    while end > start:
        base = end
        if value[base - 1] == _CANCEL_TAG:
            while base > start and ord(value[base - 1]) in _TAGS:
                base -= 1
            if unicodedata.category(value[base - 1]) != "So":
                base = end  # no emoji before them: tags like any other invisible character
        while base > start and unicodedata.category(value[base - 1]) in _COMBINING:
            base -= 1
        if is_visible(value[base - 1]):
            break
        end = base - 1
    return value[start:end]


def name(errors: Violations, field: str, value: str) -> str:
    """A display name: its NFC form without invisible characters at either end (`strip_invisible`), required,
    with at least one visible character, at most NAME_MAX code points, and text kit.text allows.

    Invisible characters inside stay: a zero-width joiner makes one emoji of several ("👩‍👩‍👧"), and Persian and
    Indic names need zero-width (non-)joiners between letters."""
    if has_control_characters(value):  # anywhere: what kit.text refuses is not stripped away unseen
        errors.add(field, CONTROL_CHARACTERS_MESSAGE)
        return value.strip()
    trimmed = strip_invisible(unicodedata.normalize("NFC", value))
    if not trimmed:
        # Only white space is no name, as for every text field (kit.validation); only zero-width and other
        # invisible characters look like one, so they are named.
        errors.add(field, NAME_INVISIBLE_MESSAGE if value.strip() else REQUIRED_MESSAGE)
        return trimmed
    return errors.text(field, trimmed, max_length=NAME_MAX, required=True)


# A BCP 47 language tag (RFC 5646) as far as a locale is one: a language of 2 or 3 letters, and optionally a script
# (4 letters), a region (2 letters or 3 digits) and a variant (5 to 8 letters or digits, or a digit and 3 more), in
# this order, separated by "-", in any case. Extensions ("-u-ca-buddhist"), private use ("x-..."), grandfathered
# tags and POSIX locales ("de_DE", "en_US.UTF-8") are not: no locale data names them.
_LANGUAGE_TAG = re.compile(
    r"(?P<language>[a-z]{2,3})(?:-(?P<script>[a-z]{4}))?(?:-(?P<region>[a-z]{2}|[0-9]{3}))?"
    r"(?:-(?P<variant>[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))?",
    re.IGNORECASE | re.ASCII,
)


def canonical_locale(tag: str) -> str | None:
    """`tag` as it is stored — BCP 47's case ("de-de" → "de-DE", "ZH-HANT-TW" → "zh-Hant-TW"), a deprecated
    language replaced by its successor ("iw-IL" → "he-IL") and a script its language is written in anyway left out
    ("en-Latn-US" → "en-US") — or None when it is not a language tag Babel (CLDR) has data for.

    Babel's Locale.parse falls back to what it knows (likely subtags): "en-Cyrl" would be "en", "de-1901" "de",
    "und" "en-US". A tag is known only when Babel kept everything it names, so none of those is."""
    match = _LANGUAGE_TAG.fullmatch(tag)
    if match is None:
        return None
    try:
        parsed = Locale.parse(tag, sep="-")
    except (ValueError, UnknownLocaleError):
        return None
    language = match["language"].lower()
    # A deprecated language may stand for a language and a region ("cnr", Montenegrin, is "sr_ME").
    alias = get_global("language_aliases").get(language)
    implied_language, implied_region, implied_script, *_ = parse_locale(alias) if alias else (language, None, None)
    script = (match["script"] or implied_script or "").title()
    region = (match["region"] or implied_region or "").upper()
    variant = (match["variant"] or "").lower()
    if parsed.language != implied_language or (parsed.variant or "").lower() != variant:
        return None
    if region and parsed.territory != region:
        return None
    if script and parsed.script != script:
        if script != _likely_script(implied_language):
            return None
        script = ""  # the language's own script: "en-Latn" says no more than "en"
    return "-".join(part for part in (implied_language, script, region, variant) if part)


def unknown_locale_message(tag: str) -> str:
    return f"{tag!r} is not a known locale: a BCP 47 language tag such as en, de-DE, pt-BR or zh-Hant-TW"


def _likely_script(language: str) -> str | None:
    likely = get_global("likely_subtags").get(language)
    return parse_locale(likely)[2] if likely else None


def locale(errors: Violations, field: str, value: str, *, default: str = "") -> str:
    """A locale: a BCP 47 language tag Babel knows, in its canonical form (`canonical_locale`); `default` when
    empty, required otherwise."""
    before = len(errors)
    tag = errors.text(field, value or default, max_length=LOCALE_MAX, required=True)
    if len(errors) > before:
        return tag
    canonical = canonical_locale(tag)
    if canonical is None:
        errors.add(field, unknown_locale_message(tag))
        return tag
    return canonical


def email(errors: Violations, value: str, field: str = "email") -> str:
    """The address normalised (as it is stored and looked up: lower case), or "" when it is not one."""
    if has_control_characters(value):
        errors.add(field, CONTROL_CHARACTERS_MESSAGE)
        return ""
    try:
        return normalized_email(value)
    except EmailNotValidError as exc:
        errors.add(field, str(exc))
        return ""


def login_email(value: str) -> str:
    """The address a login looks up: normalised, or "" (which matches no account) when it is not one — a login
    answers a malformed address like an unknown one."""
    return email(Violations(), value)


def password(errors: Violations, value: str, field: str = "password") -> None:
    """A new password: the policy (passwords.policy_violation), and no NUL — argon2 would hash it, but no other
    text of ours holds one, so it is refused alike."""
    reason = passwords.policy_violation(value)
    if "\x00" in value:
        reason = "must not contain NUL characters"
    if reason:
        errors.add(field, reason)


def role(errors: Violations, field: str, value: str, allowed: Collection[str]) -> str:
    if value not in allowed:
        errors.add(field, f"must be one of {', '.join(allowed)}")
    return value


__all__ = [
    "DEFAULT_LOCALE",
    "DEFAULT_TIME_ZONE",
    "LOCALE_MAX",
    "NAME_INVISIBLE_MESSAGE",
    "NAME_MAX",
    "canonical_locale",
    "email",
    "is_visible",
    "locale",
    "login_email",
    "name",
    "password",
    "role",
    "strip_invisible",
    "unknown_locale_message",
]
