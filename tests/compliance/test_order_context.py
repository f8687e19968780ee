import pytest
from django.urls import reverse

from compliance.models import OrderContext
from core.privacy import pii_hash
from shop.models import Order
from shop.signals import order_created
from tests.shop.factories import ProductFactory, stock_product

pytestmark = pytest.mark.django_db


def _checkout(client, product, **extra):
    return client.post(
        reverse("shop:checkout", kwargs={"slug": product.slug}),
        {"quantity": 1, "email": "buyer@example.com", "accept_terms": "on"},
        **extra,
    )


def test_the_checkout_keeps_only_the_hash_of_the_buyers_ip_address(client):
    product = stock_product(ProductFactory(), 3)

    response = _checkout(client, product, REMOTE_ADDR="203.0.113.77")

    order = Order.objects.get()
    assert response.status_code == 302
    context = OrderContext.objects.get(order=order)
    assert context.ip_hash == pii_hash("203.0.113.77")
    assert "203.0.113" not in context.ip_hash and len(context.ip_hash) == 32


def test_a_failing_receiver_does_not_fail_the_checkout(client):
    product = stock_product(ProductFactory(), 3)

    def broken(sender, **kwargs):
        raise RuntimeError("down")

    order_created.connect(broken)
    try:
        response = _checkout(client, product)
    finally:
        order_created.disconnect(broken)

    assert response.status_code == 302
    assert OrderContext.objects.filter(order=Order.objects.get()).exists()
