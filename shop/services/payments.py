"""Writes on payments: starting one, paying by card, and applying what Stripe reports.

Every path that learns a PaymentIntent's state (the card form's answer, the
return page, a webhook, a staff check) goes through :func:`payment_apply_intent`,
which locks the payment row and re-checks it, so a repeated or concurrent report
changes nothing the second time.
"""

import hashlib
import logging

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from core.errors import Conflict
from core.money import Money
from shop import stripe_gateway
from shop.models import Order, OrderEvent, OrderStatus, Payment, PaymentStatus
from shop.services.orders import (
    order_mark_paid,
    order_release_unpaid,
    order_transition,
    release_hold,
)
from shop.stripe_gateway import PaymentDeclined, PaymentGatewayError, PaymentIntentInfo

logger = logging.getLogger(__name__)

PAYABLE_STATUSES = {OrderStatus.AWAITING_PAYMENT, OrderStatus.EXPIRED}
REFUNDABLE_UNDELIVERED = {OrderStatus.PAID, OrderStatus.HELD, OrderStatus.AWAITING_STOCK}


def payment_start(*, order: Order) -> Payment:
    """The order's PaymentIntent, created on first use with an idempotency key from our id.

    Amount and currency always come from the order row, never from the browser.
    """
    existing = Payment.objects.filter(order=order).first()
    if existing:
        return existing
    if order.status not in PAYABLE_STATUSES:
        raise Conflict(_("This order cannot be paid any more."))
    intent = stripe_gateway.payment_intent_create(
        order_id=order.pk,
        amount_minor=order.total_minor,
        currency=order.currency,
        idempotency_key=f"keyshop-order-{order.pk}-payment-intent",
        description=f"Keyshop order {order.number}",
    )
    try:
        with transaction.atomic():
            return Payment.objects.create(
                order=order,
                stripe_payment_intent_id=intent.id,
                client_secret=intent.client_secret,
                amount_minor=intent.amount_minor,
                currency=intent.currency,
            )
    except IntegrityError:
        # Two page loads raced; the idempotency key gave both the same intent.
        return Payment.objects.get(order=order)


def payment_pay_with_card(*, order: Order, card_token: str, return_url: str) -> PaymentIntentInfo:
    """Pay the order with a card token from Stripe.js; applies the result at once.

    A declined card raises PaymentDeclined and leaves the order awaiting payment.
    """
    if order.status not in PAYABLE_STATUSES:
        raise Conflict(_("This order cannot be paid any more."))
    payment = payment_start(order=order)
    attempt = hashlib.sha256(card_token.encode()).hexdigest()[:24]
    try:
        intent = stripe_gateway.payment_intent_pay_with_card_token(
            payment_intent_id=payment.stripe_payment_intent_id,
            card_token=card_token,
            idempotency_key=f"keyshop-order-{order.pk}-card-{attempt}",
            return_url=return_url,
        )
    except PaymentDeclined as declined:
        Payment.objects.filter(pk=payment.pk).update(last_error=declined.message[:500])
        OrderEvent.objects.create(order=order, kind="payment_declined", note=declined.message)
        raise
    except PaymentGatewayError as error:
        if error.stripe_code != "payment_intent_unexpected_state":
            raise
        # A second submit after the payment already went through: report what Stripe has.
        intent = stripe_gateway.payment_intent_retrieve(payment.stripe_payment_intent_id)
    payment_apply_intent(intent=intent, source="card form")
    return intent


def payment_refresh(*, order: Order) -> Payment | None:
    """Ask Stripe for the order's PaymentIntent and apply it (return page, staff check)."""
    payment = Payment.objects.filter(order=order).first()
    if payment is None:
        return None
    intent = stripe_gateway.payment_intent_retrieve(payment.stripe_payment_intent_id)
    return payment_apply_intent(intent=intent, source="retrieved")


@transaction.atomic
def payment_apply_intent(*, intent: PaymentIntentInfo, source: str) -> Payment | None:
    """Apply a PaymentIntent's state to our payment and order, exactly once.

    Success counts only when the amount received and the currency equal the
    order's; anything else is flagged and the order is not paid.
    """
    payment = (
        Payment.objects.select_for_update()
        .select_related("order")
        .filter(stripe_payment_intent_id=intent.id)
        .first()
    )
    if payment is None:
        logger.warning("PaymentIntent %s is not one of ours (%s)", intent.id, source)
        return None
    order = payment.order
    risk = {
        "card_fingerprint": intent.card_fingerprint or "",
        "card_country": intent.card_country or "",
        "risk_level": intent.risk_level or "",
    }
    if intent.status == "succeeded":
        if payment.status in {PaymentStatus.SUCCEEDED, PaymentStatus.MISMATCH}:
            return payment
        received = Money(intent.amount_received_minor, intent.currency)
        if received != order.total:
            _payment_update(payment, status=PaymentStatus.MISMATCH, **risk)
            OrderEvent.objects.create(
                order=order,
                kind="payment_mismatch",
                note=(
                    f"Stripe reported {received} for an order of {order.total} ({source}); "
                    "not marked paid."
                ),
            )
            logger.error("amount mismatch on order %s (%s)", order.number, source)
            return payment
        _payment_update(payment, status=PaymentStatus.SUCCEEDED, last_error="", **risk)
        order_mark_paid(order_id=order.pk, note=f"Stripe {intent.id} ({source})")
    elif intent.status == "canceled":
        _payment_update(payment, status=PaymentStatus.CANCELED)
        if order.status == OrderStatus.AWAITING_PAYMENT:
            order_release_unpaid(
                order_id=order.pk, to_status=OrderStatus.CANCELLED, note="payment canceled"
            )
    elif intent.last_error_message and payment.status == PaymentStatus.PENDING:
        _payment_update(payment, last_error=intent.last_error_message[:500])
    return payment


def _payment_update(payment: Payment, **fields: str) -> None:
    for name, value in fields.items():
        setattr(payment, name, value)
    payment.save(update_fields=[*fields, "updated_at"])


def payment_refund_full(*, order_id: int, reason: str) -> Order:
    """Refund an undelivered order in full through Stripe, release its hold, mark it refunded.

    The Stripe call carries an idempotency key from the order id, so a retry after a
    crash refunds once. Only for orders whose codes never left (paid, held, awaiting stock).
    """
    order = Order.objects.select_related("payment").get(pk=order_id)
    if order.status == OrderStatus.REFUNDED:
        return order
    if order.status not in REFUNDABLE_UNDELIVERED:
        raise Conflict(_("Only an order whose codes were not delivered can be refunded here."))
    stripe_gateway.refund_create(
        payment_intent_id=order.payment.stripe_payment_intent_id,
        amount_minor=None,
        idempotency_key=f"keyshop-order-{order.pk}-refund-full",
        reason="requested_by_customer",
    )
    with transaction.atomic():
        order, moved = order_transition(
            order_id=order.pk, to_status=OrderStatus.REFUNDED, kind="refunded", note=reason
        )
        if moved:
            release_hold(order)
    return order
