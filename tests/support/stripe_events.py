"""Stripe webhook events and signatures, built exactly as Stripe builds them."""

import hashlib
import hmac
import secrets
import time
from typing import Any

# The API version of the pinned Stripe SDK (stripe 16.1.0); Stripe stamps events with it.
API_VERSION = "2026-10-28.endive"


def stripe_event(
    type: str,
    data_object: dict[str, Any],
    *,
    event_id: str | None = None,
    created: int | None = None,
) -> dict[str, Any]:
    """An event in Stripe's JSON shape, e.g. ``stripe_event("payment_intent.succeeded", pi)``."""
    return {
        "id": event_id or f"evt_{secrets.token_hex(12)}",
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()) if created is None else created,
        "data": {"object": data_object},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type,
    }


def sign_payload(payload: bytes, *, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe sends with ``payload``: ``t=<ts>,v1=<hmac>``."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    signature = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={signature}"
