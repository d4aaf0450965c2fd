"""The user service's use cases, built once from its keys and policy: `accounts` (AuthService, UserService),
`sessions` (the caller's sessions), `households` (HouseholdService), `audit` (AuditService) and `api_keys`
(ApiKeyService, ExchangeApiKey). The use cases themselves live in their own modules; this is only where they are
put together for services/user/server.py.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.user import keys, passwords, tokens
from services.user.accounts import Accounts, TokenPair
from services.user.api_keys import ApiKeys
from services.user.audit import Audit
from services.user.households import Households, Member
from services.user.policy import Policy
from services.user.revocation import Revoker
from services.user.sessions import Sessions


class UserService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        signing_key: keys.SigningKey,
        policy: Policy,
        revoker: Revoker,
        hashing: passwords.PasswordHashing | None = None,
    ) -> None:
        self.revoker = revoker
        self.accounts = Accounts(
            sessions,
            signing_key=signing_key,
            policy=policy,
            hashing=hashing or passwords.PasswordHashing(),
            revoker=revoker,
        )
        self.sessions = Sessions(sessions, revoker=revoker)
        self.households = Households(
            sessions, invite_secret=tokens.invite_secret(signing_key), invite_ttl=policy.invite_ttl
        )
        self.audit = Audit(sessions)
        self.api_keys = ApiKeys(sessions, signing_key=signing_key, policy=policy, revoker=revoker)


__all__ = ["Accounts", "Households", "Member", "Policy", "TokenPair", "UserService"]
