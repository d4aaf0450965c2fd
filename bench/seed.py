"""The data the scenarios need, made through the REST API: one person, one household, N daily chores."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from tests.support import api

# Interval chores: every completion moves the chore on to its next occurrence (never "already done").
DAILY = {"kind": "interval", "every": 1, "unit": "days"}


@dataclass(frozen=True)
class Seed:
    token: str
    household_id: str
    chore_ids: list[str]

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
        return Seed(str(owner.token), hid, ids)
