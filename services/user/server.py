"""Wiring of the user service: signing key, runtime (verifying its own tokens locally), servicers, relay."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hearth.user.v1 import user_pb2_grpc

from kit.events import combine
from kit.grpc_server import Server
from kit.runtime import create_runtime
from kit.settings import ServiceSettings
from kit.telemetry import Telemetry
from services.user import keys, passwords, privacy, revocation
from services.user.config import Settings
from services.user.internal import MembershipServicer
from services.user.revocation import Revoker
from services.user.service import Policy, UserService
from services.user.service_tokens import ServiceSecrets, ServiceTokenServicer
from services.user.servicer import (
    ApiKeyServicer,
    AuditServicer,
    AuthServicer,
    HouseholdServicer,
    MfaServicer,
    UserServicer,
)

# Reachable without a token (everything else needs one).
PUBLIC_METHODS = [
    "/hearth.user.v1.AuthService/Register",
    "/hearth.user.v1.AuthService/Login",
    "/hearth.user.v1.AuthService/RefreshToken",
    "/hearth.user.v1.AuthService/GetJwks",
    # The key is the credential (services/user/api_keys.py).
    "/hearth.user.v1.AuthService/ExchangeApiKey",
    # The person has forgotten the password: a reset link by mail, then the token from it.
    "/hearth.user.v1.AuthService/ForgotPassword",
    "/hearth.user.v1.AuthService/ResetPassword",
    # Authenticated by the calling service's secret in the request (client credentials), not by a token.
    "/hearth.user.v1.ServiceTokenService/IssueServiceToken",
]


async def create_server(settings: ServiceSettings, telemetry: Telemetry) -> Server:
    assert isinstance(settings, Settings)
    signing_key = keys.load_or_create(settings.keys_dir)

    async def own_jwks() -> dict[str, Any]:
        return keys.jwks([signing_key])

    runtime = create_runtime(settings, telemetry=telemetry, jwks_source=own_jwks)
    policy = Policy(
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        access_ttl=timedelta(seconds=settings.access_token_ttl_seconds),
        refresh_ttl=timedelta(days=settings.refresh_token_ttl_days),
        invite_ttl=timedelta(days=settings.invite_ttl_days),
    )
    hashing = passwords.PasswordHashing(
        time_cost=settings.password_time_cost,
        memory_kib=settings.password_memory_kib,
        parallelism=settings.password_parallelism,
        concurrency=settings.password_concurrency or None,
        queue=settings.password_queue,
    )
    revoker = Revoker(runtime.redis, settings.redis_namespace, access_ttl=policy.access_ttl, local=runtime.revocations)
    async with runtime.closed_on_error():
        service = UserService(
            runtime.sessions, signing_key=signing_key, policy=policy, hashing=hashing, revoker=revoker
        )
        server = runtime.build_server(
            [
                (
                    user_pb2_grpc.add_AuthServiceServicer_to_server,
                    AuthServicer(
                        service.accounts, service.sessions, service.password_resets, api_keys=service.api_keys
                    ),
                    "hearth.user.v1.AuthService",
                ),
                (
                    user_pb2_grpc.add_ApiKeyServiceServicer_to_server,
                    ApiKeyServicer(service.api_keys),
                    "hearth.user.v1.ApiKeyService",
                ),
                (
                    user_pb2_grpc.add_MfaServiceServicer_to_server,
                    MfaServicer(service.mfa),
                    "hearth.user.v1.MfaService",
                ),
                (
                    user_pb2_grpc.add_AuditServiceServicer_to_server,
                    AuditServicer(service.audit),
                    "hearth.user.v1.AuditService",
                ),
                (
                    user_pb2_grpc.add_UserServiceServicer_to_server,
                    UserServicer(service.accounts, service.privacy, service.exports),
                    "hearth.user.v1.UserService",
                ),
                (
                    user_pb2_grpc.add_HouseholdServiceServicer_to_server,
                    HouseholdServicer(service.households),
                    "hearth.user.v1.HouseholdService",
                ),
                (
                    user_pb2_grpc.add_ServiceTokenServiceServicer_to_server,
                    ServiceTokenServicer(
                        signing_key,
                        ServiceSecrets(settings.service_secrets_dir),
                        issuer=settings.jwt_issuer,
                        audience=settings.jwt_audience,
                    ),
                    "hearth.user.v1.ServiceTokenService",
                ),
                (
                    user_pb2_grpc.add_MembershipServiceServicer_to_server,
                    MembershipServicer(runtime.sessions),
                    "hearth.user.v1.MembershipService",
                ),
            ],
            public_methods=PUBLIC_METHODS,
            # Sessions and the audit log record where a call came from (kit.context.client).
            record_clients=True,
        )
        runtime.publish_outbox()
        runtime.consume(
            ["user"], combine(revocation.handlers(runtime.redis, settings.redis_namespace), privacy.handlers())
        )
    server = runtime.attach(server)

    async def close_hashing() -> None:
        hashing.close()

    server.cleanups.append(close_hashing)
    return server
