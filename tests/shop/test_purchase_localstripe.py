"""Whole purchases against localstripe over HTTP, through the real stripe client.

localstripe delivers its own signed webhooks to a live server, so the webhook
path is exercised end to end, not simulated.
"""

import json
import time

import pytest
from django.conf import settings
from django.urls import reverse

from shop import stripe_gateway
from shop.models import Order, Payment
from shop.services.orders import order_create
from shop.services.payments import payment_start
from tests.shop.factories import ProductFactory, stock_product
from tests.support.localstripe import (
    CARD_3DS_REQUIRED,
    CARD_DECLINED,
    CARD_SUCCESS,
    card_token_create,
    payment_intent_authenticate,
    webhook_endpoint_register,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def webhooks_to(localstripe_server, live_server):
    """Point localstripe's webhooks at this test's live server; mute them afterwards."""

    def register(events=None):
        webhook_endpoint_register(
            localstripe_server,
            endpoint_id="keyshop",
            url=live_server.url + reverse("shop:stripe_webhook"),
            secret=settings.STRIPE_WEBHOOK_SECRET,
            events=events,
        )

    yield register
    register(events=["none"])


@pytest.fixture
def order_and_token():
    return order_create(
        email="buyer@example.com",
        product=stock_product(ProductFactory(price_minor=2599, currency="EUR"), 5),
        quantity=2,
        terms_version=settings.KEYSHOP_TERMS_VERSION,
        language="en",
    )


def _wait_for(condition, *, seconds=15.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def _paid(order: Order) -> bool:
    order.refresh_from_db()
    return order.paid_at is not None


def test_card_purchase_is_marked_paid_by_localstripes_signed_webhook(
    localstripe_server, webhooks_to, order_and_token
):
    webhooks_to()
    order, _token = order_and_token
    payment = payment_start(order=order)
    intent = stripe_gateway.payment_intent_retrieve(payment.stripe_payment_intent_id)
    assert (intent.amount_minor, intent.currency, intent.order_id) == (5198, "EUR", order.pk)

    # Paid at Stripe directly, so only the webhook can tell the shop.
    stripe_gateway.payment_intent_pay_with_card_token(
        payment_intent_id=payment.stripe_payment_intent_id,
        card_token=card_token_create(localstripe_server, CARD_SUCCESS),
        idempotency_key=f"test-{order.pk}",
        return_url="http://127.0.0.1/return",
    )

    assert _wait_for(lambda: _paid(order)), "the webhook never marked the order paid"
    payment.refresh_from_db()
    assert payment.status == "succeeded"


def test_declined_card_leaves_the_order_awaiting_payment_with_a_clear_message(
    client, localstripe_server, order_and_token
):
    order, token = order_and_token
    pay_url = reverse("shop:order_pay", kwargs={"number": order.number, "token": token})
    assert client.get(pay_url).status_code == 200

    response = client.post(
        pay_url + "card/",
        data=json.dumps({"token": card_token_create(localstripe_server, CARD_DECLINED)}),
        content_type="application/json",
    )

    order.refresh_from_db()
    assert response.status_code == 402
    assert response.json() == {"error": "Your card was declined."}
    assert (order.status, order.paid_at) == ("awaiting_payment", None)
    assert Payment.objects.get(order=order).last_error == "Your card was declined."


def test_card_form_pays_and_sends_the_buyer_to_the_order_page(
    client, localstripe_server, order_and_token
):
    order, token = order_and_token
    pay_url = reverse("shop:order_pay", kwargs={"number": order.number, "token": token})
    client.get(pay_url)

    response = client.post(
        pay_url + "card/",
        data=json.dumps({"token": card_token_create(localstripe_server, CARD_SUCCESS)}),
        content_type="application/json",
    )

    assert response.json() == {
        "redirect": reverse("shop:order", kwargs={"number": order.number, "token": token})
    }
    assert _paid(order)
    payment = Payment.objects.get(order=order)
    assert (payment.status, payment.card_country, len(payment.card_fingerprint)) == (
        "succeeded",
        "US",
        16,
    )


def test_the_return_page_alone_marks_the_order_paid(
    client, localstripe_server, webhooks_to, order_and_token
):
    webhooks_to(events=["none"])  # a lost webhook
    order, token = order_and_token
    pay_url = reverse("shop:order_pay", kwargs={"number": order.number, "token": token})
    client.get(pay_url)
    answer = client.post(
        pay_url + "card/",
        data=json.dumps({"token": card_token_create(localstripe_server, CARD_3DS_REQUIRED)}),
        content_type="application/json",
    ).json()
    assert answer["action"] == "authenticate"
    assert not _paid(order)
    payment_intent_authenticate(
        localstripe_server,
        payment_intent_id=Payment.objects.get(order=order).stripe_payment_intent_id,
        client_secret=answer["clientSecret"],
    )

    response = client.get(pay_url + "return/")

    assert response.status_code == 302
    assert response["Location"] == reverse(
        "shop:order", kwargs={"number": order.number, "token": token}
    )
    assert _paid(order)
