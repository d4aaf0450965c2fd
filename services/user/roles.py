"""The roles of a household member — the user service's vocabulary, shared with every service that asks it.

`owner` (everything, one per household), `admin` (members except the owner, chores), `member` (chores,
completes any), `child` (sees the household, completes the chores assigned to them). Other services import
these from here (through `services.user.client`), never spell them out themselves.
"""

from __future__ import annotations

from typing import Final

ROLES: Final = ("owner", "admin", "member", "child")
# Who may manage chores and hear about the household's work; a child may only see and complete.
ADULT_ROLES: Final = frozenset({"owner", "admin", "member"})
# Who manages the household's members and invites.
MANAGERS: Final = ("owner", "admin")
# The roles an invite may grant (there is one owner, who hands the household over instead).
INVITABLE_ROLES: Final = ("admin", "member", "child")
