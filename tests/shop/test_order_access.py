import re

import pytest
from django.conf import settings
from django.core import mail
from django.urls import reverse

from shop.services.orders import order_create
from tests.shop.factories import ProductFactory, stock_product

pytestmark = pytest.mark.django_db

SAME_ANSWER = "If that order number belongs to that email address, we have sent the link to it."


@pytest.fixture
def order_and_token():
    return order_create(
        email="Buyer@Example.com",
        product=stock_product(ProductFactory(), 5),
        quantity=1,
        terms_version=settings.KEYSHOP_TERMS_VERSION,
        language="en",
    )


def _order_url(order, token):
    return reverse("shop:order", kwargs={"number": order.number, "token": token})


def test_order_page_opens_with_its_token(client, order_and_token):
    order, token = order_and_token

    response = client.get(_order_url(order, token))

    assert response.status_code == 200
    assert order.number in response.content.decode()
    assert response.headers["Referrer-Policy"] == "same-origin"


@pytest.mark.parametrize("which", ["forged token", "other order's token", "unknown number"])
def test_a_wrong_link_finds_nothing(client, order_and_token, which):
    order, token = order_and_token
    _other, other_token = order_create(
        email="other@example.com",
        product=stock_product(ProductFactory(), 5),
        quantity=1,
        terms_version=settings.KEYSHOP_TERMS_VERSION,
        language="en",
    )
    url = {
        "forged token": _order_url(order, "A" * 43),
        "other order's token": _order_url(order, other_token),
        "unknown number": _order_url(type(order)(number="KS-NOPE"), token),
    }[which]

    for suffix in ("", "status/", "pay/"):
        assert client.get(url + suffix).status_code == 404


def test_find_my_order_sends_a_working_link_to_the_matching_email(client, order_and_token):
    order, _token = order_and_token

    response = client.post(
        reverse("shop:order_lookup"),
        {"email": "buyer@example.com", "number": order.number.lower()},
        follow=True,
    )

    assert SAME_ANSWER in response.content.decode()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["Buyer@Example.com"]
    link = re.search(r"http://\S+/orders/\S+/", mail.outbox[0].body).group(0)
    assert client.get(link.removeprefix(settings.SITE_URL)).status_code == 200


def test_find_my_order_answers_the_same_when_nothing_matches(client, order_and_token):
    order, _token = order_and_token

    wrong_email = client.post(
        reverse("shop:order_lookup"),
        {"email": "x@example.com", "number": order.number},
        follow=True,
    )
    wrong_number = client.post(
        reverse("shop:order_lookup"), {"email": "buyer@example.com", "number": "KS-X"}, follow=True
    )

    assert SAME_ANSWER in wrong_email.content.decode()
    assert SAME_ANSWER in wrong_number.content.decode()
    assert mail.outbox == []


def test_find_my_order_is_rate_limited(client, order_and_token, settings):
    order, _token = order_and_token
    settings.KEYSHOP_LOOKUP_LIMIT_PER_HOUR = 3
    url = reverse("shop:order_lookup")

    answers = [
        client.post(url, {"email": f"guess{i}@example.com", "number": order.number}).status_code
        for i in range(5)
    ]

    assert answers == [302, 302, 302, 429, 429]
