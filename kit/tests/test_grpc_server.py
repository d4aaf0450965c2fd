"""kit.grpc_server.build_server: health, reflection, graceful stop — on a real server bound to port 0."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from hearth.task.v1 import task_pb2, task_pb2_grpc

from kit.tests.grpc_helpers import CHORES, Chores, serving
from tests.support.wait import eventually

PUBLIC = [f"/{CHORES}/GetChore"]


async def test_health_reports_serving_for_the_server_and_each_service() -> None:
    async with serving(Chores()) as server, grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        assert server.port > 0
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", CHORES):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING, name
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await health.Check(health_pb2.HealthCheckRequest(service="hearth.nope.v1.Nothing"), timeout=5)
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


async def test_reflection_lists_the_registered_services() -> None:
    async with serving(Chores()) as server, grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        call = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
        names = {s.name async for reply in call for s in reply.list_services_response.service}
    assert {CHORES, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= names


async def test_graceful_stop_finishes_an_in_flight_call_and_refuses_new_ones() -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def slow(request: task_pb2.GetChoreRequest, ctx: grpc.aio.ServicerContext) -> task_pb2.Chore:
        if request.name == "slow":
            started.set()
            await release.wait()
        return task_pb2.Chore(name=request.name, title="finished")

    cleaned: list[str] = []
    async with serving(Chores(GetChore=slow), public_methods=PUBLIC) as server:

        async def cleanup() -> None:
            cleaned.append("done")

        server.cleanups.append(cleanup)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = task_pb2_grpc.ChoreServiceStub(channel)
            in_flight = asyncio.ensure_future(stub.GetChore(task_pb2.GetChoreRequest(name="slow"), timeout=10))
            await asyncio.wait_for(started.wait(), 5)
            stopping = asyncio.create_task(server.stop(grace=5))

            async def new_calls_refused() -> bool:
                try:
                    await stub.GetChore(task_pb2.GetChoreRequest(name="quick"), timeout=1)
                except grpc.aio.AioRpcError as exc:
                    return exc.code() == grpc.StatusCode.UNAVAILABLE
                return False

            await eventually(new_calls_refused, timeout=5)
            assert not in_flight.done()
            assert cleaned == []  # cleanups wait for the in-flight call
            release.set()
            reply = await in_flight
            await asyncio.wait_for(stopping, 5)
    assert reply.title == "finished"
    assert cleaned == ["done"]  # once, although the fixture stops the server a second time


async def test_cleanups_run_last_first_and_a_failing_one_does_not_stop_the_rest() -> None:
    ran: list[str] = []

    def cleanup(name: str, fail: bool = False) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            ran.append(name)
            if fail:
                raise RuntimeError(f"{name} broke")

        return run

    async with serving(Chores()) as server:
        server.cleanups.extend([cleanup("engine"), cleanup("relay", fail=True), cleanup("consumer")])
        await server.stop(grace=0)
    assert ran == ["consumer", "relay", "engine"]


async def test_stop_cancels_calls_still_running_when_the_grace_period_ends() -> None:
    started = asyncio.Event()

    async def forever(request: task_pb2.GetChoreRequest, ctx: grpc.aio.ServicerContext) -> task_pb2.Chore:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async with (
        serving(Chores(GetChore=forever), public_methods=PUBLIC) as server,
        grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel,
    ):
        stub = task_pb2_grpc.ChoreServiceStub(channel)
        in_flight = asyncio.ensure_future(stub.GetChore(task_pb2.GetChoreRequest(name="x"), timeout=30))
        await asyncio.wait_for(started.wait(), 5)
        began = time.monotonic()
        await server.stop(grace=0.5)
        took = time.monotonic() - began
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await in_flight
    assert 0.4 <= took < 5
    assert failed.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
