"""Webhooks to resellers: endpoints, events, signed deliveries with retries, the delivery log.

An event (say ``order.delivered``) becomes one ``ResellerWebhookDelivery`` per
subscribed endpoint, unique per (endpoint, source), so announcing the same order
move twice sends nothing new. Each attempt POSTs the JSON body with

    Keyshop-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>

and is written to the delivery's attempt log. A failed attempt (no answer, or a
status outside 2xx) is retried with exponential backoff until
``KEYSHOP_RESELLER_WEBHOOK_RETRY_HOURS`` after the event; then the delivery is
failed. Attempts are claimed with a conditional UPDATE (a lease), so a delivery
is never sent by two workers at once and no row lock is held across the request.
Bodies carry order facts, never codes or email addresses; receivers fetch the
codes through the API, where each reveal is recorded.
"""

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import InvalidInput
from shop.models import (
    Order,
    OrderEvent,
    OrderStatus,
    Reseller,
    ResellerWebhookAttempt,
    ResellerWebhookDelivery,
    ResellerWebhookEndpoint,
    WebhookDeliveryStatus,
    WebhookEventType,
)
from shop.tasks import reseller_webhook_delivery_attempt_task

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "Keyshop-Signature"
EVENT_FOR_STATUS = {
    OrderStatus.DELIVERED: WebhookEventType.ORDER_DELIVERED,
    OrderStatus.REFUNDED: WebhookEventType.ORDER_REFUNDED,
    OrderStatus.PARTIALLY_REFUNDED: WebhookEventType.ORDER_REFUNDED,
}
MAX_ENDPOINTS_PER_RESELLER = 10
USER_AGENT = "Keyshop-Webhooks/1"


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The ``Keyshop-Signature`` header value for ``body`` sent at ``timestamp``."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


# --- endpoints ----------------------------------------------------------------


def _valid_url(url: str) -> str:
    """https (http only where allowed), a host, and no private address written literally.

    Names are resolved only when sending, where private addresses are refused again.
    """
    parts = urlsplit(url.strip())
    schemes = {"https", "http"} if settings.KEYSHOP_RESELLER_WEBHOOK_ALLOW_HTTP else {"https"}
    if parts.scheme not in schemes or not parts.hostname or parts.username or parts.password:
        raise InvalidInput(
            _("The webhook URL must be an %(schemes)s address with a host name.")
            % {"schemes": " or ".join(sorted(schemes))}
        )
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        address = None
    if address is not None and not _address_allowed(address):
        raise InvalidInput(_("The webhook URL must be a public address."))
    return url.strip()


def _address_allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if settings.KEYSHOP_RESELLER_WEBHOOK_ALLOW_PRIVATE_HOSTS:
        return True
    return address.is_global and not address.is_multicast


def _valid_event_types(event_types: Sequence[str]) -> list[str]:
    if not event_types or set(event_types) - set(WebhookEventType.values):
        raise InvalidInput(
            _("Give one or more of these event types: %(types)s.")
            % {"types": ", ".join(WebhookEventType.values)}
        )
    return sorted(set(event_types))


@transaction.atomic
def webhook_endpoint_create(
    *, reseller: Reseller, url: str, event_types: Sequence[str], description: str = ""
) -> tuple[ResellerWebhookEndpoint, str]:
    """A new endpoint and its signing secret (returned here; the reseller keeps it)."""
    url = _valid_url(url)
    event_types = _valid_event_types(event_types)
    # The reseller row is locked so two concurrent creations cannot pass the limit
    # (NO KEY: orders' foreign-key checks on the row are not blocked).
    Reseller.objects.select_for_update(no_key=True).filter(pk=reseller.pk).order_by().first()
    if ResellerWebhookEndpoint.objects.filter(reseller=reseller).count() >= (
        MAX_ENDPOINTS_PER_RESELLER
    ):
        raise InvalidInput(
            _("A reseller can have at most %(most)d webhook endpoints.")
            % {"most": MAX_ENDPOINTS_PER_RESELLER}
        )
    secret = "whsec_" + secrets.token_urlsafe(32)
    endpoint = ResellerWebhookEndpoint.objects.create(
        reseller=reseller,
        url=url,
        event_types=event_types,
        description=description.strip(),
        secret=secret,
    )
    return endpoint, secret


@transaction.atomic
def webhook_endpoint_update(
    *,
    endpoint: ResellerWebhookEndpoint,
    url: str | None = None,
    event_types: Sequence[str] | None = None,
    description: str | None = None,
    is_active: bool | None = None,
) -> ResellerWebhookEndpoint:
    changed = ["updated_at"]
    if url is not None:
        endpoint.url = _valid_url(url)
        changed.append("url")
    if event_types is not None:
        endpoint.event_types = _valid_event_types(event_types)
        changed.append("event_types")
    if description is not None:
        endpoint.description = description.strip()
        changed.append("description")
    if is_active is not None:
        endpoint.is_active = is_active
        changed.append("is_active")
    endpoint.save(update_fields=changed)
    return endpoint


def webhook_endpoint_delete(*, endpoint: ResellerWebhookEndpoint) -> None:
    """Delete the endpoint and its delivery log; nothing more is sent to it."""
    endpoint.delete()


# --- events -------------------------------------------------------------------


def _order_payload(order: Order, status: str) -> dict:
    request = getattr(order, "reseller_request", None)
    return {
        "number": order.number,
        "status": status,
        "reference": request.reference if request else "",
        "currency": order.currency,
        "total_minor": order.total_minor,
        "created_at": order.created_at.isoformat(),
        "lines": [
            {
                "product_id": line.product_id,
                "quantity": line.quantity,
                "unit_price_minor": line.unit_price_minor,
            }
            for line in order.lines.all()
        ],
    }


@transaction.atomic
def order_status_announce(*, order_id: int, to_status: str) -> int:
    """Create the deliveries announcing a reseller order's move; returns how many are new.

    The source is the order event that recorded the move, so a repeated call
    (a retried task) creates nothing new and the event id stays the same.
    """
    event_type = EVENT_FOR_STATUS.get(to_status)
    order = _reseller_order(order_id)
    if event_type is None or order is None:
        return 0
    order_event = (
        OrderEvent.objects.filter(order=order, to_status=to_status).order_by("-pk").first()
    )
    source = f"order-event:{order_event.pk}" if order_event else f"order:{order.pk}:{to_status}"
    return _deliveries_create(
        order, event_type, [(source, {"order": _order_payload(order, to_status)})]
    )


@transaction.atomic
def codes_revoked_announce(*, order_id: int, code_ids: Sequence[int], cause: str) -> int:
    """Announce ``code.revoked`` for each of these codes of a reseller order.

    One event per code (its source is the code, which is revoked once), so a
    repeated call creates nothing new. ``cause`` is a stable word such as
    ``refunded`` or ``disputed``, never staff's free text. Returns how many are new.
    """
    order = _reseller_order(order_id)
    if order is None:
        return 0
    order_data = _order_payload(order, order.status)
    return _deliveries_create(
        order,
        WebhookEventType.CODE_REVOKED,
        [
            (
                f"code-revoked:{code_id}",
                {"code": {"id": code_id, "cause": cause}, "order": order_data},
            )
            for code_id in sorted(set(code_ids))
        ],
    )


@transaction.atomic
def reseller_order_event_announce(
    *, order_id: int, event_type: str, source: str, data: dict
) -> int:
    """Announce an event about a reseller order that a higher app raises (a complaint answered).

    ``source`` names what caused it, once per endpoint; ``data`` is sent with the
    order's facts added under ``order``. Nothing happens for a buyer's order.
    """
    order = _reseller_order(order_id)
    if order is None:
        return 0
    data = {**data, "order": _order_payload(order, order.status)}
    return _deliveries_create(order, event_type, [(source, data)])


def _reseller_order(order_id: int) -> Order | None:
    return (
        Order.objects.filter(pk=order_id, reseller__isnull=False)
        .select_related("reseller_request")
        .prefetch_related("lines")
        .first()
    )


def _deliveries_create(order: Order, event_type: str, events: list[tuple[str, dict]]) -> int:
    """One delivery per (source, data) event and endpoint subscribed to the type; sent after commit.

    An endpoint has each source at most once (a unique constraint), so announcing
    the same thing again creates nothing. Returns how many deliveries are new.
    """
    endpoints = [
        endpoint
        for endpoint in ResellerWebhookEndpoint.objects.filter(
            reseller_id=order.reseller_id, is_active=True
        )
        if event_type in endpoint.event_types
    ]
    now = timezone.now()
    created = []
    for endpoint in endpoints:
        for source, data in events:
            delivery = ResellerWebhookDelivery(
                endpoint=endpoint,
                event_type=event_type,
                source=source,
                next_attempt_at=now,
                expires_at=now + timedelta(hours=settings.KEYSHOP_RESELLER_WEBHOOK_RETRY_HOURS),
                payload={},
            )
            delivery.payload = {
                "id": str(delivery.event_id),
                "type": event_type,
                "created": now.isoformat(),
                "data": data,
            }
            try:
                with transaction.atomic():
                    delivery.save()
            except IntegrityError:
                continue  # announced already
            created.append(delivery.pk)
    for delivery_id in created:
        transaction.on_commit(
            lambda delivery_id=delivery_id: reseller_webhook_delivery_attempt_task.delay(
                delivery_id
            )
        )
    return len(created)


# --- sending ------------------------------------------------------------------


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a redirect is an answer outside 2xx: the attempt failed


_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())


def _host_allowed(url: str) -> bool:
    parts = urlsplit(url)
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except OSError:
        return True  # the request itself will fail and be logged as such
    return all(_address_allowed(ipaddress.ip_address(info[4][0])) for info in infos)


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str]:
    """POST once; returns (status code or None, error text). Never raises for network trouble."""
    if not _host_allowed(url):
        return None, "refused: the host has a private address"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with _opener.open(request, timeout=settings.KEYSHOP_RESELLER_WEBHOOK_TIMEOUT_SECONDS) as r:
            r.read(1024)
            return r.status, ""
    except urllib.error.HTTPError as error:
        return error.code, f"HTTP {error.code}"
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return None, f"{type(error).__name__}: {reason}"[:300]


def _retry_delay(attempts: int) -> timedelta:
    base = settings.KEYSHOP_RESELLER_WEBHOOK_RETRY_BASE_SECONDS
    return timedelta(seconds=min(base * 2 ** (attempts - 1), 3600))


def webhook_delivery_attempt(*, delivery_id: int, now: datetime | None = None) -> str:
    """Send a due delivery once and log the attempt; returns its status afterwards.

    A delivery that is not due (or is being sent by someone else) is left alone.
    """
    now = now or timezone.now()
    lease = now + timedelta(seconds=settings.KEYSHOP_RESELLER_WEBHOOK_TIMEOUT_SECONDS + 30)
    claimed = ResellerWebhookDelivery.objects.filter(
        pk=delivery_id, status=WebhookDeliveryStatus.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=lease)
    delivery = ResellerWebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    if not claimed:
        return delivery.status
    endpoint = delivery.endpoint
    if not endpoint.is_active:
        return _record(delivery, now=now, status_code=None, error="endpoint disabled", final=True)
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Keyshop-Event-Id": str(delivery.event_id),
        "Keyshop-Event-Type": delivery.event_type,
        SIGNATURE_HEADER: webhook_signature(secret=endpoint.secret, timestamp=timestamp, body=body),
    }
    started = time.monotonic()
    status_code, error = _post(endpoint.url, body, headers)
    duration_ms = int((time.monotonic() - started) * 1000)
    return _record(delivery, now=now, status_code=status_code, error=error, duration_ms=duration_ms)


@transaction.atomic
def _record(
    delivery: ResellerWebhookDelivery,
    *,
    now: datetime,
    status_code: int | None,
    error: str,
    duration_ms: int = 0,
    final: bool = False,
) -> str:
    delivery = ResellerWebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
    delivery.attempts += 1
    ResellerWebhookAttempt.objects.create(
        delivery=delivery,
        number=delivery.attempts,
        started_at=now,
        duration_ms=duration_ms,
        status_code=status_code,
        error=error,
    )
    delivery.last_status_code = status_code
    delivery.last_error = error
    if status_code is not None and 200 <= status_code < 300:
        delivery.status = WebhookDeliveryStatus.SUCCEEDED
        delivery.succeeded_at = timezone.now()
        delivery.next_attempt_at = None
    else:
        retry_at = now + _retry_delay(delivery.attempts)
        if final or retry_at > delivery.expires_at:
            delivery.status = WebhookDeliveryStatus.FAILED
            delivery.next_attempt_at = None
            logger.warning(
                "webhook delivery %s to endpoint %s failed for good after %d attempts",
                delivery.pk,
                delivery.endpoint_id,
                delivery.attempts,
            )
        else:
            delivery.next_attempt_at = retry_at
    delivery.save()
    return delivery.status


def webhook_deliveries_send_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Queue every pending delivery whose retry time has come (beat, every minute)."""
    now = now or timezone.now()
    due = list(
        ResellerWebhookDelivery.objects.filter(
            status=WebhookDeliveryStatus.PENDING, next_attempt_at__lte=now
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for delivery_id in due:
        reseller_webhook_delivery_attempt_task.delay(delivery_id)
    return len(due)


@transaction.atomic
def webhook_delivery_replay(*, delivery: ResellerWebhookDelivery) -> ResellerWebhookDelivery:
    """Send a delivery again now (same event id), with a fresh day of retries if it fails."""
    delivery = ResellerWebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
    now = timezone.now()
    delivery.status = WebhookDeliveryStatus.PENDING
    delivery.next_attempt_at = now
    delivery.expires_at = now + timedelta(hours=settings.KEYSHOP_RESELLER_WEBHOOK_RETRY_HOURS)
    delivery.save(update_fields=["status", "next_attempt_at", "expires_at"])
    delivery_id = delivery.pk
    transaction.on_commit(lambda: reseller_webhook_delivery_attempt_task.delay(delivery_id))
    return delivery
