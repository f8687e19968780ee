"""Writes on orders: creation with a stock hold, the status pipeline, access links, expiry."""

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.audit import audit_record
from core.errors import IllegalTransition, InvalidInput, OutOfStock
from shop.models import Order, OrderAccess, OrderEvent, OrderLine, OrderStatus, Product
from shop.selectors import access_token_hash
from shop.signals import order_paid, order_status_changed
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
    S.AWAITING_STOCK: {S.DELIVERING, S.HELD, S.REFUNDED, S.DISPUTED},
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


@dataclass(frozen=True)
class LineSpec:
    """One line of a new order, its unit price already settled by the caller."""

    product: Product
    quantity: int
    unit_price_minor: int


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
    order = order_create_for_lines(
        email=email,
        lines=[LineSpec(product=product, quantity=quantity, unit_price_minor=product.price_minor)],
        terms_version=terms_version,
        terms_accepted_at=timezone.now(),
        language=language,
    )
    return order, order_access_link_create(order=order)


@transaction.atomic
def order_create_for_lines(
    *,
    email: str,
    lines: Sequence[LineSpec],
    terms_version: str,
    terms_accepted_at: datetime,
    language: str,
    reseller_id: int | None = None,
) -> Order:
    """Create an order for several lines, holding their stock all or none (OutOfStock).

    The caller has checked who may buy what and settled each unit price (the
    storefront: the product's price; the reseller API: the reseller's). Every line
    must be in one currency and name a different product. No link token is made.
    """
    if not lines:
        raise InvalidInput(_("An order needs at least one line."))
    currencies = {line.product.currency for line in lines}
    if len(currencies) != 1:
        raise InvalidInput(_("All the products of one order must be sold in one currency."))
    quantities = {line.product.pk: line.quantity for line in lines}
    if len(quantities) != len(lines):
        raise InvalidInput(_("Each product may appear only once in an order."))
    if any(line.quantity < 1 or line.unit_price_minor < 1 for line in lines):
        raise InvalidInput(_("Each line needs a quantity and a price of at least 1."))
    if not stock_provider().reserve(quantities):
        raise OutOfStock()
    now = timezone.now()
    order = Order.objects.create(
        number=_new_order_number(),
        email=email,
        currency=currencies.pop(),
        total_minor=sum(line.unit_price_minor * line.quantity for line in lines),
        terms_version=terms_version,
        terms_accepted_at=terms_accepted_at,
        language=language,
        holds_reservation=True,
        reserved_until=now + timedelta(minutes=settings.KEYSHOP_RESERVATION_MINUTES),
        reseller_id=reseller_id,
    )
    OrderLine.objects.bulk_create(
        OrderLine(
            order=order,
            product=line.product,
            quantity=line.quantity,
            unit_price_minor=line.unit_price_minor,
        )
        for line in lines
    )
    OrderEvent.objects.create(order=order, to_status=order.status, kind="created")
    return order


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
    audit_record(
        action="order.transition",
        obj_type="shop.order",
        obj_id=order.pk,
        actor=actor,
        reason=note,
        data={"from": from_status, "to": to_status, "kind": kind or "status_changed"},
    )
    order_pk = order.pk
    # send_robust: a receiver that raises is logged and never breaks the caller after commit.
    transaction.on_commit(
        lambda: order_status_changed.send_robust(
            sender=Order, order_id=order_pk, from_status=from_status, to_status=to_status
        )
    )
    return order, True


def release_hold(order: Order) -> None:
    """Give back the stock an order holds, once (the flag is cleared in the same transaction)."""
    if order.holds_reservation:
        stock_provider().release(_quantities(order))
        order.holds_reservation = False
        order.save(update_fields=["holds_reservation", "updated_at"])


@transaction.atomic
def order_release_unpaid(*, order_id: int, to_status: str, note: str = "") -> Order:
    """Expire or cancel an unpaid order and give its held stock back, once."""
    order, moved = order_transition(order_id=order_id, to_status=to_status, note=note)
    if moved:
        release_hold(order)
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
