"""Writes on orders: creation with a stock hold, the status pipeline, access links, expiry."""

import logging
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import IllegalTransition, InvalidInput, OutOfStock
from shop.models import Order, OrderAccess, OrderEvent, OrderLine, OrderStatus, Product
from shop.selectors import access_token_hash
from shop.signals import order_paid
from shop.stock import stock_provider
from shop.tasks import order_email_link_task

logger = logging.getLogger(__name__)

S = OrderStatus
# The order pipeline: every allowed move, and nothing else. docs/architecture.md draws it.
ALLOWED_MOVES: dict[str, set[str]] = {
    S.AWAITING_PAYMENT: {S.PAID, S.CANCELLED, S.EXPIRED},
    # A payment can arrive after the hold expired; it is never lost.
    S.EXPIRED: {S.PAID},
    S.CANCELLED: set(),
    S.PAID: {S.HELD, S.DELIVERING, S.AWAITING_STOCK, S.REFUNDED, S.DISPUTED},
    S.HELD: {S.DELIVERING, S.REFUNDED, S.DISPUTED},
    S.DELIVERING: {S.DELIVERED, S.AWAITING_STOCK, S.DISPUTED},
    S.AWAITING_STOCK: {S.DELIVERING, S.REFUNDED, S.DISPUTED},
    S.DELIVERED: {S.PARTIALLY_REFUNDED, S.REFUNDED, S.DISPUTED},
    S.PARTIALLY_REFUNDED: {S.REFUNDED, S.DISPUTED},
    # A dispute won returns the order to delivered; lost, it ends refunded.
    S.DISPUTED: {S.DELIVERED, S.REFUNDED},
    S.REFUNDED: set(),
}

ORDER_NUMBER_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _new_order_number() -> str:
    # 10 symbols from 32: 50 bits, unique by constraint; it is not the secret (the token is).
    return "KS-" + "".join(secrets.choice(ORDER_NUMBER_ALPHABET) for _ in range(10))


def order_access_link_create(*, order: Order) -> str:
    """A new secret link token for the order (256 bits from `secrets`); only its hash is stored."""
    token = secrets.token_urlsafe(32)
    OrderAccess.objects.create(order=order, token_hash=access_token_hash(token))
    return token


def _quantities(order: Order) -> dict[int, int]:
    return {line.product_id: line.quantity for line in order.lines.all()}


@transaction.atomic
def order_create(
    *, email: str, product: Product, quantity: int, terms_version: str, language: str
) -> tuple[Order, str]:
    """Create an order for one product, holding its stock; returns the order and its link token.

    The price is always the product's, read here; nothing the buyer sends sets it.
    """
    if not product.is_active:
        raise InvalidInput(_("This product is not on sale."))
    if not product.min_per_order <= quantity <= product.max_per_order:
        raise InvalidInput(
            _("You can buy %(min)d to %(max)d of this product per order.")
            % {"min": product.min_per_order, "max": product.max_per_order}
        )
    if terms_version != settings.KEYSHOP_TERMS_VERSION:
        raise InvalidInput(_("The terms have changed; please read and accept them again."))
    if not stock_provider().reserve({product.pk: quantity}):
        raise OutOfStock()
    now = timezone.now()
    order = Order.objects.create(
        number=_new_order_number(),
        email=email,
        currency=product.currency,
        total_minor=product.price_minor * quantity,
        terms_version=terms_version,
        terms_accepted_at=now,
        language=language,
        holds_reservation=True,
        reserved_until=now + timedelta(minutes=settings.KEYSHOP_RESERVATION_MINUTES),
    )
    OrderLine.objects.create(
        order=order, product=product, quantity=quantity, unit_price_minor=product.price_minor
    )
    OrderEvent.objects.create(order=order, to_status=order.status, kind="created")
    return order, order_access_link_create(order=order)


def _timestamp_fields(order: Order, to_status: str, now: datetime) -> list[str]:
    if to_status == S.PAID and order.paid_at is None:
        order.paid_at = now
        return ["paid_at"]
    if to_status == S.DELIVERED and order.delivered_at is None:
        order.delivered_at = now
        return ["delivered_at"]
    return []


@transaction.atomic
def order_transition(
    *, order_id: int, to_status: str, kind: str = "", note: str = "", actor=None
) -> tuple[Order, bool]:
    """Move an order along the pipeline. Returns the locked order and whether it moved.

    Locks the row first, so concurrent callers serialise; a repeat of the move the
    order already made is a no-op; a move not in ALLOWED_MOVES raises IllegalTransition.
    Every move records an OrderEvent.
    """
    order = Order.objects.select_for_update().get(pk=order_id)
    if order.status == to_status:
        return order, False
    if to_status not in ALLOWED_MOVES[order.status]:
        raise IllegalTransition(
            _("An order cannot go from %(from)s to %(to)s.")
            % {"from": order.get_status_display(), "to": S(to_status).label},
            from_status=order.status,
            to_status=to_status,
        )
    from_status = order.status
    order.status = to_status
    changed = ["status", "updated_at", *_timestamp_fields(order, to_status, timezone.now())]
    order.save(update_fields=changed)
    OrderEvent.objects.create(
        order=order,
        from_status=from_status,
        to_status=to_status,
        kind=kind or "status_changed",
        note=note,
        actor=actor,
    )
    return order, True


def _release_hold(order: Order) -> None:
    if order.holds_reservation:
        stock_provider().release(_quantities(order))
        order.holds_reservation = False
        order.save(update_fields=["holds_reservation", "updated_at"])


@transaction.atomic
def order_release_unpaid(*, order_id: int, to_status: str, note: str = "") -> Order:
    """Expire or cancel an unpaid order and give its held stock back, once."""
    order, moved = order_transition(order_id=order_id, to_status=to_status, note=note)
    if moved:
        _release_hold(order)
    return order


def orders_expire_reservations(*, now: datetime | None = None) -> int:
    """Expire every unpaid order whose hold has run out; returns how many expired."""
    now = now or timezone.now()
    overdue = Order.objects.filter(status=S.AWAITING_PAYMENT, reserved_until__lt=now).values_list(
        "pk", flat=True
    )
    expired = 0
    for order_id in list(overdue):
        with transaction.atomic():
            # Re-checked under the row lock: a payment may have landed meanwhile.
            order = Order.objects.select_for_update().get(pk=order_id)
            if order.status == S.AWAITING_PAYMENT and order.reserved_until < now:
                order_release_unpaid(order_id=order_id, to_status=S.EXPIRED)
                expired += 1
    if expired:
        logger.info("expired %d unpaid orders and returned their stock", expired)
    return expired


@transaction.atomic
def order_mark_paid(*, order_id: int, note: str = "") -> Order:
    """Record payment once. Late payments re-hold stock, or wait for it.

    The paid order is handed on through the ``order_paid`` signal, sent after commit,
    so higher apps (screening, delivery) take over without shop importing them.
    """
    order, moved = order_transition(order_id=order_id, to_status=S.PAID, kind="paid", note=note)
    if not moved:
        return order
    if not order.holds_reservation:
        if stock_provider().reserve(_quantities(order)):
            order.holds_reservation = True
            order.save(update_fields=["holds_reservation", "updated_at"])
        else:
            order, _moved = order_transition(
                order_id=order.pk,
                to_status=S.AWAITING_STOCK,
                note="paid after the hold expired; no stock left",
            )
    transaction.on_commit(lambda: order_email_link_task.delay(order_id, "paid"))
    transaction.on_commit(lambda: order_paid.send(sender=Order, order_id=order_id))
    return order
