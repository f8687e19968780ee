"""A fixed-window rate limit on the shared cache (Redis in production)."""

from django.core.cache import cache


def rate_limit_exceeded(key: str, *, limit: int, window_seconds: int) -> bool:
    """Count one attempt under ``key``; True once more than ``limit`` fall in the window.

    Keys must not contain personal data in clear: pass a keyed hash (core.privacy).
    """
    cache_key = f"ratelimit:{key}"
    if cache.add(cache_key, 1, timeout=window_seconds):
        return limit < 1
    try:
        return cache.incr(cache_key) > limit
    except ValueError:  # the window ended between add and incr
        cache.add(cache_key, 1, timeout=window_seconds)
        return limit < 1
