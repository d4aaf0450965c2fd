"""The mail templates and the checks of SendEmail's input, as pure functions: languages and their fallback,
escaping, the values each template takes, the address rules and how a failure is described."""

from __future__ import annotations

from datetime import UTC, datetime

import aiosmtplib
import pytest

from kit.errors import InvalidArgument
from services.notify import rendering
from services.notify.delivery import build_message, describe_failure, envelope_sender, is_permanent
from services.notify.emails import MailRequest, checked, redacted_address
from services.notify.models import PENDING, EmailDelivery
from services.notify.privacy import chore_title_of

RESET = rendering.CATALOGUE["password_reset"]
VALUES = {"display_name": "Jörg", "reset_url": "https://hearth.example/reset#token=s3cret", "expires_minutes": "30"}


def test_every_template_has_every_part_in_english_and_the_declared_languages() -> None:
    for name, template in rendering.CATALOGUE.items():
        for language in rendering.LANGUAGES:
            for suffix in (".subject.txt", ".txt", ".html"):
                assert (rendering.TEMPLATES_DIR / language / f"{name}{suffix}").is_file(), (language, name, suffix)
        values = {key: "1" if key == "expires_minutes" else "https://x.example/" for key in template.values}
        assert rendering.render(template, "en", values).subject


def test_the_german_mail_is_in_german_and_names_the_values() -> None:
    mail = rendering.render(RESET, "de-DE", VALUES)
    assert mail.language == "de"
    assert mail.subject == "Dein Hearth-Passwort zurücksetzen"
    assert mail.text.startswith("Hallo Jörg,")
    assert "innerhalb von 30 Minuten" in mail.text
    assert VALUES["reset_url"] in mail.text
    assert f'href="{VALUES["reset_url"]}"' in mail.html
    assert '<html lang="de">' in mail.html


def test_the_english_mail_and_the_fallback_of_other_languages() -> None:
    for locale in ("", "en", "en-GB", "fr-CA", "zh-Hant-TW", "DE_at"):
        mail = rendering.render(RESET, locale, VALUES | {"expires_minutes": "1"})
        expected = "de" if locale.lower().startswith("de") else "en"
        assert mail.language == expected, locale
        if expected == "en":
            assert mail.subject == "Reset your Hearth password"
            assert "within 1 minute:" in mail.text  # singular


def test_values_are_escaped_in_the_html_part_only() -> None:
    hostile = VALUES | {"display_name": '<img src=x onerror="alert(1)">', "reset_url": 'https://x.example/?a=1&b="2"'}
    mail = rendering.render(RESET, "en", hostile)
    assert "<img" not in mail.html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in mail.html
    assert 'href="https://x.example/?a=1&amp;b=&#34;2&#34;"' in mail.html
    assert mail.text.startswith('Hello <img src=x onerror="alert(1)">,')  # plain text: shown as typed


def test_value_problems_name_every_missing_unknown_or_malformed_value() -> None:
    assert rendering.value_problems(RESET, VALUES) == {}
    problems = rendering.value_problems(
        RESET, {"display_name": "Ann\nBcc: x@y.example", "reset_url": "javascript:alert(1)", "colour": "red"}
    )
    assert problems == {
        "colour": "is not a value of template 'password_reset'",
        "display_name": "must be one line",
        "reset_url": "must be an absolute http or https URL",
        "expires_minutes": "is required",
    }
    for bad in ("0", "-5", "10081", "1.5", "٣", " 3"):
        assert "expires_minutes" in rendering.value_problems(RESET, VALUES | {"expires_minutes": bad}), bad
    assert rendering.value_problems(RESET, VALUES | {"reset_url": "https://x.example/" + "a" * 2048}) == {
        "reset_url": "must be at most 2048 characters"
    }
    assert rendering.value_problems(RESET, VALUES | {"display_name": "a\x00b"})["display_name"].startswith("must not")
    assert rendering.value_problems(RESET, VALUES | {"reset_url": "https:///nohost"})


def request(**changes: object) -> MailRequest:
    fields: dict[str, object] = {
        "to": "joerg@example.com",
        "template": "password_reset",
        "locale": "de",
        "values": VALUES,
        "request_id": "r-1",
    }
    return MailRequest(**(fields | changes))  # type: ignore[arg-type]


def test_a_request_is_checked_as_a_whole() -> None:
    address, template = checked(request(to="  Joerg@Example.COM "))
    assert (address, template) == ("Joerg@example.com", RESET)  # the domain normalised, the local part as typed
    with pytest.raises(InvalidArgument) as caught:
        checked(request(to="not an address", template="", locale="no way", request_id="", values={}))
    assert {v.field for v in caught.value.violations} == {"to", "template", "locale", "request_id"}
    with pytest.raises(InvalidArgument) as caught:
        checked(request(values={f"k{i}": "v" for i in range(17)}, request_id="x" * 129))
    assert {v.field: v.message for v in caught.value.violations} == {
        "values": "must hold at most 16 values",
        "request_id": "must be at most 128 characters",
    }
    with pytest.raises(InvalidArgument) as caught:
        checked(request(values=VALUES | {"bad key\n": "v"}, to="a@" + "b" * 250 + ".example"))
    assert {v.field: v.message for v in caught.value.violations} == {
        "to": "must be at most 254 characters",
        "values": "'bad key\\n' is not a value of template 'password_reset'",
    }


def test_addresses_are_redacted_to_their_first_letter_and_domain() -> None:
    assert redacted_address("alice@example.com") == "a***@example.com"
    assert redacted_address("x@y.example") == "x***@y.example"
    assert redacted_address("nobody") == "***"


def test_the_message_is_multipart_utf8_with_a_fixed_message_id() -> None:
    mail = rendering.render(RESET, "de", VALUES)
    delivery = EmailDelivery(
        id=None,
        recipient="joerg@example.com",
        subject=mail.subject,
        text_body=mail.text,
        html_body=mail.html,
        language="de",
        message_id="<d-1@hearth.example>",
        status=PENDING,
        create_time=datetime(2026, 12, 3, 12, 0, tzinfo=UTC),
    )
    message = build_message(delivery, from_header="Hearth <no-reply@hearth.example>")
    assert message["Message-ID"] == "<d-1@hearth.example>"
    assert message["Subject"] == "Dein Hearth-Passwort zurücksetzen"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Content-Language"] == "de"
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    assert envelope_sender("Hearth <no-reply@hearth.example>") == "no-reply@hearth.example"


def test_only_a_5xx_refusal_of_the_recipient_or_message_is_permanent() -> None:
    refused = aiosmtplib.SMTPRecipientRefused(550, "5.1.1 <bob@example.com>: User unknown", "bob@example.com")
    assert is_permanent(refused)
    assert is_permanent(aiosmtplib.SMTPRecipientsRefused([refused]))
    assert is_permanent(aiosmtplib.SMTPDataError(554, "spam"))
    assert not is_permanent(aiosmtplib.SMTPRecipientRefused(450, "mailbox busy", "bob@example.com"))
    assert not is_permanent(aiosmtplib.SMTPConnectError("refused"))
    assert not is_permanent(aiosmtplib.SMTPAuthenticationError(535, "bad credentials"))
    assert not is_permanent(aiosmtplib.SMTPSenderRefused(550, "no relay", "no-reply@hearth.example"))
    # The server's words quote the address: masked.
    assert describe_failure(aiosmtplib.SMTPRecipientsRefused([refused])) == (
        "SMTPRecipientsRefused: 550 5.1.1 <[redacted-email]>: User unknown"
    )


def test_the_chore_of_an_old_notification_is_read_back_from_its_title_and_body() -> None:
    assert chore_title_of("Alice completed Dishes", "Alice completed “Dishes” and earned 10 points.") == "Dishes"
    # A name and a chore that hold the marker themselves.
    title = "Bob completed things completed completed work"
    body = "Bob completed things completed “completed work”."
    assert chore_title_of(title, body) == "completed work"
    assert chore_title_of("Something else", "entirely") is None


OWN = (
    "chore_due_soon",
    "chore_overdue",
    "chore_assigned",
    "completion_approved",
    "completion_rejected",
    "notification",
)
OWN_CONTEXT = {
    "title": "Olga approved Dishes",
    "body": "“Dishes” is assigned to you.",
    "name": "Jörg",
    "who": "Olga",
    "chore": "Dishes",
    "points": 5,
    "minutes": 30,
    "penalty": 2,
    "note": "Streaks on the glass",
    "unsubscribe_url": "https://hearth.example/api/v1/notification-preferences/unsubscribe?token=t0k",
}


@pytest.mark.parametrize("name", [*OWN, "weekly_summary"])
@pytest.mark.parametrize("locale", ["en", "de-CH"])
def test_notifys_own_mails_render_in_both_languages_with_the_unsubscribe_link(name: str, locale: str) -> None:
    context = {
        **OWN_CONTEXT,
        "members": [{"name": "Olga", "completions": 3}],
        "completions": 3,
        "overdue": 1,
        "week_start": "2026-11-23",
        "week_end": "2026-11-29",
    }
    mail = rendering.render_own(name, locale, context)
    assert mail.language == locale[:2]
    assert mail.subject
    assert "\n" not in mail.subject
    for part in (mail.text, mail.html):
        assert OWN_CONTEXT["unsubscribe_url"] in part
    assert ("abbestellen" in mail.html) == (locale != "en")
    assert mail.text.startswith("Hallo Jörg," if locale != "en" else "Hello Jörg,")


@pytest.mark.parametrize(
    ("name", "subject", "words"),
    [
        ("chore_due_soon", "Dishes ist bald fällig", "„Dishes“ ist in 30 Minuten fällig."),
        ("chore_overdue", "Dishes ist überfällig", "Dir wurden 2 Punkte abgezogen."),
        ("completion_approved", "Olga hat Dishes bestätigt", "Du bekommst 5 Punkte."),
        ("completion_rejected", "Olga hat Dishes abgelehnt", "Die Notiz dazu: Streaks on the glass"),
        ("chore_assigned", "Dishes ist jetzt deine Aufgabe", "“Dishes” is assigned to you."),
    ],
)
def test_the_german_event_mails_say_what_happened(name: str, subject: str, words: str) -> None:
    mail = rendering.render_own(name, "de", OWN_CONTEXT)
    assert mail.subject == subject
    assert words in mail.text


def test_notifys_own_mails_escape_what_people_wrote() -> None:
    hostile = {**OWN_CONTEXT, "chore": '<img src=x onerror="alert(1)">', "note": "<b>no</b>", "who": "<i>Eve</i>"}
    for name in OWN:
        html = rendering.render_own(name, "en", hostile).html
        assert "<img" not in html
        assert "<b>no</b>" not in html
        assert "<i>Eve</i>" not in html
