"""Production start-up, run in a fresh process with a production-like environment."""

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION = {
    "SECRET_KEY": "x" * 30 + "production-secret-key-with-enough-entropy-1234567890",
    "ALLOWED_HOSTS": "shop.example.com",
    "SITE_URL": "https://shop.example.com",
    "DATABASE_URL": "sqlite:////tmp/keyshop-deploy-check.sqlite3",
    "STRIPE_SECRET_KEY": "sk_live_example",
    "STRIPE_PUBLISHABLE_KEY": "pk_live_example",
    "STRIPE_WEBHOOK_SECRET": "whsec_example",
    "VAULT_KEYS": json.dumps(
        {"current": "k1", "keys": {"k1": base64.b64encode(bytes(32)).decode()}}
    ),
    "BLIND_INDEX_KEY": "blind-index-key-example",
    "PII_HASH_KEY": "pii-hash-key-example",
    "AUDIT_HMAC_KEY": "audit-hmac-key-example",
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if key in {"PATH", "HOME", "LANG"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    "missing",
    ["SECRET_KEY", "ALLOWED_HOSTS", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "VAULT_KEYS",
     "BLIND_INDEX_KEY", "PII_HASH_KEY", "AUDIT_HMAC_KEY"],
)  # fmt: skip
def test_start_up_refuses_without_each_secret_and_names_it(missing):
    env = {key: value for key, value in PRODUCTION.items() if key != missing}

    result = _manage("check", env=env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert missing in result.stderr.splitlines()[-1] and "is not set" in result.stderr


def test_a_weak_secret_key_is_refused():
    result = _manage("check", env={**PRODUCTION, "SECRET_KEY": "django-insecure-short"})

    assert result.returncode != 0
    assert "SECRET_KEY is too weak" in result.stderr


def test_development_mail_goes_to_the_var_folder_not_the_working_directory():
    from django.conf import settings

    assert str(settings.VAR_DIR / "mail") == settings.EMAIL_FILE_PATH
