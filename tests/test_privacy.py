"""GDPR across the four services, through the real gateway: DELETE /users/me and the data export.

The four-database test: someone with data in every service — households (one they own with others, one they are
a member of, one they are alone in), chores they created, were assigned and completed, notifications in their
inbox and naming them in others', completions counted by analytics, an export — deletes their account; once every
event has been handled (no outbox holds an unpublished row and every consumer group has read every stream to
its end) no table of any of the four databases holds their id, email or display name, while the households' history
is what it was: the same completions with the same points, attributed to the deleted-user marker, the household
they owned passed on, the one they were alone in gone.

The export through REST: 202 and the pending export (the same one however often asked), the status, the download
URL that only its owner's token opens, a download before it is done (409), another person's id (404), an expired
one (410).
"""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from kit.erasure import DELETED_USER
from tests.support.api import API, PASSWORD, Person, create_chore, create_household, expect, join, sign_up
from tests.support.events import settled, stream_entries_naming
from tests.support.fixtures import http_fixture, redis_fixture, stack_fixture
from tests.support.infra import unique
from tests.support.jobs import run_user_jobs
from tests.support.rows import rows_naming
from tests.support.stack import Stack, another_gateway
from tests.support.wait import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

stack = stack_fixture(gateway=True)
http = http_fixture()
redis = redis_fixture()


async def complete(
    http: httpx.AsyncClient, home: str, chore: dict[str, Any], by: Person, **body: Any
) -> dict[str, Any]:
    done: dict[str, Any] = expect(
        await http.post(f"{API}/households/{home}/chores/{chore['id']}/complete", json=body, headers=by.headers), 201
    )
    return done


async def completions(http: httpx.AsyncClient, home: str, chore: dict[str, Any], by: Person) -> list[dict[str, Any]]:
    listed = expect(
        await http.get(f"{API}/households/{home}/chores/{chore['id']}/completions", headers=by.headers), 200
    )
    return list(listed["items"])


async def members(http: httpx.AsyncClient, home: str, by: Person) -> dict[str, str]:
    listed = expect(await http.get(f"{API}/households/{home}/members", headers=by.headers), 200)
    return {m["user_id"]: m["role"] for m in listed["items"]}


async def inbox(http: httpx.AsyncClient, person: Person) -> list[dict[str, Any]]:
    return list(expect(await http.get(f"{API}/notifications", headers=person.headers), 200)["items"])


async def delete_account(http: httpx.AsyncClient, person: Person, password: str = PASSWORD) -> httpx.Response:
    return await http.request("DELETE", f"{API}/users/me", json={"password": password}, headers=person.headers)


async def test_a_deleted_user_leaves_nothing_in_any_database_and_households_keep_their_history(
    stack: Stack, http: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    display_name = unique("Zephyrine")
    gone = await sign_up(http, display_name)
    mate, keeper = await sign_up(http, "Mate"), await sign_up(http, "Keeper")
    theirs = await create_household(http, gone, "Shared flat")
    await join(http, theirs, gone, mate, "member")
    elsewhere = await create_household(http, keeper, "Keeper's")
    await join(http, elsewhere, keeper, gone, "member")
    alone = await create_household(http, gone, f"{display_name}'s den")  # named after them: the name goes too

    fixed = {"strategy": "fixed", "assignees": [gone.user_id]}
    rotation = {"strategy": "fixed", "assignees": [gone.user_id, mate.user_id], "rotate": "on_completion"}
    bins = await create_chore(http, theirs, gone, title="Bins", assignment=fixed, points=10)
    dishes = await create_chore(http, theirs, mate, title="Dishes", assignment=rotation, points=20)
    windows = await create_chore(http, elsewhere, keeper, title="Windows", assignment=fixed, points=30)
    await create_chore(http, alone, gone, title="Plants")
    await complete(http, theirs, bins, gone, note=f"{display_name} did it")
    await complete(http, theirs, dishes, mate, completed_by=gone.user_id)
    await complete(http, elsewhere, windows, gone)
    other = await create_chore(http, theirs, mate, title="Laundry", assignment={"strategy": "unassigned"})
    await complete(http, theirs, other, mate)  # a completion in their inbox, by someone else
    expect(await http.post(f"{API}/users/me/export", headers=gone.headers), 202)
    await settled(stack, redis)
    await run_user_jobs(stack)
    assert await inbox(http, gone)
    assert any(display_name in n["title"] for n in await inbox(http, mate))
    before_stats = expect(await http.get(f"{API}/households/{theirs}/stats", headers=mate.headers), 200)
    assert before_stats["household"]["completions"] == 3
    history = {c["id"]: c for chore in (bins, dishes) for c in await completions(http, theirs, chore, mate)}
    needles = (gone.user_id, gone.email, display_name)
    for service, url in stack.databases.items():
        assert await rows_naming(url, *needles), f"{service}: the search finds them before"
    published = await stream_entries_naming(stack, redis, gone.user_id)
    # What the streams carried of them, all read by now (notify's: notification.created for their notifications).
    assert set(published) == {"user", "task", "notify"}, published

    # A wrong password deletes nothing; the right one deletes the account, once.
    assert (await delete_account(http, gone, "not the password")).status_code == 401
    deleted = await delete_account(http, gone)
    assert deleted.status_code == 202, deleted.text
    assert deleted.json() == {"id": gone.user_id, "status": "deleted"}
    assert (await delete_account(http, gone)).status_code == 401  # its token ended with it
    assert (await http.get(f"{API}/users/me", headers=gone.headers)).status_code == 401
    await settled(stack, redis)

    for service, url in stack.databases.items():
        assert await rows_naming(url, *needles) == {}, service
    # Nor do the streams still carry what they published of them before (kit.erasure.erase_from_stream); only the
    # deletion's own events may name them until every group has read them, then age out.
    remaining = await stream_entries_naming(stack, redis, gone.user_id)
    assert {service: ids & published.get(service, set()) for service, ids in remaining.items()} == {
        service: set() for service in remaining
    }

    # The households' history: the same completions, times and points; theirs now the deleted user's.
    after = {c["id"]: c for chore in (bins, dishes) for c in await completions(http, theirs, chore, mate)}
    assert {i: (c["completed_at"], c["points"]) for i, c in after.items()} == {
        i: (c["completed_at"], c["points"]) for i, c in history.items()
    }
    assert {c["completed_by"] for c in after.values()} == {str(DELETED_USER)}
    after_stats = expect(await http.get(f"{API}/households/{theirs}/stats", headers=mate.headers), 200)
    assert after_stats["household"]["completions"] == before_stats["household"]["completions"]
    assert gone.user_id not in json.dumps(after_stats)
    [windows_done] = await completions(http, elsewhere, windows, keeper)
    assert windows_done["completed_by"] == str(DELETED_USER)
    # The household they owned is the member's now; the one they were in keeps its owner; the one they were
    # alone in is gone.
    assert await members(http, theirs, mate) == {mate.user_id: "owner"}
    assert await members(http, elsewhere, keeper) == {keeper.user_id: "owner"}
    assert (await http.get(f"{API}/households/{alone}", headers=mate.headers)).status_code == 404
    assert all(display_name not in n["title"] + n["body"] for n in await inbox(http, mate))
    # The address is free again.
    again = {"email": gone.email, "password": PASSWORD, "display_name": "Someone new"}
    assert (await http.post(f"{API}/auth/register", json=again)).status_code == 201


async def test_deleting_an_account_needs_the_password_and_a_body(http: httpx.AsyncClient) -> None:
    person = await sign_up(http, "Cautious")
    no_body = await http.request("DELETE", f"{API}/users/me", headers=person.headers)
    assert no_body.status_code == 422
    extra = await http.request(
        "DELETE", f"{API}/users/me", json={"password": PASSWORD, "force": True}, headers=person.headers
    )
    assert extra.status_code == 422
    anonymous = await http.request("DELETE", f"{API}/users/me", json={"password": PASSWORD})
    assert anonymous.status_code == 401
    wrong = await delete_account(http, person, "guess guess guess")
    assert (wrong.status_code, wrong.json()["code"]) == (401, "unauthenticated")
    # The password is kept by no cache: an Idempotency-Key's replay memory included.
    keyed = await http.request(
        "DELETE",
        f"{API}/users/me",
        json={"password": "guess guess guess"},
        headers={**person.headers, "Idempotency-Key": unique("k")},
    )
    assert keyed.status_code == 401
    assert "idempotent-replayed" not in keyed.headers
    assert (await http.get(f"{API}/users/me", headers=person.headers)).status_code == 200


async def test_guessing_the_password_by_deleting_the_account_is_limited(stack: Stack, http: httpx.AsyncClient) -> None:
    """A stolen access token does not make DELETE /users/me an oracle for the password: its failures count like a
    login's, per account, and beyond the budget even the right password is refused (the account stays)."""
    person = await sign_up(http, "Targeted")
    async with another_gateway(stack, auth_failures_per_account=3) as gateway:
        for _ in range(3):
            assert (await delete_account(gateway, person, "a guess at it")).status_code == 401
        refused = await delete_account(gateway, person)
        assert (refused.status_code, refused.json()["code"]) == (429, "rate_limited")
    assert (await http.get(f"{API}/users/me", headers=person.headers)).status_code == 200


# --- exports -----------------------------------------------------------------------------------------------


async def test_an_export_through_rest_is_its_owners_alone(stack: Stack, http: httpx.AsyncClient) -> None:
    owner, nosy = await sign_up(http, "Exporter"), await sign_up(http, "Nosy")
    await create_household(http, owner, "Exported")
    made = await asyncio.gather(*(http.post(f"{API}/users/me/export", headers=owner.headers) for _ in range(10)))
    assert {r.status_code for r in made} == {202}
    [export] = {r.json()["id"] for r in made}  # a flood makes one
    status = made[0].json()
    assert (status["status"], status["download_url"]) == ("pending", None)
    assert made[0].headers["location"] == f"{API}/users/me/exports/{export}"
    url = f"{API}/users/me/exports/{export}"
    assert (await http.get(f"{url}/archive", headers=owner.headers)).status_code == 409  # not done yet

    await run_user_jobs(stack)

    done = expect(await http.get(url, headers=owner.headers), 200)
    assert done["status"] == "done"
    assert done["download_url"] == f"{url}/archive"
    archive = await http.get(done["download_url"], headers=owner.headers)
    assert archive.status_code == 200
    assert archive.headers["content-type"] == "application/zip"
    assert archive.headers["cache-control"] == "no-store"
    assert "attachment" in archive.headers["content-disposition"]
    assert len(archive.content) == done["size_bytes"]
    with zipfile.ZipFile(io.BytesIO(archive.content)) as opened:
        assert sorted(opened.namelist()) == ["analytics.json", "notify.json", "task.json", "user.json"]
        assert json.loads(opened.read("user.json"))["profile"]["email"] == owner.email
    # Nobody else's token opens it, and no token does.
    for path in (url, f"{url}/archive"):
        assert (await http.get(path, headers=nosy.headers)).status_code == 404
        assert (await http.get(path)).status_code == 401
    assert (await http.get(f"{API}/users/me/exports/{'x' * 65}", headers=owner.headers)).status_code == 422


async def test_an_expired_export_is_gone(stack: Stack, http: httpx.AsyncClient) -> None:
    person = await sign_up(http, "Slow")
    export = expect(await http.post(f"{API}/users/me/export", headers=person.headers), 202)["id"]
    await run_user_jobs(stack, export_ttl_hours=0.2 / 3600)
    url = f"{API}/users/me/exports/{export}"
    done = expect(await http.get(url, headers=person.headers), 200)
    expires = datetime.fromisoformat(done["expires_at"].replace("Z", "+00:00"))

    async def expired() -> bool:
        return datetime.now(UTC) > expires

    await eventually(expired, interval=0.005)  # a fifth of a second

    for path in (url, f"{url}/archive"):
        gone = await http.get(path, headers=person.headers)
        assert (gone.status_code, gone.json()["code"]) == (410, "gone")
