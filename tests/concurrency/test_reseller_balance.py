"""50 reseller orders at once, in separate processes, against a balance that covers 20."""

import pytest
from django.db import connection

from core.errors import OutOfStock
from shop.models import LedgerKind, Order, Reseller, ResellerBalance, ResellerLedgerEntry
from shop.selectors_resellers import ledger_sum
from shop.services.resellers import (
    InsufficientBalance,
    OrderLineRequest,
    reseller_order_place,
)
from tests.fulfillment.factories import codes_stock
from tests.shop.api.factories import ResellerFactory, fund
from tests.shop.factories import ProductFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _order(reseller_id: int, product_id: int, n: int) -> str:
    try:
        reseller_order_place(
            reseller=Reseller.objects.get(pk=reseller_id),
            idempotency_key=f"race-{n}",
            lines=[OrderLineRequest(product_id=product_id, quantity=1)],
        )
    except InsufficientBalance:
        return "refused: balance"
    except OutOfStock:
        return "refused: stock"
    return "placed"


def _same_key(reseller_id: int, product_id: int) -> str:
    order, created = reseller_order_place(
        reseller=Reseller.objects.get(pk=reseller_id),
        idempotency_key="one-key",
        lines=[OrderLineRequest(product_id=product_id, quantity=1)],
    )
    return f"{order.number} {'new' if created else 'replayed'}"


def test_50_concurrent_orders_against_a_balance_for_20_place_exactly_20(in_processes):
    reseller = ResellerFactory()
    product = ProductFactory(price_minor=1000, max_per_order=1)
    codes_stock(product, 50)
    fund(reseller, 20 * 1000)

    answers = in_processes(_order, [(reseller.pk, product.pk, n) for n in range(50)], processes=16)

    balance = ResellerBalance.objects.get(reseller=reseller)
    assert answers.count("placed") == 20
    assert answers.count("refused: balance") == 30
    assert balance.amount_minor == 0
    assert ledger_sum(balance=balance) == balance.amount_minor
    assert ResellerLedgerEntry.objects.filter(kind=LedgerKind.ORDER).count() == 20
    assert Order.objects.filter(reseller=reseller).count() == 20
    # 20 units were sold (delivered, or held for screening); 30 remain sellable.
    with connection.cursor() as cursor:
        cursor.execute("SELECT codes_available - units_held FROM fulfillment_stocklevel")
        assert cursor.fetchall() == [(30,)]


def test_the_same_idempotency_key_sent_at_once_from_many_processes_makes_one_order(
    in_processes,
):
    reseller = ResellerFactory()
    product = ProductFactory(price_minor=1000, max_per_order=1)
    codes_stock(product, 5)
    fund(reseller, 5000)

    answers = in_processes(_same_key, [(reseller.pk, product.pk)] * 8, processes=8)

    numbers = {answer.split()[0] for answer in answers}
    assert len(numbers) == 1
    assert sorted(answer.split()[1] for answer in answers) == ["new"] + ["replayed"] * 7
    assert ResellerBalance.objects.get(reseller=reseller).amount_minor == 4000
