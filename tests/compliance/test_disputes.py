"""Disputes and early fraud warnings, from signed webhooks; the evidence pack; the admin."""

import json

import pytest
from django.urls import reverse

from compliance.models import Dispute, Refund
from core.models import AuditEntry
from fulfillment.models import Code, CodeReveal
from shop.models import Order, StripeEvent
from tests.compliance.conftest import otp_login, staff_user
from tests.compliance.test_refunds import (  # noqa: F401  (post_event is a fixture)
    delivered_order,
    delivered_order_paid_through_stripe,
    post_event,
)
from tests.fulfillment.factories import code_plaintext
from tests.support.stripe_events import stripe_event


def _dispute(dispute_id="dp_test_1", *, status="needs_response", intent="pi_test_refund"):
    return {
        "id": dispute_id,
        "object": "dispute",
        "amount": 5198,
        "currency": "eur",
        "charge": "ch_test_1",
        "payment_intent": intent,
        "reason": "fraudulent",
        "status": status,
    }


def _efw(intent, *, actionable=True):
    return {
        "id": "issfr_test_1",
        "object": "radar.early_fraud_warning",
        "actionable": actionable,
        "charge": "ch_test_1",
        "fraud_type": "made_with_stolen_card",
        "payment_intent": intent,
    }


def _codes(order):
    return list(Code.objects.filter(order_line__order=order).order_by("pk"))


@pytest.fixture
def disputed(django_capture_on_commit_callbacks, post_event):  # noqa: F811
    """A delivered order of two codes, the first revealed by the buyer, then disputed."""
    order = delivered_order(django_capture_on_commit_callbacks)
    revealed, _unrevealed = _codes(order)
    CodeReveal.objects.create(code=revealed, ip_hash="a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6")
    post_event(stripe_event("charge.dispute.created", _dispute()))
    return order


@pytest.mark.django_db
def test_a_dispute_marks_the_order_disputed_and_revokes_only_unrevealed_codes(disputed):
    order = Order.objects.get(pk=disputed.pk)
    dispute = Dispute.objects.get()

    assert order.status == "disputed"
    assert [code.status for code in _codes(order)] == ["delivered", "revoked"]
    assert (dispute.order, dispute.status, dispute.reason, dispute.codes_revoked) == (
        order,
        "open",
        "fraudulent",
        1,
    )
    assert StripeEvent.objects.get().outcome == "dispute opened; 1 codes revoked"
    assert AuditEntry.objects.filter(action="dispute.open", obj_id=str(dispute.pk)).exists()


@pytest.mark.django_db
def test_a_replayed_dispute_changes_nothing(disputed, post_event):  # noqa: F811
    post_event(stripe_event("charge.dispute.created", _dispute()))

    assert Dispute.objects.count() == 1
    assert Order.objects.get(pk=disputed.pk).events.filter(to_status="disputed").count() == 1


@pytest.mark.django_db
def test_a_dispute_won_returns_the_order_to_delivered(disputed, post_event):  # noqa: F811
    post_event(stripe_event("charge.dispute.closed", _dispute(status="won")))

    order = Order.objects.get(pk=disputed.pk)
    assert (Dispute.objects.get().status, order.status) == ("won", "delivered")
    assert [code.status for code in _codes(order)] == ["delivered", "revoked"]


@pytest.mark.django_db
def test_a_dispute_lost_ends_the_order_refunded_and_revokes_its_codes(disputed, post_event):  # noqa: F811
    post_event(stripe_event("charge.dispute.closed", _dispute(status="lost")))
    post_event(stripe_event("charge.dispute.closed", _dispute(status="won")))  # too late

    order = Order.objects.get(pk=disputed.pk)
    dispute = Dispute.objects.get()
    assert (dispute.status, dispute.closed_at is not None, order.status) == (
        "lost",
        True,
        "refunded",
    )
    assert [code.status for code in _codes(order)] == ["revoked", "revoked"]


@pytest.mark.django_db
def test_a_dispute_on_a_payment_that_is_not_ours_is_recorded_and_ignored(post_event):  # noqa: F811
    post_event(stripe_event("charge.dispute.created", _dispute(intent="pi_elsewhere")))

    assert StripeEvent.objects.get().outcome == "not our payment"
    assert Dispute.objects.count() == 0


@pytest.mark.django_db
def test_the_evidence_pack_holds_the_reveals_and_no_code_or_email(disputed):
    from compliance.services.disputes import (
        dispute_evidence_pack,
        evidence_pack_json,
        evidence_pack_text,
    )

    pack = dispute_evidence_pack(dispute_id=Dispute.objects.get().pk)
    order = Order.objects.get(pk=disputed.pk)
    revealed = _codes(order)[0]

    assert pack["terms"]["version"] == order.terms_version
    assert pack["terms"]["accepted_at"] == order.terms_accepted_at.isoformat()
    assert pack["order"]["delivered_at"] == order.delivered_at.isoformat()
    assert [(r["code_ref"], r["ip_hash"], r["by"]) for r in pack["reveals"]] == [
        (revealed.pk, "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6", "buyer")
    ]
    for rendered in (evidence_pack_json(pack), evidence_pack_text(pack)):
        assert "buyer@example.com" not in rendered
        assert all(code_plaintext(code) not in rendered for code in _codes(order))
        assert "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6" in rendered


@pytest.mark.django_db
def test_staff_download_the_evidence_pack_from_the_admin(disputed, client):
    dispute = Dispute.objects.get()
    finance = staff_user("finance", "compliance.view_dispute")
    otp_login(client, finance)

    as_json = client.get(reverse("admin:compliance_dispute_evidence", args=[dispute.pk, "json"]))
    as_text = client.get(reverse("admin:compliance_dispute_evidence", args=[dispute.pk, "txt"]))
    page = client.get(reverse("admin:compliance_dispute_change", args=[dispute.pk]))

    assert (as_json.status_code, as_text.status_code, page.status_code) == (200, 200, 200)
    assert json.loads(as_json.content)["dispute"]["id"] == "dp_test_1"
    assert as_text["Content-Type"] == "text/plain; charset=utf-8"
    assert b"Terms version" in as_text.content
    assert AuditEntry.objects.filter(action="dispute.evidence_download").count() == 2


@pytest.mark.django_db
def test_staff_without_the_permission_cannot_download_the_evidence_pack(disputed, client):
    otp_login(client, staff_user("support", "shop.view_order"))

    response = client.get(
        reverse("admin:compliance_dispute_evidence", args=[Dispute.objects.get().pk, "json"])
    )

    assert response.status_code == 403
    assert not AuditEntry.objects.filter(action="dispute.evidence_download").exists()


# --- early fraud warnings ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_actionable_early_fraud_warning_refunds_the_order_and_revokes_its_codes(
    localstripe_server,
    post_event,  # noqa: F811
):
    from shop import stripe_gateway

    order = delivered_order_paid_through_stripe(localstripe_server)
    intent = order.payment.stripe_payment_intent_id

    post_event(stripe_event("radar.early_fraud_warning.created", _efw(intent)))

    order.refresh_from_db()
    refund = Refund.objects.get(order=order)
    assert (order.status, refund.status, refund.source, refund.amount_minor) == (
        "refunded",
        "succeeded",
        "early_fraud_warning",
        5198,
    )
    assert (refund.requested_by, refund.approved_by) == (None, None)
    assert [code.status for code in _codes(order)] == ["revoked", "revoked"]
    stripe_refund = stripe_gateway.refund_retrieve(refund.stripe_refund_id)
    assert (stripe_refund.status, stripe_refund.reason) == ("succeeded", "fraudulent")
    assert AuditEntry.objects.filter(
        action="order.early_fraud_warning", obj_id=str(order.pk)
    ).exists()

    # The same warning again (another event id) refunds nothing more.
    post_event(stripe_event("radar.early_fraud_warning.created", _efw(intent)))
    assert Refund.objects.filter(order=order).count() == 1


@pytest.mark.django_db
def test_an_early_fraud_warning_that_is_not_actionable_changes_nothing(
    django_capture_on_commit_callbacks,
    post_event,  # noqa: F811
):
    order = delivered_order(django_capture_on_commit_callbacks)

    post_event(
        stripe_event("radar.early_fraud_warning.created", _efw("pi_test_refund", actionable=False))
    )

    order.refresh_from_db()
    assert (order.status, StripeEvent.objects.get().outcome) == ("delivered", "not actionable")
    assert [code.status for code in _codes(order)] == ["delivered", "delivered"]
    assert Refund.objects.count() == 0


# --- the refund admin ------------------------------------------------------------------


@pytest.mark.django_db
def test_staff_request_a_large_refund_in_the_admin_and_another_approves_it(
    django_capture_on_commit_callbacks, client, settings, monkeypatch
):
    from shop import stripe_gateway
    from shop.stripe_gateway import RefundInfo

    sent = []
    monkeypatch.setattr(
        stripe_gateway,
        "refund_create",
        lambda **kw: (
            sent.append(kw)
            or RefundInfo(
                id="re_admin_1",
                payment_intent_id=kw["payment_intent_id"],
                charge_id=None,
                amount_minor=kw["amount_minor"],
                currency="EUR",
                status="succeeded",
                reason=None,
                failure_reason=None,
            )
        ),
    )
    settings.KEYSHOP_REFUND_SECOND_APPROVAL_MINOR = 3000
    order = delivered_order(django_capture_on_commit_callbacks)
    perms = ("compliance.view_refund", "compliance.add_refund", "compliance.change_refund")
    alice, bob = staff_user("alice", *perms), staff_user("bob", *perms)

    otp_login(client, alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:compliance_refund_add"),
            {"order_number": order.number, "code_ids": "", "reason": "goodwill"},
        )
    refund = Refund.objects.get()
    assert response.status_code == 302
    assert (refund.status, refund.requested_by, sent) == ("requested", alice, [])
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:compliance_refund_changelist"),
            {"action": "approve", "_selected_action": [refund.pk]},
        )
    refund.refresh_from_db()
    assert refund.status == "requested"  # the same person cannot approve

    client.logout()
    otp_login(client, bob)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:compliance_refund_changelist"),
            {"action": "approve", "_selected_action": [refund.pk]},
        )

    refund.refresh_from_db()
    order.refresh_from_db()
    assert (refund.status, refund.approved_by, order.status) == ("succeeded", bob, "refunded")
    assert sent[0]["idempotency_key"] == f"keyshop-refund-{refund.pk}"
    assert (
        client.get(reverse("admin:compliance_refund_change", args=[refund.pk])).status_code == 200
    )


@pytest.mark.django_db
def test_the_refund_admin_form_explains_a_refusal_and_stores_nothing(
    django_capture_on_commit_callbacks, client
):
    order = delivered_order(django_capture_on_commit_callbacks)
    otp_login(client, staff_user("alice", "compliance.view_refund", "compliance.add_refund"))

    unknown = client.post(
        reverse("admin:compliance_refund_add"),
        {"order_number": "KS-NOPE", "code_ids": "", "reason": "x"},
    )
    foreign_code = client.post(
        reverse("admin:compliance_refund_add"),
        {"order_number": order.number, "code_ids": "999999", "reason": "x"},
    )

    assert unknown.status_code == foreign_code.status_code == 200
    assert "No order has this number." in unknown.content.decode()
    assert "Choose delivered codes of this order." in foreign_code.content.decode()
    assert Refund.objects.count() == 0
