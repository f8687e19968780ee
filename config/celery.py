import os

from celery import Celery
from celery.signals import task_postrun, task_prerun
from django import db

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("keyshop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def database_connections_tidy(task=None, **kwargs) -> None:
    """Before and after each task, Django's rule for a request: drop a connection that
    errored and is unusable, or that outlived CONN_MAX_AGE; keep a healthy one.

    ``CELERY_DB_REUSE_MAX`` stops Celery closing every connection around every task
    (docs/performance.md: half the end-to-end rate); this keeps broken or old ones out.
    An eager task runs inside its caller's transaction, which must stay open.
    """
    if task is None or getattr(task.request, "is_eager", False):
        return
    db.close_old_connections()
