"""Who may do what to whom in a household: pure rules over roles, raising PERMISSION_DENIED.

The use cases (services/user/households.py) look the roles up and call these; whether the caller is a
member at all (NOT_FOUND for an outsider) is decided before, by finding the caller's membership.
"""

from __future__ import annotations

from collections.abc import Collection

from kit.errors import PermissionDenied
from services.user.roles import MANAGERS


def require_role(mine: str, roles: Collection[str]) -> None:
    if mine not in roles:
        raise PermissionDenied(f"a {mine} may not do this")


def check_invite(mine: str, role: str) -> None:
    """A manager invites; only the owner invites admins."""
    require_role(mine, MANAGERS)
    if role == "admin" and mine != "owner":
        raise PermissionDenied("only the owner may invite admins")


def check_role_change(mine: str, target: str, role: str) -> None:
    """A manager changes another member's role to `role` (not "owner": see check_transfer). The owner's role is
    not changed this way; an admin manages members and children, only the owner manages admins."""
    if target == "owner":
        raise PermissionDenied("the owner's role cannot be changed; the owner may transfer ownership")
    if mine == "admin" and (role == "admin" or target == "admin"):
        raise PermissionDenied("only the owner manages admins")


def check_transfer(mine: str) -> None:
    """Only the owner hands the household over (to another member, who becomes the owner)."""
    if mine != "owner":
        raise PermissionDenied("only the owner may transfer ownership")


def check_removal(mine: str, target: str, *, oneself: bool) -> None:
    """Anyone but the owner may leave; a manager removes others, but nobody removes the owner and an admin does
    not remove another admin."""
    if oneself:
        if mine == "owner":
            raise PermissionDenied("the owner cannot leave; transfer ownership first or delete the household")
    elif mine not in MANAGERS:
        raise PermissionDenied(f"a {mine} may not remove members")
    elif target == "owner" or (mine == "admin" and target == "admin"):
        raise PermissionDenied("you may not remove this member")


__all__ = ["check_invite", "check_removal", "check_role_change", "check_transfer", "require_role"]
