"""What notifications say: their titles and bodies, written once (by the consumer) and again when the person they
name is deleted (services.notify.privacy)."""

from __future__ import annotations

# Who did it, when notify never heard the person's name.
SOMEONE = "Someone"


def completion_text(who: str, chore: str, points: int) -> tuple[str, str]:
    """(title, body) of a chore.completed notification."""
    chore = chore or "a chore"
    body = f"{who} completed “{chore}”" + (f" and earned {points} points." if points else ".")
    return f"{who} completed {chore}", body
