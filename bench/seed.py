"""The data the scenarios need, made through the REST API: one person, one household of N daily chores (the lists),
and a second household of one-off chores for POST complete (each completed once)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

from tests.support import api

DAILY = {"kind": "interval", "every": 1, "unit": "days"}
ONCE = {"kind": "once"}
# POST complete's chores: one completion each, since an occurrence is completed once (a second completion before
# the next one opens is 409 not_due_yet). More than the scenario completes in its warm-up and window at the
# fastest rate seen here (~260/s for 13 s), so no request meets a chore already done.
COMPLETION_CHORES = 6000
# Chores created at once while seeding.
SEED_CONCURRENCY = 32


@dataclass(frozen=True)
class Seed:
    token: str
    household_id: str
    chore_ids: list[str]
    # The one-off chores POST complete completes, in a household of their own (the lists stay 50 chores).
    completion_household_id: str = ""
    completion_chore_ids: tuple[str, ...] = ()

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def seed(gateway_url: str, chores: int) -> Seed:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as http:
        owner = await api.sign_up(http, "Bench")
        hid = str(await api.create_household(http, owner, "Bench household"))
        ids = [
            str((await api.create_chore(http, hid, owner, title=f"Chore {n:02d}", points=5, recurrence=DAILY))["id"])
            for n in range(chores)
        ]
        listed = api.expect(await http.get(f"{api.API}/households/{hid}/chores", headers=owner.headers), 200)
        if len(listed["items"]) != chores:
            raise RuntimeError(f"the chore list returns {len(listed['items'])} items, expected {chores}")
        done_hid = str(await api.create_household(http, owner, "Bench completions"))
        gate = asyncio.Semaphore(SEED_CONCURRENCY)

        async def one_off(n: int) -> str:
            async with gate:
                made = await api.create_chore(http, done_hid, owner, title=f"Once {n:04d}", points=5, recurrence=ONCE)
            return str(made["id"])

        once = await asyncio.gather(*(one_off(n) for n in range(COMPLETION_CHORES)))
        return Seed(str(owner.token), hid, ids, done_hid, tuple(once))
