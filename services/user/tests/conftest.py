"""The fixtures the user service's RPC test modules share: one user service per module (tests/support/stack.py),
its stubs on one channel, and a cast of people each test puts into households of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from services.user.tests.helpers import Cast, Stubs, cast, stubs, user_stack
from tests.support.stack import Stack


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def stack() -> AsyncIterator[Stack]:
    async with user_stack() as stack:
        yield stack


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def rpc(stack: Stack) -> AsyncIterator[Stubs]:
    async with stubs(stack) as rpc:
        yield rpc


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def c(rpc: Stubs) -> Cast:
    return await cast(rpc)
