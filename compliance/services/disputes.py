"""Card disputes and Stripe Radar early fraud warnings, from their webhooks.

``charge.dispute.created`` records the dispute, moves the order to ``disputed``
and revokes its delivered codes nobody has revealed yet (a revealed code is
evidence and may be redeemed; an unrevealed one can still be stopped).
``charge.dispute.closed`` records won (the order goes back to ``delivered``) or
lost (``refunded``; its remaining delivered codes are revoked). Codes revoked
when the dispute opened stay revoked when it is won: the buyer can complain
and get a replacement.

``radar.early_fraud_warning.created`` with ``actionable`` true refunds the whole
order through :mod:`compliance.services.refunds` (no second approval: the
card's owner did not make the payment) and revokes its codes at once, before
Stripe answers.

The evidence pack (:func:`dispute_evidence_pack`) holds what shows the buyer
got what they paid for: the order, the terms accepted, the delivery, and each
code reveal with its time and hashed IP address; never a code or an email.
"""

import json
import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from compliance.models import Dispute, DisputeStatus, Refund, RefundStatus
from compliance.services.refunds import refund_request
from core.audit import audit_record
from core.errors import KeyshopError
from fulfillment.models import Code, CodeReveal, CodeStatus
from fulfillment.services.codes import RevocationCause, delivered_codes_revoke
from shop.models import Order, OrderStatus, Payment, StripeEvent
from shop.services.orders import ALLOWED_MOVES as ORDER_MOVES
from shop.services.orders import order_transition

logger = logging.getLogger(__name__)


def _order_for_intent(payment_intent: object) -> Order | None:
    if isinstance(payment_intent, dict):
        payment_intent = payment_intent.get("id")
    if not isinstance(payment_intent, str) or not payment_intent:
        return None
    payment = Payment.objects.filter(stripe_payment_intent_id=payment_intent).first()
    return payment.order if payment else None


def _order_move(order: Order, to_status: str, *, kind: str, note: str) -> bool:
    """Move the order if the pipeline allows it from where it is; say whether it moved."""
    order = Order.objects.select_for_update().get(pk=order.pk)
    if order.status == to_status:
        return False
    if to_status not in ORDER_MOVES[order.status]:
        logger.warning("order %s is %s; not moved to %s", order.number, order.status, to_status)
        return False
    order_transition(order_id=order.pk, to_status=to_status, kind=kind, note=note)
    return True


@transaction.atomic
def stripe_dispute_created(event: StripeEvent) -> str:
    """A buyer disputed a payment: record it, mark the order disputed, stop unrevealed codes."""
    data = event.payload["object"]
    order = _order_for_intent(data.get("payment_intent"))
    if order is None:
        return "not our payment"
    try:
        with transaction.atomic():
            dispute = Dispute.objects.create(
                order=order,
                stripe_dispute_id=data["id"],
                reason=str(data.get("reason") or "")[:64],
                amount_minor=int(data.get("amount") or 0),
                currency=str(data.get("currency") or order.currency).upper(),
            )
    except IntegrityError:
        return "dispute already recorded"
    _order_move(order, OrderStatus.DISPUTED, kind="disputed", note=f"Stripe dispute {data['id']}")
    unrevealed = list(
        Code.objects.filter(
            order_line__order=order, status=CodeStatus.DELIVERED, reveals__isnull=True
        ).values_list("pk", flat=True)
    )
    revoked = len(
        delivered_codes_revoke(
            code_ids=unrevealed,
            cause=RevocationCause.DISPUTED,
            reason="dispute opened; code never revealed",
            obj_type="compliance.dispute",
            obj_id=dispute.pk,
        )
    )
    Dispute.objects.filter(pk=dispute.pk).update(codes_revoked=revoked)
    audit_record(
        action="dispute.open",
        obj_type="compliance.dispute",
        obj_id=dispute.pk,
        reason=dispute.reason,
        data={"order_id": order.pk, "stripe_dispute_id": dispute.stripe_dispute_id},
    )
    return f"dispute opened; {revoked} codes revoked"


@transaction.atomic
def stripe_dispute_closed(event: StripeEvent) -> str:
    """A dispute closed: won returns the order to delivered, lost ends it refunded."""
    data = event.payload["object"]
    dispute = Dispute.objects.select_for_update().filter(stripe_dispute_id=data["id"]).first()
    if dispute is None:
        return "not our dispute"
    if dispute.status != DisputeStatus.OPEN:
        return f"dispute already {dispute.status}"
    outcome = data.get("status")
    if outcome not in {"won", "lost"}:
        return f"ignored ({outcome})"
    dispute.status = outcome
    dispute.closed_at = timezone.now()
    dispute.save(update_fields=["status", "closed_at"])
    note = f"Stripe dispute {dispute.stripe_dispute_id} {outcome}"
    if outcome == DisputeStatus.WON:
        _order_move(dispute.order, OrderStatus.DELIVERED, kind="dispute_won", note=note)
    else:
        _order_move(dispute.order, OrderStatus.REFUNDED, kind="dispute_lost", note=note)
        remaining = list(
            Code.objects.filter(
                order_line__order_id=dispute.order_id, status=CodeStatus.DELIVERED
            ).values_list("pk", flat=True)
        )
        delivered_codes_revoke(
            code_ids=remaining,
            cause=RevocationCause.DISPUTED,
            reason="dispute lost",
            obj_type="compliance.dispute",
            obj_id=dispute.pk,
        )
    audit_record(
        action="dispute.close",
        obj_type="compliance.dispute",
        obj_id=dispute.pk,
        reason=outcome,
        data={"order_id": dispute.order_id, "status": outcome},
    )
    return f"dispute {outcome}"


@transaction.atomic
def stripe_early_fraud_warning_created(event: StripeEvent) -> str:
    """An actionable early fraud warning refunds the whole order and revokes its codes."""
    data = event.payload["object"]
    if not data.get("actionable"):
        return "not actionable"
    order = _order_for_intent(data.get("payment_intent"))
    if order is None:
        return "not our payment"
    if (
        Refund.objects.filter(order=order, whole_order=True, source="early_fraud_warning")
        .exclude(status=RefundStatus.FAILED)
        .exists()
    ):
        return "already refunding"
    code_ids = list(
        Code.objects.filter(order_line__order=order, status=CodeStatus.DELIVERED).values_list(
            "pk", flat=True
        )
    )
    note = f"Stripe early fraud warning {data.get('id')} ({data.get('fraud_type') or 'fraud'})"
    try:
        with transaction.atomic():
            refund = refund_request(
                order_id=order.pk, reason=note, actor=None, source="early_fraud_warning"
            )
    except KeyshopError as error:
        logger.warning("early fraud warning on order %s: %s", order.number, error.code)
        refund = None
    revoked = len(
        delivered_codes_revoke(
            code_ids=code_ids,
            cause=RevocationCause.FRAUD_WARNING,
            reason="early fraud warning",
            obj_type="shop.order",
            obj_id=order.pk,
        )
    )
    audit_record(
        action="order.early_fraud_warning",
        obj_type="shop.order",
        obj_id=order.pk,
        reason=note,
        data={"refund_id": refund.pk if refund else None, "codes_revoked": revoked},
    )
    if refund is None:
        return f"nothing to refund; {revoked} codes revoked"
    return f"refund #{refund.pk} {refund.status}; {revoked} codes revoked"


# --- the evidence pack --------------------------------------------------------------


def dispute_evidence_pack(*, dispute_id: int) -> dict[str, Any]:
    """What shows the buyer got the codes: no code plaintext, no email address."""
    dispute = Dispute.objects.select_related("order").get(pk=dispute_id)
    order = dispute.order
    codes = Code.objects.filter(order_line__order=order).select_related("order_line__product")
    reveals = CodeReveal.objects.filter(code__in=codes).order_by("revealed_at", "pk")

    def _time(value) -> str | None:
        return value.isoformat() if value else None

    return {
        "dispute": {
            "id": dispute.stripe_dispute_id,
            "reason": dispute.reason,
            "amount_minor": dispute.amount_minor,
            "currency": dispute.currency,
            "opened_at": _time(dispute.opened_at),
        },
        "order": {
            "number": order.number,
            "created_at": _time(order.created_at),
            "paid_at": _time(order.paid_at),
            "delivered_at": _time(order.delivered_at),
            "total_minor": order.total_minor,
            "currency": order.currency,
            "language": order.language,
            "lines": [
                {
                    "product": line.product.name,
                    "quantity": line.quantity,
                    "unit_price_minor": line.unit_price_minor,
                }
                for line in order.lines.select_related("product").order_by("pk")
            ],
        },
        "terms": {
            "version": order.terms_version,
            "accepted_at": _time(order.terms_accepted_at),
        },
        "codes": [
            {
                "code_ref": code.pk,
                "product": code.order_line.product.name,
                "delivered_at": _time(code.delivered_at),
                "status": code.status,
            }
            for code in codes.order_by("pk")
        ],
        "reveals": [
            {
                "code_ref": reveal.code_id,
                "revealed_at": _time(reveal.revealed_at),
                "ip_hash": reveal.ip_hash,
                "by": "staff" if reveal.staff_user_id else "buyer",
            }
            for reveal in reveals
        ],
    }


def evidence_pack_json(pack: dict[str, Any]) -> str:
    return json.dumps(pack, indent=2, sort_keys=True)


def evidence_pack_text(pack: dict[str, Any]) -> str:
    dispute, order, terms = pack["dispute"], pack["order"], pack["terms"]
    lines = [
        f"Dispute {dispute['id']} ({dispute['reason'] or 'no reason given'}), "
        f"{dispute['amount_minor']} {dispute['currency']} (minor units)",
        "",
        f"Order {order['number']}: created {order['created_at']}, paid {order['paid_at']}, "
        f"delivered {order['delivered_at']}, total {order['total_minor']} {order['currency']}",
        *(
            f"  {line['quantity']} x {line['product']} at {line['unit_price_minor']}"
            for line in order["lines"]
        ),
        f"Terms version {terms['version']} accepted at {terms['accepted_at']}",
        "",
        "Codes delivered:",
        *(
            f"  code #{code['code_ref']} ({code['product']}) delivered {code['delivered_at']}, "
            f"now {code['status']}"
            for code in pack["codes"]
        ),
        "",
        "Code reveals:" if pack["reveals"] else "Code reveals: none",
        *(
            f"  code #{reveal['code_ref']} revealed {reveal['revealed_at']} by {reveal['by']} "
            f"from IP hash {reveal['ip_hash'] or '-'}"
            for reveal in pack["reveals"]
        ),
    ]
    return "\n".join(lines) + "\n"
