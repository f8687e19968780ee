from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from compliance.errors import ComplianceRefused
from compliance.models import (
    DocumentKind,
    SupplierDocument,
    SupplierVetting,
    SupplierVettingEvent,
    VettingStatus,
)
from compliance.services.suppliers import (
    ALLOWED_MOVES,
    supplier_document_add,
    supplier_vetting_open,
    supplier_vetting_transition,
    suppliers_expire_authorisations,
)
from core.errors import IllegalTransition, InvalidInput
from fulfillment.models import BatchStatus, StockLevel
from tests.compliance.conftest import otp_login, staff_user
from tests.compliance.factories import document_file, supplier_approved
from tests.fulfillment.factories import SupplierFactory, codes_stock
from tests.shop.factories import ProductFactory

pytestmark = pytest.mark.django_db


def _moves(vetting):
    return list(
        SupplierVettingEvent.objects.filter(vetting=vetting).values_list("from_status", "to_status")
    )


def test_every_vetting_status_has_a_row_in_the_table():
    assert set(ALLOWED_MOVES) == set(VettingStatus.values)


def test_a_supplier_is_approved_with_a_registration_and_a_current_authorisation():
    supplier = supplier_approved("Acme Keys")

    vetting = SupplierVetting.objects.get(supplier=supplier)
    assert vetting.status == VettingStatus.APPROVED
    assert vetting.approved_at is not None
    assert _moves(vetting) == [
        ("", "applied"),
        ("applied", "under_review"),
        ("under_review", "approved"),
    ]


def test_approval_without_documents_is_refused_and_nothing_changes():
    vetting = supplier_vetting_open(supplier=SupplierFactory())
    supplier_vetting_transition(vetting_id=vetting.pk, to_status=VettingStatus.UNDER_REVIEW)

    with pytest.raises(ComplianceRefused, match="business registration"):
        supplier_vetting_transition(vetting_id=vetting.pk, to_status=VettingStatus.APPROVED)

    vetting.refresh_from_db()
    assert vetting.status == VettingStatus.UNDER_REVIEW
    assert len(_moves(vetting)) == 2


def test_approval_with_only_an_expired_authorisation_is_refused():
    supplier = SupplierFactory()
    vetting = supplier_vetting_open(supplier=supplier)
    for kind, valid_until in [
        (DocumentKind.REGISTRATION, None),
        (DocumentKind.RESELLER_CERTIFICATE, timezone.localdate() - timedelta(days=1)),
    ]:
        supplier_document_add(
            supplier=supplier,
            kind=kind,
            reference="R",
            file=document_file(),
            valid_until=valid_until,
            actor=None,
        )
    supplier_vetting_transition(vetting_id=vetting.pk, to_status=VettingStatus.UNDER_REVIEW)

    with pytest.raises(ComplianceRefused, match="no current publisher authorisation"):
        supplier_vetting_transition(vetting_id=vetting.pk, to_status=VettingStatus.APPROVED)


def test_repeat_is_a_no_op_and_illegal_moves_are_refused():
    vetting = supplier_vetting_open(supplier=SupplierFactory())

    _vetting, moved = supplier_vetting_transition(vetting_id=vetting.pk, to_status="applied")
    assert moved is False
    with pytest.raises(IllegalTransition):
        supplier_vetting_transition(vetting_id=vetting.pk, to_status=VettingStatus.APPROVED)
    supplier_vetting_transition(vetting_id=vetting.pk, to_status=VettingStatus.OFFBOARDED)
    with pytest.raises(IllegalTransition):
        supplier_vetting_transition(vetting_id=vetting.pk, to_status=VettingStatus.UNDER_REVIEW)


def test_an_authorisation_needs_an_expiry_date():
    with pytest.raises(InvalidInput):
        supplier_document_add(
            supplier=SupplierFactory(),
            kind=DocumentKind.PUBLISHER_AUTHORISATION,
            reference="A",
            file=document_file(),
            valid_until=None,
            actor=None,
        )
    assert SupplierDocument.objects.count() == 0


def test_documents_are_stored_privately_under_media_root_with_their_hash(private_media):
    supplier = supplier_approved()

    document = SupplierDocument.objects.filter(supplier=supplier).first()
    path = private_media / document.file.name
    assert path.is_file() and path.read_bytes() == b"%PDF-1.4 test"
    assert "registration" not in document.file.name  # our own name on disk
    assert document.original_name in {"registration.pdf", "authorisation.pdf"}
    assert len(document.sha256) == 64
    with pytest.raises(ValueError):
        document.file.url  # noqa: B018 - private files have no public address


def test_suspending_a_supplier_suspends_its_sellable_batches_and_stock_follows():
    supplier = supplier_approved()
    product = ProductFactory()
    sellable = codes_stock(product, 3, supplier=supplier)
    other = codes_stock(product, 2)  # another supplier's batch stays on sale
    assert StockLevel.objects.get(product=product).codes_available == 5
    vetting = SupplierVetting.objects.get(supplier=supplier)

    supplier_vetting_transition(
        vetting_id=vetting.pk, to_status=VettingStatus.SUSPENDED, note="invoice dispute"
    )

    sellable.refresh_from_db()
    other.refresh_from_db()
    assert (sellable.status, other.status) == (BatchStatus.SUSPENDED, BatchStatus.SELLABLE)
    assert StockLevel.objects.get(product=product).codes_available == 2
    assert "invoice dispute" in sellable.events.last().note


def test_the_daily_task_suspends_suppliers_whose_authorisation_expired():
    today = timezone.localdate()
    expiring = supplier_approved(valid_until=today + timedelta(days=3))
    current = supplier_approved(valid_until=today + timedelta(days=300))
    product = ProductFactory()
    batch = codes_stock(product, 4, supplier=expiring)
    kept = codes_stock(product, 1, supplier=current)

    assert suppliers_expire_authorisations(today=today + timedelta(days=3)) == 0
    assert suppliers_expire_authorisations(today=today + timedelta(days=4)) == 1

    batch.refresh_from_db()
    kept.refresh_from_db()
    assert SupplierVetting.objects.get(supplier=expiring).status == VettingStatus.SUSPENDED
    assert (batch.status, kept.status) == (BatchStatus.SUSPENDED, BatchStatus.SELLABLE)
    assert StockLevel.objects.get(product=product).codes_available == 1


def test_the_daily_task_also_takes_unvetted_suppliers_batches_off_sale():
    product = ProductFactory()
    batch = codes_stock(product, 2)  # made sellable without the release checks

    suppliers_expire_authorisations()

    batch.refresh_from_db()
    assert batch.status == BatchStatus.SUSPENDED
    assert StockLevel.objects.get(product=product).codes_available == 0


def test_only_staff_with_the_permission_download_a_document(client):
    supplier = supplier_approved()
    document = SupplierDocument.objects.filter(supplier=supplier).first()
    url = reverse("admin:compliance_supplierdocument_download", args=[document.pk])
    viewer = staff_user("viewer", "compliance.view_supplierdocument")
    permitted = staff_user("permitted", "compliance.download_supplierdocument")

    assert client.get(url).status_code == 302  # to the staff sign-in
    otp_login(client, viewer)
    assert client.get(url).status_code == 403
    otp_login(client, permitted)
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"%PDF-1.4 test"
    assert f'filename="{document.original_name}"' in response["Content-Disposition"]
