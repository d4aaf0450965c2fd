"""The user service's use cases, built once from its keys and policy: `accounts` (AuthService, UserService),
`sessions` (the caller's sessions), `households` (HouseholdService), `audit` (AuditService), `api_keys`
(ApiKeyService, ExchangeApiKey), `mfa` (MfaService, and the second factor of logins) and `password_resets`
(ForgotPassword, ResetPassword). The use cases themselves live in their own modules; this is only where they are
put together for services/user/server.py.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.user import keys, passwords, tokens
from services.user.accounts import Accounts, TokenPair
from services.user.api_keys import ApiKeys
from services.user.audit import Audit
from services.user.exports import Exports
from services.user.households import Households, Member
from services.user.mfa import Mfa
from services.user.password_reset import PasswordResets, request_box
from services.user.policy import Policy
from services.user.privacy import Privacy
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
        # One gate of argon2 work for every use case that checks a password (passwords.PasswordHashing).
        hashing = hashing or passwords.PasswordHashing()
        self.mfa = Mfa.under(sessions, signing_key, hashing=hashing)
        self.accounts = Accounts(
            sessions,
            signing_key=signing_key,
            policy=policy,
            hashing=hashing,
            revoker=revoker,
            second_factor=self.mfa,
        )
        self.password_resets = PasswordResets(
            sessions, box=request_box(signing_key), hashing=hashing, revoker=revoker, second_factor=self.mfa
        )
        self.sessions = Sessions(sessions, revoker=revoker)
        self.households = Households(
            sessions, invite_secret=tokens.invite_secret(signing_key), invite_ttl=policy.invite_ttl
        )
        self.audit = Audit(sessions)
        self.api_keys = ApiKeys(sessions, signing_key=signing_key, policy=policy, revoker=revoker)
        self.privacy = Privacy(sessions, hashing=hashing, revoker=revoker, second_factor=self.mfa)
        self.exports = Exports(sessions)


__all__ = ["Accounts", "Households", "Member", "Policy", "TokenPair", "UserService"]
