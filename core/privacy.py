"""Keyed hashes for personal data that is kept or compared but never needed in clear."""

import hashlib
import hmac

from django.conf import settings


def pii_hash(value: str) -> str:
    """HMAC-SHA256 of a normalised value under PII_HASH_KEY, truncated to 128 bits.

    Equal inputs give equal hashes (so velocity and rate limits can count them); the
    key keeps anyone with the database from testing guesses such as every IPv4 address.
    """
    digest = hmac.new(
        settings.PII_HASH_KEY.encode(), value.strip().lower().encode(), hashlib.sha256
    )
    return digest.hexdigest()[:32]
