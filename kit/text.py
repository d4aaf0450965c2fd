"""Text that PostgreSQL and people can both hold: no NUL (PostgreSQL `text` refuses it) and no other C0
control characters apart from tab, newline and carriage return (invisible, and a favourite of log and
header injection). Every service's text validation and the gateway's request models use this.
"""

from __future__ import annotations

import re

_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
CONTROL_CHARACTERS_MESSAGE = "must not contain control characters"


def has_control_characters(value: str) -> bool:
    return _FORBIDDEN.search(value) is not None
