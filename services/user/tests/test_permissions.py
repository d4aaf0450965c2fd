"""The household role rules (services/user/permissions.py), every combination of roles, without a database."""

from __future__ import annotations

import itertools

import pytest

from kit.errors import PermissionDenied
from services.user import permissions
from services.user.roles import INVITABLE_ROLES, MANAGERS, PERMISSIONS, ROLES


def allowed(check: object, *args: object, **kwargs: object) -> bool:
    try:
        check(*args, **kwargs)  # type: ignore[operator]
    except PermissionDenied:
        return False
    return True


@pytest.mark.parametrize(("mine", "role"), list(itertools.product(ROLES, INVITABLE_ROLES)))
def test_managers_invite_and_only_the_owner_invites_admins(mine: str, role: str) -> None:
    expected = mine == "owner" or (mine == "admin" and role != "admin")
    assert allowed(permissions.check_invite, mine, role) is expected


@pytest.mark.parametrize(("mine", "target", "role"), list(itertools.product(MANAGERS, ROLES, ROLES[1:])))
def test_role_changes(mine: str, target: str, role: str) -> None:
    """(Members and children are refused before: only managers reach this rule.)"""
    expected = target != "owner" and (mine == "owner" or "admin" not in (target, role))
    assert allowed(permissions.check_role_change, mine, target, role) is expected


@pytest.mark.parametrize("mine", ROLES)
def test_only_the_owner_transfers_ownership(mine: str) -> None:
    assert allowed(permissions.check_transfer, mine) is (mine == "owner")


@pytest.mark.parametrize(("mine", "target"), list(itertools.product(ROLES, ROLES)))
def test_removing_someone_else(mine: str, target: str) -> None:
    expected = target != "owner" and (mine == "owner" or (mine == "admin" and target != "admin"))
    assert allowed(permissions.check_removal, mine, target, oneself=False) is expected


@pytest.mark.parametrize("mine", ROLES)
def test_anyone_but_the_owner_leaves(mine: str) -> None:
    assert allowed(permissions.check_removal, mine, mine, oneself=True) is (mine != "owner")


@pytest.mark.parametrize(("mine", "action"), list(itertools.product(ROLES, PERMISSIONS)))
def test_require_is_the_table(mine: str, action: str) -> None:
    assert allowed(permissions.require, mine, action) is (mine in PERMISSIONS[action])


def test_an_action_the_table_does_not_know_is_a_bug_not_a_refusal() -> None:
    with pytest.raises(KeyError):
        permissions.require("owner", "household.teleport")


@pytest.mark.parametrize("mine", ROLES)
def test_everyone_sets_their_own_away(mine: str) -> None:
    assert allowed(permissions.check_away, mine, mine, oneself=True)


@pytest.mark.parametrize(("mine", "target"), list(itertools.product(ROLES, ROLES)))
def test_someone_elses_away_is_managed_like_their_role(mine: str, target: str) -> None:
    expected = target != "owner" and (mine == "owner" or (mine == "admin" and target != "admin"))
    assert allowed(permissions.check_away, mine, target, oneself=False) is expected
