from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from compliance.models import (
    BlocklistEntry,
    OrderReview,
    RevocationList,
    SupplierDocument,
    SupplierVetting,
)
from core.privacy import pii_hash
from fulfillment.models import BatchStatus, Code
from tests.compliance.conftest import otp_login
from tests.compliance.factories import (
    batch_imported,
    provenance_fill,
    random_codes,
    supplier_approved,
)
from tests.compliance.test_screening import _paid
from tests.fulfillment.factories import SupplierFactory, codes_stock
from tests.shop.factories import ProductFactory

pytestmark = pytest.mark.django_db

PAGES = [
    "suppliervetting",
    "supplierdocument",
    "batchprovenance",
    "revocationlist",
    "revocationcase",
    "screeningrule",
    "blocklistentry",
    "screeningdecision",
    "orderreview",
]


@pytest.mark.parametrize("model", PAGES)
def test_every_compliance_list_opens_for_staff(otp_admin_client, model):
    assert otp_admin_client.get(reverse(f"admin:compliance_{model}_changelist")).status_code == 200


@pytest.mark.parametrize(
    "model", ["suppliervetting", "supplierdocument", "revocationlist", "blocklistentry"]
)
def test_the_add_forms_open(otp_admin_client, model):
    assert otp_admin_client.get(reverse(f"admin:compliance_{model}_add")).status_code == 200


def test_staff_start_vetting_and_upload_a_document(otp_admin_client):
    supplier = SupplierFactory()

    otp_admin_client.post(
        reverse("admin:compliance_suppliervetting_add"), {"supplier": supplier.pk, "notes": "x"}
    )
    otp_admin_client.post(
        reverse("admin:compliance_supplierdocument_add"),
        {
            "supplier": supplier.pk,
            "kind": "publisher_authorisation",
            "reference": "AUTH-9",
            "valid_until": (timezone.localdate() + timedelta(days=30)).isoformat(),
            "file": SimpleUploadedFile("auth.pdf", b"%PDF"),
        },
    )

    assert SupplierVetting.objects.get(supplier=supplier).status == "applied"
    assert SupplierDocument.objects.get(supplier=supplier).reference == "AUTH-9"


def test_the_officer_approves_a_batch_from_the_quarantine_desk(
    client, officer, clerk, django_capture_on_commit_callbacks
):
    batch = batch_imported(
        ProductFactory(),
        random_codes(2),
        supplier=supplier_approved(),
        importer=clerk,
        capture=django_capture_on_commit_callbacks,
    )
    provenance_fill(batch)
    url = reverse("admin:compliance_batchprovenance_changelist")

    otp_login(client, clerk)
    client.post(url, {"action": "approve", "_selected_action": [batch.provenance.pk]})
    batch.refresh_from_db()
    assert batch.status == BatchStatus.QUARANTINED
    otp_login(client, officer)
    client.post(url, {"action": "approve", "_selected_action": [batch.provenance.pk]})
    batch.refresh_from_db()
    assert batch.status == BatchStatus.SELLABLE


def test_staff_record_provenance_with_the_unit_cost_in_major_units(
    otp_admin_client, django_capture_on_commit_callbacks
):
    batch = batch_imported(
        ProductFactory(),
        random_codes(1),
        supplier=SupplierFactory(),
        capture=django_capture_on_commit_callbacks,
    )

    response = otp_admin_client.post(
        reverse("admin:compliance_batchprovenance_change", args=[batch.provenance.pk]),
        {
            "invoice_reference": "INV-1",
            "acquired_on": timezone.localdate().isoformat(),
            "unit_cost": "12.50",
            "unit_cost_currency": "EUR",
            "publisher_authorisation_reference": "AUTH-1",
        },
    )

    assert response.status_code == 302
    batch.provenance.refresh_from_db()
    assert (batch.provenance.unit_cost_minor, batch.provenance.invoice_reference) == (1250, "INV-1")


def test_refusing_from_the_queue_asks_for_a_note_first(
    client, officer, django_capture_on_commit_callbacks
):
    product = ProductFactory()
    codes_stock(product, 1)
    order = _paid("x@mailinator.com", product=product, capture=django_capture_on_commit_callbacks)
    review = OrderReview.objects.get(order=order)
    url = reverse("admin:compliance_orderreview_changelist")
    otp_login(client, officer)

    listing = client.get(url)
    asked = client.post(url, {"action": "refuse", "_selected_action": [review.pk]})
    without_note = client.post(
        url, {"action": "refuse", "_selected_action": [review.pk], "apply": "1", "note": ""}
    )

    assert order.number in listing.content.decode()
    assert "disposable-email domain" in listing.content.decode()
    assert asked.status_code == 200 and 'name="note"' in asked.content.decode()
    assert without_note.status_code == 200
    review.refresh_from_db()
    assert review.status == "pending"


def test_approving_from_the_queue_delivers(client, officer, django_capture_on_commit_callbacks):
    product = ProductFactory()
    codes_stock(product, 1)
    order = _paid("x@mailinator.com", product=product, capture=django_capture_on_commit_callbacks)
    review = OrderReview.objects.get(order=order)
    otp_login(client, officer)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:compliance_orderreview_changelist"),
            {"action": "approve", "_selected_action": [review.pk]},
        )

    order.refresh_from_db()
    assert order.status == "delivered"
    assert Code.objects.filter(order_line__order=order).count() == 1


def test_staff_upload_a_revocation_list_and_block_an_ip_address(otp_admin_client):
    product = ProductFactory()
    codes_stock(product, 1, codes=["GONE-0001"])

    otp_admin_client.post(
        reverse("admin:compliance_revocationlist_add"),
        {
            "product": product.pk,
            "publisher": "Pub",
            "reference": "",
            "file_format": "txt",
            "file": SimpleUploadedFile("revoked.txt", b"GONE-0001\n"),
        },
    )
    otp_admin_client.post(
        reverse("admin:compliance_blocklistentry_add"),
        {
            "kind": "ip",
            "value": "192.0.2.1",
            "reason": "card testing",
            "expires_at": (timezone.now() + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M"),
        },
    )

    assert RevocationList.objects.get().withdrawn_available == 1
    assert Code.objects.get().status == "revoked"
    assert BlocklistEntry.objects.get().value == pii_hash("192.0.2.1")
    listing = otp_admin_client.get(reverse("admin:compliance_blocklistentry_changelist"))
    assert pii_hash("192.0.2.1") not in listing.content.decode()
