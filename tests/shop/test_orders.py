from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from core.errors import IllegalTransition, InvalidInput, OutOfStock
from shop.models import Order, OrderEvent, OrderStatus
from shop.selectors import order_get_for_access
from shop.services.orders import (
    ALLOWED_MOVES,
    order_create,
    order_mark_paid,
    order_transition,
    orders_expire_reservations,
)
from tests.shop.factories import ProductFactory, stock_of, stock_product

pytestmark = pytest.mark.django_db


def _order(product, quantity=2):
    return order_create(
        email="buyer@example.com",
        product=product,
        quantity=quantity,
        terms_version=settings.KEYSHOP_TERMS_VERSION,
        language="en",
    )


def test_order_holds_stock_and_prices_from_the_product():
    product = stock_product(ProductFactory(price_minor=1250, currency="USD"), 5)

    order, token = _order(product, quantity=2)

    assert (order.total_minor, order.currency, order.status) == (2500, "USD", "awaiting_payment")
    assert order.holds_reservation is True
    assert order.terms_version == settings.KEYSHOP_TERMS_VERSION
    assert stock_of(product) == 3
    assert order_get_for_access(number=order.number, token=token) == order
    assert len(token) >= 43  # 32 bytes from secrets, base64url


def test_only_the_token_hash_is_stored():
    order, token = _order(stock_product(ProductFactory(), 5))

    stored = list(order.access_links.values_list("token_hash", flat=True))

    assert token not in stored
    assert len(stored) == 1 and len(stored[0]) == 64


def test_order_refused_when_stock_is_short_and_nothing_changes():
    product = stock_product(ProductFactory(), 1)

    with pytest.raises(OutOfStock):
        _order(product, quantity=2)

    assert Order.objects.count() == 0
    assert stock_of(product) == 1


@pytest.mark.parametrize("quantity", [0, -1, 6])
def test_quantity_outside_the_limits_is_refused(quantity):
    product = stock_product(ProductFactory(max_per_order=5), 50)

    with pytest.raises(InvalidInput):
        _order(product, quantity=quantity)

    assert Order.objects.count() == 0
    assert stock_of(product) == 50


def test_transition_repeat_is_a_no_op_and_illegal_moves_are_refused():
    order, _token = _order(stock_product(ProductFactory(), 5))

    order_mark_paid(order_id=order.pk)
    again, moved = order_transition(order_id=order.pk, to_status=OrderStatus.PAID)
    with pytest.raises(IllegalTransition):
        order_transition(order_id=order.pk, to_status=OrderStatus.AWAITING_PAYMENT)

    assert moved is False and again.status == "paid"
    kinds = list(OrderEvent.objects.filter(order=order).values_list("kind", "to_status"))
    assert kinds == [("created", "awaiting_payment"), ("paid", "paid")]


def test_every_status_has_a_row_in_the_table():
    assert set(ALLOWED_MOVES) == set(OrderStatus.values)
    assert all(targets <= set(OrderStatus.values) for targets in ALLOWED_MOVES.values())


def test_paid_order_is_handed_on_once_after_commit(django_capture_on_commit_callbacks):
    from shop.signals import order_paid

    received = []

    def receiver(sender, order_id, **kwargs):
        received.append(order_id)

    order_paid.connect(receiver)
    try:
        order, _token = _order(stock_product(ProductFactory(), 5))
        with django_capture_on_commit_callbacks(execute=True):
            order_mark_paid(order_id=order.pk)
            order_mark_paid(order_id=order.pk)
    finally:
        order_paid.disconnect(receiver)

    assert received == [order.pk]


def test_unpaid_reservation_expires_and_returns_stock():
    product = stock_product(ProductFactory(), 5)
    order, _token = _order(product, quantity=2)
    later = timezone.now() + timedelta(minutes=settings.KEYSHOP_RESERVATION_MINUTES + 1)

    assert orders_expire_reservations(now=timezone.now()) == 0
    assert orders_expire_reservations(now=later) == 1
    assert orders_expire_reservations(now=later) == 0

    order.refresh_from_db()
    assert (order.status, order.holds_reservation) == ("expired", False)
    assert stock_of(product) == 5


def test_late_payment_reholds_stock_when_some_remains():
    product = stock_product(ProductFactory(), 5)
    order, _token = _order(product, quantity=2)
    orders_expire_reservations(now=timezone.now() + timedelta(hours=1))

    order = order_mark_paid(order_id=order.pk)

    assert (order.status, order.holds_reservation) == ("paid", True)
    assert stock_of(product) == 3


def test_late_payment_without_stock_waits_for_stock():
    product = stock_product(ProductFactory(), 2)
    order, _token = _order(product, quantity=2)
    orders_expire_reservations(now=timezone.now() + timedelta(hours=1))
    _other, _ = _order(product, quantity=2)

    order = order_mark_paid(order_id=order.pk)

    assert (order.status, order.holds_reservation) == ("awaiting_stock", False)
    assert stock_of(product) == 0
    assert list(order.events.values_list("to_status", flat=True)) == [
        "awaiting_payment",
        "expired",
        "paid",
        "awaiting_stock",
    ]
