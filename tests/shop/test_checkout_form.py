import pytest
from django.urls import reverse

from shop.models import Order
from tests.shop.factories import ProductFactory, stock_of, stock_product

pytestmark = pytest.mark.django_db

GOOD = {"quantity": "2", "email": "buyer@example.com", "accept_terms": "on"}


def _post(client, product, **changes):
    data = {**GOOD, **changes}
    data = {key: value for key, value in data.items() if value is not None}
    return client.post(reverse("shop:checkout", kwargs={"slug": product.slug}), data)


def test_checkout_creates_the_order_and_goes_to_payment(client):
    product = stock_product(ProductFactory(price_minor=1000), 10)

    response = _post(client, product)

    order = Order.objects.get()
    assert response.status_code == 302
    assert response["Location"].startswith(f"/orders/{order.number}/")
    assert response["Location"].endswith("/pay/")
    assert (order.email, order.total_minor, stock_of(product)) == ("buyer@example.com", 2000, 8)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"quantity": "0"}, "You can buy 1 to 5 per order."),
        ({"quantity": "-3"}, "You can buy 1 to 5 per order."),
        ({"quantity": "6"}, "You can buy 1 to 5 per order."),
        ({"quantity": "two"}, "Enter a whole number."),
        ({"email": "not-an-email"}, "Enter a valid email address."),
        ({"accept_terms": None}, "Please accept the terms of sale to continue."),
    ],
)
def test_bad_checkout_input_gives_a_clear_error_and_no_order(client, changes, message):
    product = stock_product(ProductFactory(max_per_order=5), 10)

    response = _post(client, product, **changes)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert Order.objects.count() == 0
    assert stock_of(product) == 10


def test_a_tampered_price_field_is_ignored(client):
    product = stock_product(ProductFactory(price_minor=4999), 10)

    _post(client, product, price_minor="1", total="1", unit_price_minor="1")

    assert Order.objects.get().total_minor == 2 * 4999


def test_sold_out_gives_a_clean_answer(client):
    product = stock_product(ProductFactory(), 1)

    response = _post(client, product)

    assert response.status_code == 400
    assert "Sorry, that is sold out." in response.content.decode()
    assert Order.objects.count() == 0


def test_product_page_offers_the_checkout_form_only_in_stock(client):
    in_stock = stock_product(ProductFactory(), 3)
    sold_out = stock_product(ProductFactory(), 0)

    assert "Buy now" in client.get(in_stock.get_absolute_url()).content.decode()
    assert "Buy now" not in client.get(sold_out.get_absolute_url()).content.decode()
