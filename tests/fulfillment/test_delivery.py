from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from core.models import StaffAlert
from fulfillment.models import BatchStatus, Code, CodeReveal, CodeStatus, StockLevel
from fulfillment.services.batches import batch_transition
from fulfillment.services.delivery import (
    deliveries_reconcile,
    order_deliver,
    orders_awaiting_stock_refund,
)
from shop.models import Order
from shop.services.orders import order_create, order_mark_paid
from tests.fulfillment.factories import code_plaintext, codes_stock
from tests.shop.factories import ProductFactory

pytestmark = pytest.mark.django_db


def _paid_order(product, quantity=1, *, capture):
    order, token = order_create(
        email="buyer@example.com",
        product=product,
        quantity=quantity,
        terms_version=settings.KEYSHOP_TERMS_VERSION,
        language="en",
    )
    with capture(execute=True):
        order_mark_paid(order_id=order.pk)
    order.refresh_from_db()
    return order, token


def _counters(product):
    level = StockLevel.objects.get(product=product)
    return level.codes_available, level.units_held


def test_paid_order_is_delivered_with_its_codes(django_capture_on_commit_callbacks):
    product = ProductFactory()
    codes_stock(product, 5, codes=[f"KEY-{n}AAAA" for n in range(5)])

    order, _token = _paid_order(product, 2, capture=django_capture_on_commit_callbacks)

    codes = Code.objects.filter(order_line__order=order).order_by("pk")
    assert order.status == "delivered" and order.delivered_at is not None
    assert [code_plaintext(c) for c in codes] == ["KEY-0AAAA", "KEY-1AAAA"]
    assert {c.status for c in codes} == {"delivered"}
    assert _counters(product) == (3, 0)
    assert order.holds_reservation is False


def test_the_delivery_email_has_the_link_and_no_code(django_capture_on_commit_callbacks):
    product = ProductFactory()
    codes_stock(product, 1, codes=["SECRET-CODE-1"])

    order, _token = _paid_order(product, capture=django_capture_on_commit_callbacks)

    delivered = [m for m in mail.outbox if "are ready" in m.subject]
    assert len(delivered) == 1
    assert f"/orders/{order.number}/" in delivered[0].body
    assert "SECRET-CODE-1" not in delivered[0].body


def test_an_operator_may_put_the_codes_in_the_email(django_capture_on_commit_callbacks, settings):
    settings.KEYSHOP_EMAIL_INCLUDES_CODES = True
    product = ProductFactory()
    codes_stock(product, 1, codes=["SECRET-CODE-2"])

    order, _token = _paid_order(product, capture=django_capture_on_commit_callbacks)

    delivered = next(m for m in mail.outbox if "are ready" in m.subject)
    assert "SECRET-CODE-2" in delivered.body
    assert CodeReveal.objects.filter(code__order_line__order=order).count() == 1


def test_delivering_again_changes_nothing(django_capture_on_commit_callbacks):
    product = ProductFactory()
    codes_stock(product, 5)
    order, _token = _paid_order(product, 2, capture=django_capture_on_commit_callbacks)

    again = order_deliver(order_id=order.pk)

    assert (again.status, again.codes_allocated) == ("delivered", 0)
    assert Code.objects.filter(order_line__order=order).count() == 2
    assert _counters(product) == (3, 0)


def test_codes_come_from_the_oldest_sellable_batch_and_never_from_quarantine(
    django_capture_on_commit_callbacks,
):
    product = ProductFactory()
    quarantined = codes_stock(product, 3, status=BatchStatus.QUARANTINED)
    older = codes_stock(product, 1)
    newer = codes_stock(product, 3)

    first, _ = _paid_order(product, capture=django_capture_on_commit_callbacks)
    second, _ = _paid_order(product, capture=django_capture_on_commit_callbacks)

    assert Code.objects.get(order_line__order=first).batch == older
    assert Code.objects.get(order_line__order=second).batch == newer
    assert not Code.objects.filter(batch=quarantined).exclude(status="held_back").exists()


def test_orders_waiting_for_stock_are_delivered_oldest_first_when_it_arrives(
    django_capture_on_commit_callbacks,
):
    product = ProductFactory()
    batch = codes_stock(product, 2)
    first, _ = order_create(
        email="a@example.com", product=product, quantity=1,
        terms_version=settings.KEYSHOP_TERMS_VERSION, language="en",
    )  # fmt: skip
    second, _ = order_create(
        email="b@example.com", product=product, quantity=1,
        terms_version=settings.KEYSHOP_TERMS_VERSION, language="en",
    )  # fmt: skip
    batch_transition(batch_id=batch.pk, to_status=BatchStatus.SUSPENDED)
    with django_capture_on_commit_callbacks(execute=True):
        order_mark_paid(order_id=first.pk)
        order_mark_paid(order_id=second.pk)
    waiting_first = Order.objects.get(pk=first.pk)
    waiting_second = Order.objects.get(pk=second.pk)
    assert (waiting_first.status, waiting_second.status) == ("awaiting_stock", "awaiting_stock")

    with django_capture_on_commit_callbacks(execute=True):
        codes_stock(product, 1)

    waiting_first.refresh_from_db()
    waiting_second.refresh_from_db()
    assert (waiting_first.status, waiting_second.status) == ("delivered", "awaiting_stock")
    assert _counters(product) == (0, 0)


def test_codes_suspended_under_a_hold_send_the_order_to_wait(django_capture_on_commit_callbacks):
    product = ProductFactory()
    batch = codes_stock(product, 2)
    order, _token = order_create(
        email="buyer@example.com",
        product=product,
        quantity=2,
        terms_version=settings.KEYSHOP_TERMS_VERSION,
        language="en",
    )
    batch_transition(batch_id=batch.pk, to_status=BatchStatus.SUSPENDED)

    with django_capture_on_commit_callbacks(execute=True):
        order_mark_paid(order_id=order.pk)

    order.refresh_from_db()
    assert (order.status, order.holds_reservation) == ("awaiting_stock", False)
    assert _counters(product) == (0, 0)
    assert not Code.objects.filter(order_line__order=order).exists()


def test_reconciliation_requeues_stuck_orders_and_alerts_staff(django_capture_on_commit_callbacks):
    product = ProductFactory()
    codes_stock(product, 2)
    order, _token = order_create(
        email="buyer@example.com",
        product=product,
        quantity=1,
        terms_version=settings.KEYSHOP_TERMS_VERSION,
        language="en",
    )
    # Paid, but the hand-off to delivery was lost (no on-commit callbacks run).
    order_mark_paid(order_id=order.pk)
    now = timezone.now()

    assert deliveries_reconcile(now=now) == 0
    assert deliveries_reconcile(now=now + timedelta(hours=1)) == 1

    order.refresh_from_db()
    assert order.status == "delivered"
    assert StaffAlert.objects.get(kind="delivery_stuck").subject == f"order {order.number}"


def test_a_code_is_on_at_most_one_order_line(django_capture_on_commit_callbacks):
    product = ProductFactory()
    codes_stock(product, 6)

    for _ in range(3):
        _paid_order(product, 2, capture=django_capture_on_commit_callbacks)

    per_code = Code.objects.exclude(order_line=None).values("pk").annotate(n=Count("order_line"))
    assert {row["n"] for row in per_code} == {1}
    assert Code.objects.filter(status=CodeStatus.DELIVERED).count() == 6
    assert Order.objects.filter(status="delivered").count() == 3


def _order_url(name, order, token):
    return reverse(f"shop:{name}", kwargs={"number": order.number, "token": token})


def test_the_buyer_reveals_and_downloads_codes_and_each_reveal_is_recorded(
    client, django_capture_on_commit_callbacks
):
    product = ProductFactory(name="Star Voyager")
    codes_stock(product, 2, codes=["ABCD-1111", "ABCD-2222"])
    order, token = _paid_order(product, 2, capture=django_capture_on_commit_callbacks)

    page = client.get(_order_url("order", order, token)).content.decode()
    shown = client.post(_order_url("order_codes", order, token))
    download = client.get(_order_url("order_codes_download", order, token))

    assert "ABCD-1111" not in page and "Show my codes" in page
    assert "ABCD-1111" in shown.content.decode() and "ABCD-2222" in shown.content.decode()
    assert shown["Cache-Control"].startswith("max-age=0")
    assert download["Content-Disposition"] == f'attachment; filename="keyshop-{order.number}.txt"'
    assert download.content.decode() == "Star Voyager\tABCD-1111\nStar Voyager\tABCD-2222\n"
    reveals = CodeReveal.objects.filter(code__order_line__order=order)
    assert reveals.count() == 4
    assert {len(r.ip_hash) for r in reveals} == {32}


def test_codes_are_not_revealed_before_delivery_or_without_the_token(client):
    product = ProductFactory()
    codes_stock(product, 1)
    order, token = order_create(
        email="buyer@example.com",
        product=product,
        quantity=1,
        terms_version=settings.KEYSHOP_TERMS_VERSION,
        language="en",
    )

    assert client.post(_order_url("order_codes", order, token)).status_code == 404
    assert client.get(_order_url("order_codes_download", order, "x" * 43)).status_code == 404
    assert CodeReveal.objects.count() == 0


def test_low_stock_raises_an_alert_and_new_stock_resolves_it(django_capture_on_commit_callbacks):
    product = ProductFactory(slug="star-voyager")
    codes_stock(product, 3)
    StockLevel.objects.filter(product=product).update(low_stock_threshold=2)

    _paid_order(product, 2, capture=django_capture_on_commit_callbacks)
    alert = StaffAlert.objects.get(kind="low_stock")
    with django_capture_on_commit_callbacks(execute=True):
        codes_stock(product, 5)

    alert.refresh_from_db()
    assert alert.subject == "product star-voyager"
    assert alert.message == "1 left to sell (alert below 2)."
    assert alert.resolved_at is not None


@pytest.mark.django_db(transaction=True)
def test_an_order_waiting_too_long_for_stock_is_refunded_through_stripe(localstripe_server):
    import json

    from django.test import Client

    from shop import stripe_gateway
    from shop.models import Payment
    from tests.shop.factories import stock_of
    from tests.support.localstripe import CARD_SUCCESS, card_token_create

    product = ProductFactory(price_minor=1999)
    batch = codes_stock(product, 1)
    order, token = order_create(
        email="buyer@example.com", product=product, quantity=1,
        terms_version=settings.KEYSHOP_TERMS_VERSION, language="en",
    )  # fmt: skip
    batch_transition(batch_id=batch.pk, to_status=BatchStatus.SUSPENDED)
    pay_url = reverse("shop:order_pay", kwargs={"number": order.number, "token": token})
    client = Client()
    client.get(pay_url)
    client.post(
        pay_url + "card/",
        data=json.dumps({"token": card_token_create(localstripe_server, CARD_SUCCESS)}),
        content_type="application/json",
    )
    order.refresh_from_db()
    assert order.status == "awaiting_stock"

    assert orders_awaiting_stock_refund(now=timezone.now() + timedelta(hours=23)) == 0
    assert orders_awaiting_stock_refund(now=timezone.now() + timedelta(hours=25)) == 1

    order.refresh_from_db()
    intent = stripe_gateway.payment_intent_retrieve(
        Payment.objects.get(order=order).stripe_payment_intent_id
    )
    assert order.status == "refunded"
    assert intent.status == "succeeded"
    assert stock_of(product) == 0 and StockLevel.objects.get(product=product).units_held == 0


def test_the_order_page_links_to_complaints_once_codes_are_delivered(
    client, django_capture_on_commit_callbacks
):
    product = ProductFactory()
    codes_stock(product, 1)
    order, token = _paid_order(product, capture=django_capture_on_commit_callbacks)

    page = client.get(_order_url("order", order, token)).content.decode()

    complaints = reverse("compliance:complaints", kwargs={"number": order.number, "token": token})
    assert f'href="{complaints}"' in page
    assert "A code does not work? Tell us" in page
