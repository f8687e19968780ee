"""Test settings: the development defaults, with the few overrides tests need."""

import os

# Tests run with the embedded development secrets unless the environment sets them.
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault(
    "KEYSHOP_VAR_DIR", os.path.join(os.path.dirname(os.path.dirname(__file__)), "var", "test")
)

from config.settings import *  # noqa: F403

# Fast hashing: test users' passwords need no protection.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
# Tasks run inline unless a test starts a real worker (tests/e2e does).
CELERY_TASK_ALWAYS_EAGER = True
# A fixed vault key ring and hash keys: tests never touch the developer's var/secrets.
VAULT_KEYS = '{"current": "t1", "keys": {"t1": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}}'
VAULT_KEYS_FILE = ""
BLIND_INDEX_KEY = "test-blind-index-key"
PII_HASH_KEY = "test-pii-hash-key"
# A file, not memory, for the SQLite test database, so a real Celery worker
# process started by the browser tests sees the same data.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}  # noqa: F405
