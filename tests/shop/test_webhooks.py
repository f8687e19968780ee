import json
import logging
import time

import pytest
from django.conf import settings
from django.urls import reverse

from shop.models import OrderEvent, Payment, StripeEvent
from shop.services.orders import order_create
from tests.shop.factories import ProductFactory, stock_product
from tests.support.stripe_events import sign_payload, stripe_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def order_with_payment():
    order, _token = order_create(
        email="buyer@example.com",
        product=stock_product(ProductFactory(price_minor=1500, currency="EUR"), 5),
        quantity=2,
        terms_version=settings.KEYSHOP_TERMS_VERSION,
        language="en",
    )
    Payment.objects.create(
        order=order,
        stripe_payment_intent_id="pi_test_123",
        client_secret="pi_test_123_secret_x",
        amount_minor=3000,
        currency="EUR",
    )
    return order


def _intent(status="succeeded", amount_received=3000, currency="eur", **extra):
    return {
        "id": "pi_test_123",
        "object": "payment_intent",
        "amount": 3000,
        "amount_received": amount_received,
        "currency": currency,
        "status": status,
        "metadata": {"order_id": "1"},
        "latest_charge": "ch_test_1" if status == "succeeded" else None,
        **extra,
    }


@pytest.fixture
def post_event(client, django_capture_on_commit_callbacks):
    """Post a signed event and run what the endpoint queued on commit (the processing task)."""

    def post(event: dict, *, secret=None, timestamp=None):
        payload = json.dumps(event).encode()
        signature = sign_payload(
            payload, secret=secret or settings.STRIPE_WEBHOOK_SECRET, timestamp=timestamp
        )
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                reverse("shop:stripe_webhook"),
                data=payload,
                content_type="application/json",
                headers={"Stripe-Signature": signature},
            )

    return post


def test_signed_succeeded_event_marks_the_order_paid(post_event, order_with_payment):
    response = post_event(stripe_event("payment_intent.succeeded", _intent()))

    order_with_payment.refresh_from_db()
    assert response.status_code == 200
    assert order_with_payment.paid_at is not None
    assert order_with_payment.events.filter(kind="paid", to_status="paid").count() == 1
    assert Payment.objects.get().status == "succeeded"
    assert StripeEvent.objects.get().outcome == "applied"


def test_forged_signature_is_refused_and_nothing_changes(post_event, order_with_payment):
    response = post_event(
        stripe_event("payment_intent.succeeded", _intent()), secret="whsec_forged"
    )

    order_with_payment.refresh_from_db()
    assert response.status_code == 400
    assert order_with_payment.status == "awaiting_payment"
    assert StripeEvent.objects.count() == 0


def test_stale_timestamp_is_refused(post_event, order_with_payment):
    stale = int(time.time()) - settings.STRIPE_WEBHOOK_TOLERANCE - 60

    response = post_event(stripe_event("payment_intent.succeeded", _intent()), timestamp=stale)

    assert response.status_code == 400
    assert StripeEvent.objects.count() == 0


def test_missing_signature_and_malformed_body_are_refused(client):
    no_header = client.post(
        reverse("shop:stripe_webhook"), data=b"{}", content_type="application/json"
    )
    malformed = client.post(
        reverse("shop:stripe_webhook"),
        data=b"not json",
        content_type="application/json",
        headers={
            "Stripe-Signature": sign_payload(b"not json", secret=settings.STRIPE_WEBHOOK_SECRET)
        },
    )

    assert (no_header.status_code, malformed.status_code) == (400, 400)
    assert StripeEvent.objects.count() == 0


def test_a_replayed_event_is_answered_and_does_nothing(post_event, order_with_payment):
    event = stripe_event("payment_intent.succeeded", _intent())

    answers = [post_event(event).status_code for _ in range(3)]

    assert answers == [200, 200, 200]
    assert StripeEvent.objects.count() == 1
    assert OrderEvent.objects.filter(order=order_with_payment, kind="paid").count() == 1


@pytest.mark.parametrize(
    ("amount_received", "currency"), [(2999, "eur"), (3000, "usd"), (30000, "eur")]
)
def test_amount_or_currency_mismatch_is_flagged_not_paid(
    post_event, order_with_payment, amount_received, currency
):
    post_event(
        stripe_event(
            "payment_intent.succeeded", _intent(amount_received=amount_received, currency=currency)
        ),
    )

    order_with_payment.refresh_from_db()
    assert order_with_payment.status == "awaiting_payment"
    assert Payment.objects.get().status == "mismatch"
    assert OrderEvent.objects.filter(order=order_with_payment, kind="payment_mismatch").exists()


def test_failed_payment_keeps_the_order_awaiting_payment(post_event, order_with_payment):
    failed = _intent(
        status="requires_payment_method",
        amount_received=0,
        last_payment_error={"message": "Your card was declined.", "code": "card_declined"},
    )

    post_event(stripe_event("payment_intent.payment_failed", failed))

    order_with_payment.refresh_from_db()
    assert order_with_payment.status == "awaiting_payment"
    assert Payment.objects.get().last_error == "Your card was declined."


def test_canceled_payment_cancels_the_order_and_returns_stock(post_event, order_with_payment):
    from tests.shop.factories import stock_of

    post_event(
        stripe_event("payment_intent.canceled", _intent(status="canceled", amount_received=0)),
    )

    order_with_payment.refresh_from_db()
    assert order_with_payment.status == "cancelled"
    assert stock_of(order_with_payment.lines.get().product) == 5


def test_unknown_event_type_is_answered_ignored_and_logged(post_event, caplog):
    with caplog.at_level(logging.INFO, logger="shop.services.webhooks"):
        response = post_event(
            stripe_event("customer.created", {"id": "cus_1", "object": "customer"})
        )

    assert response.status_code == 200
    assert StripeEvent.objects.get().outcome == "ignored"
    assert "customer.created has no handler; ignored" in caplog.text


def test_event_for_a_payment_that_is_not_ours_is_recorded(post_event):
    response = post_event(stripe_event("payment_intent.succeeded", _intent(id="pi_elsewhere")))

    assert response.status_code == 200
    assert StripeEvent.objects.get().outcome == "not our payment"
