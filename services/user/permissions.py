"""Who may do what to whom in a household: the role x action table (services/user/roles.PERMISSIONS) and the
rules about whom an action may touch, as pure functions raising PERMISSION_DENIED.

The use cases (services/user/households.py, audit.py) look the roles up and call these; whether the caller is
a member at all (NOT_FOUND for an outsider) is decided before, by finding the caller's membership. No check
names roles of its own for what the table decides: every "may a <role> do <action>" is `allowed`, so a change
to the table changes the checks, and tests/test_role_matrix.py walks the table through REST.
"""

from __future__ import annotations

from kit.errors import PermissionDenied
from services.user.roles import allowed


def require(mine: str, action: str) -> None:
    """PERMISSION_DENIED unless the table lets `mine` do `action`."""
    if not allowed(mine, action):
        raise PermissionDenied(f"a {mine} may not do this")


def check_invite(mine: str, role: str) -> None:
    """A manager invites; only the owner invites admins."""
    require(mine, "member.invite")
    if role == "admin" and not allowed(mine, "member.manage_admins"):
        raise PermissionDenied("only the owner may invite admins")


def check_role_change(mine: str, target: str, role: str) -> None:
    """A manager changes another member's role to `role` (not "owner": see check_transfer). The owner's role is
    not changed this way; an admin manages members and children, only the owner manages admins."""
    require(mine, "member.change_role")
    if target == "owner":
        raise PermissionDenied("the owner's role cannot be changed; the owner may transfer ownership")
    if "admin" in (role, target) and not allowed(mine, "member.manage_admins"):
        raise PermissionDenied("only the owner manages admins")


def check_transfer(mine: str) -> None:
    """Only the owner hands the household over (to another member, who becomes the owner)."""
    if not allowed(mine, "household.transfer_ownership"):
        raise PermissionDenied("only the owner may transfer ownership")


def check_removal(mine: str, target: str, *, oneself: bool) -> None:
    """Anyone but the owner may leave; a manager removes others, but nobody removes the owner and an admin does
    not remove another admin."""
    if oneself:
        if not allowed(mine, "member.leave"):
            raise PermissionDenied("the owner cannot leave; transfer ownership first or delete the household")
    elif not allowed(mine, "member.remove"):
        raise PermissionDenied(f"a {mine} may not remove members")
    elif target == "owner" or (target == "admin" and not allowed(mine, "member.manage_admins")):
        raise PermissionDenied("you may not remove this member")


def check_away(mine: str, target: str, *, oneself: bool) -> None:
    """Setting or clearing an away period: one's own (every role, a child too: API.md's "oneself"; a manager can
    clear it again), or a manager's for someone else — as with roles, not the owner's, and an admin's only with
    member.manage_admins."""
    if oneself:
        require(mine, "member.set_own_away")
        return
    require(mine, "member.set_others_away")
    if target == "owner" or (target == "admin" and not allowed(mine, "member.manage_admins")):
        raise PermissionDenied("you may not change this member's away period")


__all__ = [
    "check_away",
    "check_invite",
    "check_removal",
    "check_role_change",
    "check_transfer",
    "require",
]
