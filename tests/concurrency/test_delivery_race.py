import multiprocessing
import os
import signal
import time
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.db import connection, connections
from django.db.models import Count, Q
from django.utils import timezone

from fulfillment import receivers
from fulfillment.models import Code, StockLevel
from fulfillment.services import delivery
from fulfillment.services.delivery import deliveries_reconcile, order_deliver
from shop.models import Order, OrderEvent
from shop.services import emails
from shop.services.orders import order_create, order_mark_paid
from shop.signals import order_paid
from tests.fulfillment.factories import codes_stock
from tests.shop.factories import ProductFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@contextmanager
def _no_delivery_handoff():
    """Orders are paid but not handed to delivery: the test drives delivery itself."""
    uid = "fulfillment-deliver-paid"
    order_paid.disconnect(dispatch_uid=uid)
    try:
        yield
    finally:
        order_paid.connect(receivers.deliver_paid_order, dispatch_uid=uid)


def _orders(product, count: int) -> list[int]:
    return [
        order_create(
            email=f"buyer{n}@example.com",
            product=product,
            quantity=1,
            terms_version=settings.KEYSHOP_TERMS_VERSION,
            language="en",
        )[0].pk
        for n in range(count)
    ]


def _deliver(order_id: int) -> str:
    return order_deliver(order_id=order_id).status


def _no_code_twice() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, COUNT(DISTINCT order_line_id) FROM fulfillment_code "
            "WHERE order_line_id IS NOT NULL GROUP BY id HAVING COUNT(DISTINCT order_line_id) > 1"
        )
        assert cursor.fetchall() == []
        cursor.execute(
            "SELECT o.id, SUM(l.quantity), COUNT(c.id) FROM shop_order o "
            "JOIN shop_orderline l ON l.order_id = o.id "
            "LEFT JOIN fulfillment_code c ON c.order_line_id = l.id "
            "WHERE o.status = 'delivered' GROUP BY o.id HAVING COUNT(c.id) <> SUM(l.quantity)"
        )
        assert cursor.fetchall() == []


def test_200_paid_orders_compete_for_the_last_10_codes(in_processes):
    product = ProductFactory(max_per_order=1)
    codes_stock(product, 200)
    order_ids = _orders(product, 200)
    # Then 190 codes are withdrawn and every hold lapses: 200 paid orders, 10 codes.
    Code.objects.filter(pk__in=Code.objects.values("pk")[:190]).update(status="revoked")
    Order.objects.filter(pk__in=order_ids).update(holds_reservation=False, status="expired")
    StockLevel.objects.filter(product=product).update(codes_available=10, units_held=0)
    with _no_delivery_handoff():
        for order_id in order_ids:
            order_mark_paid(order_id=order_id)  # late payment: re-holds while stock remains

    results = in_processes(_deliver, [(order_id,) for order_id in order_ids], processes=16)

    assert results.count("delivered") == 10
    assert results.count("awaiting_stock") == 190
    _no_code_twice()
    level = StockLevel.objects.get(product=product)
    assert (level.codes_available, level.units_held) == (0, 0)
    by_status = dict(Code.objects.values_list("status").annotate(n=Count("pk")))
    assert by_status == {"delivered": 10, "revoked": 190}


def _deliver_and_die_at(order_id: int, point: str) -> str:
    """Deliver in this process, killing it with SIGKILL at ``point``, as a crashing worker."""

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    if point == "before allocation":
        delivery._allocate_line = die
    elif point == "after commit":
        delivery.order_email_link_task.delay = die
    elif point == "after the email":
        sent = emails.send_mail

        def send_then_die(*args, **kwargs):
            sent(*args, **kwargs)
            die()

        emails.send_mail = send_then_die
    return order_deliver(order_id=order_id).status


def _each_in_its_own_process(func, calls, *, at_once: int) -> list[int]:
    """Run func(*args) per call in a forked process, ``at_once`` at a time; their exit codes.

    One process per call, because a pool hangs when its worker is killed.
    """
    connections.close_all()
    context = multiprocessing.get_context("fork")
    exit_codes = []
    for start in range(0, len(calls), at_once):
        processes = [
            context.Process(target=func, args=args) for args in calls[start : start + at_once]
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join(timeout=60)
            exit_codes.append(process.exitcode)
    return exit_codes


def test_workers_killed_mid_delivery_lose_nothing_after_reconciliation(in_processes):
    product = ProductFactory(max_per_order=1)
    codes_stock(product, 200)
    order_ids = _orders(product, 200)
    with _no_delivery_handoff():
        for order_id in order_ids:
            order_mark_paid(order_id=order_id)
    points = ["before allocation", "after commit", "after the email", "no crash"]
    calls = [(order_id, points[n % 4]) for n, order_id in enumerate(order_ids)]

    exit_codes = _each_in_its_own_process(_deliver_and_die_at, calls, at_once=8)

    assert exit_codes.count(-signal.SIGKILL) == 150 and exit_codes.count(0) == 50
    # Those killed before allocation committed nothing; the rest are delivered.
    assert Order.objects.filter(status="delivered").count() == 150
    later = timezone.now() + timezone.timedelta(hours=1)
    deliveries_reconcile(now=later)

    assert Order.objects.filter(status="delivered").count() == 200
    _no_code_twice()
    assert Code.objects.filter(status="delivered").count() == 200
    emailed = OrderEvent.objects.filter(kind="email_delivered").values("order").distinct()
    assert emailed.count() == 200


def _deliver_and_die_mid_allocation(order_id: int, point: str) -> str:
    """Deliver, killed inside the allocation: its codes are locked, then released by the kill."""

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    if point == "after the pick":
        pick = delivery._codes_pick

        def pick_then_die(*args, **kwargs):
            pick(*args, **kwargs)
            time.sleep(0.5)  # while the others skip the locked codes and move the head past
            die()

        delivery._codes_pick = pick_then_die
    elif point == "after the head moved":
        delivery._low_stock_check = die
    return order_deliver(order_id=order_id).status


def _available_behind_the_head(product) -> int:
    level = StockLevel.objects.get(product=product)
    return Code.objects.filter(
        Q(batch_id__lt=level.queue_batch_id)
        | Q(batch_id=level.queue_batch_id, pk__lt=level.queue_code_id),
        product=product,
        status="available",
    ).count()


def test_codes_released_behind_the_queue_head_by_killed_workers_are_still_sold():
    product = ProductFactory(max_per_order=1)
    codes_stock(product, 200)
    order_ids = _orders(product, 200)
    with _no_delivery_handoff():
        for order_id in order_ids:
            order_mark_paid(order_id=order_id)
    points = ["after the pick", "after the head moved", "no crash", "no crash"]
    calls = [(order_id, points[n % 4]) for n, order_id in enumerate(order_ids)]

    exit_codes = _each_in_its_own_process(_deliver_and_die_mid_allocation, calls, at_once=8)

    assert exit_codes.count(-signal.SIGKILL) == 100 and exit_codes.count(0) == 100
    assert Order.objects.filter(status="delivered").count() == 100
    assert _available_behind_the_head(product) > 0  # the case this test is about
    deliveries_reconcile(now=timezone.now() + timezone.timedelta(hours=1))

    assert Order.objects.filter(status="delivered").count() == 200
    _no_code_twice()
    assert Code.objects.filter(status="delivered").count() == 200
    level = StockLevel.objects.get(product=product)
    assert (level.codes_available, level.units_held) == (0, 0)
