"""Refusals refund through Stripe: the real client against localstripe over HTTP."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from compliance.models import BlocklistKind, OrderReview, ReviewStatus
from compliance.services.reviews import order_review_refuse
from compliance.services.screening import blocklist_entry_add
from fulfillment.models import Code, StockLevel
from shop import stripe_gateway
from shop.models import Order, OrderEvent
from shop.services.orders import order_create
from shop.services.payments import payment_pay_with_card
from tests.compliance.conftest import staff_user
from tests.fulfillment.factories import codes_stock
from tests.shop.factories import ProductFactory
from tests.support.localstripe import CARD_RISK_ELEVATED, CARD_SUCCESS, card_token_create

# transaction=True: orders and payments commit, so on-commit hand-offs run as in
# production, and primary keys (in idempotency keys) are never reused across tests.
pytestmark = pytest.mark.django_db(transaction=True)


def _pay(localstripe_server, card, email="buyer@example.com"):
    product = ProductFactory(price_minor=2599, currency="EUR")
    codes_stock(product, 3)
    order, _token = order_create(
        email=email,
        product=product,
        quantity=2,
        terms_version=settings.KEYSHOP_TERMS_VERSION,
        language="en",
    )
    payment_pay_with_card(
        order=order,
        card_token=card_token_create(localstripe_server, card),
        return_url="http://127.0.0.1/return",
    )
    return Order.objects.get(pk=order.pk), product


def _counters(product):
    level = StockLevel.objects.get(product=product)
    return level.codes_available, level.units_held


def test_a_refused_order_is_refunded_through_stripe_and_its_stock_returns(localstripe_server):
    order, product = _pay(localstripe_server, CARD_RISK_ELEVATED)
    assert (order.status, order.payment.risk_level) == ("held", "elevated")
    assert _counters(product) == (3, 2)
    officer = staff_user("officer", "compliance.review_order")

    review = order_review_refuse(order_id=order.pk, actor=officer, note="card tester pattern")

    order.refresh_from_db()
    assert (order.status, order.holds_reservation) == ("refunded", False)
    assert (review.status, review.closed_by, review.note) == (
        ReviewStatus.REFUSED,
        officer,
        "card tester pattern",
    )
    refund = stripe_gateway.refund_retrieve(review.stripe_refund_id)
    assert (refund.amount_minor, refund.currency, refund.status) == (5198, "EUR", "succeeded")
    assert refund.payment_intent_id == order.payment.stripe_payment_intent_id
    assert _counters(product) == (3, 0)
    assert not Code.objects.filter(order_line__order=order).exists()
    assert OrderEvent.objects.filter(order=order, kind="review_refused", actor=officer).exists()


def test_refusing_again_refunds_nothing_more(localstripe_server):
    order, _product = _pay(localstripe_server, CARD_RISK_ELEVATED)
    first = order_review_refuse(order_id=order.pk, actor=None, note="fraud")

    again = order_review_refuse(order_id=order.pk, actor=None, note="fraud")

    assert again.stripe_refund_id == first.stripe_refund_id
    assert OrderReview.objects.get(order=order).events.filter(to_status="refused").count() == 1


def test_an_interrupted_refusal_is_finished_by_running_it_again(localstripe_server):
    order, product = _pay(localstripe_server, CARD_RISK_ELEVATED)
    # A first run got as far as Stripe's refund, then its process died.
    OrderReview.objects.filter(order=order).update(status=ReviewStatus.REFUSING)
    payment = order.payment
    stripe_gateway.refund_create(
        payment_intent_id=payment.stripe_payment_intent_id,
        amount_minor=None,
        idempotency_key=f"keyshop-order-{order.pk}-review-refund-{payment.stripe_payment_intent_id}",
        reason="fraudulent",
    )

    review = order_review_refuse(order_id=order.pk, actor=None, note="fraud")

    order.refresh_from_db()
    assert (order.status, review.status) == ("refunded", ReviewStatus.REFUSED)
    assert _counters(product) == (3, 0)


def test_a_blocklisted_buyer_is_refused_and_refunded_without_a_person(localstripe_server):
    blocklist_entry_add(
        kind=BlocklistKind.EMAIL,
        value="fraud@example.com",
        reason="stolen cards in October",
        expires_at=timezone.now() + timedelta(days=30),
        actor=None,
    )

    order, product = _pay(localstripe_server, CARD_SUCCESS, email="fraud@example.com")

    assert order.status == "refunded"
    assert order.review.status == ReviewStatus.REFUSED and order.review.stripe_refund_id
    assert _counters(product) == (3, 0)
    assert not Code.objects.filter(order_line__order=order).exists()
