"""Allocating codes to paid orders and delivering them, exactly once.

One transaction per order does everything that must happen together: it locks
the order row (so a second delivery of the same order waits, then finds it
delivered), takes the codes, updates the stock counters and marks the order
delivered. A crash before commit leaves nothing behind and reconciliation
retries; a crash after commit finds the order delivered. Codes are taken with
``SELECT … FOR UPDATE SKIP LOCKED`` from the head of the available-codes index,
oldest sellable batch first, so concurrent deliveries of one product never
wait on each other's codes and never take the same one. On SQLite, whose write
transactions are serialised (IMMEDIATE), the same query is simply exclusive.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.module_loading import import_string

from core.alerts import staff_alert_raise
from fulfillment.models import Code, CodeStatus, StockLevel
from fulfillment.tasks import order_deliver_task
from shop.models import Order, OrderLine, OrderStatus
from shop.services.orders import order_transition, release_hold
from shop.services.payments import payment_refund_full
from shop.stock import stock_provider
from shop.tasks import order_email_link_task

logger = logging.getLogger(__name__)

DELIVERABLE = {OrderStatus.PAID, OrderStatus.DELIVERING, OrderStatus.AWAITING_STOCK}
GATED = {OrderStatus.PAID, OrderStatus.AWAITING_STOCK}


class _Shortage(Exception):
    """Fewer available codes than the order holds: undo the allocation, wait for stock."""


@dataclass(frozen=True)
class DeliveryResult:
    order_id: int
    status: str
    codes_allocated: int


def _allocate_line(line: OrderLine, now: datetime) -> int:
    ids = list(
        Code.objects.select_for_update(skip_locked=True)
        .filter(product_id=line.product_id, status=CodeStatus.AVAILABLE)
        .order_by("batch_id", "id")
        .values_list("id", flat=True)[: line.quantity]
    )
    if len(ids) < line.quantity:
        raise _Shortage
    Code.objects.filter(pk__in=ids).update(
        status=CodeStatus.DELIVERED, order_line=line, delivered_at=now
    )
    # The order's hold becomes sold codes: both counters drop together.
    StockLevel.objects.filter(product_id=line.product_id).update(
        codes_available=F("codes_available") - line.quantity,
        units_held=F("units_held") - line.quantity,
    )
    return len(ids)


# The delivery gate, KEYSHOP_DELIVERY_GATE: the dotted path of a function
# gate(order) -> bool, or empty for none. Defined here, implemented by a higher app
# (compliance: fraud screening), named in settings so fulfillment never imports it.
# It is asked about an order in status paid or awaiting stock (a payment that came
# after the hold expired waits for stock without passing through paid's delivery)
# before any code is allocated, in a transaction of its own with the order locked
# (so what it records stays even if the allocation after it rolls back), and must
# give the same answer if asked again. True: deliver. False: the gate has moved the order
# itself (held for review, or refunded) and nothing is allocated.
@transaction.atomic
def _delivery_gate_stops(order_id: int) -> str | None:
    """None to go on delivering; else the status the gate moved the order to."""
    path = getattr(settings, "KEYSHOP_DELIVERY_GATE", "")
    if not path:
        return None
    order = Order.objects.select_for_update().get(pk=order_id)
    if order.status not in GATED or import_string(path)(order):
        return None
    order.refresh_from_db(fields=["status"])
    return order.status


def order_deliver(*, order_id: int) -> DeliveryResult:
    """Deliver a paid order's codes. Safe to call twice or at once; the second does nothing."""
    stopped_at = _delivery_gate_stops(order_id)
    if stopped_at is not None:
        return DeliveryResult(order_id, stopped_at, 0)
    try:
        with transaction.atomic():
            order = Order.objects.select_for_update().get(pk=order_id)
            if order.status not in DELIVERABLE:
                return DeliveryResult(order_id, order.status, 0)
            lines = list(order.lines.order_by("product_id"))
            quantities = {line.product_id: line.quantity for line in lines}
            if not order.holds_reservation and not stock_provider().reserve(quantities):
                order_transition(order_id=order_id, to_status=OrderStatus.AWAITING_STOCK)
                return DeliveryResult(order_id, OrderStatus.AWAITING_STOCK, 0)
            order_transition(order_id=order_id, to_status=OrderStatus.DELIVERING)
            now = timezone.now()
            allocated = sum(_allocate_line(line, now) for line in lines)
            Order.objects.filter(pk=order_id).update(holds_reservation=False)
            order_transition(order_id=order_id, to_status=OrderStatus.DELIVERED, kind="delivered")
            transaction.on_commit(lambda: order_email_link_task.delay(order_id, "delivered"))
            _low_stock_check([line.product_id for line in lines])
            return DeliveryResult(order_id, OrderStatus.DELIVERED, allocated)
    except _Shortage:
        return _wait_for_stock(order_id)


@transaction.atomic
def _wait_for_stock(order_id: int) -> DeliveryResult:
    """The codes behind the order's hold are gone (a batch was suspended): give up the hold."""
    release_hold(Order.objects.select_for_update().get(pk=order_id))
    order_transition(
        order_id=order_id, to_status=OrderStatus.AWAITING_STOCK, note="codes ran short"
    )
    return DeliveryResult(order_id, OrderStatus.AWAITING_STOCK, 0)


def low_stock_subject(level: StockLevel) -> str:
    return f"product {level.product.slug}"


def _low_stock_check(product_ids: list[int]) -> None:
    for level in StockLevel.objects.filter(product_id__in=product_ids).select_related("product"):
        if level.sellable < level.low_stock_threshold:
            staff_alert_raise(
                kind="low_stock",
                subject=low_stock_subject(level),
                message=f"{level.sellable} left to sell (alert below {level.low_stock_threshold}).",
            )


def orders_awaiting_stock_refund(*, now: datetime | None = None) -> int:
    """Refund orders that waited for stock longer than KEYSHOP_AWAITING_STOCK_REFUND_HOURS."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.KEYSHOP_AWAITING_STOCK_REFUND_HOURS)
    overdue = Order.objects.filter(status=OrderStatus.AWAITING_STOCK, paid_at__lt=cutoff)
    refunded = 0
    for order_id in overdue.values_list("pk", flat=True):
        payment_refund_full(order_id=order_id, reason="no stock arrived in time")
        refunded += 1
    return refunded


def orders_awaiting_stock_queue(*, product_id: int) -> int:
    """Queue delivery of orders waiting for this product, oldest payment first."""
    order_ids = list(
        Order.objects.filter(status=OrderStatus.AWAITING_STOCK, lines__product_id=product_id)
        .order_by("paid_at", "pk")
        .values_list("pk", flat=True)
    )
    for order_id in order_ids:
        order_deliver_task.delay(order_id)
    return len(order_ids)


def deliveries_reconcile(*, now: datetime | None = None) -> int:
    """Re-queue paid orders not delivered in time; alert staff about any stuck much longer.

    Also re-sends the delivery email of orders delivered in the last day whose email
    never went out (the worker died between the commit and the email).
    """
    now = now or timezone.now()
    retry_after = timedelta(seconds=settings.KEYSHOP_DELIVERY_RETRY_AFTER_SECONDS)
    alert_after = timedelta(seconds=settings.KEYSHOP_DELIVERY_ALERT_AFTER_SECONDS)
    unemailed = (
        Order.objects.filter(
            status=OrderStatus.DELIVERED,
            delivered_at__range=(now - timedelta(days=1), now - retry_after),
            reseller__isnull=True,  # resellers get webhooks, not emails
        )
        .exclude(events__kind="email_delivered")
        .values_list("pk", flat=True)
    )
    for order_id in unemailed:
        order_email_link_task.delay(order_id, "delivered")
    stuck = Order.objects.filter(
        status__in=[OrderStatus.PAID, OrderStatus.DELIVERING], paid_at__lt=now - retry_after
    ).values_list("pk", "number", "paid_at")
    for order_id, number, paid_at in stuck:
        order_deliver_task.delay(order_id)
        if paid_at < now - alert_after:
            staff_alert_raise(
                kind="delivery_stuck",
                subject=f"order {number}",
                message=f"Paid at {paid_at:%Y-%m-%d %H:%M} UTC and still not delivered.",
            )
    return len(stuck)


@transaction.atomic
def code_replace(*, code_id: int) -> Code:
    """Replace a delivered code found defective: it becomes ``defective`` and another
    available code of its product is delivered on the same order line.

    Takes a code only when one is left beyond those held for other orders (the
    counter is updated conditionally); otherwise raises OutOfStock and nothing changes.
    """
    from core.errors import Conflict, OutOfStock

    old = Code.objects.select_for_update().get(pk=code_id)
    if old.status != CodeStatus.DELIVERED or old.order_line_id is None:
        raise Conflict("Only a delivered code can be replaced.", code_id=code_id)
    if not StockLevel.objects.filter(
        product_id=old.product_id, codes_available__gt=F("units_held")
    ).update(codes_available=F("codes_available") - 1):
        raise OutOfStock()
    new_id = (
        Code.objects.select_for_update(skip_locked=True)
        .filter(product_id=old.product_id, status=CodeStatus.AVAILABLE)
        .order_by("batch_id", "id")
        .values_list("id", flat=True)
        .first()
    )
    if new_id is None:
        raise OutOfStock()  # the counter's update rolls back with this transaction
    Code.objects.filter(pk=old.pk).update(status=CodeStatus.DEFECTIVE)
    Code.objects.filter(pk=new_id).update(
        status=CodeStatus.DELIVERED, order_line_id=old.order_line_id, delivered_at=timezone.now()
    )
    return Code.objects.get(pk=new_id)
