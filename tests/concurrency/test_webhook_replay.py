import json

import pytest
from django.conf import settings
from django.test import Client

from shop.models import OrderEvent, Payment, StripeEvent
from shop.services.orders import order_create
from tests.shop.factories import ProductFactory, stock_product
from tests.support.stripe_events import sign_payload, stripe_event

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _deliver(payload: bytes, signature: str) -> int:
    response = Client().post(
        "/stripe/webhook/",
        data=payload,
        content_type="application/json",
        headers={"Stripe-Signature": signature},
    )
    return response.status_code


def test_50_copies_of_one_event_in_parallel_have_one_effect(in_processes):
    order, _token = order_create(
        email="buyer@example.com",
        product=stock_product(ProductFactory(price_minor=1000), 5),
        quantity=1,
        terms_version=settings.KEYSHOP_TERMS_VERSION,
        language="en",
    )
    Payment.objects.create(
        order=order,
        stripe_payment_intent_id="pi_race",
        client_secret="s",
        amount_minor=1000,
        currency="EUR",
    )
    intent = {
        "id": "pi_race",
        "object": "payment_intent",
        "amount": 1000,
        "amount_received": 1000,
        "currency": "eur",
        "status": "succeeded",
        "metadata": {"order_id": str(order.pk)},
    }
    payload = json.dumps(stripe_event("payment_intent.succeeded", intent)).encode()
    signature = sign_payload(payload, secret=settings.STRIPE_WEBHOOK_SECRET)

    answers = in_processes(_deliver, [(payload, signature)] * 50, processes=16)

    order.refresh_from_db()
    assert answers == [200] * 50
    assert StripeEvent.objects.count() == 1
    assert order.paid_at is not None
    assert OrderEvent.objects.filter(order=order, kind="paid").count() == 1
