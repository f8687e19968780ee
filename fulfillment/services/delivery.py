"""Allocating codes to paid orders and delivering them, exactly once.

One transaction per order does everything that must happen together: it locks
the order row (so a second delivery of the same order waits, then finds it
delivered), takes the codes, updates the stock counters and marks the order
delivered. A crash before commit leaves nothing behind and reconciliation
retries; a crash after commit finds the order delivered. Codes are taken with
``SELECT … FOR UPDATE SKIP LOCKED`` from the head of the available-codes index,
oldest sellable batch first, so concurrent deliveries of one product never
wait on each other's codes and never take the same one. The pick starts at the
queue head kept on the product's ``StockLevel`` row (where the last allocation
left off), so it does not step over the dead index entries of every code sold
since the last VACUUM. On SQLite, whose write transactions are serialised
(IMMEDIATE), the same query is simply exclusive.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import BigIntegerField, BooleanField, Case, F, Q, Value, When
from django.db.models.expressions import RawSQL
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


def _queue_head(product_id: int) -> tuple[int, int] | None:
    """Where the product's last allocation left its queue of codes: (batch id, code id).

    Read without a lock: it is a hint (see ``StockLevel``), and the stock row is
    locked later, by the counter update, in today's order of locks.
    """
    row = (
        StockLevel.objects.filter(product_id=product_id)
        .values_list("queue_batch_id", "queue_code_id")
        .first()
    )
    if row is None or row[0] is None or row[1] is None:
        return None
    return row[0], row[1]


def _codes_pick(
    product_id: int, quantity: int, head: tuple[int, int] | None
) -> list[tuple[int, int]]:
    """Lock up to ``quantity`` available codes, oldest batch first: [(batch id, code id)].

    The pick starts after the queue head, so it does not walk the dead index entries
    of the codes sold before it: PostgreSQL starts its scan of ``code_available_queue``
    at the row comparison. When that finds too few, the rest come from the start of
    the queue: codes behind the head, skipped while another delivery held them and
    released by its rollback, or in a batch made sellable again since the head was read.
    """
    available = (
        Code.objects.select_for_update(skip_locked=True)
        .filter(product_id=product_id, status=CodeStatus.AVAILABLE)
        .order_by("batch_id", "id")
        .values_list("batch_id", "id")
    )
    if head is None:
        return list(available[:quantity])
    after_head = RawSQL("(batch_id, id) > (%s, %s)", head, output_field=BooleanField())
    picked = list(available.filter(after_head)[:quantity])
    if len(picked) < quantity:
        behind = available.exclude(pk__in=[code_id for _batch_id, code_id in picked])
        picked += list(behind[: quantity - len(picked)])
    return picked


def _queue_head_moved(head: tuple[int, int] | None, last: tuple[int, int]) -> dict[str, Case]:
    """The head's part of the counter update: to ``last`` if it is still at ``head``.

    Compare and set: the head moves only if no one moved or reset it since this
    delivery read it, and only forward. A release that reset it in the meantime
    made codes available that this delivery's pick could not see; moving the head
    past them would sell them after newer ones. Concurrent deliveries that read the
    same head leave it at the first one's last code: a few codes behind the front,
    whose dead entries the next pick steps over.
    """
    if head is None:
        still_there = Q(queue_batch_id__isnull=True)
    elif last > head:
        still_there = Q(queue_batch_id=head[0], queue_code_id=head[1])
    else:  # every code came from behind the head
        return {}
    return {
        column: Case(
            When(still_there, then=Value(to)), default=F(column), output_field=BigIntegerField()
        )
        for column, to in zip(("queue_batch_id", "queue_code_id"), last, strict=True)
    }


def _allocate_line(line: OrderLine, now: datetime) -> int:
    head = _queue_head(line.product_id)
    picked = _codes_pick(line.product_id, line.quantity, head)
    if len(picked) < line.quantity:
        raise _Shortage
    Code.objects.filter(pk__in=[code_id for _batch_id, code_id in picked]).update(
        status=CodeStatus.DELIVERED, order_line=line, delivered_at=now
    )
    # The order's hold becomes sold codes: both counters drop together. The queue head
    # moves in the same statement, so a rollback takes it back with them.
    StockLevel.objects.filter(product_id=line.product_id).update(
        codes_available=F("codes_available") - line.quantity,
        units_held=F("units_held") - line.quantity,
        **_queue_head_moved(head, max(picked)),
    )
    return len(picked)


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
    # From the queue head like an allocation; the head stays where it is (a hint).
    picked = _codes_pick(old.product_id, 1, _queue_head(old.product_id))
    if not picked:
        raise OutOfStock()  # the counter's update rolls back with this transaction
    [(_batch_id, new_id)] = picked
    Code.objects.filter(pk=old.pk).update(status=CodeStatus.DEFECTIVE)
    Code.objects.filter(pk=new_id).update(
        status=CodeStatus.DELIVERED, order_line_id=old.order_line_id, delivered_at=timezone.now()
    )
    return Code.objects.get(pk=new_id)
