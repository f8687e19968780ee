from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from compliance.models import (
    BlocklistKind,
    Decision,
    OrderReview,
    OrderReviewEvent,
    ReviewStatus,
    ScreeningDecision,
    ScreeningRule,
)
from compliance.services.reviews import order_review_approve, stripe_review_closed
from compliance.services.screening import (
    blocklist_entry_add,
    email_domain_is_disposable,
    order_context_record,
    order_screen,
)
from core.errors import IllegalTransition, InvalidInput
from core.models import StaffAlert
from core.privacy import pii_hash
from fulfillment.models import Code, StockLevel
from fulfillment.services.delivery import order_deliver
from shop.models import Order, Payment, PaymentStatus, StripeEvent
from shop.services.orders import order_create, order_mark_paid
from tests.fulfillment.factories import codes_stock
from tests.shop.factories import ProductFactory, stock_product

pytestmark = pytest.mark.django_db

_intents = iter(range(1, 10**6))


def _paid(
    email="buyer@example.com",
    *,
    product=None,
    quantity=1,
    ip="203.0.113.7",
    fingerprint="",
    country="",
    risk="",
    capture=None,
):
    """A paid order with its payment details and hashed IP; delivered only when ``capture``."""
    product = product or stock_product(ProductFactory(), 10)
    order, _token = order_create(
        email=email,
        product=product,
        quantity=quantity,
        terms_version=settings.KEYSHOP_TERMS_VERSION,
        language="en",
    )
    order_context_record(order_id=order.pk, ip_hash=pii_hash(ip) if ip else "")
    Payment.objects.create(
        order=order,
        stripe_payment_intent_id=f"pi_screening_{next(_intents)}",
        client_secret="secret",
        amount_minor=order.total_minor,
        currency=order.currency,
        status=PaymentStatus.SUCCEEDED,
        card_fingerprint=fingerprint,
        card_country=country,
        risk_level=risk,
    )
    if capture is None:
        order_mark_paid(order_id=order.pk)
    else:
        with capture(execute=True):
            order_mark_paid(order_id=order.pk)
    return Order.objects.get(pk=order.pk)


def _rules_fired(order) -> list[str]:
    return [reason["rule"] for reason in order_screen(order=order).reasons]


def _block(kind, value, days=30):
    return blocklist_entry_add(
        kind=kind,
        value=value,
        reason="chargebacks in October",
        expires_at=timezone.now() + timedelta(days=days),
        actor=None,
    )


def test_a_clean_order_triggers_no_rule_and_is_delivered():
    order = _paid(fingerprint="fp_clean", country="DE", risk="normal")

    screening = order_screen(order=order)

    assert (screening.score, screening.reasons, screening.decision) == (0, [], Decision.DELIVER)


def test_email_velocity_counts_paid_orders_per_email_whatever_its_case():
    for _ in range(3):
        last = _paid("Repeat@Example.com")
    assert _rules_fired(last) == []

    fourth = _paid("repeat@example.com")

    screening = order_screen(order=fourth)
    assert screening.reasons == [
        {"rule": "email_velocity", "points": 50, "params": {"count": 4, "hours": 24, "limit": 3}}
    ]
    assert screening.decision == Decision.HOLD


def test_ip_velocity_counts_paid_orders_per_hashed_ip_address():
    for n in range(5):
        last = _paid(f"buyer{n}@example.com", ip="198.51.100.9")
    assert _rules_fired(last) == []

    sixth = _paid("buyer6@example.com", ip="198.51.100.9")

    assert _rules_fired(sixth) == ["ip_velocity"]
    assert _rules_fired(_paid("other@example.com", ip="198.51.100.10")) == []


def test_card_velocity_counts_paid_orders_per_stripe_card_fingerprint():
    for n in range(3):
        _paid(f"card{n}@example.com", fingerprint="fp_same")

    assert _rules_fired(_paid("card4@example.com", fingerprint="fp_same")) == ["card_velocity"]
    assert _rules_fired(_paid("card5@example.com", fingerprint="fp_other")) == []


def test_velocity_only_counts_orders_paid_inside_the_window():
    for _ in range(3):
        old = _paid("window@example.com")
        Order.objects.filter(pk=old.pk).update(paid_at=timezone.now() - timedelta(hours=25))

    assert _rules_fired(_paid("window@example.com")) == []


def test_a_first_order_above_the_amount_triggers_but_not_for_a_returning_buyer():
    product = stock_product(ProductFactory(price_minor=8000, currency="EUR"), 10)

    big_first = _paid("new@example.com", product=product, quantity=2)
    assert _rules_fired(big_first) == ["first_order_amount"]
    Order.objects.filter(pk=big_first.pk).update(delivered_at=timezone.now())
    assert _rules_fired(_paid("new@example.com", product=product, quantity=2)) == []
    assert _rules_fired(_paid("small@example.com", product=product, quantity=1)) == []


def test_the_first_order_limit_is_per_currency():
    product = stock_product(ProductFactory(price_minor=20000, currency="CNY"), 10)

    assert _rules_fired(_paid("yuan@example.com", product=product)) == []
    ScreeningRule.objects.filter(kind="first_order_amount", currency="CNY").update(threshold=100)
    assert _rules_fired(_paid("yuan2@example.com", product=product)) == ["first_order_amount"]


def test_disposable_email_domains_come_from_the_maintained_list():
    assert email_domain_is_disposable("someone@mailinator.com")
    assert email_domain_is_disposable("someone@inbox.mailinator.com")
    assert not email_domain_is_disposable("someone@gmail.com")
    assert not email_domain_is_disposable("someone@example.com")

    assert _rules_fired(_paid("throwaway@mailinator.com")) == ["disposable_email"]


@pytest.mark.parametrize(
    ("kind", "value", "order_fields"),
    [
        (BlocklistKind.EMAIL, "Fraud@Example.com", {"email": "fraud@example.com"}),
        (BlocklistKind.EMAIL_WILDCARD, "*@bad.example", {"email": "anyone@bad.example"}),
        (BlocklistKind.IP, "192.0.2.66", {"ip": "192.0.2.66"}),
        (BlocklistKind.COUNTRY, "xx", {"country": "XX"}),
    ],
)
def test_each_kind_of_blocklist_entry_refuses_its_case(kind, value, order_fields):
    entry = _block(kind, value)
    fields = {"email": "clean@example.com", **order_fields}

    screening = order_screen(order=_paid(**fields))

    assert screening.reasons == [
        {"rule": "blocklist", "points": 100, "params": {"kind": kind, "entry": entry.pk}}
    ]
    assert screening.decision == Decision.REFUSE
    assert _rules_fired(_paid("clean2@example.com", ip="192.0.2.1", country="DE")) == []


def test_an_ip_address_is_blocklisted_only_as_its_hash():
    entry = _block(BlocklistKind.IP, "192.0.2.66")

    assert entry.value == pii_hash("192.0.2.66") and "192.0.2" not in entry.value


def test_an_expired_blocklist_entry_no_longer_matches():
    entry = _block(BlocklistKind.EMAIL, "late@example.com")
    type(entry).objects.filter(pk=entry.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert _rules_fired(_paid("late@example.com")) == []


def test_a_blocklist_entry_needs_a_reason_and_a_future_expiry():
    with pytest.raises(InvalidInput):
        blocklist_entry_add(
            kind="email",
            value="a@example.com",
            reason=" ",
            expires_at=timezone.now() + timedelta(days=1),
            actor=None,
        )
    with pytest.raises(InvalidInput):
        blocklist_entry_add(
            kind="email", value="a@example.com", reason="r", expires_at=timezone.now(), actor=None
        )


@pytest.mark.parametrize(
    ("risk", "rule", "decision"),
    [("elevated", "radar_elevated", Decision.HOLD), ("highest", "radar_highest", Decision.REFUSE)],
)
def test_stripe_radar_risk_level_is_scored_when_present(risk, rule, decision):
    screening = order_screen(order=_paid(risk=risk))

    assert [reason["rule"] for reason in screening.reasons] == [rule]
    assert screening.decision == decision


def test_a_rule_switched_off_by_staff_does_not_trigger():
    ScreeningRule.objects.filter(kind="disposable_email").update(is_active=False)

    assert _rules_fired(_paid("throwaway@mailinator.com")) == []


def test_a_held_order_delivers_nothing_until_approved(officer, django_capture_on_commit_callbacks):
    product = ProductFactory()
    codes_stock(product, 3)

    order = _paid(
        "throwaway@mailinator.com", product=product, capture=django_capture_on_commit_callbacks
    )

    review = OrderReview.objects.get(order=order)
    assert (order.status, review.status) == ("held", ReviewStatus.PENDING)
    assert not Code.objects.filter(order_line__order=order).exists()
    assert order.holds_reservation is True
    assert StockLevel.objects.get(product=product).units_held == 1
    assert order_deliver(order_id=order.pk).status == "held"
    assert not Code.objects.filter(order_line__order=order).exists()

    with django_capture_on_commit_callbacks(execute=True):
        order_review_approve(order_id=order.pk, actor=officer, note="known customer")

    order.refresh_from_db()
    review.refresh_from_db()
    assert (order.status, review.status, review.closed_by) == ("delivered", "approved", officer)
    assert Code.objects.filter(order_line__order=order).count() == 1
    assert StockLevel.objects.get(product=product).units_held == 0
    assert list(review.events.values_list("from_status", "to_status", "source")) == [
        ("", "pending", "screening"),
        ("pending", "approved", "staff"),
    ]


def test_screening_runs_once_per_order_and_every_decision_is_stored(
    django_capture_on_commit_callbacks,
):
    product = ProductFactory()
    codes_stock(product, 2)

    order = _paid(product=product, capture=django_capture_on_commit_callbacks)
    order_deliver(order_id=order.pk)

    decision = ScreeningDecision.objects.get(order=order)
    assert (decision.decision, decision.score, decision.reasons) == ("deliver", 0, [])
    assert Order.objects.get(pk=order.pk).status == "delivered"


def test_an_approved_review_cannot_be_refused_afterwards(
    officer, django_capture_on_commit_callbacks
):
    from compliance.services.reviews import order_review_refuse

    codes_stock(product := ProductFactory(), 1)
    order = _paid("x@mailinator.com", product=product, capture=django_capture_on_commit_callbacks)
    order_review_approve(order_id=order.pk, actor=officer)

    with pytest.raises(IllegalTransition):
        order_review_refuse(order_id=order.pk, actor=officer, note="changed my mind")
    with pytest.raises(InvalidInput):
        order_review_refuse(order_id=order.pk, actor=officer, note="")


def test_a_refusal_that_cannot_refund_alerts_staff_and_leaves_the_order_held(
    django_capture_on_commit_callbacks,
):
    product = ProductFactory()
    codes_stock(product, 1)
    _block(BlocklistKind.EMAIL, "fraud@example.com")
    order = _paid("fraud@example.com", product=product)
    Payment.objects.filter(order=order).update(status=PaymentStatus.PENDING)  # nothing to refund

    with django_capture_on_commit_callbacks(execute=True):
        order_deliver(order_id=order.pk)

    order.refresh_from_db()
    assert (order.status, order.review.status) == ("held", ReviewStatus.REFUSING)
    assert StaffAlert.objects.get(kind="refusal_stuck").subject == f"order {order.pk}"
    assert not Code.objects.filter(order_line__order=order).exists()


def test_a_refusal_stuck_half_way_is_queued_again(django_capture_on_commit_callbacks):
    from compliance.services.reviews import order_reviews_refusing_requeue

    product = ProductFactory()
    codes_stock(product, 1)
    _block(BlocklistKind.EMAIL, "fraud@example.com")
    order = _paid("fraud@example.com", product=product)
    order_deliver(order_id=order.pk)  # held, refusing; its refund task was never run
    now = timezone.now()

    assert order_reviews_refusing_requeue(now=now) == 0
    Payment.objects.filter(order=order).update(status=PaymentStatus.PENDING)
    assert order_reviews_refusing_requeue(now=now + timedelta(minutes=11)) == 1

    assert StaffAlert.objects.get(kind="refusal_stuck").subject == f"order {order.pk}"


def _radar_event(order, reason) -> StripeEvent:
    return StripeEvent.objects.create(
        event_id=f"evt_{order.pk}_{reason}",
        type="review.closed",
        payload={
            "object": {
                "id": "prv_1",
                "object": "review",
                "open": False,
                "closed_reason": reason,
                "reason": reason,
                "payment_intent": order.payment.stripe_payment_intent_id,
            }
        },
    )


def test_a_radar_review_approved_at_stripe_releases_the_held_order(
    django_capture_on_commit_callbacks,
):
    product = ProductFactory()
    codes_stock(product, 1)
    order = _paid("x@mailinator.com", product=product, capture=django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        outcome = stripe_review_closed(_radar_event(order, "approved"))

    order.refresh_from_db()
    assert (outcome, order.status, order.review.status) == ("approved", "delivered", "approved")
    assert OrderReviewEvent.objects.filter(source="stripe_radar").count() == 1


def test_a_radar_review_refunded_at_stripe_refuses_without_a_second_refund(
    django_capture_on_commit_callbacks,
):
    product = ProductFactory()
    codes_stock(product, 1)
    order = _paid("x@mailinator.com", product=product, capture=django_capture_on_commit_callbacks)

    outcome = stripe_review_closed(_radar_event(order, "refunded_as_fraud"))

    order.refresh_from_db()
    assert (outcome, order.status, order.review.status) == ("refused", "refunded", "refused")
    assert order.review.stripe_refund_id == ""
    assert order.holds_reservation is False
    assert StockLevel.objects.get(product=product).units_held == 0
    assert not Code.objects.filter(order_line__order=order).exists()


def test_a_radar_review_of_an_order_we_did_not_hold_changes_nothing(
    django_capture_on_commit_callbacks,
):
    product = ProductFactory()
    codes_stock(product, 1)
    order = _paid(product=product, capture=django_capture_on_commit_callbacks)

    assert stripe_review_closed(_radar_event(order, "approved")) == "order not held (approved)"
    assert Order.objects.get(pk=order.pk).status == "delivered"


def test_reseller_orders_are_recorded_but_never_held_by_the_card_buyer_rules(
    django_capture_on_commit_callbacks,
):
    from shop.services.resellers import OrderLineRequest, reseller_order_place
    from tests.shop.api.factories import ResellerFactory, fund

    reseller = ResellerFactory(contact_email="orders@mailinator.com")
    product = ProductFactory(price_minor=1000)
    codes_stock(product, 5)
    fund(reseller, 5000)

    for n in range(5):  # disposable domain, and 5 orders from one email in a day
        with django_capture_on_commit_callbacks(execute=True):
            reseller_order_place(
                reseller=reseller,
                idempotency_key=f"k{n}",
                lines=[OrderLineRequest(product_id=product.pk, quantity=1)],
            )

    orders = Order.objects.filter(reseller=reseller)
    assert sorted(set(orders.values_list("status", flat=True))) == ["delivered"]
    last = ScreeningDecision.objects.get(order=orders.order_by("-pk").first())
    assert (last.decision, last.score) == ("deliver", 0)
    assert last.reasons == [{"rule": "reseller_order", "points": 0, "params": {"score": 100}}]


def test_a_late_payment_waiting_for_stock_is_screened_before_delivery(
    django_capture_on_commit_callbacks,
):
    blocklist_entry_add(
        kind=BlocklistKind.EMAIL_WILDCARD,
        value="*@blocked.example",
        reason="Chargebacks from this domain.",
        expires_at=timezone.now() + timedelta(days=30),
        actor=None,
    )
    product = ProductFactory()
    codes_stock(product, 1)
    order, _token = order_create(
        email="late@blocked.example", product=product, quantity=1,
        terms_version=settings.KEYSHOP_TERMS_VERSION, language="en",
    )  # fmt: skip
    Order.objects.filter(pk=order.pk).update(status="expired")
    StockLevel.objects.filter(product=product).update(codes_available=0, units_held=0)
    order_mark_paid(order_id=order.pk)  # no stock left: straight to awaiting stock
    StockLevel.objects.filter(product=product).update(codes_available=1)

    result = order_deliver(order_id=order.pk)

    assert result.status == "held"
    assert ScreeningDecision.objects.get(order=order).decision != Decision.DELIVER
    assert not Code.objects.filter(order_line__order=order).exists()
