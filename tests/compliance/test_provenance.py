import io
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from compliance.errors import ComplianceRefused
from compliance.models import BatchCheck, BatchProvenance, SupplierVetting, VettingStatus
from compliance.services.provenance import batch_approve, batch_checks_run, batch_reject
from compliance.services.revocations import revocation_list_import
from compliance.services.suppliers import (
    supplier_vetting_open,
    supplier_vetting_transition,
    suppliers_expire_authorisations,
)
from core.errors import InvalidInput
from core.money import Money
from fulfillment.models import BatchStatus, Code, CodeStatus, StockLevel
from fulfillment.services.delivery import order_deliver
from shop.models import Order
from shop.services.orders import order_create, order_mark_paid
from tests.compliance.factories import (
    batch_imported,
    provenance_fill,
    random_codes,
    supplier_approved,
)
from tests.fulfillment.factories import SupplierFactory, codes_mark_delivered, codes_stock
from tests.shop.factories import ProductFactory, stock_product

pytestmark = pytest.mark.django_db


def _checks(batch) -> dict[str, tuple[str, int]]:
    return {
        check.kind: (check.outcome, check.count) for check in BatchCheck.objects.filter(batch=batch)
    }


def _paid_order(product, quantity, capture, email="buyer@example.com"):
    order, _token = order_create(
        email=email,
        product=product,
        quantity=quantity,
        terms_version=settings.KEYSHOP_TERMS_VERSION,
        language="en",
    )
    with capture(execute=True):
        order_mark_paid(order_id=order.pk)
    return Order.objects.get(pk=order.pk)


def _sellable_codes(product) -> int:
    counted = Code.objects.filter(product=product, status=CodeStatus.AVAILABLE).count()
    level = StockLevel.objects.filter(product=product).first()
    assert (level.codes_available if level else 0) == counted
    return counted


def test_an_import_records_provenance_and_runs_the_checks(django_capture_on_commit_callbacks):
    product = ProductFactory()
    sold = codes_stock(product, 1, codes=["SOLD-AAAA1"])
    codes_mark_delivered(list(sold.codes.all()), product)
    codes_stock(product, 1, codes=["KEPT-AAAA1"])
    lines = ["NEW-AAAA1", "NEW-AAAA2", "NEW-AAAA2", "KEPT-AAAA1", "SOLD-AAAA1", "ab"]

    batch = batch_imported(
        product, lines, supplier=SupplierFactory(), capture=django_capture_on_commit_callbacks
    )

    provenance = BatchProvenance.objects.get(batch=batch)
    assert provenance.checks_run_at is not None
    assert batch.status == BatchStatus.QUARANTINED and batch.codes_imported == 2
    assert _checks(batch) == {
        "duplicates": ("warning", 3),
        "format": ("warning", 1),
        "revoked": ("passed", 0),
        "volume": ("n/a", 2),
        "unit_cost": ("n/a", 0),
    }
    duplicates = BatchCheck.objects.get(batch=batch, kind="duplicates").detail
    assert duplicates == "1 already in the vault, 1 already sold, 1 repeated in the file"
    assert "NEW-AAAA" not in str(list(BatchCheck.objects.values_list("detail", flat=True)))


def test_codes_on_a_revocation_list_are_withdrawn_at_import(django_capture_on_commit_callbacks):
    product = ProductFactory()
    revocation_list_import(
        product=product,
        publisher="Publisher",
        reference="R1",
        file=io.BytesIO(b"bad-code-1\n"),
        actor=None,
    )

    batch = batch_imported(
        product,
        ["BAD-CODE-1", "GOOD-CODE-1"],
        supplier=SupplierFactory(),
        capture=django_capture_on_commit_callbacks,
    )

    assert _checks(batch)["revoked"] == ("warning", 1)
    statuses = sorted(Code.objects.filter(batch=batch).values_list("status", flat=True))
    assert statuses == ["held_back", "revoked"]


def test_unusual_volume_and_unit_cost_are_flagged_against_the_suppliers_history(
    django_capture_on_commit_callbacks,
):
    supplier = SupplierFactory()
    product = ProductFactory()
    for _ in range(3):
        earlier = batch_imported(
            product, random_codes(2), supplier=supplier, capture=django_capture_on_commit_callbacks
        )
        provenance_fill(earlier, unit_cost=Money(1000, "EUR"))
    usual = batch_imported(
        product, random_codes(3), supplier=supplier, capture=django_capture_on_commit_callbacks
    )
    provenance_fill(usual, unit_cost=Money(1100, "EUR"))
    unusual = batch_imported(
        product, random_codes(7), supplier=supplier, capture=django_capture_on_commit_callbacks
    )
    provenance_fill(unusual, unit_cost=Money(300, "EUR"))

    assert (_checks(usual)["volume"], _checks(usual)["unit_cost"]) == (
        ("passed", 3),
        ("passed", 1100),
    )
    assert (_checks(unusual)["volume"], _checks(unusual)["unit_cost"]) == (
        ("warning", 7),
        ("warning", 300),
    )


def test_checks_run_again_replace_their_rows(django_capture_on_commit_callbacks):
    batch = batch_imported(
        ProductFactory(),
        random_codes(2),
        supplier=SupplierFactory(),
        capture=django_capture_on_commit_callbacks,
    )

    batch_checks_run(batch_id=batch.pk)

    assert BatchCheck.objects.filter(batch=batch).count() == 5


def test_an_officer_approves_a_complete_batch_of_an_approved_supplier(
    officer, clerk, django_capture_on_commit_callbacks
):
    product = ProductFactory()
    batch = batch_imported(
        product,
        random_codes(3),
        supplier=supplier_approved(),
        importer=clerk,
        capture=django_capture_on_commit_callbacks,
    )
    provenance_fill(batch)

    batch = batch_approve(batch_id=batch.pk, actor=officer)

    assert batch.status == BatchStatus.SELLABLE
    assert _sellable_codes(product) == 3
    assert batch.events.last().actor == officer


def test_the_importer_cannot_approve_their_own_batch(clerk, django_capture_on_commit_callbacks):
    product = ProductFactory()
    batch = batch_imported(
        product,
        random_codes(3),
        supplier=supplier_approved(),
        importer=clerk,
        capture=django_capture_on_commit_callbacks,
    )
    provenance_fill(batch)

    with pytest.raises(ComplianceRefused, match="imported a batch cannot approve it"):
        batch_approve(batch_id=batch.pk, actor=clerk)

    batch.refresh_from_db()
    assert batch.status == BatchStatus.QUARANTINED
    assert _sellable_codes(product) == 0


def test_staff_without_the_permission_cannot_release_a_batch(
    clerk, django_capture_on_commit_callbacks
):
    from tests.compliance.conftest import staff_user

    batch = batch_imported(
        ProductFactory(),
        random_codes(1),
        supplier=supplier_approved(),
        importer=clerk,
        capture=django_capture_on_commit_callbacks,
    )
    provenance_fill(batch)

    with pytest.raises(ComplianceRefused, match="Only a compliance officer"):
        batch_approve(batch_id=batch.pk, actor=staff_user("someone"))
    with pytest.raises(ComplianceRefused, match="Only a compliance officer"):
        batch_approve(batch_id=batch.pk, actor=None)


def test_incomplete_provenance_is_refused(officer, django_capture_on_commit_callbacks):
    batch = batch_imported(
        ProductFactory(),
        random_codes(1),
        supplier=supplier_approved(),
        capture=django_capture_on_commit_callbacks,
    )
    provenance_fill(batch, invoice_reference="", unit_cost=None)

    with pytest.raises(ComplianceRefused) as refused:
        batch_approve(batch_id=batch.pk, actor=officer)

    assert "invoice or purchase-order reference, unit cost" in refused.value.message


def test_a_future_acquisition_date_is_refused(django_capture_on_commit_callbacks):
    batch = batch_imported(
        ProductFactory(),
        random_codes(1),
        supplier=SupplierFactory(),
        capture=django_capture_on_commit_callbacks,
    )

    with pytest.raises(InvalidInput):
        provenance_fill(batch, acquired_on=timezone.localdate() + timedelta(days=1))


def test_rejecting_needs_a_note_and_keeps_the_codes_off_sale(
    officer, django_capture_on_commit_callbacks
):
    product = ProductFactory()
    batch = batch_imported(
        product,
        random_codes(2),
        supplier=SupplierFactory(),
        capture=django_capture_on_commit_callbacks,
    )

    with pytest.raises(InvalidInput):
        batch_reject(batch_id=batch.pk, actor=officer, note=" ")
    batch = batch_reject(batch_id=batch.pk, actor=officer, note="no invoice")

    assert batch.status == BatchStatus.REJECTED
    assert _sellable_codes(product) == 0


def test_a_batch_of_an_unapproved_supplier_is_never_delivered(
    officer, django_capture_on_commit_callbacks
):
    product = ProductFactory()
    supplier = SupplierFactory()
    vetting = supplier_vetting_open(supplier=supplier)
    supplier_vetting_transition(vetting_id=vetting.pk, to_status=VettingStatus.UNDER_REVIEW)
    batch = batch_imported(
        product, random_codes(3), supplier=supplier, capture=django_capture_on_commit_callbacks
    )
    provenance_fill(batch)
    with pytest.raises(ComplianceRefused, match="not approved"):
        batch_approve(batch_id=batch.pk, actor=officer)
    # Even if the stock counter claimed a unit (here by hand), delivery finds no code to take.
    stock_product(product, 1)

    order = _paid_order(product, 1, django_capture_on_commit_callbacks)

    assert order.status == "awaiting_stock"
    assert not Code.objects.filter(order_line__order=order).exists()
    assert set(Code.objects.filter(batch=batch).values_list("status", flat=True)) == {"held_back"}
    assert order_deliver(order_id=order.pk).codes_allocated == 0


def test_an_expired_suppliers_batch_is_never_delivered(officer, django_capture_on_commit_callbacks):
    today = timezone.localdate()
    product = ProductFactory()
    supplier = supplier_approved(valid_until=today + timedelta(days=1))
    batch = batch_imported(
        product, random_codes(2), supplier=supplier, capture=django_capture_on_commit_callbacks
    )
    provenance_fill(batch)
    batch_approve(batch_id=batch.pk, actor=officer)
    order, _token = order_create(
        email="buyer@example.com",
        product=product,
        quantity=1,
        terms_version=settings.KEYSHOP_TERMS_VERSION,
        language="en",
    )
    assert _sellable_codes(product) == 2

    suppliers_expire_authorisations(today=today + timedelta(days=2))
    with django_capture_on_commit_callbacks(execute=True):
        order_mark_paid(order_id=order.pk)

    order.refresh_from_db()
    assert order.status == "awaiting_stock"
    assert not Code.objects.filter(order_line__order=order).exists()
    assert SupplierVetting.objects.get(supplier=supplier).status == VettingStatus.SUSPENDED
    with pytest.raises(ComplianceRefused, match="not approved"):
        batch_approve(batch_id=batch.pk, actor=officer)
    assert _sellable_codes(product) == 0
