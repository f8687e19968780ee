"""Helpers for compliance tests: vetted suppliers, imported batches with provenance.

``supplier_approved(name=None, *, valid_until=None) -> Supplier``
    A supplier with a registration and a publisher authorisation (valid for a year
    unless ``valid_until``), moved to approved through the real services.

``batch_imported(product, codes, *, supplier, importer=None, capture) -> Batch``
    Imports the codes through fulfillment's real import, capturing the on-commit
    ``batch_imported`` signal so compliance records provenance and runs its checks.

``provenance_fill(batch, **overrides) -> BatchProvenance``
    Records complete provenance for the batch through the real service.
"""

import io
import secrets
from datetime import date, timedelta

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from compliance.models import BatchProvenance, DocumentKind, VettingStatus
from compliance.services.provenance import batch_provenance_record
from compliance.services.suppliers import (
    supplier_document_add,
    supplier_vetting_open,
    supplier_vetting_transition,
)
from core.money import Money
from fulfillment.models import Batch, Supplier
from fulfillment.services.imports import batch_create, batch_import
from tests.fulfillment.factories import SupplierFactory


def document_file(
    name: str = "document.pdf", content: bytes = b"%PDF-1.4 test"
) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/pdf")


def supplier_approved(name: str | None = None, *, valid_until: date | None = None) -> Supplier:
    supplier = SupplierFactory(**({"name": name} if name else {}))
    vetting = supplier_vetting_open(supplier=supplier)
    supplier_document_add(
        supplier=supplier,
        kind=DocumentKind.REGISTRATION,
        reference="HRB 12345",
        file=document_file("registration.pdf"),
        valid_until=None,
        actor=None,
    )
    supplier_document_add(
        supplier=supplier,
        kind=DocumentKind.PUBLISHER_AUTHORISATION,
        reference="AUTH-1",
        file=document_file("authorisation.pdf"),
        valid_until=valid_until or timezone.localdate() + timedelta(days=365),
        actor=None,
    )
    supplier_vetting_transition(vetting_id=vetting.pk, to_status=VettingStatus.UNDER_REVIEW)
    supplier_vetting_transition(vetting_id=vetting.pk, to_status=VettingStatus.APPROVED)
    return supplier


def batch_imported(product, codes, *, supplier, importer=None, capture, file_format="txt") -> Batch:
    batch = batch_create(supplier=supplier, product=product, file_name="codes.txt", actor=importer)
    data = "".join(f"{code}\n" for code in codes).encode()
    with capture(execute=True):
        batch = batch_import(
            batch_id=batch.pk, path_or_file=io.BytesIO(data), file_format=file_format
        )
    return batch


def random_codes(n: int) -> list[str]:
    return [f"TEST-{secrets.token_hex(8).upper()}" for _ in range(n)]


def provenance_fill(batch: Batch, **overrides) -> BatchProvenance:
    fields = {
        "invoice_reference": "INV-2026-001",
        "acquired_on": timezone.localdate() - timedelta(days=2),
        "unit_cost": Money(1000, "EUR"),
        "publisher_authorisation_reference": "AUTH-1",
        "actor": None,
        **overrides,
    }
    return batch_provenance_record(batch_id=batch.pk, **fields)
