import os
import shutil

import pytest
from django.db import connection

from tests.support.localstripe import localstripe_server  # noqa: F401  (session fixture)

# In CI (and wherever KEYSHOP_REQUIRE_SERVICES is set) a test that needs a real
# service fails when it is missing; elsewhere it is skipped with the reason.
REQUIRE_SERVICES = bool(os.environ.get("KEYSHOP_REQUIRE_SERVICES") or os.environ.get("CI"))
CHROMIUM = "/usr/bin/chromium"


def _missing(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (required here: KEYSHOP_REQUIRE_SERVICES or CI is set)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _services_for_markers(request):
    if request.node.get_closest_marker("postgres") and connection.vendor != "postgresql":
        _missing("needs PostgreSQL: set DATABASE_URL=postgres://...")
    if request.node.get_closest_marker("browser") and not shutil.which(CHROMIUM):
        _missing(f"needs Debian's Chromium at {CHROMIUM} (apt-get install chromium)")


@pytest.fixture(autouse=True)
def _fresh_cache():
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def otp_admin_client(admin_user):
    """A client signed in to the admin as a superuser verified by a second factor.

    The admin admits only staff verified by a confirmed OTP device (config/urls.py),
    so pytest-django's ``admin_client`` reaches nothing but the login page there.
    """
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=admin_user, name="test", confirmed=True)
    client = Client()
    client.force_login(admin_user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client
