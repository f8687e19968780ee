import pytest
from django.conf import settings
from django.db import connection

from core.errors import OutOfStock
from shop.models import Order, Product
from shop.services.orders import order_create
from tests.shop.factories import ProductFactory, stock_of, stock_product

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _checkout(product_id: int, buyer: int) -> str:
    try:
        order_create(
            email=f"buyer{buyer}@example.com",
            product=Product.objects.get(pk=product_id),
            quantity=1,
            terms_version=settings.KEYSHOP_TERMS_VERSION,
            language="en",
        )
    except OutOfStock:
        return "sold out"
    return "reserved"


def test_200_checkouts_race_for_the_last_10_units(in_processes):
    product = stock_product(ProductFactory(max_per_order=1), 10)

    answers = in_processes(_checkout, [(product.pk, n) for n in range(200)], processes=16)

    assert answers.count("reserved") == 10
    assert answers.count("sold out") == 190
    assert Order.objects.filter(holds_reservation=True).count() == 10
    assert stock_of(product) == 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT codes_available, units_held FROM fulfillment_stocklevel")
        assert cursor.fetchall() == [(10, 10)]
