"""bench.copy_seed writes chores the task service reads like its own: rows COPYed into a household, modelled
on chores made through the API, list and read back through the gateway; rows for other households stay theirs."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import pytest

from bench.copy_seed import copy_chores, household_rows, seed_households, templates
from kit.db import asyncpg_dsn
from tests.support.api import API, create_chore, create_household, expect, sign_up
from tests.support.fixtures import http_fixture, stack_fixture
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(["user", "task"], gateway=True)
http = http_fixture()


async def test_copied_chores_read_like_the_services_own(stack: Stack, http: httpx.AsyncClient) -> None:
    owner = await sign_up(http, "Copier")
    hid = await create_household(http, owner)
    daily = {"kind": "interval", "every": 1, "unit": "days"}
    fixed = {"strategy": "fixed", "assignees": [owner.user_id]}
    await create_chore(http, hid, owner, title="Dishes", recurrence=daily)
    await create_chore(http, hid, owner, title="Bins", assignment=fixed, labels=["outside"])
    dsn = asyncpg_dsn(stack.databases["task"])
    conn = await asyncpg.connect(dsn)
    try:
        models = await templates(conn, uuid.UUID(hid))
        copied = await copy_chores(
            conn, household_rows(models, 5, uuid.UUID(hid), uuid.UUID(owner.user_id.rsplit("/", 1)[-1]), 0)
        )
    finally:
        await conn.close()
    assert copied == 5
    others = await seed_households(dsn, uuid.UUID(hid), chores=30, households=4)
    assert (others.rows, others.households) == (30, 4)

    chores = f"{API}/households/{hid}/chores"
    listed = expect(await http.get(chores, headers=owner.headers), 200)["items"]
    assert len(listed) == 7
    assert len({c["id"] for c in listed}) == 7
    assert sorted(c["title"] for c in listed) == sorted(["Dishes", "Bins"] * 3 + ["Dishes"])
    for chore in listed:
        one = expect(await http.get(f"{chores}/{chore['id'].rsplit('/', 1)[-1]}", headers=owner.headers), 200)
        assert one["recurrence"] == chore["recurrence"]
        assert one["assignment"] == chore["assignment"]
    searched = expect(await http.get(chores, params={"q": "bins"}, headers=owner.headers), 200)["items"]
    assert len(searched) == 3  # the generated tsvector is filled for COPYed rows too
