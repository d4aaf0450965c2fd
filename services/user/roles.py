"""The roles of a household member and what each may do — the user service's vocabulary, shared with every
service that asks it.

`owner` (everything, one per household, transferable), `admin` (members except the owner, chores), `member`
(chores, completes any), `child` (sees the household, completes the chores assigned to them). Other services
import these from here (through `services.user.client`), never spell them out themselves.

`PERMISSIONS` is the one table of role x action: the checks (services/user/permissions.py, and the task
service's, which name the chore actions) and the tests (the REST matrix walk, tests/test_role_matrix.py) both
read it. The rules about *whom* an action may touch are on top of it, in services/user/permissions.py: nobody
changes the owner's role or removes the owner (the owner hands the household over instead), and what touches an
admin — inviting one, making one, changing or removing one — is `member.manage_admins` as well.

Away periods: anyone may set or clear their own (a child too: API.md says "oneself", and an owner or admin can
clear it again), owners and admins someone else's under the same whom-rules as roles (nobody the owner's, only
`member.manage_admins` an admin's); every member may see who is away, as they see who is a member.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

ROLES: Final = ("owner", "admin", "member", "child")
OWNER: Final = frozenset({"owner"})
# Who manages the household's members and invites.
MANAGERS: Final = ("owner", "admin")
# Who may manage chores and hear about the household's work; a child may only see and complete.
ADULT_ROLES: Final = frozenset({"owner", "admin", "member"})
EVERYONE: Final = frozenset(ROLES)
# The roles an invite may grant (there is one owner, who hands the household over instead).
INVITABLE_ROLES: Final = ("admin", "member", "child")

PERMISSIONS: Final[Mapping[str, frozenset[str]]] = {
    # the household itself
    "household.read": EVERYONE,
    "household.update": frozenset(MANAGERS),
    "household.delete": OWNER,
    "household.read_audit": OWNER,
    "household.transfer_ownership": OWNER,
    # members and invites (whom: services/user/permissions.py)
    "member.list": EVERYONE,
    "member.invite": frozenset(MANAGERS),
    "member.change_role": frozenset(MANAGERS),
    "member.remove": frozenset(MANAGERS),
    "member.manage_admins": OWNER,
    "member.leave": frozenset({"admin", "member", "child"}),
    "member.set_own_away": EVERYONE,
    "member.set_others_away": frozenset(MANAGERS),
    "member.read_away": EVERYONE,
    # chores (the task service's checks)
    "chore.read": EVERYONE,
    "chore.create": ADULT_ROLES,
    "chore.update": ADULT_ROLES,
    "chore.delete": ADULT_ROLES,
    "chore.complete_any": ADULT_ROLES,
    "chore.complete_own": EVERYONE,
    # approve or reject a child's completion of a chore that requires approval
    "chore.approve": ADULT_ROLES,
    # taking a chore nobody holds (ClaimChore): a child too
    "chore.claim": EVERYONE,
    # the household's chore categories (services/task/categories.py): the roles that create chores
    "category.manage": ADULT_ROLES,
    # points and rewards (the task service's checks, services/task/points.py)
    "points.read": EVERYONE,
    "reward.manage": frozenset(MANAGERS),
    "reward.redeem": EVERYONE,
    # the household's webhooks (services/notify/webhooks.py): their URLs and secrets are the managers' business
    "webhook.manage": frozenset(MANAGERS),
}


def allowed(role: str, action: str) -> bool:
    """Whether `role` may do `action` (KeyError for an action the table does not know: a typo is a bug)."""
    return role in PERMISSIONS[action]
