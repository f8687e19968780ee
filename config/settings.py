"""Keyshop settings: one module, driven by the environment (django-environ).

With DEBUG on, every secret has an embedded development default (generated once
into the git-ignored var/ folder), the database is SQLite in var/ and Celery uses
its filesystem broker in var/, so the shop runs on a bare machine. With DEBUG off
(the default), start-up refuses to run until each secret is set; the error names
the missing variable.
"""

import secrets
from decimal import Decimal
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
VAR_DIR = Path(env.str("KEYSHOP_VAR_DIR", default=str(BASE_DIR / "var")))


def _dev_secret(name: str, *, nbytes: int = 48) -> str:
    """A secret from the environment; in DEBUG, one generated once and kept in var/.

    Without DEBUG a missing secret stops start-up, naming the variable.
    """
    value = env.str(name, default="")
    if value:
        return value
    if not DEBUG:
        raise ImproperlyConfigured(
            f"{name} is not set. Set it in the environment (DEBUG is off, so there is "
            "no development default)."
        )
    path = VAR_DIR / "secrets" / name.lower()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(nbytes))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _dev_secret("SECRET_KEY")
if not DEBUG and (SECRET_KEY.startswith("django-insecure") or len(SECRET_KEY) < 50):
    raise ImproperlyConfigured("SECRET_KEY is too weak: use at least 50 random characters.")

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else []
)
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS is not set (a comma-separated list of host names).")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# The absolute address of the shop, used in links sent by email.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "rest_framework",
    "drf_spectacular",
    "core",
    "shop",
    "fulfillment",
    "compliance",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.middleware.KeyshopErrorMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: SQLite in var/ unless DATABASE_URL says otherwise.
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'keyshop.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while the worker writes; IMMEDIATE takes the
    # write lock at BEGIN so two writers queue on busy_timeout instead of failing
    # half-way through a transaction with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache("CACHE_URL", default=f"filecache://{VAR_DIR / 'cache'}")}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Languages: all three are first-class; Persian is right-to-left.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese")), ("fa", _("Persian"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Private uploads (supplier files, evidence) live outside any served folder.
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "private")))

# filemail:/// + an absolute path: django-environ drops one leading slash of the path.
EMAIL_CONFIG = env.email_url("EMAIL_URL", default=f"filemail:///{VAR_DIR / 'mail'}")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Keyshop <shop@localhost>")

# Security: everything --deploy asks for follows from DEBUG, overridable for a
# TLS-terminating proxy.
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
# The shop is HTTPS-only with HSTS on subdomains, so it qualifies for the preload list.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Keyshop reseller API",
    "VERSION": "1.0.0",
}

# Celery: the filesystem broker in var/ unless CELERY_BROKER_URL says otherwise.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Keep a worker's database connection between tasks (closed anyway every 1000 tasks);
# config/celery.py closes one that errored or outlived CONN_MAX_AGE, as Django does
# between requests.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict = {}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "core.logging.RedactPersonalData"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # The Stripe SDK logs every request at INFO.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "stripe": {"level": "WARNING"}},
}

# --- Keyshop ---------------------------------------------------------------
KEYSHOP_CURRENCIES = ["EUR", "USD", "CNY"]
# How many products a listing page shows at once.
KEYSHOP_PAGE_SIZE = env.int("KEYSHOP_PAGE_SIZE", default=24)
# Hooks: lower apps ask, higher apps answer (see docs/architecture.md).
KEYSHOP_STOCK_PROVIDER = "fulfillment.stock.VaultStockProvider"

# Stripe. Without STRIPE_SECRET_KEY in DEBUG, the shop talks to a local
# localstripe server over HTTP through the same client code as real Stripe.
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_USES_LOCALSTRIPE = DEBUG and not STRIPE_SECRET_KEY
if STRIPE_USES_LOCALSTRIPE:
    STRIPE_SECRET_KEY = "sk_test_localstripe"  # noqa: S105 - the fake server accepts any test key
    STRIPE_PUBLISHABLE_KEY = env.str("STRIPE_PUBLISHABLE_KEY", default="pk_test_localstripe")
    STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="http://127.0.0.1:8420").rstrip("/")
    STRIPE_JS_URL = f"{STRIPE_API_BASE}/js.stripe.com/v3/"
else:
    STRIPE_SECRET_KEY = _dev_secret("STRIPE_SECRET_KEY")
    STRIPE_PUBLISHABLE_KEY = env.str("STRIPE_PUBLISHABLE_KEY", default="") or _dev_secret(
        "STRIPE_PUBLISHABLE_KEY"
    )
    STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")  # empty: Stripe's own servers
    STRIPE_JS_URL = "https://js.stripe.com/v3/"
STRIPE_WEBHOOK_SECRET = _dev_secret("STRIPE_WEBHOOK_SECRET")
# Webhook signatures older than this many seconds are refused (Stripe's default).
STRIPE_WEBHOOK_TOLERANCE = env.int("STRIPE_WEBHOOK_TOLERANCE", default=300)
# card by default; add alipay and wechat_pay where the Stripe account has them.
STRIPE_PAYMENT_METHOD_TYPES = env.list("STRIPE_PAYMENT_METHOD_TYPES", default=["card"])

# Code vault (fulfillment.vault). VAULT_KEYS is JSON or VAULT_KEYS_FILE a path to
# JSON: {"current": "<key id>", "keys": {"<key id>": "<base64 of 32 bytes>", ...}}.
# In DEBUG a key ring is generated once in var/secrets/. BLIND_INDEX_KEY keys the
# HMAC that lets codes be de-duplicated and looked up without decryption.
VAULT_KEYS = env.str("VAULT_KEYS", default="")
VAULT_KEYS_FILE = env.str(
    "VAULT_KEYS_FILE", default="" if not DEBUG else str(VAR_DIR / "secrets" / "vault_keys.json")
)
if not DEBUG and not (VAULT_KEYS or VAULT_KEYS_FILE):
    raise ImproperlyConfigured(
        "VAULT_KEYS (or VAULT_KEYS_FILE) is not set: the code vault has no key ring."
    )
BLIND_INDEX_KEY = _dev_secret("BLIND_INDEX_KEY")
# Keys the hash of buyers' IP addresses (kept only hashed, for fraud screening).
PII_HASH_KEY = _dev_secret("PII_HASH_KEY")
# In development serve static files straight from the finders, no collectstatic needed.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# Checkout. The terms version is recorded with each order; bump it when the terms change.
KEYSHOP_TERMS_VERSION = env.str("KEYSHOP_TERMS_VERSION", default="2026-11")
KEYSHOP_RESERVATION_MINUTES = env.int("KEYSHOP_RESERVATION_MINUTES", default=15)
# "Find my order": at most this many requests per hour per IP address and per email.
KEYSHOP_LOOKUP_LIMIT_PER_HOUR = env.int("KEYSHOP_LOOKUP_LIMIT_PER_HOUR", default=5)
# Stripe event types handled by higher apps: type -> dotted path of a function
# taking the recorded StripeEvent and returning a short outcome (see shop.services.webhooks).
KEYSHOP_STRIPE_EVENT_HANDLERS: dict[str, str] = {}

CELERY_BEAT_SCHEDULE["orders-expire-reservations"] = {
    "task": "shop.tasks.orders_expire_reservations_task",
    "schedule": 60.0,
}
KEYSHOP_DELIVERED_CODES = "fulfillment.reveal.VaultDeliveredCodes"
# Delivery: re-queue a paid order not delivered after this long; alert staff after the longer one.
KEYSHOP_DELIVERY_RETRY_AFTER_SECONDS = env.int("KEYSHOP_DELIVERY_RETRY_AFTER_SECONDS", default=120)
KEYSHOP_DELIVERY_ALERT_AFTER_SECONDS = env.int("KEYSHOP_DELIVERY_ALERT_AFTER_SECONDS", default=900)
# Refund orders still waiting for stock after this many hours.
KEYSHOP_AWAITING_STOCK_REFUND_HOURS = env.int("KEYSHOP_AWAITING_STOCK_REFUND_HOURS", default=24)
# Put the codes themselves in the delivery email (off: the email carries only the order link).
KEYSHOP_EMAIL_INCLUDES_CODES = env.bool("KEYSHOP_EMAIL_INCLUDES_CODES", default=False)

# Batches and imports (fulfillment.services.batches / .imports).
# Dotted paths of functions check(batch, actor) -> None, run before a batch becomes
# sellable; each may refuse by raising a KeyshopError. Higher apps add theirs
# (compliance: supplier approved, four eyes).
KEYSHOP_BATCH_RELEASE_CHECKS: list[str] = []
# The largest supplier code file accepted, in bytes.
KEYSHOP_IMPORT_MAX_BYTES = env.int("KEYSHOP_IMPORT_MAX_BYTES", default=200 * 1024 * 1024)
# A batch still importing after this long lost its import (the task failed or was
# lost): it is failed, hourly, and staff upload the file again. The largest file
# imports in well under an hour.
KEYSHOP_IMPORT_STUCK_HOURS = env.int("KEYSHOP_IMPORT_STUCK_HOURS", default=6)
CELERY_BEAT_SCHEDULE["batches-stuck-importing-fail"] = {
    "task": "fulfillment.tasks.batches_stuck_importing_fail_task",
    "schedule": 3600.0,
}
CELERY_BEAT_SCHEDULE["deliveries-reconcile"] = {
    "task": "fulfillment.tasks.deliveries_reconcile_task",
    "schedule": 60.0,
}

# Audit log and staff sign-in (core.audit, core.roles; docs/architecture.md, "Audit and staff").
# Keys the HMAC of the audit chain, so someone with only database access cannot
# recompute the hashes after altering an entry. Keep it for good: entries sealed
# under another key no longer verify.
AUDIT_HMAC_KEY = _dev_secret("AUDIT_HMAC_KEY")
# Where each new staff alert (stuck delivery, low stock, overdue complaint, ...) is
# emailed, comma-separated; empty: alerts are only shown in the admin and logged.
KEYSHOP_STAFF_ALERT_EMAILS = env.list("KEYSHOP_STAFF_ALERT_EMAILS", default=[])
# Seals new audit entries (gives them their place in the chain) every few seconds.
CELERY_BEAT_SCHEDULE["audit-seal"] = {"task": "core.tasks.audit_seal_task", "schedule": 5.0}
# The name authenticator apps show for a staff member's TOTP entry.
OTP_TOTP_ISSUER = "Keyshop"

# Reseller API (shop.api, docs/api.md): /api/v1/, its schema and a reference page
# served from drf-spectacular-sidecar (no CDN).
INSTALLED_APPS += ["drf_spectacular_sidecar"]
REST_FRAMEWORK["EXCEPTION_HANDLER"] = "shop.api.errors.api_exception_handler"
SPECTACULAR_SETTINGS.update(
    {
        "DESCRIPTION": "Prices, stock, orders paid from a prepaid balance, and signed webhooks "
        "for Keyshop resellers. See docs/api.md.",
        "SCHEMA_PATH_PREFIX": r"/api/v1",
        "SERVE_INCLUDE_SCHEMA": False,
        "COMPONENT_SPLIT_REQUEST": True,
        "SWAGGER_UI_DIST": "SIDECAR",
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
        "ENUM_NAME_OVERRIDES": {
            "OrderStatusEnum": "shop.models.OrderStatus",
            "TopUpStatusEnum": "shop.models.TopUpStatus",
            "WebhookDeliveryStatusEnum": "shop.models.WebhookDeliveryStatus",
            "WebhookEventTypeEnum": "shop.models.WebhookEventType",
            "LedgerKindEnum": "shop.models.LedgerKind",
            "ApiScopeEnum": "shop.models.ApiScope",
            "ComplaintStatusEnum": "compliance.models.ComplaintStatus",
            "ComplaintReasonEnum": "compliance.models.ComplaintReason",
            "ComplaintResolutionEnum": "compliance.models.ComplaintResolution",
        },
    }
)
# Requests per API key, and reseller applications per IP address ("N/second|minute|hour|day").
KEYSHOP_RESELLER_API_RATE = env.str("KEYSHOP_RESELLER_API_RATE", default="120/min")
KEYSHOP_RESELLER_APPLICATION_RATE = env.str("KEYSHOP_RESELLER_APPLICATION_RATE", default="5/hour")
# The reseller terms version recorded with each application; bump it when they change.
KEYSHOP_RESELLER_TERMS_VERSION = env.str("KEYSHOP_RESELLER_TERMS_VERSION", default="2026-11")
KEYSHOP_RESELLER_MAX_QUANTITY_PER_LINE = env.int(
    "KEYSHOP_RESELLER_MAX_QUANTITY_PER_LINE", default=100
)
# Balance top-ups through Stripe, in minor units of the chosen currency.
KEYSHOP_RESELLER_TOP_UP_MIN_MINOR = env.int("KEYSHOP_RESELLER_TOP_UP_MIN_MINOR", default=1000)
KEYSHOP_RESELLER_TOP_UP_MAX_MINOR = env.int("KEYSHOP_RESELLER_TOP_UP_MAX_MINOR", default=1_000_000)
# Webhooks to resellers: retried with exponential backoff (base, doubling, at most
# an hour apart) for this many hours after the event; each attempt waits this long.
KEYSHOP_RESELLER_WEBHOOK_RETRY_HOURS = env.int("KEYSHOP_RESELLER_WEBHOOK_RETRY_HOURS", default=24)
KEYSHOP_RESELLER_WEBHOOK_RETRY_BASE_SECONDS = env.int(
    "KEYSHOP_RESELLER_WEBHOOK_RETRY_BASE_SECONDS", default=30
)
KEYSHOP_RESELLER_WEBHOOK_TIMEOUT_SECONDS = env.int(
    "KEYSHOP_RESELLER_WEBHOOK_TIMEOUT_SECONDS", default=10
)
# Plain http and private or loopback addresses are for development only.
KEYSHOP_RESELLER_WEBHOOK_ALLOW_HTTP = env.bool("KEYSHOP_RESELLER_WEBHOOK_ALLOW_HTTP", default=DEBUG)
KEYSHOP_RESELLER_WEBHOOK_ALLOW_PRIVATE_HOSTS = env.bool(
    "KEYSHOP_RESELLER_WEBHOOK_ALLOW_PRIVATE_HOSTS", default=DEBUG
)
CELERY_BEAT_SCHEDULE["reseller-webhooks-send-due"] = {
    "task": "shop.tasks.reseller_webhooks_send_due_task",
    "schedule": 60.0,
}

# Compliance (docs/architecture.md, "Compliance"; docs/privacy.md).
# Batches become sellable only past these checks (fulfillment.services.batches).
KEYSHOP_BATCH_RELEASE_CHECKS += [
    "compliance.release_checks.supplier_approved",
    "compliance.release_checks.provenance_complete",
    "compliance.release_checks.four_eyes",
]
# Asked about each paid order before delivery (fulfillment.services.delivery): fraud screening.
KEYSHOP_DELIVERY_GATE = "compliance.services.screening.delivery_gate"
# Screening score at or above which a paid order is held for review, or refused and refunded.
KEYSHOP_SCREENING_HOLD_SCORE = env.int("KEYSHOP_SCREENING_HOLD_SCORE", default=50)
KEYSHOP_SCREENING_REFUSE_SCORE = env.int("KEYSHOP_SCREENING_REFUSE_SCORE", default=100)
KEYSHOP_STRIPE_EVENT_HANDLERS["review.closed"] = "compliance.services.reviews.stripe_review_closed"
# A held order waiting longer than this is shown as overdue in the review queue.
KEYSHOP_REVIEW_SLA_MINUTES = env.int("KEYSHOP_REVIEW_SLA_MINUTES", default=240)
# Complaints unanswered past their first-answer time and reviews past their SLA
# raise staff alerts (compliance.services.deadlines).
CELERY_BEAT_SCHEDULE["overdue-alerts-refresh"] = {
    "task": "compliance.tasks.overdue_alerts_refresh_task",
    "schedule": 10 * 60.0,
}
# Hashed IP addresses are erased after this many days (docs/privacy.md).
KEYSHOP_PII_RETENTION_DAYS = env.int("KEYSHOP_PII_RETENTION_DAYS", default=90)
# The largest supplier document (registration, authorisation) accepted, in bytes.
KEYSHOP_SUPPLIER_DOCUMENT_MAX_BYTES = env.int(
    "KEYSHOP_SUPPLIER_DOCUMENT_MAX_BYTES", default=20 * 1024 * 1024
)
CELERY_BEAT_SCHEDULE["suppliers-expire-authorisations"] = {
    "task": "compliance.tasks.suppliers_expire_authorisations_task",
    "schedule": 24 * 60 * 60.0,
}
CELERY_BEAT_SCHEDULE["pii-retention-purge"] = {
    "task": "compliance.tasks.pii_retention_purge_task",
    "schedule": 24 * 60 * 60.0,
}
CELERY_BEAT_SCHEDULE["order-reviews-refusing-requeue"] = {
    "task": "compliance.tasks.order_reviews_refusing_requeue_task",
    "schedule": 10 * 60.0,
}
CELERY_BEAT_SCHEDULE["orders-awaiting-stock-refund"] = {
    "task": "fulfillment.tasks.orders_awaiting_stock_refund_task",
    "schedule": 15 * 60.0,
}

# Refunds, disputes and early fraud warnings (docs/architecture.md, "Refunds, disputes and
# complaints"). A refund above this (in the order currency's minor units) waits for a
# second member of staff.
KEYSHOP_REFUND_SECOND_APPROVAL_MINOR = env.int(
    "KEYSHOP_REFUND_SECOND_APPROVAL_MINOR", default=10000
)
KEYSHOP_STRIPE_EVENT_HANDLERS.update(
    {
        "refund.created": "compliance.services.refunds.stripe_refund_event",
        "refund.updated": "compliance.services.refunds.stripe_refund_event",
        "refund.failed": "compliance.services.refunds.stripe_refund_event",
        "charge.refunded": "compliance.services.refunds.stripe_charge_refunded",
        "charge.dispute.created": "compliance.services.disputes.stripe_dispute_created",
        "charge.dispute.closed": "compliance.services.disputes.stripe_dispute_closed",
        "radar.early_fraud_warning.created": (
            "compliance.services.disputes.stripe_early_fraud_warning_created"
        ),
    }
)
CELERY_BEAT_SCHEDULE["refunds-reconcile"] = {
    "task": "compliance.tasks.refunds_reconcile_task",
    "schedule": 15 * 60.0,
}
# Complaint evidence files (images or PDF, checked by content): the largest accepted, and
# how many per complaint or message.
KEYSHOP_COMPLAINT_EVIDENCE_MAX_BYTES = env.int(
    "KEYSHOP_COMPLAINT_EVIDENCE_MAX_BYTES", default=5 * 1024 * 1024
)
KEYSHOP_COMPLAINT_EVIDENCE_MAX_FILES = 5

# Links on the buyer's order page to pages of higher apps about the order:
# (URL name taking number and token, label). The shop names no app above it.
KEYSHOP_ORDER_PAGE_LINKS = [("compliance:complaints", _("A code does not work? Tell us"))]
# Support must first answer a complaint within this many hours (shown to staff).
KEYSHOP_COMPLAINT_FIRST_RESPONSE_HOURS = env.int(
    "KEYSHOP_COMPLAINT_FIRST_RESPONSE_HOURS", default=24
)

# Supplier claims and defect rates (docs/architecture.md, "Supplier claims and defect
# rates"). A supplier's defect rate is the claims opened against its batches over the codes
# delivered from them in the last WINDOW_DAYS; when a claim takes it to THRESHOLD_PERCENT or
# more, with at least MIN_DELIVERED codes delivered, the supplier is flagged for review.
KEYSHOP_SUPPLIER_DEFECT_WINDOW_DAYS = env.int("KEYSHOP_SUPPLIER_DEFECT_WINDOW_DAYS", default=90)
KEYSHOP_SUPPLIER_DEFECT_RATE_THRESHOLD_PERCENT = env(
    "KEYSHOP_SUPPLIER_DEFECT_RATE_THRESHOLD_PERCENT", cast=Decimal, default=Decimal(2)
)
KEYSHOP_SUPPLIER_DEFECT_MIN_DELIVERED = env.int("KEYSHOP_SUPPLIER_DEFECT_MIN_DELIVERED", default=50)
