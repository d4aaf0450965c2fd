"""What notifications say, in each language notify writes (English and German): their titles and bodies, written once
by the consumer (services.notify.consumers) in the recipient's language, and again when the person they name is
deleted (services.notify.privacy).

A notification's texts are written from its type and its `data` only (the chore's title, the points, ...), so they
can be written again later without the event. The person a text names (`who`) is a name or one of the `Anonymous`
placeholders, which are translated like the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.notify.rendering import DEFAULT_LANGUAGE, language_of


@dataclass(frozen=True)
class Anonymous:
    """A person a text names without a name: `key` picks the words."""

    key: str


# Who did it, when notify never heard the person's name; and a deleted person (services.notify.privacy).
SOMEONE = Anonymous("someone")
DELETED = Anonymous("deleted")
# A chore whose title notify does not know.
CHORE = Anonymous("chore")

_ANONYMOUS: Mapping[str, Mapping[str, str]] = {
    "en": {"someone": "Someone", "deleted": "A deleted user", "chore": "a chore"},
    "de": {"someone": "Jemand", "deleted": "Ein gelöschter Benutzer", "chore": "eine Aufgabe"},
}

# (title, body) by text key and language; {who}, {chore}, {points}, {minutes}, {penalty}, {note} are filled in from
# the notification's data. A key with a "+…" suffix is the variant render() picks when that value is there.
_TEXTS: Mapping[str, Mapping[str, tuple[str, str]]] = {
    "webhook.disabled": {
        "en": ("A webhook was disabled", "Deliveries to {url} kept failing, so Hearth stopped sending to it."),
        "de": (
            "Ein Webhook wurde deaktiviert",
            "Zustellungen an {url} sind immer wieder gescheitert, daher sendet Hearth nicht mehr dorthin.",
        ),
    },
    "webhook.disabled+gone": {
        "en": ("A webhook was disabled", "{url} answered 410 Gone, so Hearth stopped sending to it."),
        "de": (
            "Ein Webhook wurde deaktiviert",
            "{url} hat mit 410 Gone geantwortet, daher sendet Hearth nicht mehr dorthin.",
        ),
    },
    "chore.completed": {
        "en": ("{who} completed {chore}", "{who} completed “{chore}”."),
        "de": ("{who} hat {chore} erledigt", "{who} hat „{chore}“ erledigt."),
    },
    "chore.completed+points": {
        "en": ("{who} completed {chore}", "{who} completed “{chore}” and earned {points} points."),
        "de": ("{who} hat {chore} erledigt", "{who} hat „{chore}“ erledigt und {points} Punkte bekommen."),
    },
    "completion.submitted": {
        "en": ("{who} asks you to approve {chore}", "{who} completed “{chore}” and is waiting for your approval."),
        "de": ("{who} bittet um Bestätigung von {chore}", "{who} hat „{chore}“ erledigt und wartet auf Bestätigung."),
    },
    "completion.approved": {
        "en": ("{who} approved {chore}", "{who} approved your completion of “{chore}”."),
        "de": ("{who} hat {chore} bestätigt", "{who} hat deine Erledigung von „{chore}“ bestätigt."),
    },
    "completion.approved+points": {
        "en": ("{who} approved {chore}", "{who} approved your completion of “{chore}”: you earned {points} points."),
        "de": (
            "{who} hat {chore} bestätigt",
            "{who} hat deine Erledigung von „{chore}“ bestätigt: du bekommst {points} Punkte.",
        ),
    },
    "completion.rejected": {
        "en": ("{who} rejected {chore}", "{who} did not accept your completion of “{chore}”."),
        "de": ("{who} hat {chore} abgelehnt", "{who} hat deine Erledigung von „{chore}“ nicht angenommen."),
    },
    "completion.rejected+note": {
        "en": ("{who} rejected {chore}", "{who} did not accept your completion of “{chore}”: {note}"),
        "de": ("{who} hat {chore} abgelehnt", "{who} hat deine Erledigung von „{chore}“ nicht angenommen: {note}"),
    },
    "chore.created": {
        "en": ("{who} assigned you {chore}", "{who} created “{chore}” and assigned it to you."),
        "de": ("{who} hat dir {chore} zugewiesen", "{who} hat „{chore}“ angelegt und dir zugewiesen."),
    },
    "chore.assigned": {
        "en": ("{chore} is yours now", "“{chore}” is assigned to you."),
        "de": ("{chore} ist jetzt deine Aufgabe", "„{chore}“ ist dir zugewiesen."),
    },
    "chore.assigned+missed": {
        "en": ("{chore} is yours now", "“{chore}” moved on to you after a missed turn."),
        "de": ("{chore} ist jetzt deine Aufgabe", "„{chore}“ ist nach einem verpassten Termin an dich weitergegangen."),
    },
    "chore.assigned+rotation": {
        "en": ("{chore} is yours now", "It is your turn for “{chore}”."),
        "de": ("{chore} ist jetzt deine Aufgabe", "Du bist mit „{chore}“ an der Reihe."),
    },
    "chore.due_soon": {
        "en": ("{chore} is due soon", "“{chore}” is due soon."),
        "de": ("{chore} ist bald fällig", "„{chore}“ ist bald fällig."),
    },
    "chore.due_soon+minutes": {
        "en": ("{chore} is due soon", "“{chore}” is due in {minutes} minutes."),
        "de": ("{chore} ist bald fällig", "„{chore}“ ist in {minutes} Minuten fällig."),
    },
    "chore.overdue": {
        "en": ("{chore} is overdue", "“{chore}” was not done in time."),
        "de": ("{chore} ist überfällig", "„{chore}“ wurde nicht rechtzeitig erledigt."),
    },
    "chore.overdue+penalty": {
        "en": ("{chore} is overdue", "“{chore}” was not done in time: {penalty} points were deducted."),
        "de": (
            "{chore} ist überfällig",
            "„{chore}“ wurde nicht rechtzeitig erledigt: dir wurden {penalty} Punkte abgezogen.",
        ),
    },
    "member.joined": {
        "en": ("{who} joined the household", "{who} joined the household."),
        "de": ("{who} ist dem Haushalt beigetreten", "{who} ist dem Haushalt beigetreten."),
    },
    "member.left": {
        "en": ("{who} left the household", "{who} left the household."),
        "de": ("{who} hat den Haushalt verlassen", "{who} hat den Haushalt verlassen."),
    },
    # points.changed notifies of redemptions only (the event does not name the reward).
    "points.changed": {
        "en": ("{who} redeemed a reward", "{who} redeemed a reward for {points} points."),
        "de": ("{who} hat eine Belohnung eingelöst", "{who} hat eine Belohnung für {points} Punkte eingelöst."),
    },
}

# Which data value picks a variant, per type (the value must be non-empty; for chore.assigned it names the variant).
_VARIANT_BY: Mapping[str, str] = {
    "chore.completed": "points",
    "completion.approved": "points",
    "completion.rejected": "note",
    "chore.due_soon": "minutes",
    "chore.overdue": "penalty",
}
TYPES = frozenset(key.partition("+")[0] for key in _TEXTS)


def language(locale: str | None) -> str:
    """The language a notification for `locale` is written in ("de-AT" → "de"; unknown or none → English)."""
    return language_of(locale) if locale else DEFAULT_LANGUAGE


def render(kind: str, locale: str | None, data: Mapping[str, Any], who: str | Anonymous = SOMEONE) -> tuple[str, str]:
    """(title, body) of a notification of type `kind` in `locale`'s language, from its `data`."""
    lang = language(locale)
    words = _ANONYMOUS[lang]
    key = kind
    if kind in ("chore.assigned", "webhook.disabled"):
        if f"{kind}+{data.get('reason')}" in _TEXTS:
            key = f"{kind}+{data.get('reason')}"
    elif (variant := _VARIANT_BY.get(kind)) and data.get(variant):
        key = f"{kind}+{variant}"
    title, body = _TEXTS[key][lang]
    values = {
        "who": words[who.key] if isinstance(who, Anonymous) else who,
        "chore": data.get("chore_title") or words["chore"],
        "points": data.get("points") or 0,
        "minutes": data.get("minutes") or 0,
        "penalty": data.get("penalty") or 0,
        "note": data.get("note") or "",
        "url": data.get("url") or "",
    }
    return title.format(**values), body.format(**values)


def name_of(who: str | Anonymous, lang: str) -> str:
    """A person (or a chore) as a text names it in `lang` ("en", "de")."""
    return _ANONYMOUS[lang][who.key] if isinstance(who, Anonymous) else who


def completion_text(who: str | Anonymous, chore: str, points: int, locale: str | None = None) -> tuple[str, str]:
    """(title, body) of a chore.completed notification."""
    return render("chore.completed", locale, {"chore_title": chore, "points": points}, who)
