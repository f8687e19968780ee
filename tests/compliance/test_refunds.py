"""Refunds after delivery: staff requests, second approval, Stripe's answers, reconciliation."""

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from compliance.models import Refund, RefundEvent, RefundStatus
from compliance.services.refunds import (
    RefundApprovalRefused,
    refund_approve,
    refund_request,
    refunds_reconcile,
)
from core.errors import Conflict, InvalidInput
from core.models import AuditEntry, StaffAlert
from fulfillment.models import Code
from shop import stripe_gateway
from shop.models import Order, Payment, PaymentStatus
from shop.services.orders import order_create, order_mark_paid
from shop.services.payments import payment_pay_with_card
from shop.stripe_gateway import RefundInfo
from tests.compliance.conftest import staff_user
from tests.fulfillment.factories import codes_stock
from tests.shop.factories import ProductFactory
from tests.support.localstripe import CARD_SUCCESS, card_token_create
from tests.support.stripe_events import sign_payload, stripe_event

FINANCE = ("compliance.view_refund", "compliance.add_refund", "compliance.change_refund")


def delivered_order_paid_through_stripe(localstripe_server, *, price_minor=2599, quantity=2):
    """A real purchase against localstripe, delivered by the real pipeline."""
    product = ProductFactory(price_minor=price_minor, currency="EUR", max_per_order=5)
    codes_stock(product, quantity + 1)
    order, _token = order_create(
        email="buyer@example.com",
        product=product,
        quantity=quantity,
        terms_version=settings.KEYSHOP_TERMS_VERSION,
        language="en",
    )
    payment_pay_with_card(
        order=order,
        card_token=card_token_create(localstripe_server, CARD_SUCCESS),
        return_url="http://127.0.0.1/return",
    )
    order = Order.objects.get(pk=order.pk)
    assert order.status == "delivered"
    return order


def delivered_order(capture, *, price_minor=2599, quantity=2, intent_id="pi_test_refund"):
    """A delivered order with a succeeded payment row, without Stripe (webhook tests)."""
    product = ProductFactory(price_minor=price_minor, currency="EUR", max_per_order=5)
    codes_stock(product, quantity + 1)
    order, _token = order_create(
        email="buyer@example.com",
        product=product,
        quantity=quantity,
        terms_version=settings.KEYSHOP_TERMS_VERSION,
        language="en",
    )
    Payment.objects.create(
        order=order,
        stripe_payment_intent_id=intent_id,
        client_secret=f"{intent_id}_secret",
        amount_minor=order.total_minor,
        currency="EUR",
        status=PaymentStatus.SUCCEEDED,
    )
    with capture(execute=True):
        order_mark_paid(order_id=order.pk)
    order = Order.objects.get(pk=order.pk)
    assert order.status == "delivered"
    return order


def _codes(order):
    return list(Code.objects.filter(order_line__order=order).order_by("pk"))


def _statuses(order):
    return [code.status for code in _codes(order)]


@pytest.fixture
def post_event(client, django_capture_on_commit_callbacks):
    def post(event: dict):
        payload = json.dumps(event).encode()
        signature = sign_payload(payload, secret=settings.STRIPE_WEBHOOK_SECRET)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                reverse("shop:stripe_webhook"),
                data=payload,
                content_type="application/json",
                headers={"Stripe-Signature": signature},
            )
        assert response.status_code == 200
        return response

    return post


def _refund_json(refund_id, *, status, amount=5198, intent="pi_test_refund", failure=None):
    return {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "currency": "eur",
        "payment_intent": intent,
        "charge": "ch_test_1",
        "status": status,
        "reason": None,
        "failure_reason": failure,
    }


@pytest.fixture
def stripe_pending(monkeypatch):
    """Stripe accepts refunds but leaves them pending (as for some payment methods)."""
    calls = []

    def refund_create(*, payment_intent_id, amount_minor, idempotency_key, reason):
        calls.append(idempotency_key)
        return RefundInfo(
            id=f"re_{idempotency_key}",
            payment_intent_id=payment_intent_id,
            charge_id="ch_test_1",
            amount_minor=amount_minor,
            currency="EUR",
            status="pending",
            reason=reason,
            failure_reason=None,
        )

    monkeypatch.setattr(stripe_gateway, "refund_create", refund_create)
    return calls


# --- through localstripe ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_full_refund_through_stripe_revokes_the_codes_and_marks_the_order_refunded(
    localstripe_server,
):
    order = delivered_order_paid_through_stripe(localstripe_server)
    finance = staff_user("finance", *FINANCE)

    refund = refund_request(order_id=order.pk, reason="buyer cancelled", actor=finance)

    refund.refresh_from_db()
    order.refresh_from_db()
    assert (refund.status, refund.amount_minor, refund.currency) == ("succeeded", 5198, "EUR")
    assert (refund.whole_order, refund.requested_by, refund.approved_by) == (True, finance, finance)
    assert order.status == "refunded"
    assert _statuses(order) == ["revoked", "revoked"]
    stripe_refund = stripe_gateway.refund_retrieve(refund.stripe_refund_id)
    assert (stripe_refund.amount_minor, stripe_refund.status) == (5198, "succeeded")
    assert stripe_refund.payment_intent_id == order.payment.stripe_payment_intent_id
    assert list(refund.events.values_list("from_status", "to_status")) == [
        ("", "requested"),
        ("requested", "pending"),
        ("pending", "succeeded"),
    ]
    assert AuditEntry.objects.filter(action="refund.transition", obj_id=str(refund.pk)).count() == 3
    assert AuditEntry.objects.filter(action="code.revoke", obj_id=str(refund.pk)).exists()


@pytest.mark.django_db(transaction=True)
def test_refunding_one_code_revokes_only_it_and_marks_the_order_partially_refunded(
    localstripe_server,
):
    order = delivered_order_paid_through_stripe(localstripe_server)
    first, _second = _codes(order)

    refund = refund_request(
        order_id=order.pk, reason="code did not work", actor=None, code_ids=[first.pk]
    )

    order.refresh_from_db()
    assert (Refund.objects.get(pk=refund.pk).status, refund.amount_minor) == ("succeeded", 2599)
    assert order.status == "partially_refunded"
    assert _statuses(order) == ["revoked", "delivered"]
    # Refunding the same code again is refused; the rest of the order still can be.
    with pytest.raises(InvalidInput):
        refund_request(order_id=order.pk, reason="again", actor=None, code_ids=[first.pk])
    rest = refund_request(order_id=order.pk, reason="the rest", actor=None)
    order.refresh_from_db()
    assert (rest.amount_minor, order.status, _statuses(order)) == (
        2599,
        "refunded",
        ["revoked", "revoked"],
    )


@pytest.mark.django_db(transaction=True)
def test_a_large_refund_waits_for_a_second_member_of_staff(localstripe_server, settings):
    settings.KEYSHOP_REFUND_SECOND_APPROVAL_MINOR = 10000
    order = delivered_order_paid_through_stripe(localstripe_server, price_minor=6000)
    alice = staff_user("alice", *FINANCE)
    bob = staff_user("bob", *FINANCE)

    refund = refund_request(order_id=order.pk, reason="large goodwill refund", actor=alice)

    refund.refresh_from_db()
    order.refresh_from_db()
    assert (refund.status, refund.stripe_refund_id, refund.approved_by) == ("requested", "", None)
    assert (order.status, _statuses(order)) == ("delivered", ["delivered", "delivered"])

    with pytest.raises(RefundApprovalRefused):
        refund_approve(refund_id=refund.pk, actor=alice)
    refund.refresh_from_db()
    assert (refund.status, refund.approved_by, refund.events.count()) == ("requested", None, 1)

    refund_approve(refund_id=refund.pk, actor=bob)

    refund.refresh_from_db()
    order.refresh_from_db()
    assert (refund.status, refund.approved_by, refund.amount_minor) == ("succeeded", bob, 12000)
    assert (order.status, _statuses(order)) == ("refunded", ["revoked", "revoked"])
    # Approving again changes nothing and sends nothing.
    assert refund_approve(refund_id=refund.pk, actor=bob).status == "succeeded"
    assert refund.events.filter(to_status="pending").count() == 1


# --- Stripe's reports by webhook ------------------------------------------------------


@pytest.mark.django_db
def test_a_refund_stripe_reports_failed_is_shown_failed_and_the_codes_stay_delivered(
    django_capture_on_commit_callbacks, stripe_pending, post_event
):
    order = delivered_order(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        refund = refund_request(order_id=order.pk, reason="buyer asked", actor=None)
    refund.refresh_from_db()
    assert (refund.status, refund.stripe_refund_id) == ("pending", f"re_keyshop-refund-{refund.pk}")
    assert stripe_pending == [f"keyshop-refund-{refund.pk}"]

    post_event(
        stripe_event(
            "refund.failed",
            _refund_json(
                refund.stripe_refund_id, status="failed", failure="expired_or_canceled_card"
            ),
        )
    )
    # A late snapshot that still shows the refund pending, or a charge event, changes nothing.
    post_event(
        stripe_event("refund.updated", _refund_json(refund.stripe_refund_id, status="pending"))
    )

    refund.refresh_from_db()
    order.refresh_from_db()
    assert (refund.status, refund.failure_reason) == ("failed", "expired_or_canceled_card")
    assert (order.status, _statuses(order)) == ("delivered", ["delivered", "delivered"])
    # A failed refund no longer counts: the order can be refunded again.
    with django_capture_on_commit_callbacks(execute=True):
        again = refund_request(order_id=order.pk, reason="try again", actor=None)
    assert again.amount_minor == 5198


@pytest.mark.django_db
def test_a_refund_succeeded_by_webhook_revokes_the_codes_once(
    django_capture_on_commit_callbacks, stripe_pending, post_event
):
    order = delivered_order(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        refund = refund_request(order_id=order.pk, reason="buyer asked", actor=None)
    refund.refresh_from_db()
    succeeded = _refund_json(refund.stripe_refund_id, status="succeeded")

    post_event(stripe_event("refund.updated", succeeded))
    post_event(
        stripe_event(
            "charge.refunded",
            {"id": "ch_test_1", "object": "charge", "refunds": {"data": [succeeded]}},
        )
    )

    refund.refresh_from_db()
    order.refresh_from_db()
    assert (refund.status, order.status) == ("succeeded", "refunded")
    assert _statuses(order) == ["revoked", "revoked"]
    assert refund.events.filter(to_status="succeeded").count() == 1
    assert order.events.filter(to_status="refunded").count() == 1


@pytest.mark.django_db
def test_a_refund_event_that_is_not_ours_is_recorded_and_ignored(post_event):
    from shop.models import StripeEvent

    post_event(stripe_event("refund.updated", _refund_json("re_elsewhere", status="succeeded")))

    assert StripeEvent.objects.get().outcome == "not our refund"


@pytest.mark.django_db
def test_refunds_are_refused_for_undelivered_orders_and_without_a_reason(
    django_capture_on_commit_callbacks,
):
    order = delivered_order(django_capture_on_commit_callbacks)

    with pytest.raises(InvalidInput):
        refund_request(order_id=order.pk, reason="  ", actor=None)
    Order.objects.filter(pk=order.pk).update(status="paid")
    with pytest.raises(Conflict):
        refund_request(order_id=order.pk, reason="no", actor=None)

    assert Refund.objects.count() == 0


# --- reconciliation ----------------------------------------------------------------


def _retrieve_answering(monkeypatch, status, failure=None):
    def refund_retrieve(refund_id):
        return RefundInfo(
            id=refund_id,
            payment_intent_id="pi_test_refund",
            charge_id="ch_test_1",
            amount_minor=5198,
            currency="EUR",
            status=status,
            reason=None,
            failure_reason=failure,
        )

    monkeypatch.setattr(stripe_gateway, "refund_retrieve", refund_retrieve)


@pytest.mark.django_db
def test_reconciliation_marks_a_refund_failed_that_stripe_failed(
    django_capture_on_commit_callbacks, stripe_pending, monkeypatch
):
    order = delivered_order(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        refund = refund_request(order_id=order.pk, reason="buyer asked", actor=None)
    _retrieve_answering(monkeypatch, "failed", failure="lost_or_stolen_card")

    changed = refunds_reconcile()

    refund.refresh_from_db()
    order.refresh_from_db()
    assert (changed, refund.status, refund.failure_reason) == (1, "failed", "lost_or_stolen_card")
    assert (order.status, _statuses(order)) == ("delivered", ["delivered", "delivered"])


@pytest.mark.django_db
def test_reconciliation_completes_a_refund_stripe_finished_without_telling_us(
    django_capture_on_commit_callbacks, stripe_pending, monkeypatch
):
    order = delivered_order(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        refund = refund_request(order_id=order.pk, reason="buyer asked", actor=None)
    _retrieve_answering(monkeypatch, "pending")
    assert refunds_reconcile() == 0
    _retrieve_answering(monkeypatch, "succeeded")

    with django_capture_on_commit_callbacks(execute=True):
        changed = refunds_reconcile()

    refund.refresh_from_db()
    order.refresh_from_db()
    assert (changed, refund.status, order.status) == (1, "succeeded", "refunded")
    assert _statuses(order) == ["revoked", "revoked"]


@pytest.mark.django_db
def test_reconciliation_sends_again_a_refund_whose_answer_was_lost(
    django_capture_on_commit_callbacks, stripe_pending
):
    order = delivered_order(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False):
        refund = refund_request(order_id=order.pk, reason="buyer asked", actor=None)
    assert stripe_pending == []  # the task never ran
    assert refunds_reconcile() == 0  # too recent: maybe still in flight
    Refund.objects.filter(pk=refund.pk).update(updated_at=timezone.now() - timedelta(hours=1))

    refunds_reconcile(now=timezone.now())

    refund.refresh_from_db()
    assert stripe_pending == [f"keyshop-refund-{refund.pk}"]
    assert refund.stripe_refund_id == f"re_keyshop-refund-{refund.pk}"


@pytest.mark.django_db
def test_a_refund_failing_after_it_succeeded_is_shown_failed_and_alerts_staff(
    django_capture_on_commit_callbacks, stripe_pending, post_event
):
    order = delivered_order(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        refund = refund_request(order_id=order.pk, reason="buyer asked", actor=None)
    refund.refresh_from_db()
    post_event(
        stripe_event("refund.updated", _refund_json(refund.stripe_refund_id, status="succeeded"))
    )

    post_event(
        stripe_event("refund.failed", _refund_json(refund.stripe_refund_id, status="failed"))
    )

    refund.refresh_from_db()
    assert refund.status == "failed"
    assert StaffAlert.objects.filter(kind="refund_failed_after_success").exists()
    assert list(RefundEvent.objects.filter(refund=refund).values_list("to_status", flat=True)) == [
        RefundStatus.REQUESTED,
        RefundStatus.PENDING,
        RefundStatus.SUCCEEDED,
        RefundStatus.FAILED,
    ]
