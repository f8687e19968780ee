"""A buyer buys a code in a real browser: Debian's Chromium, localstripe's Stripe.js,
the live server, and a real Celery worker process that delivers the code."""

import re

import pytest
from playwright.sync_api import expect

from tests.fulfillment.factories import codes_stock
from tests.shop.factories import ProductFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_buyer_pays_by_card_and_sees_the_delivered_code(
    page, live_server, localstripe_server, celery_worker_process
):
    product = ProductFactory(name="Star Voyager", slug="star-voyager", price_minor=2999)
    codes_stock(product, 3, codes=["STAR-0001-AAAA", "STAR-0002-BBBB", "STAR-0003-CCCC"])

    page.goto(live_server.url + product.get_absolute_url())
    expect(page.get_by_test_id("stock")).to_contain_text("3 in stock")
    page.get_by_label("Quantity").fill("1")
    page.get_by_label("Email address").fill("buyer@example.com")
    page.locator("#id_accept_terms").check()
    page.get_by_role("button", name="Buy now").click()

    page.wait_for_url(re.compile(r"/orders/KS-\w+/[\w-]+/pay/$"))
    card = page.locator("#card-element")
    card.locator("input[placeholder=number]").fill("4242424242424242")
    card.locator("input[placeholder=exp_month]").fill("12")
    card.locator("input[placeholder=exp_year]").fill("34")
    card.locator("input[placeholder=cvc]").fill("123")
    card.locator("input[placeholder=postal_code]").fill("10115")
    page.locator("#pay-button").click()

    page.wait_for_url(re.compile(r"/orders/KS-\w+/[\w-]+/$"))
    # The worker delivers; the page follows the order and reloads when it changes.
    expect(page.get_by_test_id("order-status")).to_have_text("Delivered", timeout=30_000)
    page.get_by_test_id("reveal").click()
    expect(page.get_by_test_id("code")).to_have_text("STAR-0001-AAAA")
