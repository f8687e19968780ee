"""Allocation's queue head: where the next pick starts, kept on the product's StockLevel."""

from itertools import count

import pytest
from django.conf import settings
from django.db import connection

from fulfillment.models import BatchStatus, Code, CodeStatus, StockLevel
from fulfillment.services import delivery
from fulfillment.services.batches import batch_transition
from fulfillment.services.delivery import order_deliver
from shop.models import Order
from shop.services.orders import order_create, order_mark_paid
from tests.fulfillment.factories import codes_stock
from tests.shop.factories import ProductFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_release_checks")]


_buyers = count()


def _paid_order(product, quantity=1, *, capture):
    # A buyer per order, so that screening's per-email velocity rule never holds one.
    order, _token = order_create(
        email=f"buyer{next(_buyers)}@example.com",
        product=product,
        quantity=quantity,
        terms_version=settings.KEYSHOP_TERMS_VERSION,
        language="en",
    )
    with capture(execute=True):
        order_mark_paid(order_id=order.pk)
    order.refresh_from_db()
    return order


def _head(product) -> tuple[int | None, int | None]:
    level = StockLevel.objects.get(product=product)
    return level.queue_batch_id, level.queue_code_id


def _head_at(code: Code) -> tuple[int, int]:
    return code.batch_id, code.pk


def _codes(batch) -> list[Code]:
    return list(Code.objects.filter(batch=batch).order_by("pk"))


def _delivered(order) -> list[Code]:
    return list(Code.objects.filter(order_line__order=order).order_by("batch_id", "pk"))


def _counters(product) -> tuple[int, int]:
    level = StockLevel.objects.get(product=product)
    return level.codes_available, level.units_held


def test_codes_go_oldest_batch_first_and_the_head_follows_the_last_one_taken(
    django_capture_on_commit_callbacks,
):
    product = ProductFactory()
    older, newer = codes_stock(product, 2), codes_stock(product, 3)
    assert _head(product) == (None, None)

    first = _paid_order(product, 1, capture=django_capture_on_commit_callbacks)
    head_after_first = _head(product)
    second = _paid_order(product, 2, capture=django_capture_on_commit_callbacks)
    head_after_second = _head(product)
    third = _paid_order(product, 2, capture=django_capture_on_commit_callbacks)

    o, n = _codes(older), _codes(newer)
    assert _delivered(first) == [o[0]]
    assert _delivered(second) == [o[1], n[0]]
    assert _delivered(third) == [n[1], n[2]]
    assert head_after_first == _head_at(o[0])
    assert head_after_second == _head_at(n[0])
    assert _head(product) == _head_at(n[2])
    assert _counters(product) == (0, 0)


def test_a_head_past_the_remaining_codes_still_finds_them_and_does_not_move_back(
    django_capture_on_commit_callbacks,
):
    product = ProductFactory()
    batch = codes_stock(product, 3)
    codes = _codes(batch)
    too_far = (batch.pk + 1000, codes[-1].pk + 1000)
    StockLevel.objects.filter(product=product).update(
        queue_batch_id=too_far[0], queue_code_id=too_far[1]
    )

    first = _paid_order(product, 1, capture=django_capture_on_commit_callbacks)
    second = _paid_order(product, 2, capture=django_capture_on_commit_callbacks)

    assert (first.status, second.status) == ("delivered", "delivered")
    assert _delivered(first) == [codes[0]]
    assert _delivered(second) == [codes[1], codes[2]]
    assert _head(product) == too_far
    assert _counters(product) == (0, 0)


def test_a_stale_head_takes_the_codes_after_it_then_those_behind_it(
    django_capture_on_commit_callbacks,
):
    product = ProductFactory()
    batch = codes_stock(product, 5)
    codes = _codes(batch)
    # As if codes[0] and codes[1] were skipped, locked by a delivery that then rolled back.
    StockLevel.objects.filter(product=product).update(
        queue_batch_id=batch.pk, queue_code_id=codes[2].pk
    )

    order = _paid_order(product, 4, capture=django_capture_on_commit_callbacks)

    assert order.status == "delivered"
    assert _delivered(order) == [codes[0], codes[1], codes[3], codes[4]]
    assert _head(product) == _head_at(codes[4])
    assert Code.objects.get(pk=codes[2].pk).status == CodeStatus.AVAILABLE
    assert _counters(product) == (1, 0)


def test_a_batch_made_sellable_again_resets_the_head_and_its_codes_go_first(
    django_capture_on_commit_callbacks,
):
    product = ProductFactory()
    older = codes_stock(product, 2)
    newer = codes_stock(product, 3)
    batch_transition(batch_id=older.pk, to_status=BatchStatus.SUSPENDED)
    first = _paid_order(product, 1, capture=django_capture_on_commit_callbacks)
    assert _head(product) == _head_at(_codes(newer)[0])

    batch_transition(batch_id=older.pk, to_status=BatchStatus.SELLABLE)
    head_after_release = _head(product)
    second = _paid_order(product, 2, capture=django_capture_on_commit_callbacks)
    third = _paid_order(product, 1, capture=django_capture_on_commit_callbacks)

    o, n = _codes(older), _codes(newer)
    assert head_after_release == (None, None)
    assert _delivered(first) == [n[0]]
    assert _delivered(second) == o
    assert _delivered(third) == [n[1]]
    assert _head(product) == _head_at(n[1])


def test_a_rolled_back_delivery_leaves_the_head_where_it_was(
    django_capture_on_commit_callbacks, monkeypatch
):
    product = ProductFactory()
    batch = codes_stock(product, 3)
    _paid_order(product, 1, capture=django_capture_on_commit_callbacks)
    head_before = _head(product)
    order, _token = order_create(
        email="buyer@example.com",
        product=product,
        quantity=1,
        terms_version=settings.KEYSHOP_TERMS_VERSION,
        language="en",
    )
    order_mark_paid(order_id=order.pk)  # no on-commit callbacks: not delivered yet

    def fail(product_ids):
        raise RuntimeError("the worker died after the allocation")

    monkeypatch.setattr(delivery, "_low_stock_check", fail)
    with pytest.raises(RuntimeError):
        order_deliver(order_id=order.pk)

    codes = _codes(batch)
    assert head_before == _head_at(codes[0])
    assert _head(product) == head_before
    assert Order.objects.get(pk=order.pk).status == "paid"
    assert [c.status for c in codes] == ["delivered", "available", "available"]
    assert _counters(product) == (2, 1)


def test_a_head_reset_while_a_delivery_was_under_way_stays_reset(
    django_capture_on_commit_callbacks, monkeypatch
):
    product = ProductFactory()
    older = codes_stock(product, 1)
    newer = codes_stock(product, 3)
    batch_transition(batch_id=older.pk, to_status=BatchStatus.SUSPENDED)
    _paid_order(product, 1, capture=django_capture_on_commit_callbacks)
    read_before_the_reset = _head(product)
    batch_transition(batch_id=older.pk, to_status=BatchStatus.SELLABLE)
    # A delivery that read the head before the batch came back, and could not see its
    # codes, moves its counters after the reset: the head must stay reset.
    monkeypatch.setattr(delivery, "_queue_head", lambda product_id: read_before_the_reset)
    under_way = _paid_order(product, 1, capture=django_capture_on_commit_callbacks)
    monkeypatch.undo()

    after = _paid_order(product, 1, capture=django_capture_on_commit_callbacks)

    n = _codes(newer)
    assert _delivered(under_way) == [n[1]]
    assert _delivered(after) == _codes(older)
    assert _head(product) == _head_at(_codes(older)[0])


def test_a_head_moved_by_another_delivery_since_it_was_read_stays_where_that_one_put_it(
    django_capture_on_commit_callbacks, monkeypatch
):
    product = ProductFactory()
    batch = codes_stock(product, 4)
    _paid_order(product, 1, capture=django_capture_on_commit_callbacks)
    read_earlier = _head(product)
    _paid_order(product, 1, capture=django_capture_on_commit_callbacks)
    moved_by_the_other = _head(product)
    monkeypatch.setattr(delivery, "_queue_head", lambda product_id: read_earlier)
    late = _paid_order(product, 1, capture=django_capture_on_commit_callbacks)
    head_after_the_late_one = _head(product)
    monkeypatch.undo()

    after = _paid_order(product, 1, capture=django_capture_on_commit_callbacks)

    codes = _codes(batch)
    assert (read_earlier, moved_by_the_other) == (_head_at(codes[0]), _head_at(codes[1]))
    assert _delivered(late) == [codes[2]]
    assert head_after_the_late_one == _head_at(codes[1])
    assert _delivered(after) == [codes[3]]
    assert _head(product) == _head_at(codes[3])


def test_a_replacement_code_comes_from_the_head_and_leaves_it_in_place(
    django_capture_on_commit_callbacks,
):
    product = ProductFactory()
    batch = codes_stock(product, 4)
    order = _paid_order(product, 2, capture=django_capture_on_commit_callbacks)
    codes = _codes(batch)

    new = delivery.code_replace(code_id=codes[0].pk)

    assert new == codes[2]
    assert new.order_line.order == order
    assert _head(product) == _head_at(codes[1])
    assert _counters(product) == (1, 0)


@pytest.mark.postgres
def test_the_code_table_is_vacuumed_after_ten_thousand_dead_rows():
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'fulfillment_code'")
        (options,) = cursor.fetchone()

    assert sorted(options) == [
        "autovacuum_vacuum_scale_factor=0",
        "autovacuum_vacuum_threshold=10000",
    ]
