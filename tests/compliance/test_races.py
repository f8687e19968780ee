"""Races on a real PostgreSQL database, in separate processes."""

import io
import multiprocessing
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.db import connections

from compliance.models import OrderReview, RevocationCase
from compliance.services.reviews import order_review_approve, order_review_refuse
from compliance.services.revocations import revocation_list_import
from core.errors import KeyshopError
from fulfillment import receivers
from fulfillment.models import Code, CodeStatus, StockLevel
from fulfillment.services.delivery import order_deliver
from shop.models import Order
from shop.services.orders import order_create, order_mark_paid
from shop.signals import order_paid
from tests.fulfillment.factories import codes_stock
from tests.shop.factories import ProductFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _close_then_call(func_and_args):
    func, args = func_and_args
    try:
        return func(*args)
    finally:
        connections.close_all()


def _in_processes(func, calls, *, processes=8):
    connections.close_all()
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        return pool.map(_close_then_call, [(func, args) for args in calls], chunksize=1)


@contextmanager
def _no_delivery_handoff():
    """Orders are paid but not handed to delivery: the test drives delivery itself."""
    uid = "fulfillment-deliver-paid"
    order_paid.disconnect(dispatch_uid=uid)
    try:
        yield
    finally:
        order_paid.connect(receivers.deliver_paid_order, dispatch_uid=uid)


def _paid_orders(product, count, email="held{n}@mailinator.com"):
    ids = []
    for n in range(count):
        order, _token = order_create(
            email=email.format(n=n),
            product=product,
            quantity=1,
            terms_version=settings.KEYSHOP_TERMS_VERSION,
            language="en",
        )
        with _no_delivery_handoff():
            order_mark_paid(order_id=order.pk)
        ids.append(order.pk)
    return ids


def _decide(order_id: int, verdict: str) -> str:
    try:
        if verdict == "approve":
            order_review_approve(order_id=order_id, actor=None, note="ok")
            order_deliver(order_id=order_id)
        else:
            order_review_refuse(order_id=order_id, actor=None, note="no", already_refunded=True)
    except KeyshopError:
        return "lost"
    return verdict


def test_approve_and_refuse_at_once_end_in_exactly_one_of_them():
    product = ProductFactory()
    codes_stock(product, 6)
    order_ids = _paid_orders(product, 6)
    for order_id in order_ids:
        assert order_deliver(order_id=order_id).status == "held"

    results = _in_processes(
        _decide,
        [(order_id, verdict) for order_id in order_ids for verdict in ("approve", "refuse")],
    )

    assert sorted(results).count("lost") == 6
    for order_id in order_ids:
        order = Order.objects.get(pk=order_id)
        review = OrderReview.objects.get(order_id=order_id)
        codes = Code.objects.filter(order_line__order_id=order_id).count()
        assert (order.status, review.status, codes) in {
            ("delivered", "approved", 1),
            ("refunded", "refused", 0),
        }
    level = StockLevel.objects.get(product=product)
    delivered = Code.objects.filter(product=product, status=CodeStatus.DELIVERED).count()
    assert (level.codes_available, level.units_held) == (6 - delivered, 0)


def _call(func, args):
    return func(*args)


def _deliver(order_id: int) -> str:
    return order_deliver(order_id=order_id).status


def _revoke(product_id: int, text: bytes) -> int:
    from shop.models import Product

    revocation_list = revocation_list_import(
        product=Product.objects.get(pk=product_id),
        publisher="P",
        reference="",
        file=io.BytesIO(text),
        actor=None,
    )
    return revocation_list.withdrawn_available


def test_a_revocation_racing_deliveries_leaves_every_code_either_sold_or_withdrawn():
    product = ProductFactory()
    codes = [f"RACE-{n:04d}" for n in range(12)]
    codes_stock(product, 12, codes=codes)
    order_ids = _paid_orders(product, 8, email="buyer{n}@example.com")

    calls = [(_deliver, (order_id,)) for order_id in order_ids]
    calls.insert(4, (_revoke, (product.pk, "".join(f"{c}\n" for c in codes).encode())))
    results = _in_processes(_call, calls)

    statuses = list(Code.objects.filter(product=product).values_list("status", flat=True))
    level = StockLevel.objects.get(product=product)
    assert set(statuses) <= {CodeStatus.DELIVERED, CodeStatus.REVOKED}
    assert level.codes_available == 0 == statuses.count(CodeStatus.AVAILABLE)
    delivered = statuses.count(CodeStatus.DELIVERED)
    assert RevocationCase.objects.count() == delivered
    assert delivered + results[4] == 12
