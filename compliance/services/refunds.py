"""Refunds after delivery: requested by staff (or by an early fraud warning), sent to Stripe.

A refund covers the whole order or chosen delivered codes. It is ``requested``,
then ``pending`` once approved and sent to Stripe, and ``succeeded`` or
``failed`` as Stripe reports (the API answer, the ``refund.*`` and
``charge.refunded`` webhooks, or the reconciliation beat task). Only a refund
Stripe reports as succeeded revokes its codes and moves the order to
``refunded`` or ``partially_refunded``; a failed one changes neither, so a
failed refund is never shown as done.

A refund above ``KEYSHOP_REFUND_SECOND_APPROVAL_MINOR`` (in the order
currency's minor units) stays ``requested`` until a different member of staff
approves it. The Stripe call carries the idempotency key
``keyshop-refund-<id>``: sending the same refund again cannot pay out twice.
No lock is held during the call.

A reseller's order was paid from its prepaid balance, not through Stripe: its
refund, once approved, is credited to that balance at once
(``shop.services.resellers.reseller_order_refund``, a ``refund`` ledger entry)
and succeeds or fails in the same step, with the same code revocation.
"""

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from compliance.models import Refund, RefundEvent, RefundStatus
from core.alerts import staff_alert_raise
from core.audit import audit_record
from core.errors import Conflict, IllegalTransition, InvalidInput, KeyshopError
from core.logging import redact
from fulfillment.models import Code, CodeStatus
from fulfillment.services.codes import RevocationCause, delivered_codes_revoke
from shop import stripe_gateway
from shop.models import Order, OrderStatus, Payment, PaymentStatus, StripeEvent
from shop.services.orders import ALLOWED_MOVES as ORDER_MOVES
from shop.services.orders import order_transition, release_hold
from shop.services.resellers import reseller_order_refund
from shop.stripe_gateway import PaymentGatewayError, RefundInfo

logger = logging.getLogger(__name__)

R = RefundStatus
ALLOWED_MOVES: dict[str, set[str]] = {
    R.REQUESTED: {R.PENDING, R.FAILED},
    R.PENDING: {R.SUCCEEDED, R.FAILED},
    # Stripe can fail a refund after reporting it succeeded (rare): shown failed, staff alerted.
    R.SUCCEEDED: {R.FAILED},
    R.FAILED: set(),
}
# Orders staff may refund here; undelivered ones are refused or refunded by the review queue.
STAFF_REFUNDABLE = {OrderStatus.DELIVERED, OrderStatus.PARTIALLY_REFUNDED}
# Refunds that count against what is left to refund.
ACTIVE = {R.REQUESTED, R.PENDING, R.SUCCEEDED}
# A pending refund that Stripe never got an answer for is sent again after this.
RESEND_AFTER = timedelta(minutes=10)
SOURCES = {"staff", "early_fraud_warning"}


class RefundApprovalRefused(Conflict):
    """The second approval of a large refund must come from another member of staff."""

    code = "refund_second_approval_refused"
    default_message = gettext_lazy("A different member of staff must approve this refund.")


def refund_transition(
    *,
    refund_id: int,
    to_status: str,
    actor: AbstractBaseUser | None = None,
    note: str = "",
) -> tuple[Refund, bool]:
    """Move a refund: lock it; a repeat is a no-op; an illegal move raises; record an event."""
    with transaction.atomic():
        refund = Refund.objects.select_for_update().get(pk=refund_id)
        if refund.status == to_status:
            return refund, False
        if to_status not in ALLOWED_MOVES[refund.status]:
            raise IllegalTransition(
                _("A refund cannot go from %(from)s to %(to)s.")
                % {"from": refund.get_status_display(), "to": R(to_status).label},
                from_status=refund.status,
                to_status=to_status,
            )
        from_status = refund.status
        refund.status = to_status
        refund.save(update_fields=["status", "updated_at"])
        _event(refund, from_status, to_status, actor, note)
        return refund, True


def _event(
    refund: Refund, from_status: str, to_status: str, actor: AbstractBaseUser | None, note: str
) -> None:
    RefundEvent.objects.create(
        refund=refund, from_status=from_status, to_status=to_status, actor=actor, note=note
    )
    audit_record(
        action="refund.transition",
        obj_type="compliance.refund",
        obj_id=refund.pk,
        actor=actor,
        reason=redact(note),
        data={
            "from": from_status,
            "to": to_status,
            "order_id": refund.order_id,
            "amount_minor": refund.amount_minor,
            "currency": refund.currency,
        },
    )


def _needs_second_approval(refund: Refund) -> bool:
    return refund.amount_minor > settings.KEYSHOP_REFUND_SECOND_APPROVAL_MINOR


def refund_request(
    *,
    order_id: int,
    reason: str,
    actor: AbstractBaseUser | None,
    code_ids: Iterable[int] | None = None,
    source: str = "staff",
) -> Refund:
    """Ask for a refund of the whole order (no ``code_ids``) or of chosen delivered codes.

    At or below the second-approval threshold, or from an early fraud warning, it
    is approved at once and sent to Stripe after commit; above it, it waits for
    :func:`refund_approve` by someone else. Raises InvalidInput or Conflict,
    creating nothing, when the order or the codes cannot be refunded.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown refund source {source!r}")
    if not reason.strip():
        raise InvalidInput(_("Write why the order is refunded."))
    wanted = sorted(set(code_ids or []))
    with transaction.atomic():
        # The order's lock serialises refunds of one order, so none is counted twice.
        order = Order.objects.select_for_update().get(pk=order_id)
        if (
            order.reseller_id is None
            and not Payment.objects.filter(order=order, status=PaymentStatus.SUCCEEDED).exists()
        ):
            raise Conflict(_("This order has no Stripe payment to refund."))
        if source == "staff" and order.status not in STAFF_REFUNDABLE:
            raise Conflict(
                _("Only a delivered order can be refunded here (this one is %(status)s).")
                % {"status": order.get_status_display()}
            )
        active = Refund.objects.filter(order=order, status__in=ACTIVE)
        left = order.total_minor - (active.aggregate(total=Sum("amount_minor"))["total"] or 0)
        if wanted:
            codes = list(
                Code.objects.filter(
                    pk__in=wanted, order_line__order=order, status=CodeStatus.DELIVERED
                ).select_related("order_line")
            )
            if len(codes) != len(wanted):
                raise InvalidInput(_("Choose delivered codes of this order."))
            if active.filter(codes__in=wanted).exists() or active.filter(whole_order=True).exists():
                raise Conflict(_("Some of these codes are already being refunded."))
            amount = sum(code.order_line.unit_price_minor for code in codes)
        else:
            amount = left
        if amount <= 0 or amount > left:
            raise Conflict(_("Nothing is left to refund on this order."))
        refund = Refund.objects.create(
            order=order,
            amount_minor=amount,
            currency=order.currency,
            whole_order=not wanted,
            reason=reason,
            source=source,
            requested_by=actor,
        )
        if wanted:
            refund.codes.set(wanted)
        _event(refund, "", R.REQUESTED, actor, reason)
        if source != "staff" or not _needs_second_approval(refund):
            refund = _approve(refund, actor, note="approved on request")
    return refund


def refund_approve(*, refund_id: int, actor: AbstractBaseUser) -> Refund:
    """The second approval of a large refund, by someone other than who asked; then send it."""
    with transaction.atomic():
        refund = Refund.objects.select_for_update().get(pk=refund_id)
        if refund.status != R.REQUESTED:
            if refund.status == R.FAILED:
                raise Conflict(_("This refund failed; request a new one."))
            return refund  # approved already: a repeat is a no-op
        if actor is None or actor.pk == refund.requested_by_id:
            raise RefundApprovalRefused()
        return _approve(refund, actor, note="second approval")


def _approve(refund: Refund, actor: AbstractBaseUser | None, *, note: str) -> Refund:
    Refund.objects.filter(pk=refund.pk).update(approved_by=actor)
    refund, _moved = refund_transition(
        refund_id=refund.pk, to_status=R.PENDING, actor=actor, note=note
    )
    refund_id = refund.pk
    from compliance.tasks import refund_submit_task

    transaction.on_commit(lambda: refund_submit_task.delay(refund_id))
    return refund


def refund_submit(*, refund_id: int) -> Refund:
    """Send a pending refund to Stripe (again, safely: same idempotency key) and apply the answer.

    A refusal Stripe will not change its mind about marks the refund failed;
    PaymentGatewayUnavailable propagates so the task retries.
    """
    refund = Refund.objects.select_related("order__payment").get(pk=refund_id)
    if refund.status != R.PENDING:
        return refund
    if refund.order.reseller_id is not None:
        return _refund_to_balance(refund_id=refund.pk)
    try:
        info = stripe_gateway.refund_create(
            payment_intent_id=refund.order.payment.stripe_payment_intent_id,
            amount_minor=refund.amount_minor,
            idempotency_key=f"keyshop-refund-{refund.pk}",
            reason="fraudulent" if refund.source == "early_fraud_warning" else None,
        )
    except PaymentGatewayError as error:
        if error.retryable:
            raise
        return refund_fail(
            refund_id=refund.pk, failure_reason=error.stripe_code or "refused by Stripe"
        )
    with transaction.atomic():
        Refund.objects.filter(pk=refund.pk, stripe_refund_id="").update(stripe_refund_id=info.id)
        return refund_apply_stripe(info=info, source="api")


def _refund_to_balance(*, refund_id: int) -> Refund:
    """A reseller paid from its balance, so the refund goes back there, at once and once."""
    with transaction.atomic():
        refund = Refund.objects.select_for_update().get(pk=refund_id)
        if refund.status != R.PENDING:
            return refund
        try:
            with transaction.atomic():
                reseller_order_refund(
                    order_id=refund.order_id,
                    amount_minor=refund.amount_minor,
                    # The reseller reads this in its ledger: no staff words in it.
                    reason=f"refund #{refund.pk}",
                    actor=refund.approved_by,
                )
        except KeyshopError as error:
            return refund_fail(refund_id=refund.pk, failure_reason=error.message, source="balance")
        return _refund_complete(refund, note="credited to the reseller's balance")


@transaction.atomic
def refund_apply_stripe(*, info: RefundInfo, source: str) -> Refund | None:
    """Apply what Stripe says of one of our refunds (found by its id); None if it is not ours."""
    refund = Refund.objects.select_for_update().filter(stripe_refund_id=info.id).first()
    if refund is None:
        logger.info("Stripe refund %s is not one of ours (%s)", info.id, source)
        return None
    if refund.status == R.FAILED:
        return refund  # final: a late snapshot of an earlier state changes nothing
    if info.status == "succeeded":
        return _refund_complete(refund, note=f"Stripe {info.id} succeeded ({source})")
    if info.status in {"failed", "canceled"}:
        return refund_fail(
            refund_id=refund.pk, failure_reason=info.failure_reason or info.status, source=source
        )
    return refund  # pending or requires_action: wait


def _refund_complete(refund: Refund, *, note: str) -> Refund:
    refund, moved = refund_transition(refund_id=refund.pk, to_status=R.SUCCEEDED, note=note)
    if not moved:
        return refund
    codes = Code.objects.filter(status=CodeStatus.DELIVERED)
    if refund.whole_order:
        codes = codes.filter(order_line__order_id=refund.order_id)
    else:
        codes = codes.filter(pk__in=refund.codes.values("pk"))
    delivered_codes_revoke(
        code_ids=codes.values_list("pk", flat=True),
        cause=RevocationCause.REFUNDED,
        obj_type="compliance.refund",
        obj_id=refund.pk,
    )
    _order_mark_refunded(refund)
    return refund


def _order_mark_refunded(refund: Refund) -> None:
    order = Order.objects.select_for_update().get(pk=refund.order_id)
    refunded = (
        Refund.objects.filter(order=order, status=R.SUCCEEDED).aggregate(total=Sum("amount_minor"))[
            "total"
        ]
        or 0
    )
    to_status = (
        OrderStatus.REFUNDED if refunded >= order.total_minor else OrderStatus.PARTIALLY_REFUNDED
    )
    if order.status == to_status:
        return
    if to_status not in ORDER_MOVES[order.status]:
        # A disputed order stays disputed (its close decides); delivering finishes first.
        logger.info("order %s refunded in part while %s; status kept", order.number, order.status)
        return
    order, _moved = order_transition(
        order_id=order.pk,
        to_status=to_status,
        kind="refunded",
        note=f"refund #{refund.pk}: {refund.reason}",
        actor=refund.approved_by,
    )
    if to_status == OrderStatus.REFUNDED:
        release_hold(order)


def refund_fail(*, refund_id: int, failure_reason: str, source: str = "api") -> Refund:
    """Mark a refund failed. Codes and order are untouched; a refund failing after it had
    succeeded raises a staff alert (its codes were revoked already)."""
    with transaction.atomic():
        refund = Refund.objects.select_for_update().get(pk=refund_id)
        was = refund.status
        refund, moved = refund_transition(
            refund_id=refund_id,
            to_status=R.FAILED,
            note=f"failed ({source}): {failure_reason}",
        )
        if moved:
            Refund.objects.filter(pk=refund.pk).update(failure_reason=failure_reason[:200])
            refund.failure_reason = failure_reason[:200]
            if was == R.SUCCEEDED:
                staff_alert_raise(
                    kind="refund_failed_after_success",
                    subject=f"refund {refund.pk}",
                    message=f"order {refund.order_id}: {failure_reason}",
                )
    return refund


def refunds_reconcile(*, now: datetime | None = None) -> int:
    """Ask Stripe about every pending refund and apply its answer; returns how many changed.

    A pending refund with no Stripe id (the answer was lost) is sent again after
    ``RESEND_AFTER``; its idempotency key makes that safe.
    """
    now = now or timezone.now()
    changed = 0
    for refund in Refund.objects.filter(status=R.PENDING).order_by("pk"):
        if not refund.stripe_refund_id:
            if refund.updated_at < now - RESEND_AFTER:
                changed += refund_submit(refund_id=refund.pk).status != R.PENDING
            continue
        info = stripe_gateway.refund_retrieve(refund.stripe_refund_id)
        applied = refund_apply_stripe(info=info, source="reconciled")
        changed += applied is not None and applied.status != R.PENDING
    return changed


# --- Stripe webhooks: KEYSHOP_STRIPE_EVENT_HANDLERS ------------------------------


def refund_info_from_dict(data: Mapping[str, Any]) -> RefundInfo:
    def _id(value: object) -> str | None:
        if isinstance(value, Mapping):
            return value.get("id")
        return value if isinstance(value, str) else None

    return RefundInfo(
        id=data["id"],
        payment_intent_id=_id(data.get("payment_intent")),
        charge_id=_id(data.get("charge")),
        amount_minor=data["amount"],
        currency=str(data["currency"]).upper(),
        status=data["status"],
        reason=data.get("reason"),
        failure_reason=data.get("failure_reason"),
    )


def stripe_refund_event(event: StripeEvent) -> str:
    """``refund.created``, ``refund.updated``, ``refund.failed``: apply the refund's status."""
    info = refund_info_from_dict(event.payload["object"])
    refund = refund_apply_stripe(info=info, source=f"webhook {event.type}")
    return f"refund {refund.status}" if refund else "not our refund"


def stripe_charge_refunded(event: StripeEvent) -> str:
    """``charge.refunded``: apply each of the charge's refunds that is ours."""
    charge = event.payload["object"]
    data = (charge.get("refunds") or {}).get("data") or []
    outcomes = []
    for item in data:
        refund = refund_apply_stripe(info=refund_info_from_dict(item), source=event.type)
        if refund:
            outcomes.append(f"#{refund.pk} {refund.status}")
    return ", ".join(outcomes) or "no refund of ours"
