"""The mails notify sends: which templates exist, what values each takes, and rendering them in a language.

A template is three files per language under `mail_templates/<language>/`: `<name>.subject.txt`, `<name>.txt`
(the plain-text part) and `<name>.html` (the HTML part, which extends `mail_templates/layout.html`). Jinja2
escapes every value in the HTML part (autoescape by file extension) and none in the text parts; an undefined
value is an error (StrictUndefined), never an empty string in a mail.

Languages: a request's BCP 47 tag is matched on its primary language subtag ("de-AT" → "de"); a language that has
no translation of the template falls back to English, which every template has (tested).

Each template declares its values, and each value its rule (`Value.check`): the request is refused when a
value is missing, unknown, too long or malformed, so what reaches a template is bounded and well-formed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import jinja2

from kit.text import CONTROL_CHARACTERS_MESSAGE, has_control_characters

TEMPLATES_DIR = Path(__file__).parent / "mail_templates"
DEFAULT_LANGUAGE = "en"
LANGUAGES = ("en", "de")
# A BCP 47 tag as clients send it ("de", "de-AT", "zh-Hant-TW"; "_" tolerated): letters first, then subtags.
_LOCALE_SHAPE = re.compile(r"^[A-Za-z]{2,8}([-_][A-Za-z0-9]{1,8})*$")
LOCALE_MAX_LENGTH = 35
# Bounds on a request's values, whatever the template: how many, and how long each.
MAX_VALUES = 16
VALUE_MAX_LENGTH = 2048
_LINE_BREAK = re.compile(r"[\r\n\u2028\u2029\u0085]")


def single_line(max_length: int) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if not value.strip():
            return "is required"
        if len(value) > max_length:
            return f"must be at most {max_length} characters"
        if _LINE_BREAK.search(value):
            return "must be one line"
        return None

    return check


def web_url(value: str) -> str | None:
    """An absolute http(s) URL with a host: what a link in a mail may point to (never javascript:, data:...)."""
    if any(c.isspace() for c in value):
        return "must be a URL without spaces"
    try:
        parts = urlsplit(value)
    except ValueError:
        return "must be an absolute http or https URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an absolute http or https URL"
    return None


def whole_number(low: int, high: int) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if not value.isascii() or not value.isdigit() or not low <= int(value) <= high:
            return f"must be a whole number from {low} to {high}"
        return None

    return check


@dataclass(frozen=True)
class Value:
    """One value a template takes: its rule (None = valid, else why not) and how the template receives it."""

    check: Callable[[str], str | None]
    convert: Callable[[str], Any] = str


@dataclass(frozen=True)
class MailTemplate:
    name: str
    values: Mapping[str, Value]


CATALOGUE: Mapping[str, MailTemplate] = MappingProxyType(
    {
        "password_reset": MailTemplate(
            "password_reset",
            {
                "display_name": Value(single_line(200)),
                "reset_url": Value(web_url),
                # Up to a week.
                "expires_minutes": Value(whole_number(1, 7 * 24 * 60), convert=int),
            },
        ),
    }
)


def value_problems(template: MailTemplate, values: Mapping[str, str]) -> dict[str, str]:
    """Value name → what is wrong with it (missing, unknown, too long, malformed); empty when all are fine."""
    problems: dict[str, str] = {}
    for name in sorted(values.keys() - template.values.keys()):
        problems[name] = f"is not a value of template {template.name!r}"
    for name, rule in template.values.items():
        value = values.get(name)
        if value is None:
            problems[name] = "is required"
        elif len(value) > VALUE_MAX_LENGTH:
            problems[name] = f"must be at most {VALUE_MAX_LENGTH} characters"
        elif has_control_characters(value):
            problems[name] = CONTROL_CHARACTERS_MESSAGE
        elif (problem := rule.check(value)) is not None:
            problems[name] = problem
    return problems


def locale_problem(locale: str) -> str | None:
    if not locale:
        return None
    if len(locale) > LOCALE_MAX_LENGTH or not _LOCALE_SHAPE.match(locale):
        return "must be a BCP 47 language tag such as en or de-DE"
    return None


def language_of(locale: str) -> str:
    """The language a mail for `locale` is written in: its primary subtag if notify has it, else English."""
    primary = re.split(r"[-_]", locale, maxsplit=1)[0].lower()
    return primary if primary in LANGUAGES else DEFAULT_LANGUAGE


@dataclass(frozen=True)
class RenderedMail:
    language: str
    subject: str
    text: str
    html: str


_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
    # Escape every value in the .html files; the subject and the text part are plain text.
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


def _template_language(template: str, language: str) -> str:
    if language != DEFAULT_LANGUAGE and not (TEMPLATES_DIR / language / f"{template}.txt").is_file():
        return DEFAULT_LANGUAGE
    return language


def render(template: MailTemplate, locale: str, values: Mapping[str, str]) -> RenderedMail:
    """The mail `template` renders for `locale` with `values` (already checked: `value_problems` found none)."""
    language = _template_language(template.name, language_of(locale))
    context = {name: rule.convert(values[name]) for name, rule in template.values.items()}
    context["locale"] = language

    def part(suffix: str) -> str:
        return _environment.get_template(f"{language}/{template.name}{suffix}").render(context)

    # A header is one line: collapse whatever the subject template spreads over several.
    subject = " ".join(part(".subject.txt").split())
    return RenderedMail(language, subject, part(".txt"), part(".html"))


def render_own(name: str, locale: str | None, context: Mapping[str, Any]) -> RenderedMail:
    """One of notify's own mails (services.notify.dispatch: a notification by email, the weekly summary): template
    `name` in `locale`'s language, from `context` (values notify itself holds; the .html escapes each)."""
    language = _template_language(name, language_of(locale) if locale else DEFAULT_LANGUAGE)
    values = {**context, "locale": language}

    def part(suffix: str) -> str:
        return _environment.get_template(f"{language}/{name}{suffix}").render(values)

    subject = " ".join(part(".subject.txt").split())
    return RenderedMail(language, subject, part(".txt"), part(".html"))


__all__ = [
    "CATALOGUE",
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "MAX_VALUES",
    "MailTemplate",
    "RenderedMail",
    "Value",
    "language_of",
    "locale_problem",
    "render",
    "render_own",
    "value_problems",
]
