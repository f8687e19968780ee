"""A Celery worker keeps a healthy database connection between tasks and drops a bad one.

``CELERY_DB_REUSE_MAX`` stops Celery closing connections around every task;
``config.celery.database_connections_tidy`` then applies Django's per-request rule.
"""

from types import SimpleNamespace

import pytest
from celery.signals import task_postrun, task_prerun
from django.conf import settings
from django.db import connection

from config.celery import app, database_connections_tidy

WORKER_TASK = SimpleNamespace(request=SimpleNamespace(is_eager=False))


def test_the_worker_keeps_its_connection_between_tasks():
    assert settings.CELERY_DB_REUSE_MAX >= 100
    assert app.conf.get("CELERY_DB_REUSE_MAX") == settings.CELERY_DB_REUSE_MAX
    receivers = {ref() for _key, ref in task_prerun.receivers} & {
        ref() for _key, ref in task_postrun.receivers
    }
    assert database_connections_tidy in receivers


@pytest.mark.django_db(transaction=True)
def test_a_healthy_connection_is_kept_and_one_that_errored_and_broke_is_closed(monkeypatch):
    connection.ensure_connection()
    opened = connection.connection
    monkeypatch.setattr(connection, "close_at", float("inf"))  # CONN_MAX_AGE not reached

    database_connections_tidy(task=WORKER_TASK)
    kept = connection.connection

    connection.errors_occurred = True
    monkeypatch.setattr(connection, "is_usable", lambda: False)
    database_connections_tidy(task=WORKER_TASK)

    assert kept is opened
    assert connection.connection is None


@pytest.mark.django_db
def test_an_eager_task_leaves_its_callers_transaction_alone():
    connection.ensure_connection()
    opened = connection.connection
    connection.errors_occurred = True

    database_connections_tidy(task=SimpleNamespace(request=SimpleNamespace(is_eager=True)))

    connection.errors_occurred = False
    assert connection.connection is opened
