"""The benchmarks run: each script at its tiny size completes and prints its figures.

Not timed tests: the figures themselves are for docs/performance.md. The four
scripts are started together (most of their time is start-up and waiting) and
each test reads one script's output. Each script creates its own database
(keyshop_bench_smoke_<pid>_<script>), starts and stops what it needs on
127.0.0.1, and uses Redis db 5 with a queue of its own.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from tests.conftest import REQUIRE_SERVICES

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ("allocation", "imports", "storefront", "end_to_end")
TIMEOUT = 150


def _redis_up() -> bool:
    import redis

    try:
        return bool(redis.Redis(host="127.0.0.1", port=6379, db=5, socket_timeout=2).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, subprocess.CompletedProcess | None]:
    """Each script's finished process (None: not run), all run at once at --size tiny."""
    if connection.vendor != "postgresql":
        return dict.fromkeys(SCRIPTS)  # the postgres marker skips or fails each test
    folder = tmp_path_factory.mktemp("bench")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    started = {}
    for script in SCRIPTS:
        if script == "end_to_end" and not _redis_up():
            continue
        # A database of this run's own: several suites may run this file at once.
        argv = [
            sys.executable,
            "-m",
            f"bench.{script}",
            "--size",
            "tiny",
            "--database",
            f"keyshop_bench_smoke_{os.getpid()}_{script}",
            "--var-dir",
            str(folder / script),
        ]
        log = open(folder / f"{script}.log", "w+")  # noqa: SIM115 - closed below
        started[script] = (subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=log), log)
    finished: dict[str, subprocess.CompletedProcess | None] = dict.fromkeys(SCRIPTS)
    deadline = time.monotonic() + TIMEOUT
    for script, (process, log) in started.items():
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 1))
        except subprocess.TimeoutExpired:
            process.terminate()  # the script stops what it started, then exits
            process.wait(timeout=30)
        log.seek(0)
        finished[script] = subprocess.CompletedProcess(process.args, process.returncode, log.read())
        log.close()
    return finished


def _output(outputs, script: str) -> str:
    result = outputs[script]
    if result is None:
        if script == "end_to_end" and REQUIRE_SERVICES:
            pytest.fail("needs Redis on 127.0.0.1:6379 (required here)")
        pytest.skip(f"bench.{script} was not run (no PostgreSQL or Redis)")
    assert result.returncode == 0, result.stdout[-4000:]
    return result.stdout


def test_allocation_prints_both_rates_and_the_ratio(outputs):
    out = _output(outputs, "allocation")

    assert "fresh              workers=2   keyshop" in out
    assert "alloc/s   raw SQL" in out and "ratio" in out
    assert "sold, no vacuum" in out and "sold, vacuumed" in out
    assert "cost per allocation vs fresh" in out
    assert "allocation finished" in out


def test_import_prints_rate_memory_and_the_copy_baseline(outputs):
    out = _output(outputs, "imports")

    assert "import     2,000 codes: keyshop" in out
    assert "peak RSS" in out and "COPY" in out and "ratio" in out


def test_storefront_prints_rates_p99_and_ratios(outputs):
    out = _output(outputs, "storefront")

    for label in ("bare view", "product page", "catalogue"):
        assert f"{label:<14}" in out
    assert "x the bare view" in out and "p99" in out


def test_end_to_end_delivers_every_order_once_and_prints_latencies(outputs):
    out = _output(outputs, "end_to_end")

    assert "raw SQL allocation" in out
    assert "10/s" in out and "p99" in out
    assert "no code issued twice: met" in out
    assert "sustained:" in out
