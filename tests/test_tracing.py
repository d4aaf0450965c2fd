"""One completion, one trace: gateway → task (gRPC) → outbox → Redis Stream → notify and analytics.

All services run in this process with one in-memory span exporter; each service's spans carry its own
`service.name`, so the test can tell who produced what. The event's `traceparent` is what lets the
consumers' spans join the trace of the HTTP request that caused it.
"""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tests.support.api import API, create_chore, create_household, expect, join, sign_up
from tests.support.fixtures import stack_fixture
from tests.support.stack import Stack
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

EXPORTER = InMemorySpanExporter()


stack = stack_fixture(gateway=True, exporter=EXPORTER)


def service_of(span: ReadableSpan) -> str:
    return str(span.resource.attributes.get("service.name", "")).removeprefix("hearth-")


async def test_a_completion_is_one_trace_across_gateway_task_notify_and_analytics(stack: Stack) -> None:
    async with stack.http() as http:
        alice = await sign_up(http, "Alice")
        bob = await sign_up(http, "Bob")
        hid = await create_household(http, alice)
        await join(http, hid, alice, bob, "member")
        chore = await create_chore(http, hid, alice, title="Take out the bins")
        EXPORTER.clear()
        response = await http.post(
            f"{API}/households/{hid}/chores/{chore['id']}/complete", json={}, headers=alice.headers
        )
        expect(response, 201)

    [server_span] = [
        span
        for span in EXPORTER.get_finished_spans()
        if service_of(span) == "gateway" and span.kind == SpanKind.SERVER and "complete" in span.name
    ]
    trace_id = server_span.context.trace_id

    def spans_in_trace() -> list[ReadableSpan]:
        return [span for span in EXPORTER.get_finished_spans() if span.context.trace_id == trace_id]

    wanted_consumers = {("notify", "process chore.completed"), ("analytics", "process chore.completed")}

    # A consumer span ends after the database spans inside it: wait for the consumer spans themselves.
    async def consumers_finished() -> bool:
        consumers = {(service_of(s), s.name) for s in spans_in_trace() if s.kind == SpanKind.CONSUMER}
        return wanted_consumers <= consumers

    await eventually(consumers_finished)
    in_trace = spans_in_trace()
    assert {"gateway", "task", "notify", "analytics"} <= {service_of(span) for span in in_trace}
    task_server = [s for s in in_trace if service_of(s) == "task" and s.kind == SpanKind.SERVER]
    assert [s.name for s in task_server] == ["/hearth.task.v1.ChoreService/CompleteChore"]
    # The task service's database work for the completion is in the same trace, too.
    assert any(service_of(s) == "task" and s.attributes.get("db.system") == "postgresql" for s in in_trace)
