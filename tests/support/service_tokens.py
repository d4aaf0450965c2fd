"""Service tokens in tests: issued by the stack's real user service for a service's real secret (kit.service_tokens
does the same exchange in production)."""

from __future__ import annotations

import grpc
from hearth.user.v1 import user_pb2, user_pb2_grpc

from tests.support.stack import Stack


async def issue(stack: Stack, service: str, audience: str, *, secret: str | None = None) -> str:
    """A service token of `service` for `audience` ("hearth:task"), with the service's secret unless given another."""
    assert stack.credentials is not None
    async with grpc.aio.insecure_channel(stack.addr("user")) as channel:
        reply = await user_pb2_grpc.ServiceTokenServiceStub(channel).IssueServiceToken(
            user_pb2.IssueServiceTokenRequest(
                service=service,
                secret=stack.credentials.service_secrets[service] if secret is None else secret,
                audience=audience,
            )
        )
    return reply.token


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


async def service_token(stack: Stack, service: str, callee: str) -> tuple[tuple[str, str]]:
    """Call metadata bearing `service`'s service token for `callee`."""
    return bearer(await issue(stack, service, f"hearth:{callee}"))


__all__ = ["bearer", "issue", "service_token"]
