"""Run work in separate OS processes against the real (PostgreSQL) test database."""

import multiprocessing
from collections.abc import Callable, Iterable

import pytest
from django.db import connections


def _close_then_call(func_and_args):
    func, args = func_and_args
    try:
        return func(*args)
    finally:
        connections.close_all()


@pytest.fixture
def in_processes():
    """``in_processes(func, [args, ...], processes=N)``: func(*args) for each, in worker processes.

    Connections are closed before forking so every process opens its own.
    """

    def run(func: Callable, calls: Iterable[tuple], *, processes: int = 16) -> list:
        connections.close_all()
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            return pool.map(_close_then_call, [(func, args) for args in calls], chunksize=1)

    return run
