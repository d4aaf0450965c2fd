"""The role matrix: every cell of services/user/roles.PERMISSIONS (action x role) walked through REST, against
the real gateway, user, task and notify services.

For each action the test knows one request that does it (`CELLS`) and the success status it answers; each
(action, role) runs in a household of its own, made fresh, with an owner, an admin, a member and a child (the
one acting) and a second admin and a second member (whom the actions touch). Allowed → the success status;
denied → 403 `permission_denied`. The expectations come from the table itself, so a check that names roles of
its own instead of reading the table fails here; an action added to the table without a request here fails
`test_every_action_of_the_table_has_a_request`. Outsiders get 404 for every action (never reveal a household).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import pytest_asyncio

from services.user.roles import PERMISSIONS, ROLES
from tests.support.api import API, Person, create_chore, create_household, create_reward, earn, expect, join, sign_up
from tests.support.fixtures import stack_fixture
from tests.support.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(["user", "task", "notify"], gateway=True)

# The people of every household: the four roles acting, and whom the actions touch.
CAST = {
    "owner": "owner",
    "admin": "admin",
    "member": "member",
    "child": "child",
    "admin2": "admin",
    "member2": "member",
}


@dataclass
class World:
    """One household, with its people by key (CAST, and "outsider") and what a cell prepared in it."""

    hid: str
    people: dict[str, Person]
    chores: dict[str, str] = field(default_factory=dict)
    rewards: dict[str, str] = field(default_factory=dict)

    def member_url(self, key: str) -> str:
        return f"{API}/households/{self.hid}/members/{self.people[key].user_id}"

    def chore_url(self, key: str) -> str:
        return f"{API}/households/{self.hid}/chores/{self.chores[key]}"


Request = Callable[[httpx.AsyncClient, World, Person], Awaitable[httpx.Response]]
Prepare = Callable[[httpx.AsyncClient, World, Person], Awaitable[None]]


@dataclass(frozen=True)
class Cell:
    success: int
    request: Request
    prepare: Prepare | None = None


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def period() -> dict[str, str]:
    start = datetime.now(UTC) + timedelta(days=1)
    return {"from": rfc3339(start), "to": rfc3339(start + timedelta(days=7))}


async def chore_of(http: httpx.AsyncClient, world: World, key: str, assignee: Person) -> None:
    """A one-off chore of the owner's, due an hour ago, assigned to `assignee`: `world.chores[key]`."""
    made = await create_chore(
        http,
        world.hid,
        world.people["owner"],
        title=f"Chore {key}",
        assignment={"strategy": "fixed", "assignees": [assignee.user_id]},
        first_due_at=rfc3339(datetime.now(UTC) - timedelta(hours=1)),
    )
    world.chores[key] = made["id"]


async def someone_elses_chore(http: httpx.AsyncClient, world: World, me: Person) -> None:
    await chore_of(http, world, "theirs", world.people["member2"])


async def my_chore(http: httpx.AsyncClient, world: World, me: Person) -> None:
    await chore_of(http, world, "mine", me)


async def a_childs_pending_completion(http: httpx.AsyncClient, world: World, me: Person) -> None:
    """A chore that requires approval, completed by the household's child: `world.chores["pending"]` is the
    completion's URL."""
    owner, child = world.people["owner"], world.people["child"]
    made = await create_chore(
        http,
        world.hid,
        owner,
        title="Tidy room",
        requires_approval=True,
        assignment={"strategy": "fixed", "assignees": [child.user_id]},
        first_due_at=rfc3339(datetime.now(UTC) - timedelta(hours=1)),
    )
    world.chores["reviewed"] = made["id"]
    done = expect(await http.post(f"{world.chore_url('reviewed')}/complete", json={}, headers=child.headers), 201)
    world.chores["pending"] = f"{world.chore_url('reviewed')}/completions/{done['id']}"


async def nobodys_chore(http: httpx.AsyncClient, world: World, me: Person) -> None:
    """An unassigned chore of the owner's: `world.chores["free"]`."""
    made = await create_chore(http, world.hid, world.people["owner"], title="Chore free")
    world.chores["free"] = made["id"]


async def second_member_away(http: httpx.AsyncClient, world: World, me: Person) -> None:
    owner = world.people["owner"]
    expect(await http.put(f"{world.member_url('member2')}/away", json=period(), headers=owner.headers), 200)


async def reward_i_can_afford(http: httpx.AsyncClient, world: World, me: Person) -> None:
    """The owner's reward costing 5, and 5 points for `me` (a completion the owner records for them)."""
    owner = world.people["owner"]
    world.rewards["treat"] = (await create_reward(http, world.hid, owner, 5))["id"]
    await earn(http, world.hid, owner, me, 5)


CELLS: dict[str, Cell] = {
    # the household itself
    "household.read": Cell(200, lambda http, w, me: http.get(f"{API}/households/{w.hid}", headers=me.headers)),
    "household.update": Cell(
        200, lambda http, w, me: http.patch(f"{API}/households/{w.hid}", json={"name": "Renamed"}, headers=me.headers)
    ),
    "household.delete": Cell(204, lambda http, w, me: http.delete(f"{API}/households/{w.hid}", headers=me.headers)),
    "household.read_audit": Cell(
        200, lambda http, w, me: http.get(f"{API}/households/{w.hid}/audit", headers=me.headers)
    ),
    "household.transfer_ownership": Cell(
        200, lambda http, w, me: http.patch(w.member_url("member2"), json={"role": "owner"}, headers=me.headers)
    ),
    # members and invites
    "member.list": Cell(200, lambda http, w, me: http.get(f"{API}/households/{w.hid}/members", headers=me.headers)),
    "member.invite": Cell(
        201,
        lambda http, w, me: http.post(f"{API}/households/{w.hid}/invites", json={"role": "member"}, headers=me.headers),
    ),
    "member.change_role": Cell(
        200, lambda http, w, me: http.patch(w.member_url("member2"), json={"role": "child"}, headers=me.headers)
    ),
    "member.remove": Cell(204, lambda http, w, me: http.delete(w.member_url("member2"), headers=me.headers)),
    "member.manage_admins": Cell(
        200, lambda http, w, me: http.patch(w.member_url("admin2"), json={"role": "member"}, headers=me.headers)
    ),
    "member.leave": Cell(
        204,
        lambda http, w, me: http.delete(f"{API}/households/{w.hid}/members/{me.user_id}", headers=me.headers),
    ),
    "member.set_own_away": Cell(
        200,
        lambda http, w, me: http.put(
            f"{API}/households/{w.hid}/members/{me.user_id}/away", json=period(), headers=me.headers
        ),
    ),
    "member.set_others_away": Cell(
        200, lambda http, w, me: http.put(f"{w.member_url('member2')}/away", json=period(), headers=me.headers)
    ),
    "member.read_away": Cell(
        200, lambda http, w, me: http.get(f"{w.member_url('member2')}/away", headers=me.headers), second_member_away
    ),
    # chores
    "chore.read": Cell(
        200, lambda http, w, me: http.get(w.chore_url("theirs"), headers=me.headers), someone_elses_chore
    ),
    "chore.create": Cell(
        201,
        lambda http, w, me: http.post(
            f"{API}/households/{w.hid}/chores",
            json={"title": "New", "recurrence": {"kind": "once"}, "assignment": {"strategy": "unassigned"}},
            headers=me.headers,
        ),
    ),
    "chore.update": Cell(
        200,
        lambda http, w, me: http.patch(w.chore_url("theirs"), json={"points": 3}, headers=me.headers),
        someone_elses_chore,
    ),
    "chore.delete": Cell(
        204, lambda http, w, me: http.delete(w.chore_url("theirs"), headers=me.headers), someone_elses_chore
    ),
    "chore.complete_any": Cell(
        201,
        lambda http, w, me: http.post(f"{w.chore_url('theirs')}/complete", json={}, headers=me.headers),
        someone_elses_chore,
    ),
    "chore.complete_own": Cell(
        201, lambda http, w, me: http.post(f"{w.chore_url('mine')}/complete", json={}, headers=me.headers), my_chore
    ),
    "chore.approve": Cell(
        200,
        lambda http, w, me: http.post(f"{w.chores['pending']}/approve", headers=me.headers),
        a_childs_pending_completion,
    ),
    "chore.claim": Cell(
        200, lambda http, w, me: http.post(f"{w.chore_url('free')}/claim", headers=me.headers), nobodys_chore
    ),
    "category.manage": Cell(
        201,
        lambda http, w, me: http.post(
            f"{API}/households/{w.hid}/categories", json={"name": "Garden"}, headers=me.headers
        ),
    ),
    # points and rewards
    "points.read": Cell(
        200,
        lambda http, w, me: http.get(
            f"{API}/households/{w.hid}/points", params={"user_id": w.people["member2"].user_id}, headers=me.headers
        ),
    ),
    "reward.manage": Cell(
        201,
        lambda http, w, me: http.post(
            f"{API}/households/{w.hid}/rewards", json={"title": "Cinema", "cost": 100}, headers=me.headers
        ),
    ),
    "reward.redeem": Cell(
        201,
        lambda http, w, me: http.post(
            f"{API}/households/{w.hid}/rewards/{w.rewards['treat']}/redeem", headers=me.headers
        ),
        reward_i_can_afford,
    ),
    # the household's webhooks (notify; a literal public address, so no DNS and nothing delivered here)
    "webhook.manage": Cell(
        201,
        lambda http, w, me: http.post(
            f"{API}/households/{w.hid}/webhooks",
            json={"url": "https://93.184.215.14/hearth", "events": ["*"]},
            headers=me.headers,
        ),
    ),
}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with stack.http() as client:
        yield client


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def people(http: httpx.AsyncClient) -> dict[str, Person]:
    """Everyone, signed up once: each cell puts them into a household of its own."""
    return {key: await sign_up(http, key.capitalize()) for key in [*CAST, "outsider"]}


async def new_world(http: httpx.AsyncClient, people: dict[str, Person]) -> World:
    owner = people["owner"]
    world = World(await create_household(http, owner, "Matrix"), people)
    for key, role in CAST.items():
        if key != "owner":
            await join(http, world.hid, owner, people[key], role)
    return world


async def test_every_action_of_the_table_has_a_request() -> None:
    assert set(CELLS) == set(PERMISSIONS)


@pytest.mark.parametrize(("action", "role"), [(action, role) for action in PERMISSIONS for role in ROLES])
async def test_each_cell_of_the_table_holds_through_rest(
    http: httpx.AsyncClient, people: dict[str, Person], action: str, role: str
) -> None:
    cell = CELLS[action]
    world = await new_world(http, people)
    me = people[role]
    if cell.prepare is not None:
        await cell.prepare(http, world, me)

    response = await cell.request(http, world, me)

    if role in PERMISSIONS[action]:
        assert response.status_code == cell.success, f"{role} may {action}: {response.text}"
    else:
        assert response.status_code == 403, f"{role} may not {action}: {response.status_code} {response.text}"
        assert response.json()["code"] == "permission_denied"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def prepared_world(http: httpx.AsyncClient, people: dict[str, Person]) -> World:
    """One household with everything any cell prepares, for the outsider (who changes nothing)."""
    world = await new_world(http, people)
    for cell in CELLS.values():
        if cell.prepare is not None:
            await cell.prepare(http, world, people["owner"])
    return world


@pytest.mark.parametrize("action", list(PERMISSIONS))
async def test_an_outsider_is_told_nothing_exists_for_any_action(
    http: httpx.AsyncClient, people: dict[str, Person], prepared_world: World, action: str
) -> None:
    response = await CELLS[action].request(http, prepared_world, people["outsider"])

    assert response.status_code == 404, response.text
    assert response.json()["code"] == "not_found"
