"""The review queue: a person (or Stripe Radar) approves or refuses a held order.

Approving moves the order on to delivery (fulfillment's ``order_deliver_task``,
queued after commit). Refusing refunds the payment through Stripe, moves the
order to ``refunded`` and gives its held stock back; its codes never leave.

A refusal is done in three steps so that a crash or a concurrent approval can
never both deliver and refund: the review is first moved to ``refusing`` under
its row lock (after which it can no longer be approved), then Stripe is asked
for the refund with an idempotency key derived from our ids (no lock is held
during the call), and finally the order is marked refunded. A refusal
interrupted between the steps is finished by running it again.
"""

import logging
from datetime import datetime, timedelta

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from compliance.models import OrderReview, OrderReviewEvent, ReviewStatus
from compliance.tasks import order_review_refuse_task
from core.audit import audit_record
from core.errors import Conflict, IllegalTransition, InvalidInput
from core.logging import redact
from fulfillment.tasks import order_deliver_task
from shop import stripe_gateway
from shop.models import OrderStatus, Payment, PaymentStatus, StripeEvent
from shop.services.orders import order_transition, release_hold
from shop.stripe_gateway import PaymentGatewayError

logger = logging.getLogger(__name__)

R = ReviewStatus
ALLOWED_MOVES: dict[str, set[str]] = {
    R.PENDING: {R.APPROVED, R.REFUSING},
    R.REFUSING: {R.REFUSED},
    R.APPROVED: set(),
    R.REFUSED: set(),
}
SOURCES = {"staff", "screening", "stripe_radar"}
# A refusal still not finished this long after it began is queued again.
STUCK_REFUSAL_AFTER = timedelta(minutes=10)


@transaction.atomic
def order_review_transition(
    *,
    order_id: int,
    to_status: str,
    actor: AbstractBaseUser | None = None,
    source: str = "staff",
    note: str = "",
) -> tuple[OrderReview, bool]:
    """Move a review: lock it; a repeat is a no-op; an illegal move raises; record an event."""
    if source not in SOURCES:
        raise ValueError(f"unknown review source {source!r}")
    review = OrderReview.objects.select_for_update().get(order_id=order_id)
    if review.status == to_status:
        return review, False
    if to_status not in ALLOWED_MOVES[review.status]:
        raise IllegalTransition(
            _("A review cannot go from %(from)s to %(to)s.")
            % {"from": review.get_status_display(), "to": R(to_status).label},
            from_status=review.status,
            to_status=to_status,
        )
    from_status = review.status
    review.status = to_status
    fields = ["status"]
    if to_status in {R.APPROVED, R.REFUSED}:
        review.closed_at = timezone.now()
        fields.append("closed_at")
    if to_status in {R.APPROVED, R.REFUSING} and source != "screening":
        review.closed_by, review.note = actor, note
        fields += ["closed_by", "note"]
    review.save(update_fields=fields)
    OrderReviewEvent.objects.create(
        review=review,
        from_status=from_status,
        to_status=to_status,
        actor=actor,
        source=source,
        note=note,
    )
    audit_record(
        action="order_review.transition",
        obj_type="compliance.orderreview",
        obj_id=review.pk,
        actor=actor,
        reason=redact(note),
        data={"from": from_status, "to": to_status, "order_id": order_id, "source": source},
    )
    return review, True


@transaction.atomic
def order_review_approve(
    *, order_id: int, actor: AbstractBaseUser | None, note: str = "", source: str = "staff"
) -> OrderReview:
    """Release a held order to delivery."""
    review, moved = order_review_transition(
        order_id=order_id, to_status=R.APPROVED, actor=actor, source=source, note=note
    )
    if moved:
        order_transition(
            order_id=order_id,
            to_status=OrderStatus.DELIVERING,
            kind="review_approved",
            note=note,
            actor=actor,
        )
        transaction.on_commit(lambda: order_deliver_task.delay(order_id))
    return review


def order_review_refuse(
    *,
    order_id: int,
    actor: AbstractBaseUser | None,
    note: str,
    source: str = "staff",
    already_refunded: bool = False,
) -> OrderReview:
    """Refuse a held order: refund it through Stripe, mark it refunded, release its stock.

    ``note`` (why) is required. ``already_refunded`` skips the Stripe call when
    Stripe itself refunded the payment (a Radar review closed as refunded). Not one
    transaction: see the module docstring. Running it again finishes or repeats nothing.
    """
    if not note.strip():
        raise InvalidInput(_("Write why the order is refused."))
    with transaction.atomic():
        review = OrderReview.objects.select_for_update().get(order_id=order_id)
        if review.status == R.REFUSED:
            return review
        review, _moved = order_review_transition(
            order_id=order_id, to_status=R.REFUSING, actor=actor, source=source, note=note
        )
    refund_id = "" if already_refunded else _refund(order_id)
    with transaction.atomic():
        review = OrderReview.objects.select_for_update().get(order_id=order_id)
        if review.status == R.REFUSED:
            return review
        order, _moved = order_transition(
            order_id=order_id,
            to_status=OrderStatus.REFUNDED,
            kind="review_refused",
            note=review.note or note,
            actor=actor,
        )
        release_hold(order)  # the order is locked by the transition
        review.stripe_refund_id = refund_id
        review.save(update_fields=["stripe_refund_id"])
        review, _moved = order_review_transition(
            order_id=order_id, to_status=R.REFUSED, actor=actor, source=source, note=note
        )
    logger.info("order %s refused after review (%s)", order_id, source)
    return review


def order_reviews_refusing_requeue(*, now: datetime | None = None) -> int:
    """Queue again refusals stuck half-way (a lost task, a crash after the refund).

    A review left in ``refusing`` for longer than ``STUCK_REFUSAL_AFTER`` is finished
    by ``order_review_refuse_task``; finishing is idempotent.
    """
    now = now or timezone.now()
    stuck = OrderReview.objects.filter(
        status=R.REFUSING,
        events__to_status=R.REFUSING,
        events__created_at__lt=now - STUCK_REFUSAL_AFTER,
    ).values_list("order_id", flat=True)
    order_ids = sorted(set(stuck))
    for order_id in order_ids:
        order_review_refuse_task.delay(order_id)
    return len(order_ids)


def _refund(order_id: int) -> str:
    """Refund what remains of the order's payment; returns the Stripe refund id ("" if none)."""
    payment = Payment.objects.filter(order_id=order_id).first()
    if payment is None or payment.status != PaymentStatus.SUCCEEDED:
        raise Conflict(_("This order has no Stripe payment to refund."), order_id=order_id)
    try:
        refund = stripe_gateway.refund_create(
            payment_intent_id=payment.stripe_payment_intent_id,
            amount_minor=None,
            # From our ids (the order and its one PaymentIntent): a retry cannot refund twice.
            idempotency_key=f"keyshop-order-{order_id}-review-refund-"
            f"{payment.stripe_payment_intent_id}",
            reason="fraudulent",
        )
    except PaymentGatewayError as error:
        if error.stripe_code != "charge_already_refunded":
            raise
        # Refunded before (a retry after Stripe forgot the key, or by hand in Stripe).
        return ""
    return refund.id


# Stripe Radar: KEYSHOP_STRIPE_EVENT_HANDLERS["review.closed"].

RADAR_REFUNDED = {"refunded", "refunded_as_fraud"}


def stripe_review_closed(event: StripeEvent) -> str:
    """A Radar review closed: approve or refuse the order we hold for the same payment."""
    review_object = event.payload.get("object") or {}
    reason = review_object.get("closed_reason") or review_object.get("reason") or ""
    intent_id = review_object.get("payment_intent")
    payment = (
        Payment.objects.filter(stripe_payment_intent_id=intent_id).first() if intent_id else None
    )
    if payment is None:
        return "not our payment"
    review = OrderReview.objects.filter(order_id=payment.order_id).first()
    if review is None or review.status not in {R.PENDING, R.REFUSING}:
        return f"order not held ({reason})"
    note = _("Stripe Radar review closed: %(reason)s") % {"reason": reason}
    if reason == "approved" and review.status == R.PENDING:
        order_review_approve(
            order_id=payment.order_id, actor=None, note=note, source="stripe_radar"
        )
        return "approved"
    if reason in RADAR_REFUNDED:
        order_review_refuse(
            order_id=payment.order_id,
            actor=None,
            note=note,
            source="stripe_radar",
            already_refunded=True,
        )
        return "refused"
    return f"ignored ({reason})"
