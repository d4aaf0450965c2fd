"""A refused gRPC call read back: its status code and message, and the `google.rpc.Status` details it carries."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status


@dataclass(frozen=True)
class Refusal:
    code: grpc.StatusCode
    message: str
    reason: str
    domain: str
    violations: dict[str, str]


async def refused(call: Awaitable[Any]) -> Refusal:
    """Await a call that must fail: its code, message, ErrorInfo reason/domain and field violations (field → text).

    Every error of ours carries a `google.rpc.Status` whose code and message agree with the call's
    (`rpc_status.from_call` raises ValueError otherwise) and an ErrorInfo."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    exc = caught.value
    status = rpc_status.from_call(exc)
    assert status is not None, f"{exc.code()} without google.rpc.Status details: {exc.details()}"
    reason, domain, violations = "", "", {}
    for detail in status.details:
        # Unpack returns False when the detail holds another message type.
        info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
        if detail.Unpack(info):
            reason, domain = info.reason, info.domain
        elif detail.Unpack(bad):
            violations = {v.field: v.description for v in bad.field_violations}
    assert reason, f"{exc.code()} without ErrorInfo: {exc.details()}"
    return Refusal(exc.code(), exc.details() or "", reason, domain, violations)
