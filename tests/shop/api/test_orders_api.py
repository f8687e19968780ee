from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from fulfillment.models import CodeReveal
from shop.models import (
    LedgerKind,
    Order,
    PriceTierCategoryDiscount,
    PriceTierPrice,
    ResellerBalance,
    ResellerLedgerEntry,
    ResellerOrderRequest,
)
from shop.selectors_resellers import ledger_sum
from tests.fulfillment.factories import codes_stock
from tests.shop.api.factories import PriceTierFactory, fund
from tests.shop.factories import ProductFactory, stock_of, stock_product

pytestmark = pytest.mark.django_db

ORDERS = reverse("api:orders")


def _order(number: str) -> str:
    return reverse("api:order", kwargs={"number": number})


def _place(api, lines, *, key="order-1", reference=""):
    return api.post(
        ORDERS,
        {"lines": lines, "reference": reference},
        format="json",
        headers={"Idempotency-Key": key},
    )


def _balance(reseller, currency="EUR") -> int:
    return ResellerBalance.objects.get(reseller=reseller, currency=currency).amount_minor


def test_a_reseller_places_an_order_and_receives_its_codes(
    api, reseller, django_capture_on_commit_callbacks
):
    product = ProductFactory(price_minor=1500, currency="EUR")
    codes_stock(product, 3, codes=["AAAA-1111", "BBBB-2222", "CCCC-3333"])
    fund(reseller, 5000)

    with django_capture_on_commit_callbacks(execute=True):
        placed = _place(api, [{"product_id": product.pk, "quantity": 2}], reference="bot-42")
    detail = api.get(_order(placed.json()["number"]))

    assert placed.status_code == 201
    assert placed.json()["status"] == "paid"
    assert placed.json()["codes"] is None
    assert detail.status_code == 200
    body = detail.json()
    assert body["status"] == "delivered"
    assert body["reference"] == "bot-42"
    assert (body["currency"], body["total_minor"]) == ("EUR", 3000)
    assert body["lines"] == [
        {
            "product_id": product.pk,
            "product_name": product.name,
            "quantity": 2,
            "unit_price_minor": 1500,
        }
    ]
    assert sorted(code["code"] for code in body["codes"]) == ["AAAA-1111", "BBBB-2222"]
    assert CodeReveal.objects.count() == 2  # each code shown is recorded
    assert mail.outbox == []  # resellers are told by webhook, not by email
    order = Order.objects.get()
    assert order.reseller == reseller
    assert order.email == reseller.contact_email
    assert _balance(reseller) == 2000
    entry = ResellerLedgerEntry.objects.get(kind=LedgerKind.ORDER)
    assert (entry.amount_minor, entry.balance_after_minor, entry.order) == (-3000, 2000, order)
    assert ledger_sum(balance=ResellerBalance.objects.get()) == 2000


def test_each_read_of_a_delivered_order_records_one_reveal_per_code(
    api, reseller, django_capture_on_commit_callbacks
):
    product = ProductFactory(price_minor=100)
    codes_stock(product, 1)
    fund(reseller, 100)
    with django_capture_on_commit_callbacks(execute=True):
        number = _place(api, [{"product_id": product.pk, "quantity": 1}]).json()["number"]

    api.get(_order(number))
    api.get(_order(number))

    assert CodeReveal.objects.count() == 2


def test_the_same_idempotency_key_twice_makes_one_order(api, reseller):
    product = stock_product(ProductFactory(price_minor=1000), 10)
    fund(reseller, 10_000)
    lines = [{"product_id": product.pk, "quantity": 3}]

    first = _place(api, lines, key="abc-123")
    second = _place(api, lines, key="abc-123")

    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["number"] == first.json()["number"]
    assert Order.objects.count() == 1
    assert ResellerLedgerEntry.objects.filter(kind=LedgerKind.ORDER).count() == 1
    assert _balance(reseller) == 7000
    assert stock_of(product) == 7


def test_the_same_key_with_another_body_is_a_409_and_changes_nothing(api, reseller):
    product = stock_product(ProductFactory(price_minor=1000), 10)
    fund(reseller, 10_000)
    _place(api, [{"product_id": product.pk, "quantity": 1}], key="k1")

    response = _place(api, [{"product_id": product.pk, "quantity": 2}], key="k1")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert Order.objects.count() == 1
    assert _balance(reseller) == 9000
    assert stock_of(product) == 9


def test_an_idempotency_key_belongs_to_one_reseller(api, reseller, client_for):
    from tests.shop.api.factories import ResellerFactory

    other = ResellerFactory()
    product = stock_product(ProductFactory(price_minor=1000), 10)
    fund(reseller, 1000)
    fund(other, 1000)
    lines = [{"product_id": product.pk, "quantity": 1}]

    mine = _place(api, lines, key="shared")
    theirs = _place(client_for(other), lines, key="shared")

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["number"] != theirs.json()["number"]


def test_an_order_without_an_idempotency_key_is_refused(api, reseller):
    product = stock_product(ProductFactory(), 10)
    fund(reseller, 10_000)

    response = api.post(
        ORDERS, {"lines": [{"product_id": product.pk, "quantity": 1}]}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "invalid_input",
            "message": "The Idempotency-Key header is required.",
        }
    }
    assert Order.objects.count() == 0


def test_a_balance_too_small_is_a_402_and_changes_nothing(api, reseller):
    product = stock_product(ProductFactory(price_minor=1000, currency="EUR"), 10)
    fund(reseller, 1999)

    response = _place(api, [{"product_id": product.pk, "quantity": 2}])

    assert response.status_code == 402
    assert response.json()["error"]["code"] == "insufficient_balance"
    assert "does not cover this order" in response.json()["error"]["message"]
    assert Order.objects.count() == 0
    assert _balance(reseller) == 1999
    assert stock_of(product) == 10
    assert not ResellerOrderRequest.objects.exists()


def test_no_balance_in_the_products_currency_is_a_402(api, reseller):
    product = stock_product(ProductFactory(price_minor=1000, currency="USD"), 10)
    fund(reseller, 100_000, currency="EUR")

    response = _place(api, [{"product_id": product.pk, "quantity": 1}])

    assert response.status_code == 402
    assert Order.objects.count() == 0


def test_the_daily_spending_limit_refuses_the_order_that_would_pass_it(api, reseller):
    product = stock_product(ProductFactory(price_minor=1000), 10)
    fund(reseller, 10_000)
    ResellerBalance.objects.filter(reseller=reseller).update(daily_limit_minor=2500)
    first = _place(api, [{"product_id": product.pk, "quantity": 2}], key="a")

    second = _place(api, [{"product_id": product.pk, "quantity": 1}], key="b")

    assert first.status_code == 201
    assert second.status_code == 402
    assert second.json()["error"]["code"] == "daily_limit_exceeded"
    assert Order.objects.count() == 1
    assert _balance(reseller) == 8000
    assert stock_of(product) == 8


def test_yesterdays_orders_do_not_count_against_todays_limit(api, reseller):
    product = stock_product(ProductFactory(price_minor=1000), 10)
    fund(reseller, 10_000)
    ResellerBalance.objects.filter(reseller=reseller).update(daily_limit_minor=2000)
    _place(api, [{"product_id": product.pk, "quantity": 2}], key="a")
    ResellerLedgerEntry.objects.filter(kind=LedgerKind.ORDER).update(
        created_at=timezone.now() - timedelta(days=1)
    )

    response = _place(api, [{"product_id": product.pk, "quantity": 2}], key="b")

    assert response.status_code == 201


def test_out_of_stock_is_a_409_and_the_balance_is_untouched(api, reseller):
    product = stock_product(ProductFactory(price_minor=1000), 1)
    fund(reseller, 10_000)

    response = _place(api, [{"product_id": product.pk, "quantity": 2}])

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "out_of_stock"
    assert Order.objects.count() == 0
    assert _balance(reseller) == 10_000
    assert ResellerLedgerEntry.objects.filter(kind=LedgerKind.ORDER).count() == 0
    assert stock_of(product) == 1


def test_several_lines_are_held_all_or_none(api, reseller):
    plenty = stock_product(ProductFactory(price_minor=500), 10)
    scarce = stock_product(ProductFactory(price_minor=500), 1)
    fund(reseller, 10_000)

    refused = _place(
        api,
        [{"product_id": plenty.pk, "quantity": 2}, {"product_id": scarce.pk, "quantity": 2}],
        key="a",
    )
    placed = _place(
        api,
        [{"product_id": plenty.pk, "quantity": 2}, {"product_id": scarce.pk, "quantity": 1}],
        key="b",
    )

    assert refused.status_code == 409
    assert placed.status_code == 201
    assert placed.json()["total_minor"] == 1500
    assert (stock_of(plenty), stock_of(scarce)) == (8, 0)
    assert _balance(reseller) == 8500


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ([], "lines"),
        ([{"product_id": 1, "quantity": 0}], "lines"),
        ([{"product_id": 1, "quantity": 101}], "lines"),
        ([{"product_id": "x", "quantity": 1}], "lines"),
    ],
)
def test_malformed_lines_are_refused_with_field_details(api, reseller, lines, field):
    fund(reseller, 10_000)

    response = _place(api, lines)

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["message"]) == ("invalid_input", "The input is not valid.")
    assert field in error["details"]
    assert Order.objects.count() == 0


def test_products_not_on_sale_are_named(api, reseller):
    hidden = stock_product(ProductFactory(is_active=False), 5)
    fund(reseller, 10_000)

    response = _place(api, [{"product_id": hidden.pk, "quantity": 1}])

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"product_ids": [hidden.pk]}
    assert Order.objects.count() == 0
    assert stock_of(hidden) == 5


def test_the_resellers_tier_sets_the_price(api, reseller):
    tier = PriceTierFactory(discount_bps=1000)
    discounted = stock_product(ProductFactory(price_minor=2000), 5)
    by_category = stock_product(ProductFactory(price_minor=2000), 5)
    explicit = stock_product(ProductFactory(price_minor=2000, currency="EUR"), 5)
    PriceTierCategoryDiscount.objects.create(
        tier=tier, category=by_category.category, discount_bps=2500
    )
    PriceTierPrice.objects.create(tier=tier, product=explicit, price_minor=1234, currency="EUR")
    reseller.price_tier = tier
    reseller.save()
    fund(reseller, 10_000)

    response = _place(
        api,
        [
            {"product_id": discounted.pk, "quantity": 1},
            {"product_id": by_category.pk, "quantity": 1},
            {"product_id": explicit.pk, "quantity": 1},
        ],
    )

    prices = {line["product_id"]: line["unit_price_minor"] for line in response.json()["lines"]}
    assert prices == {discounted.pk: 1800, by_category.pk: 1500, explicit.pk: 1234}
    assert response.json()["total_minor"] == 4534
    assert _balance(reseller) == 10_000 - 4534


def test_the_catalogue_shows_the_callers_prices_and_live_stock(api, reseller, client_for):
    from tests.shop.api.factories import ResellerFactory

    tier = PriceTierFactory(discount_bps=5000)
    product = stock_product(ProductFactory(price_minor=1999, currency="USD"), 7)
    ProductFactory(is_active=False)
    reseller.price_tier = tier
    reseller.save()

    mine = api.get(reverse("api:catalogue")).json()
    list_price = client_for(ResellerFactory()).get(reverse("api:catalogue")).json()

    assert mine["results"] == [
        {
            "product_id": product.pk,
            "name": product.name,
            "slug": product.slug,
            "category": product.category.slug,
            "platform": "steam",
            "region": "global",
            "currency": "USD",
            "list_price_minor": 1999,
            "price_minor": 1000,
            "stock": 7,
        }
    ]
    assert list_price["results"][0]["price_minor"] == 1999


def test_the_order_list_filters_and_pages_with_a_cursor(api, reseller):
    product = stock_product(ProductFactory(price_minor=100), 50)
    fund(reseller, 10_000)
    numbers = [
        _place(
            api, [{"product_id": product.pk, "quantity": 1}], key=f"k{n}", reference=f"r{n}"
        ).json()["number"]
        for n in range(5)
    ]

    first = api.get(ORDERS, {"page_size": 2}).json()
    second = api.get(first["next"]).json()
    by_reference = api.get(ORDERS, {"reference": "r3"}).json()
    by_status = api.get(ORDERS, {"status": "delivered"}).json()

    assert [o["number"] for o in first["results"]] == numbers[::-1][:2]
    assert [o["number"] for o in second["results"]] == numbers[::-1][2:4]
    assert first["previous"] is None
    assert [o["number"] for o in by_reference["results"]] == [numbers[3]]
    assert by_status["results"] == []
    assert "codes" not in first["results"][0]


def test_a_bad_filter_is_a_400(api):
    response = api.get(ORDERS, {"status": "shipped"})

    assert response.status_code == 400
    assert "status" in response.json()["error"]["details"]
