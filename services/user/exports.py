"""Data exports (GDPR art. 15 and 20): one zip of everything every service holds about the caller.

CreateExport records an export (`pending`) and enqueues `user:export_user_data` in the same transaction
(kit.jobs.defer_in). The user service's worker runs the job (`run_export`): the user service's own part
(`user_part`: profile, sessions, API keys, memberships, invites, away periods, the audit log, exports) and each
other service's, asked over gRPC (`PrivacyService.ExportUserData`, internal) with the user service's own service
token — which it signs itself, being the issuer (services/user/service_tokens.py) — all side by side, each call
bounded by USER_EXPORT_CALL_TIMEOUT_SECONDS. The archive holds one JSON document per service (`user.json`,
`task.json`, `notify.json`, `analytics.json`) and is stored in the export's row (`done`, `expire_time`).

All or nothing: a service that fails (down, an error, an answer that is not a JSON object) fails the run, and the
job runs again with jittered backoff (USER_EXPORT_MAX_ATTEMPTS runs in all); after the last the export is `failed`
with the reason (which service, which status) and no archive — never an archive with a part missing. A run of an
export that is no longer pending (done, failed, or gone with its account) does nothing, so a job run twice
exports once.

Who may have it: only its owner — GetExport and DownloadExport answer NOT_FOUND for anyone else's id (as for an id
that does not exist), API keys cannot call them (no scope), and the REST download is an authenticated route
(gateway/routes/users.py) whose URL holds no secret to leak. From `expire_time` (USER_EXPORT_TTL_HOURS after it
was made) the export is GONE, to both, and USER_EXPORT_PRUNE_CRON's job drops its archive.

Floods: a person has at most one pending export — asking again while one is pending answers that one (no second
job) — and keeps at most `KEPT_PER_PERSON` exports: making a new one deletes the oldest beyond.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import logging
import uuid
import zipfile
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import grpc
import procrastinate
import sqlalchemy as sa
from hearth.analytics.v1 import analytics_pb2, analytics_pb2_grpc
from hearth.notify.v1 import notify_pb2, notify_pb2_grpc
from hearth.task.v1 import task_pb2, task_pb2_grpc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import defer

from kit.auth import service_audience
from kit.db import utcnow
from kit.errors import Conflict, Gone, NotFound
from kit.grpc_client import make_channel
from kit.ids import new_id
from kit.jobs import DEFAULT_RETRY, SESSIONS, JitteredBackoff, defer_in
from kit.names import household_name, user_name
from kit.validation import Violations, caller_id
from services.user import keys, request_ids
from services.user.config import Settings
from services.user.models import ApiKey, AuditEvent, Away, Export, Household, Invite, Membership, Session, User
from services.user.service_tokens import SERVICE_TOKEN_TTL, issue_service_token

log = logging.getLogger("hearth.user.exports")

PENDING, DONE, FAILED = "pending", "done", "failed"
# The job's name on the queue: the blueprint's task, under the service's namespace (kit.jobs.create_app).
TASK = "export_user_data"
EXPORT_USER_DATA = f"user:{TASK}"
PRUNE_TASK = "prune_exports"
KEPT_PER_PERSON = 5
# DownloadExport's chunks: well under gRPC's message limit, few enough for an archive of megabytes.
CHUNK_BYTES = 64 * 1024
# The services asked for their part, each by its PrivacyService (the user service's own part is `user_part`).
SOURCES = ("task", "notify", "analytics")


def export_lock(export_id: uuid.UUID) -> str:
    """The job's procrastinate lock: two runs for one export never overlap."""
    return f"user:export:{export_id}"


class Exports:
    """CreateExport's, GetExport's and DownloadExport's use cases: the caller's own exports only."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create_export(self, *, request_id: str = "") -> Export:
        """A new pending export of the caller's data and its job; the pending one if there is one already."""
        me = caller_id()
        with Violations() as errors:
            errors.request_id(request_id)
        async with self._sessions() as session, session.begin():
            # Locked: a person's concurrent requests queue up here, so a flood of them makes one export.
            if await session.get(User, me, with_for_update=True) is None:
                raise NotFound("user not found")
            pending = await session.scalar(sa.select(Export).where(Export.user_id == me, Export.state == PENDING))
            export_id = pending.id if pending is not None else new_id()
            replayed = await request_ids.claim(
                session,
                caller=me,
                request_id=request_id,
                operation="CreateExport",
                request=(),
                resource_id=export_id,
            )
            if replayed is not None:
                earlier = await session.get(Export, replayed)
                if earlier is None or earlier.user_id != me:
                    raise NotFound("export not found")  # pushed out by newer ones since (KEPT_PER_PERSON)
                return earlier
            if pending is not None:
                return pending
            export = Export(id=export_id, user_id=me, state=PENDING, create_time=utcnow())
            session.add(export)
            await session.flush()
            await defer_in(session, EXPORT_USER_DATA, lock=export_lock(export.id), export_id=str(export.id))
            kept = sa.select(Export.id).where(Export.user_id == me).order_by(Export.id.desc()).limit(KEPT_PER_PERSON)
            await session.execute(
                sa.delete(Export)
                .where(Export.user_id == me, Export.id.not_in(kept.scalar_subquery()))
                .execution_options(synchronize_session=False)
            )
        return export

    async def get_export(self, export_id: uuid.UUID) -> tuple[Export, int]:
        """The caller's export and its archive's size in bytes (the archive itself is not read); NOT_FOUND for
        anyone else's, GONE once it has expired."""
        async with self._sessions() as session:
            row = (
                await session.execute(
                    sa.select(Export, sa.func.coalesce(sa.func.octet_length(Export.archive), 0))
                    .where(Export.id == export_id, Export.user_id == caller_id())
                    .options(defer(Export.archive))
                )
            ).first()
        if row is None:
            raise NotFound("export not found")
        export, size = row
        _check_not_expired(export)
        return export, int(size)

    async def archive(self, export_id: uuid.UUID) -> bytes:
        """The caller's finished archive; CONFLICT while it is pending or when it failed."""
        async with self._sessions() as session:
            export = await session.scalar(
                sa.select(Export).where(Export.id == export_id, Export.user_id == caller_id())
            )
        if export is None:
            raise NotFound("export not found")
        _check_not_expired(export)
        if export.state == PENDING:
            raise Conflict("the export is not finished yet")
        if export.state == FAILED or export.archive is None:
            raise Conflict("the export failed; create a new one")
        return export.archive


def _check_not_expired(export: Export) -> None:
    if export.expire_time is not None and export.expire_time <= utcnow():
        raise Gone("this export has expired; create a new one")


# --- the job ---------------------------------------------------------------------------------------------


class ExportFailed(Exception):
    """A part could not be gathered; the message says whose and why (it is the export's `error`)."""


# Gathers the other services' parts of a person's data: service name → its JSON object.
GatherParts = Callable[[uuid.UUID], Awaitable[dict[str, dict[str, Any]]]]


class RemoteParts:
    """Each service's PrivacyService.ExportUserData, called with the user service's own service token."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._key: keys.SigningKey | None = None

    def _token(self, callee: str) -> str:
        if self._key is None:
            self._key = keys.load_or_create(self._settings.keys_dir)
        return issue_service_token(
            self._key,
            service="user",
            audience=service_audience(self._settings.jwt_audience, callee),
            issuer=self._settings.jwt_issuer,
            ttl=SERVICE_TOKEN_TTL,
            now=utcnow(),
        )

    async def __call__(self, user_id: uuid.UUID) -> dict[str, dict[str, Any]]:
        parts = await asyncio.gather(*(self._part(name, user_id) for name in SOURCES))
        return dict(zip(SOURCES, parts, strict=True))

    async def _part(self, name: str, user_id: uuid.UUID) -> dict[str, Any]:
        addresses = {
            "task": self._settings.task_addr,
            "notify": self._settings.notify_addr,
            "analytics": self._settings.analytics_addr,
        }
        timeout = self._settings.export_call_timeout_seconds
        metadata = (("authorization", f"Bearer {self._token(name)}"),)
        async with make_channel(addresses[name], default_timeout=timeout) as channel:
            try:
                reply = await _ask(name, channel, user_name(user_id), metadata, timeout)
            except grpc.aio.AioRpcError as exc:
                log.warning("an export part failed", extra={"service": name, "code": exc.code().name})
                raise ExportFailed(f"the {name} service did not give its part ({exc.code().name})") from exc
        try:
            part = json.loads(reply)
        except ValueError as exc:
            raise ExportFailed(f"the {name} service's part is not JSON") from exc
        if not isinstance(part, dict):
            raise ExportFailed(f"the {name} service's part is not a JSON object")
        return part


async def _ask(name: str, channel: grpc.aio.Channel, user: str, metadata: Any, timeout: float) -> str:
    """ExportUserData of service `name` (each service's PrivacyService is a stub and a request of its own)."""
    if name == "task":
        task_reply = await task_pb2_grpc.PrivacyServiceStub(channel).ExportUserData(
            task_pb2.ExportUserDataRequest(user=user), metadata=metadata, timeout=timeout
        )
        return task_reply.json
    if name == "notify":
        notify_reply = await notify_pb2_grpc.PrivacyServiceStub(channel).ExportUserData(
            notify_pb2.ExportUserDataRequest(user=user), metadata=metadata, timeout=timeout
        )
        return notify_reply.json
    analytics_reply = await analytics_pb2_grpc.PrivacyServiceStub(channel).ExportUserData(
        analytics_pb2.ExportUserDataRequest(user=user), metadata=metadata, timeout=timeout
    )
    return analytics_reply.json


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def user_part(session: AsyncSession, user_id: uuid.UUID) -> dict[str, Any] | None:
    """Everything the user service holds about `user_id` (None: the account is gone). Secrets are not data about
    the person and stay out: no password hash, TOTP secret, recovery code, token or key hash, nor the address an
    invite of theirs was sent to (someone else's)."""
    user = await session.get(User, user_id)
    if user is None:
        return None
    mine = sa.select(Session).where(Session.user_id == user_id).order_by(Session.id)
    api_keys = sa.select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.id)
    memberships = (
        sa.select(Membership, Household.name)
        .join(Household, Household.id == Membership.household_id)
        .where(Membership.user_id == user_id)
        .order_by(Membership.join_time)
    )
    invites = sa.select(Invite).where(Invite.creator_id == user_id).order_by(Invite.id)
    away = sa.select(Away).where(Away.user_id == user_id).order_by(Away.household_id)
    log_rows = sa.select(AuditEvent).where(AuditEvent.user_id == user_id).order_by(AuditEvent.id)
    exports = sa.select(Export).where(Export.user_id == user_id).order_by(Export.id).options(defer(Export.archive))
    return {
        "service": "user",
        "user": user_name(user_id),
        "profile": {
            "email": user.email,
            "display_name": user.display_name,
            "time_zone": user.time_zone,
            "locale": user.locale,
            "create_time": _time(user.create_time),
            "update_time": _time(user.update_time),
            "password_change_time": _time(user.password_change_time),
            "mfa_enabled": user.totp_secret is not None,
        },
        "sessions": [
            {
                "id": str(s.id),
                "user_agent": s.user_agent,
                "ip_address": s.ip_address,
                "create_time": _time(s.create_time),
                "last_used_time": _time(s.last_used_time),
                "expire_time": _time(s.expire_time),
                "revoke_time": _time(s.revoke_time),
            }
            for s in await session.scalars(mine)
        ],
        "api_keys": [
            {
                "id": str(k.id),
                "name": k.name,
                "prefix": k.prefix,
                "scopes": list(k.scopes),
                "create_time": _time(k.create_time),
                "expire_time": _time(k.expire_time),
                "last_use_time": _time(k.last_use_time),
                "revoke_time": _time(k.revoke_time),
            }
            for k in await session.scalars(api_keys)
        ],
        "memberships": [
            {
                "household": household_name(m.household_id),
                "household_name": name,
                "role": m.role,
                "join_time": _time(m.join_time),
            }
            for m, name in (await session.execute(memberships)).all()
        ],
        "invites_created": [
            {
                "household": household_name(i.household_id),
                "role": i.role,
                "create_time": _time(i.create_time),
                "expire_time": _time(i.expire_time),
                "accept_time": _time(i.accept_time),
            }
            for i in await session.scalars(invites)
        ],
        "away_periods": [
            {
                "household": household_name(a.household_id),
                "start_time": _time(a.start_time),
                "end_time": _time(a.end_time),
            }
            for a in await session.scalars(away)
        ],
        "audit_events": [
            {
                "action": e.action,
                "household": household_name(e.household_id) if e.household_id else None,
                "actor": user_name(e.actor_id) or None,
                "target": e.target,
                "ip_address": e.ip_address,
                "user_agent": e.user_agent,
                "correlation_id": e.correlation_id,
                "details": e.details,
                "create_time": _time(e.create_time),
            }
            for e in await session.scalars(log_rows)
        ],
        "exports": [
            {
                "id": str(x.id),
                "state": x.state,
                "create_time": _time(x.create_time),
                "finish_time": _time(x.finish_time),
            }
            for x in await session.scalars(exports)
        ],
    }


def archive_of(parts: Mapping[str, Mapping[str, Any]], *, at: datetime) -> bytes:
    """The zip: `<service>.json` for each part, in the order given."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, part in parts.items():
            entry = zipfile.ZipInfo(f"{name}.json", date_time=at.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, json.dumps(part, ensure_ascii=False, indent=2, sort_keys=True))
    return buffer.getvalue()


async def run_export(
    sessions: async_sessionmaker[AsyncSession],
    export_id: uuid.UUID,
    *,
    gather: GatherParts,
    ttl: timedelta,
    final_attempt: bool,
) -> str:
    """One run of the export job (see the module docstring): the export's state after it ("skipped" when it was
    no longer pending). Raises ExportFailed to be run again, unless this is the `final_attempt`."""
    async with sessions() as session:
        export = await session.scalar(sa.select(Export).where(Export.id == export_id).options(defer(Export.archive)))
        if export is None or export.state != PENDING:
            return "skipped"
        own = await user_part(session, export.user_id)
    if own is None:
        return "skipped"  # the account was deleted meanwhile (its exports with it)
    try:
        parts = {"user": own, **await gather(export.user_id)}
    except ExportFailed as exc:
        if not final_attempt:
            raise
        await _finish(sessions, export_id, state=FAILED, error=str(exc))
        return FAILED
    now = utcnow()
    await _finish(sessions, export_id, state=DONE, archive=archive_of(parts, at=now), expire_time=now + ttl)
    return DONE


async def _finish(sessions: async_sessionmaker[AsyncSession], export_id: uuid.UUID, **values: Any) -> None:
    """Record the outcome, only if the export is still pending (a concurrent run may have finished it)."""
    async with sessions() as session, session.begin():
        await session.execute(
            sa.update(Export)
            .where(Export.id == export_id, Export.state == PENDING)
            .values(finish_time=utcnow(), **values)
            .execution_options(synchronize_session=False)
        )


async def prune_exports(sessions: async_sessionmaker[AsyncSession], timestamp: int) -> int:
    """Drop the archives of exports expired by the job's scheduled time (the rows stay: GONE, not NOT_FOUND, until
    newer exports push them out); a second run finds nothing more. The archives dropped."""
    cutoff = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    async with sessions() as session, session.begin():
        result = await session.execute(
            sa.update(Export)
            .where(Export.expire_time <= cutoff, Export.archive.is_not(None))
            .values(archive=None)
            .execution_options(synchronize_session=False)
        )
    return int(getattr(result, "rowcount", 0) or 0)


def export_jobs(settings: Settings, *, gather: GatherParts | None = None) -> procrastinate.Blueprint:
    """The user service's own jobs for its worker (`python -m services.user worker`): `user:export_user_data`
    and, on USER_EXPORT_PRUNE_CRON, `user:prune_exports`. `gather`: where the other services' parts come from
    (RemoteParts by default)."""
    blueprint = procrastinate.Blueprint()
    retry = JitteredBackoff(
        max_attempts=settings.export_max_attempts,
        base=settings.export_retry_base_seconds,
        cap=settings.export_retry_cap_seconds,
    )
    parts = gather or RemoteParts(settings)
    ttl = timedelta(hours=settings.export_ttl_hours)

    @blueprint.task(name=TASK, pass_context=True, retry=retry)
    async def export_user_data(context: procrastinate.JobContext, export_id: str) -> str:
        assert context.job is not None
        return await run_export(
            context.additional_context[SESSIONS],
            uuid.UUID(export_id),
            gather=parts,
            ttl=ttl,
            final_attempt=context.job.attempts + 1 >= retry.max_attempts,
        )

    @blueprint.periodic(cron=settings.export_prune_cron, periodic_id="exports", queueing_lock=PRUNE_TASK)
    @blueprint.task(name=PRUNE_TASK, pass_context=True, retry=DEFAULT_RETRY, lock=PRUNE_TASK)
    async def prune(context: procrastinate.JobContext, timestamp: int) -> int:
        return await prune_exports(context.additional_context[SESSIONS], timestamp)

    return blueprint


__all__ = [
    "CHUNK_BYTES",
    "EXPORT_USER_DATA",
    "KEPT_PER_PERSON",
    "ExportFailed",
    "Exports",
    "RemoteParts",
    "archive_of",
    "export_jobs",
    "prune_exports",
    "run_export",
    "user_part",
]
