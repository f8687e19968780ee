"""Rate limits: per API key, and per IP address (hashed) for applications.

Both count in the shared cache (Redis in production). The rates are read from
settings on each request, so they can be changed without a restart of the code.
"""

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from core.privacy import pii_hash
from shop.models import ResellerApiKey


class ApiKeyThrottle(SimpleRateThrottle):
    scope = "reseller_key"

    def get_rate(self) -> str:
        return settings.KEYSHOP_RESELLER_API_RATE

    def get_cache_key(self, request, view) -> str | None:
        if isinstance(request.auth, ResellerApiKey):
            return f"throttle:reseller-key:{request.auth.pk}"
        return None


class ApplicationThrottle(SimpleRateThrottle):
    scope = "reseller_application"

    def get_rate(self) -> str:
        return settings.KEYSHOP_RESELLER_APPLICATION_RATE

    def get_cache_key(self, request, view) -> str:
        # A keyed hash: the cache never holds an IP address in clear.
        return f"throttle:reseller-application:{pii_hash(request.META.get('REMOTE_ADDR', ''))}"
