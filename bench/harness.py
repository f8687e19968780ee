"""What every benchmark shares: its own database and settings, and the processes it starts.

A script calls :func:`setup` before it touches Django. That points this process
and every process it starts at a database of its own on PostgreSQL (dropped and
migrated afresh, never the suite's or the demo's), Redis db 5 with a queue and
cache prefix of the run's own, and ``var/bench``, with production settings
(``DEBUG`` off) and secrets made up for the run. Nothing inherited from the
caller's environment (``DATABASE_URL``, ``CELERY_BROKER_URL``, ...) is used.

Processes are started in sessions of their own (:class:`Services`), so stopping
one stops everything it forked; :func:`main` stops them on success, on failure,
on Ctrl-C and on SIGTERM.
"""

import argparse
import asyncio
import base64
import contextlib
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5")
# Every database a benchmark creates or drops has this prefix, so no run can drop
# a database that is not a benchmark's.
DATABASE_PREFIX = "keyshop_bench"
# Variables of the caller's environment that could point a benchmark elsewhere.
_NOT_INHERITED = (
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CACHE_URL",
    "EMAIL_URL",
    "DJANGO_SETTINGS_MODULE",
    "CELERY_TASK_ALWAYS_EAGER",
    "VAULT_KEYS_FILE",
    "MEDIA_ROOT",
    "SITE_URL",
    "STRIPE_API_BASE",
)


@dataclass
class Run:
    """One run of one benchmark: where it keeps its state and what it found."""

    name: str
    size: str
    database: str
    var_dir: Path
    run_id: str
    env: dict[str, str]
    profile: bool
    keep_database: bool
    options: dict[str, Any] = field(default_factory=dict)
    results: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    @property
    def database_url(self) -> str:
        return f"{PG_URL}/{self.database}"

    @property
    def queue(self) -> str:
        return f"bench-{self.run_id}"


def arguments(description: str, *, extra: Callable[[argparse.ArgumentParser], None] | None = None):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--size",
        choices=["tiny", "full"],
        default="full",
        help="tiny: a few seconds, for the smoke test; full: the figures in docs/performance.md",
    )
    parser.add_argument(
        "--database",
        default=DATABASE_PREFIX,
        help=f"PostgreSQL database to create for the run (must start with {DATABASE_PREFIX})",
    )
    parser.add_argument("--var-dir", default=str(REPO / "var" / "bench"), type=Path)
    parser.add_argument(
        "--keep-database", action="store_true", help="leave the database for inspection"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample the measured processes with py-spy; stacks go to VAR_DIR/profiles/",
    )
    if extra:
        extra(parser)
    return parser.parse_args()


def environment(*, database: str, var_dir: Path, run_id: str) -> dict[str, str]:
    """The environment of the benchmark and of every process it starts."""
    env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    # Every secret settings.py asks for (more are added as the shop grows), then ours.
    settings_text = (REPO / "config" / "settings.py").read_text()
    for name in re.findall(r'_dev_secret\(\s*"([A-Z0-9_]+)"', settings_text):
        env[name] = secrets.token_urlsafe(48)
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings",
        DEBUG="false",
        DATABASE_URL=f"{PG_URL}/{database}",
        CONN_MAX_AGE="600",
        CELERY_BROKER_URL=REDIS_URL,
        CACHE_URL=REDIS_URL,
        # filemail:/// + an absolute path: django-environ drops one leading slash.
        EMAIL_URL=f"filemail:///{var_dir / 'mail'}",
        KEYSHOP_VAR_DIR=str(var_dir),
        MEDIA_ROOT=str(var_dir / "private"),
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SITE_URL="http://127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        SECURE_HSTS_SECONDS="0",
        # Offline: no Stripe call is made, and one made by mistake goes nowhere.
        STRIPE_SECRET_KEY="sk_test_bench_offline",  # noqa: S106 - not a secret
        STRIPE_PUBLISHABLE_KEY="pk_test_bench_offline",
        STRIPE_API_BASE="http://127.0.0.1:9",
        STRIPE_WEBHOOK_SECRET="whsec_" + secrets.token_hex(16),
        VAULT_KEYS=json.dumps({"current": "b1", "keys": {"b1": key}}),
        BLIND_INDEX_KEY=secrets.token_urlsafe(32),
        PII_HASH_KEY=secrets.token_urlsafe(32),
        LOG_LEVEL="WARNING",
        BENCH_RUN_ID=run_id,
        PYTHONUNBUFFERED="1",
    )
    return env


def prepare(args: argparse.Namespace, name: str) -> Run:
    """The run's settings and environment; nothing is created yet."""
    if not re.fullmatch(rf"{DATABASE_PREFIX}[a-z0-9_]*", args.database):
        raise SystemExit(f"--database must match {DATABASE_PREFIX}[a-z0-9_]*")
    var_dir = Path(args.var_dir).resolve()
    run_id = f"{name}-{os.getpid()}-{secrets.token_hex(3)}"
    return Run(
        name=name,
        size=args.size,
        database=args.database,
        var_dir=var_dir,
        run_id=run_id,
        env=environment(database=args.database, var_dir=var_dir, run_id=run_id),
        profile=args.profile,
        keep_database=args.keep_database,
        options={
            k: v
            for k, v in vars(args).items()
            if k not in {"size", "database", "var_dir", "keep_database", "profile"}
        },
    )


def setup(run: Run) -> None:
    """Create the run's database and var dir, point this process at them and set Django up."""
    run.var_dir.mkdir(parents=True, exist_ok=True)
    os.environ.clear()
    os.environ.update(run.env)
    database_create(run)
    import django

    django.setup()
    print(
        f"# {run.name} --size {run.size}: database {run.database}, var {run.var_dir}, "
        f"{os.cpu_count()} cores, {_memory_gib():.0f} GiB, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        flush=True,
    )


def _memory_gib() -> float:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _admin_connection():
    import psycopg

    return psycopg.connect(f"{PG_URL}/postgres", autocommit=True)


def database_drop(name: str) -> None:
    assert name.startswith(DATABASE_PREFIX)
    with _admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_create(run: Run) -> None:
    """Drop and create the run's database, then migrate it (about two seconds)."""
    database_drop(run.database)
    with _admin_connection() as admin:
        admin.execute(f'CREATE DATABASE "{run.database}"')
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=REPO,
        env=run.env,
        check=True,
    )


# --- processes ---------------------------------------------------------------


class Services:
    """Processes started for a run, each in its own session; ``stop`` ends all of them."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.processes: list[tuple[str, subprocess.Popen]] = []
        (run.var_dir / "logs").mkdir(exist_ok=True)

    def __enter__(self) -> "Services":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_path(self, name: str) -> Path:
        return self.run.var_dir / "logs" / f"{name}.log"

    def start(self, name: str, argv: list[str], *, env: dict[str, str] | None = None):
        log = open(self.log_path(name), "wb")  # noqa: SIM115 - the child keeps it
        try:
            process = subprocess.Popen(
                argv,
                cwd=REPO,
                env=env or self.run.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        self.processes.append((name, process))
        return process

    def stop(self) -> None:
        for _name, process in reversed(self.processes):
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _name, process in reversed(self.processes):
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            # Whatever the process left behind in its group goes too.
            _signal_group(process, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        self.processes.clear()

    def check_alive(self) -> None:
        for name, process in self.processes:
            if process.poll() is not None:
                tail = self.log_path(name).read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{tail}")


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    # The group id is the child's pid (start_new_session); only that group is signalled.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, services=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if services:
            services.check_alive()
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def http_ok(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - 127.0.0.1 only
            return response.status == 200
    except OSError:
        return False


def gunicorn_start(services: Services, *, workers: int, name: str = "gunicorn") -> str:
    """Start gunicorn on a free port of 127.0.0.1; returns its base URL once it answers."""
    port = free_port()
    services.start(
        name,
        [
            str(BIN / "gunicorn"),
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--backlog",
            "2048",
            "--log-level",
            "warning",
            "--timeout",
            "120",
        ],
    )
    base = f"http://127.0.0.1:{port}"
    wait_until(
        lambda: http_ok(f"{base}/bench/bare/"), timeout=60, what="gunicorn", services=services
    )
    return base


def celery_start(services: Services, *, concurrency: int, name: str = "celery") -> None:
    """Start a Celery worker on the run's own queue; returns once it is ready."""
    run = services.run
    services.start(
        name,
        [
            str(BIN / "celery"),
            "-A",
            "config",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            str(concurrency),
            "--queues",
            run.queue,
            "--hostname",
            f"{run.run_id}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "INFO",
        ],
    )
    log = services.log_path(name)
    wait_until(
        lambda: " ready." in log.read_text(errors="replace"),
        timeout=60,
        what="the Celery worker",
        services=services,
    )


def redis_queue_delete(run: Run) -> None:
    """Drop what the run left on Redis db 5: its queue and its cache keys."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.delete(run.queue)
        for key in client.scan_iter(match=f"{run.run_id}:*", count=1000):
            client.delete(key)
    finally:
        client.close()


# --- profiling ----------------------------------------------------------------


class Profiler:
    """py-spy sampling processes while they are measured (only with ``--profile``)."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.samplers: list[tuple[subprocess.Popen, Path]] = []

    def attach(self, pid: int, label: str) -> None:
        if not self.run.profile:
            return
        spy = shutil.which("py-spy", path=str(BIN)) or shutil.which("py-spy")
        if not spy:
            print("# --profile: py-spy is not installed (pip install py-spy)", flush=True)
            return
        folder = self.run.var_dir / "profiles"
        folder.mkdir(exist_ok=True)
        out = folder / f"{self.run.name}-{label}.txt"
        process = subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(pid),
                "--subprocesses",
                "--format",
                "raw",
                "--rate",
                "200",
                "--nonblocking",
                "--output",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.samplers.append((process, out))

    def detach(self) -> None:
        for process, out in self.samplers:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if out.exists():
                print(f"# profile: {out}", flush=True)
                for line in profile_summary(out):
                    print(f"#   {line}", flush=True)
        self.samplers.clear()


def profile_summary(path: Path, *, top: int = 12) -> list[str]:
    """The functions where most samples were taken (self time), from py-spy's raw output."""
    own: dict[str, int] = {}
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack.split(";")
        leaf = frames[-1]
        # py-spy names a frame "function (file:line)": keep function and file.
        leaf = re.sub(r":\d+\)$", ")", leaf)
        own[leaf] = own.get(leaf, 0) + int(count)
        total += int(count)
    if not total:
        return []
    ranked = sorted(own.items(), key=lambda item: -item[1])[:top]
    return [f"{100 * n / total:5.1f}%  {frame}" for frame, n in ranked]


# --- figures ----------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; nan for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(math.ceil(q / 100 * len(ordered)), 1)
    return ordered[rank - 1]


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def say(text: str = "") -> None:
    print(text, flush=True)


def results_write(run: Run) -> Path:
    folder = REPO / "bench" / "results"
    folder.mkdir(exist_ok=True)
    path = folder / f"{run.name}-{run.size}-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    run.results.update(
        name=run.name,
        size=run.size,
        date=datetime.now(UTC).isoformat(timespec="seconds"),
        cores=os.cpu_count(),
        memory_gib=round(_memory_gib(), 1),
        seconds=round(time.monotonic() - run.started, 1),
    )
    path.write_text(json.dumps(run.results, indent=2, default=str) + "\n")
    return path


# --- HTTP load (storefront) ----------------------------------------------------


def http_load(url: str, *, seconds: float, connections: int) -> dict[str, Any]:
    """Closed-loop load on one URL: wrk when installed, else an aiohttp client.

    Returns requests per second, p50 and p99 in milliseconds, non-2xx/errors and the tool.
    """
    wrk = shutil.which("wrk")
    if wrk:
        return _wrk(wrk, url, seconds=seconds, connections=connections)
    return asyncio.run(_aiohttp_load(url, seconds=seconds, connections=connections))


_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _wrk(wrk: str, url: str, *, seconds: float, connections: int) -> dict[str, Any]:
    out = subprocess.run(
        [wrk, "-t1", f"-c{connections}", f"-d{max(int(seconds), 1)}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout

    def latency(label: str) -> float:
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.MULTILINE)
        return float(match[1]) * _WRK_UNITS[match[2]] if match else math.nan

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = 0
    if non2xx := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        errors += int(non2xx[1])
    if socket_errors := re.search(r"Socket errors: (.*)", out):
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors[1]))
    requests = re.search(r"(\d+) requests in", out)
    return {
        "rps": float(rps[1]) if rps else math.nan,
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "requests": int(requests[1]) if requests else 0,
        "errors": errors,
        "tool": "wrk",
    }


async def _aiohttp_load(url: str, *, seconds: float, connections: int) -> dict[str, Any]:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while time.monotonic() < deadline:
            began = time.perf_counter()
            try:
                async with session.get(url) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
            except aiohttp.ClientError:
                errors += 1
            latencies.append((time.perf_counter() - began) * 1000)

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        began = time.monotonic()
        await asyncio.gather(*(client(session) for _ in range(connections)))
        elapsed = time.monotonic() - began
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "requests": len(latencies),
        "errors": errors,
        "tool": "aiohttp",
    }


# --- running a script -----------------------------------------------------------


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(body: Callable[[Run], None], args: argparse.Namespace, name: str) -> None:
    """Set up the run, call ``body(run)``, and always clean up after it."""
    # Ctrl-C, kill and a closed terminal all stop the run the same way. SIGINT is set
    # explicitly: a shell starting the script in the background leaves it ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGHUP, _raise_interrupt)
    run = prepare(args, name)
    try:
        setup(run)
        body(run)
        say(f"# results: {results_write(run).relative_to(REPO)}")
        say(f"# {name} finished in {time.monotonic() - run.started:.0f} s")
    except KeyboardInterrupt:
        say(f"# {name} interrupted; stopping what it started")
        sys.exit(130)
    finally:
        _cleanup(run)


def _cleanup(run: Run) -> None:
    import psycopg
    import redis
    from django.apps import apps
    from django.db import connections

    if apps.ready:
        connections.close_all()
    with contextlib.suppress(redis.RedisError):
        redis_queue_delete(run)
    if not run.keep_database:
        with contextlib.suppress(psycopg.Error):
            database_drop(run.database)


@contextlib.contextmanager
def stopwatch() -> Iterator[Callable[[], float]]:
    began = time.perf_counter()
    ended: list[float] = []
    yield lambda: (ended[0] if ended else time.perf_counter()) - began
    ended.append(time.perf_counter())
