import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from fulfillment.models import StockLevel
from tests.shop.factories import CategoryFactory, ProductFactory

pytestmark = pytest.mark.django_db


def _catalogue(size: int):
    category = CategoryFactory(slug="games")
    products = ProductFactory.create_batch(size, category=category, is_featured=True)
    StockLevel.objects.bulk_create(StockLevel(product=p, codes_available=3) for p in products)
    return category, products


def _queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("page", ["home", "category", "product", "search"])
def test_pages_run_the_same_queries_with_3_and_300_products(client, page):
    counts = []
    for size in (3, 300):
        category, products = _catalogue(size)
        url = {
            "home": reverse("shop:home"),
            "category": reverse("shop:category", kwargs={"slug": category.slug}),
            "product": reverse("shop:product", kwargs={"slug": products[-1].slug}),
            "search": reverse("shop:search") + "?q=Product",
        }[page]
        counts.append(_queries_for(client, url))
        StockLevel.objects.all().delete()
        for product in products:
            product.delete()
        category.delete()
    expected = {"home": 3, "category": 4, "product": 2, "search": 3}[page]
    assert counts == [expected, expected]


def test_product_page_shows_price_and_live_stock(client):
    product = ProductFactory(name="Star Voyager", price_minor=4999, currency="USD")
    StockLevel.objects.create(product=product, codes_available=7)

    response = client.get(product.get_absolute_url())

    body = response.content.decode()
    assert "Star Voyager" in body
    assert "$49.99 USD" in body
    assert "7 in stock" in body


def test_product_without_stock_is_sold_out(client):
    product = ProductFactory()

    response = client.get(product.get_absolute_url())

    assert "Sold out" in response.content.decode()


def test_description_with_script_is_shown_as_text(client):
    product = ProductFactory(description='<script>alert("x")</script> Great game')

    body = client.get(product.get_absolute_url()).content.decode()

    assert '<script>alert("x")</script>' not in body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; Great game" in body


@pytest.mark.parametrize("url", ["/p/no-such-product/", "/c/no-such-category/", "/nowhere/"])
def test_unknown_slugs_give_the_shop_404_page(client, url):
    response = client.get(url)

    assert response.status_code == 404
    assert "We could not find that page" in response.content.decode()
    assert 'class="site-header"' in response.content.decode()


def test_inactive_products_and_categories_are_not_shown(client):
    hidden = ProductFactory(is_active=False)
    in_hidden_category = ProductFactory(category=CategoryFactory(is_active=False))

    assert client.get(hidden.get_absolute_url()).status_code == 404
    assert client.get(in_hidden_category.get_absolute_url()).status_code == 404
    assert client.get(in_hidden_category.category.get_absolute_url()).status_code == 404


def test_search_finds_products_by_name(client):
    ProductFactory(name="Galaxy Raiders")
    ProductFactory(name="Farm Story")

    body = client.get(reverse("shop:search"), {"q": "galaxy"}).content.decode()

    assert "Galaxy Raiders" in body
    assert "Farm Story" not in body


@pytest.mark.parametrize(
    ("language", "direction"), [("en", "ltr"), ("zh-hans", "ltr"), ("fa", "rtl")]
)
def test_pages_carry_language_and_direction(client, language, direction):
    client.cookies["django_language"] = language

    body = client.get(reverse("shop:home")).content.decode()

    assert f'<html lang="{language}" dir="{direction}">' in body
