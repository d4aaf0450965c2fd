"""The user service's use cases, built once from its keys and policy: `accounts` (AuthService, UserService)
and `households` (HouseholdService). The use cases themselves live in services/user/accounts.py and
services/user/households.py; this is only where they are put together for services/user/server.py.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.user import keys, passwords, tokens
from services.user.accounts import Accounts, TokenPair
from services.user.households import Households, Member
from services.user.policy import Policy


class UserService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        signing_key: keys.SigningKey,
        policy: Policy,
        hashing: passwords.PasswordHashing | None = None,
    ) -> None:
        self.accounts = Accounts(
            sessions, signing_key=signing_key, policy=policy, hashing=hashing or passwords.PasswordHashing()
        )
        self.households = Households(
            sessions, invite_secret=tokens.invite_secret(signing_key), invite_ttl=policy.invite_ttl
        )


__all__ = ["Accounts", "Households", "Member", "Policy", "TokenPair", "UserService"]
