import pytest
from django.contrib.auth import get_user_model

from core.errors import Conflict, IllegalTransition
from fulfillment.models import Batch, BatchEvent, BatchStatus, Code, CodeStatus, StockLevel
from fulfillment.services.batches import ALLOWED_MOVES, batch_code_counts, batch_transition
from fulfillment.signals import stock_arrived
from tests.fulfillment.factories import BatchFactory, codes_mark_delivered, codes_stock
from tests.shop.factories import ProductFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_release_checks")]

release_checks_seen: list[tuple[int, object]] = []


def refuse_release(batch, actor):
    raise Conflict("The supplier is not approved.")


def record_release(batch, actor):
    release_checks_seen.append((batch.pk, actor))


@pytest.fixture
def arrivals():
    received = []

    def receiver(sender, product_id, **kwargs):
        received.append((sender, product_id))

    stock_arrived.connect(receiver)
    yield received
    stock_arrived.disconnect(receiver)


@pytest.fixture
def staff():
    return get_user_model().objects.create_user(username="clerk", is_staff=True)


def codes_available(product) -> int:
    """The StockLevel counter, checked against the codes it counts."""
    counted = Code.objects.filter(product=product, status=CodeStatus.AVAILABLE).count()
    level = StockLevel.objects.filter(product=product).first()
    assert (level.codes_available if level else 0) == counted
    return counted


def moves(batch) -> list[tuple[str, str]]:
    return list(BatchEvent.objects.filter(batch=batch).values_list("from_status", "to_status"))


def test_making_a_quarantined_batch_sellable_puts_its_codes_on_sale(
    staff, arrivals, django_capture_on_commit_callbacks
):
    product = ProductFactory()
    batch = codes_stock(product, 5, status="quarantined")
    assert codes_available(product) == 0

    with django_capture_on_commit_callbacks(execute=True):
        batch, moved = batch_transition(
            batch_id=batch.pk, to_status="sellable", actor=staff, note="checked the invoice"
        )

    assert moved is True
    assert batch.status == BatchStatus.SELLABLE
    assert batch_code_counts(batch_id=batch.pk) == {"available": 5}
    assert codes_available(product) == 5
    assert moves(batch) == [
        ("", "importing"),
        ("importing", "quarantined"),
        ("quarantined", "sellable"),
    ]
    event = BatchEvent.objects.filter(batch=batch).last()
    assert (event.actor, event.note) == (staff, "checked the invoice")
    assert arrivals == [(Batch, product.pk)]


def test_suspending_takes_exactly_that_batchs_available_codes_off_sale(
    arrivals, django_capture_on_commit_callbacks
):
    product = ProductFactory()
    first = codes_stock(product, 3)
    second = codes_stock(product, 4)
    assert codes_available(product) == 7

    with django_capture_on_commit_callbacks(execute=True):
        batch_transition(batch_id=first.pk, to_status="suspended")

    assert codes_available(product) == 4
    assert batch_code_counts(batch_id=first.pk) == {"held_back": 3}
    assert batch_code_counts(batch_id=second.pk) == {"available": 4}
    assert arrivals == []

    with django_capture_on_commit_callbacks(execute=True):
        batch_transition(batch_id=first.pk, to_status="sellable")

    assert codes_available(product) == 7
    assert batch_code_counts(batch_id=first.pk) == {"available": 3}
    assert arrivals == [(Batch, product.pk)]


def test_delivered_codes_stay_delivered_through_a_suspension():
    product = ProductFactory()
    batch = codes_stock(product, 4)
    codes_mark_delivered(list(Code.objects.filter(batch=batch).order_by("pk")[:1]), product)
    assert codes_available(product) == 3

    batch_transition(batch_id=batch.pk, to_status="suspended")

    assert batch_code_counts(batch_id=batch.pk) == {"delivered": 1, "held_back": 3}
    assert codes_available(product) == 0

    batch_transition(batch_id=batch.pk, to_status="sellable")

    assert batch_code_counts(batch_id=batch.pk) == {"available": 3, "delivered": 1}
    assert codes_available(product) == 3


def test_a_repeated_move_is_a_no_op(arrivals, django_capture_on_commit_callbacks):
    product = ProductFactory()
    batch = codes_stock(product, 2)
    events_before = moves(batch)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        batch, moved = batch_transition(batch_id=batch.pk, to_status="sellable")

    assert moved is False
    assert callbacks == []
    assert arrivals == []
    assert moves(batch) == events_before
    assert codes_available(product) == 2


@pytest.mark.parametrize(
    ("from_status", "to_status"),
    [
        ("importing", "sellable"),
        ("quarantined", "suspended"),
        ("quarantined", "exhausted"),
        ("failed", "quarantined"),
        ("rejected", "sellable"),
        ("exhausted", "sellable"),
        ("sellable", "quarantined"),
    ],
)
def test_a_move_not_in_the_table_is_refused_and_changes_nothing(from_status, to_status):
    assert to_status not in ALLOWED_MOVES[from_status]
    batch = BatchFactory(status=from_status)
    events_before = moves(batch)

    with pytest.raises(IllegalTransition) as refused:
        batch_transition(batch_id=batch.pk, to_status=to_status)

    assert refused.value.details == {"from_status": from_status, "to_status": to_status}
    batch.refresh_from_db()
    assert batch.status == from_status
    assert moves(batch) == events_before


def test_a_quarantined_batch_with_codes_refuses_an_illegal_move_and_keeps_them_held_back():
    product = ProductFactory()
    batch = codes_stock(product, 3, status="quarantined")

    with pytest.raises(IllegalTransition):
        batch_transition(batch_id=batch.pk, to_status="suspended")

    assert batch_code_counts(batch_id=batch.pk) == {"held_back": 3}
    assert codes_available(product) == 0


def test_a_release_check_can_refuse_and_then_nothing_changes(
    settings, arrivals, django_capture_on_commit_callbacks
):
    settings.KEYSHOP_BATCH_RELEASE_CHECKS = [f"{__name__}.refuse_release"]
    product = ProductFactory()
    batch = codes_stock(product, 3, status="quarantined")
    events_before = moves(batch)

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Conflict) as refused:
        batch_transition(batch_id=batch.pk, to_status="sellable")

    assert refused.value.message == "The supplier is not approved."
    batch.refresh_from_db()
    assert batch.status == BatchStatus.QUARANTINED
    assert batch_code_counts(batch_id=batch.pk) == {"held_back": 3}
    assert codes_available(product) == 0
    assert moves(batch) == events_before
    assert arrivals == []


def test_release_checks_get_the_batch_and_the_actor_each_time_it_becomes_sellable(settings, staff):
    settings.KEYSHOP_BATCH_RELEASE_CHECKS = [f"{__name__}.record_release"]
    release_checks_seen.clear()
    batch = codes_stock(ProductFactory(), 1, status="quarantined")

    batch_transition(batch_id=batch.pk, to_status="sellable", actor=staff)
    batch_transition(batch_id=batch.pk, to_status="suspended", actor=staff)
    batch_transition(batch_id=batch.pk, to_status="sellable")

    assert release_checks_seen == [(batch.pk, staff), (batch.pk, None)]


def test_a_batch_with_codes_left_cannot_be_exhausted():
    product = ProductFactory()
    batch = codes_stock(product, 2)

    with pytest.raises(Conflict):
        batch_transition(batch_id=batch.pk, to_status="exhausted")

    batch.refresh_from_db()
    assert batch.status == BatchStatus.SELLABLE
    assert codes_available(product) == 2


def test_a_batch_whose_codes_are_all_delivered_is_exhausted():
    product = ProductFactory()
    batch = codes_stock(product, 2)
    codes_mark_delivered(list(Code.objects.filter(batch=batch)), product)

    batch, moved = batch_transition(batch_id=batch.pk, to_status="exhausted")

    assert moved is True
    assert batch_code_counts(batch_id=batch.pk) == {"delivered": 2}
    assert codes_available(product) == 0


def test_the_first_sellable_batch_of_a_product_creates_its_stock_level():
    product = ProductFactory()
    assert not StockLevel.objects.filter(product=product).exists()

    codes_stock(product, 3)

    assert StockLevel.objects.get(product=product).codes_available == 3


def test_codes_stock_can_leave_a_batch_suspended():
    product = ProductFactory()

    batch = codes_stock(product, 2, status="suspended")

    assert batch.status == BatchStatus.SUSPENDED
    assert batch_code_counts(batch_id=batch.pk) == {"held_back": 2}
    assert codes_available(product) == 0
