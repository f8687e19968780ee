"""Factories for the fulfillment app, and ``codes_stock`` for any test that needs real codes.

``codes_stock(product, n, *, status="sellable", codes=None, supplier=None,
release_checks=False) -> Batch``
    Imports ``n`` codes for ``product`` through the real import service (each
    sealed by the vault and blind-indexed, exactly as in production) and moves
    the new batch to ``status`` through ``batch_transition``: "quarantined"
    (codes held back), "sellable" (codes available, ``StockLevel.codes_available``
    raised by ``n``) or "suspended" (held back again). Pass ``codes`` to choose
    the plaintexts (for example to check what a buyer is shown); by default they
    are random ``TEST-`` codes, which fit a product without a CodeRule. The
    release checks (KEYSHOP_BATCH_RELEASE_CHECKS) are skipped unless
    ``release_checks=True``. ``stock_arrived`` is sent on commit, so a test sees
    it only inside ``django_capture_on_commit_callbacks(execute=True)``.

``code_plaintext(code) -> str``
    Opens a stored code with the vault, for assertions on what was delivered.

``codes_mark_delivered(codes, product) -> OrderLine``
    Marks available codes delivered on a new order line and takes them off the
    counter, as delivery does: for tests of what happens to codes already sold.
    Tests of delivery itself use the real service.
"""

import io
import secrets

import factory
from django.db.models import F
from django.test import override_settings
from django.utils import timezone

from fulfillment import vault
from fulfillment.models import Batch, BatchStatus, Code, CodeStatus, StockLevel, Supplier
from fulfillment.services.batches import batch_transition
from fulfillment.services.imports import batch_create, batch_import
from shop.models import Order, OrderLine, Product
from tests.shop.factories import ProductFactory


class SupplierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Supplier
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"Supplier {n}")


class BatchFactory(factory.django.DjangoModelFactory):
    """A batch row without codes, importing unless told otherwise; see ``codes_stock``."""

    class Meta:
        model = Batch

    supplier = factory.SubFactory(SupplierFactory)
    product = factory.SubFactory(ProductFactory)
    file_name = "codes.txt"


# The moves from quarantined to each status codes_stock can leave a batch in.
_PATHS = {
    BatchStatus.QUARANTINED: [],
    BatchStatus.SELLABLE: [BatchStatus.SELLABLE],
    BatchStatus.SUSPENDED: [BatchStatus.SELLABLE, BatchStatus.SUSPENDED],
}


def codes_stock(
    product: Product,
    n: int,
    *,
    status: str = BatchStatus.SELLABLE,
    codes: list[str] | None = None,
    supplier: Supplier | None = None,
    release_checks: bool = False,
) -> Batch:
    """A batch of ``n`` real, sealed codes for ``product``, in ``status`` (see the module doc)."""
    if codes is None:
        codes = [f"TEST-{secrets.token_hex(8).upper()}" for _ in range(n)]
    assert len(codes) == n, "give exactly n codes"
    batch = batch_create(
        supplier=supplier or SupplierFactory(),
        product=product,
        file_name="codes_stock.txt",
        actor=None,
    )
    data = "".join(f"{code}\n" for code in codes).encode()
    batch = batch_import(batch_id=batch.pk, path_or_file=io.BytesIO(data), file_format="txt")
    assert batch.status == BatchStatus.QUARANTINED, batch.failure
    assert batch.codes_imported == n, "some codes were rejected: duplicates, or not the format"
    checks = {} if release_checks else {"KEYSHOP_BATCH_RELEASE_CHECKS": []}
    with override_settings(**checks):
        for to_status in _PATHS[BatchStatus(status)]:
            batch, _moved = batch_transition(batch_id=batch.pk, to_status=to_status)
    return batch


def code_plaintext(code: Code) -> str:
    return vault.open_sealed(
        vault.Sealed(key_id=code.key_id, ciphertext=bytes(code.ciphertext)),
        product_id=code.product_id,
        blind_index=bytes(code.blind_index),
    )


def codes_mark_delivered(codes: list[Code], product: Product) -> OrderLine:
    order = Order.objects.create(
        number=f"KS-T{secrets.token_hex(6).upper()}",
        email="buyer@example.com",
        currency=product.currency,
        total_minor=product.price_minor * len(codes),
        terms_version="test",
        terms_accepted_at=timezone.now(),
    )
    line = OrderLine.objects.create(
        order=order, product=product, quantity=len(codes), unit_price_minor=product.price_minor
    )
    Code.objects.filter(pk__in=[code.pk for code in codes]).update(
        status=CodeStatus.DELIVERED, order_line=line, delivered_at=timezone.now()
    )
    StockLevel.objects.filter(product=product).update(
        codes_available=F("codes_available") - len(codes)
    )
    return line
