"""Settings of the benchmarks' processes: the product's settings, plus a bench-only URL conf.

The environment comes from ``bench.harness.environment`` (production settings,
DEBUG off, a database, queue and cache prefix of the run's own).
"""

import os

from config.settings import *  # noqa: F403
from config.settings import CACHES, STORAGES, VAR_DIR

# config.urls plus the bare view the storefront is compared with.
ROOT_URLCONF = "bench.urls"
# collectstatic writes here (the manifest storage needs it with DEBUG off). Without
# the compressed copies: pages look files up in the same manifest, and static
# files themselves are not what is measured.
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}

_RUN_ID = os.environ.get("BENCH_RUN_ID", "bench")
# Redis db 5 is shared by runs: each keeps to its own queue and cache keys.
CELERY_TASK_DEFAULT_QUEUE = f"bench-{_RUN_ID}"
CACHES["default"]["KEY_PREFIX"] = _RUN_ID
