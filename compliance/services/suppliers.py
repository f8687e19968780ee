"""Supplier vetting: the vetting pipeline, documents, and authorisations that expire.

A supplier's batches can be sold only while it is approved with a current
publisher authorisation or reseller certificate (``compliance.release_checks``).
Suspending or offboarding a supplier, by hand or because its authorisation ran
out, suspends its sellable batches through ``fulfillment``'s ``batch_transition``,
which keeps the stock counters exact; nothing here touches a counter.
"""

import hashlib
import logging
from datetime import date

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext as _

from compliance.errors import ComplianceRefused
from compliance.models import (
    DocumentKind,
    SupplierDocument,
    SupplierVetting,
    SupplierVettingEvent,
    VettingStatus,
)
from compliance.models.suppliers import AUTHORISATION_KINDS
from compliance.selectors import supplier_authorisation_valid_until, supplier_may_sell
from core.audit import audit_record
from core.errors import IllegalTransition, InvalidInput
from core.logging import redact
from fulfillment.models import Batch, BatchStatus, Supplier
from fulfillment.services.batches import batch_transition

logger = logging.getLogger(__name__)

V = VettingStatus
# The vetting pipeline: every allowed move, and nothing else.
ALLOWED_MOVES: dict[str, set[str]] = {
    V.APPLIED: {V.UNDER_REVIEW, V.OFFBOARDED},
    V.UNDER_REVIEW: {V.APPROVED, V.APPLIED, V.OFFBOARDED},
    V.APPROVED: {V.SUSPENDED, V.OFFBOARDED},
    # A suspended supplier is reinstated directly or looked at again first.
    V.SUSPENDED: {V.APPROVED, V.UNDER_REVIEW, V.OFFBOARDED},
    V.OFFBOARDED: set(),
}
# Leaving approved for one of these takes the supplier's batches off sale.
STOPS_SALES = {V.SUSPENDED, V.OFFBOARDED}


@transaction.atomic
def supplier_vetting_open(
    *, supplier: Supplier, actor: AbstractBaseUser | None = None, notes: str = ""
) -> SupplierVetting:
    """The supplier's vetting record, created as ``applied`` on first use."""
    vetting, created = SupplierVetting.objects.get_or_create(
        supplier=supplier, defaults={"notes": notes}
    )
    if created:
        SupplierVettingEvent.objects.create(
            vetting=vetting, to_status=vetting.status, actor=actor, note=notes
        )
    return vetting


@transaction.atomic
def supplier_vetting_transition(
    *,
    vetting_id: int,
    to_status: str,
    actor: AbstractBaseUser | None = None,
    note: str = "",
    today: date | None = None,
) -> tuple[SupplierVetting, bool]:
    """Move a supplier's vetting along the pipeline. Returns the locked row and whether it moved.

    Locks the row; a repeat of the move already made is a no-op; a move not in
    ALLOWED_MOVES raises IllegalTransition. Approval needs a business registration
    and a current authorisation. Suspension and offboarding suspend every sellable
    batch of the supplier in the same transaction. Every move records an event.
    """
    vetting = SupplierVetting.objects.select_for_update().get(pk=vetting_id)
    if vetting.status == to_status:
        return vetting, False
    if to_status not in ALLOWED_MOVES[vetting.status]:
        raise IllegalTransition(
            _("A supplier cannot go from %(from)s to %(to)s.")
            % {"from": vetting.get_status_display(), "to": V(to_status).label},
            from_status=vetting.status,
            to_status=to_status,
        )
    if to_status == V.APPROVED:
        _approval_documents_check(vetting.supplier_id, today)
        vetting.approved_at = timezone.now()
    from_status = vetting.status
    vetting.status = to_status
    vetting.save(update_fields=["status", "approved_at", "updated_at"])
    SupplierVettingEvent.objects.create(
        vetting=vetting, from_status=from_status, to_status=to_status, actor=actor, note=note
    )
    audit_record(
        action="supplier_vetting.transition",
        obj_type="compliance.suppliervetting",
        obj_id=vetting.pk,
        actor=actor,
        reason=redact(note),
        data={"from": from_status, "to": to_status, "supplier_id": vetting.supplier_id},
    )
    if to_status in STOPS_SALES:
        suspended = _batches_suspend(
            vetting.supplier_id,
            actor=actor,
            note=_("Supplier %(status)s: %(note)s") % {"status": V(to_status).label, "note": note},
        )
        logger.info(
            "supplier %s %s: %d batches suspended", vetting.supplier_id, to_status, suspended
        )
    return vetting, True


def _approval_documents_check(supplier_id: int, today: date | None) -> None:
    if not SupplierDocument.objects.filter(
        supplier_id=supplier_id, kind=DocumentKind.REGISTRATION
    ).exists():
        raise ComplianceRefused(_("Upload the supplier's business registration first."))
    if supplier_authorisation_valid_until(supplier_id=supplier_id, today=today) is None:
        raise ComplianceRefused(
            _(
                "The supplier has no current publisher authorisation or reseller certificate. "
                "Upload one with its expiry date first."
            )
        )


def _batches_suspend(supplier_id: int, *, actor: AbstractBaseUser | None, note: str) -> int:
    """Suspend the supplier's sellable batches, in primary-key order (no deadlocks)."""
    batch_ids = Batch.objects.filter(supplier_id=supplier_id, status=BatchStatus.SELLABLE)
    suspended = 0
    for batch_id in batch_ids.order_by("pk").values_list("pk", flat=True):
        _batch, moved = batch_transition(
            batch_id=batch_id, to_status=BatchStatus.SUSPENDED, actor=actor, note=note
        )
        suspended += moved
    return suspended


@transaction.atomic
def supplier_document_add(
    *,
    supplier: Supplier,
    kind: str,
    reference: str,
    file: UploadedFile,
    valid_until: date | None,
    actor: AbstractBaseUser | None,
) -> SupplierDocument:
    """Store a supplier's document privately, with its SHA-256 and end date."""
    if kind in AUTHORISATION_KINDS and valid_until is None:
        raise InvalidInput(_("An authorisation or certificate needs its expiry date."))
    limit = settings.KEYSHOP_SUPPLIER_DOCUMENT_MAX_BYTES
    if file.size is not None and file.size > limit:
        raise InvalidInput(
            _("The file is larger than %(limit)s.") % {"limit": filesizeformat(limit)}
        )
    digest = hashlib.sha256()
    for chunk in file.chunks():
        digest.update(chunk)
    file.seek(0)
    document = SupplierDocument(
        supplier=supplier,
        kind=kind,
        reference=reference.strip(),
        original_name=(file.name or "document").rsplit("/", 1)[-1][:255],
        sha256=digest.hexdigest(),
        valid_until=valid_until,
        uploaded_by=actor,
    )
    document.file.save(document.original_name, file, save=False)
    try:
        document.save()
    except Exception:
        # The row was not written: the stored file must not stay behind.
        document.file.delete(save=False)
        raise
    return document


def suppliers_expire_authorisations(*, today: date | None = None) -> int:
    """Daily: suspend approved suppliers whose every authorisation has run out.

    As a safety net it also suspends any sellable batch whose supplier may not sell
    (not approved, or without a current authorisation), whatever made it sellable.
    Returns how many suppliers were suspended.
    """
    today = today or timezone.localdate()
    suspended = 0
    approved = SupplierVetting.objects.filter(status=V.APPROVED).values_list("pk", "supplier_id")
    for vetting_id, supplier_id in list(approved):
        if supplier_authorisation_valid_until(supplier_id=supplier_id, today=today) is None:
            supplier_vetting_transition(
                vetting_id=vetting_id,
                to_status=V.SUSPENDED,
                note=_("Authorisation expired"),
                today=today,
            )
            suspended += 1
    selling = Batch.objects.filter(status=BatchStatus.SELLABLE).values_list(
        "supplier_id", flat=True
    )
    for supplier_id in sorted(set(selling)):
        if not supplier_may_sell(supplier_id=supplier_id, today=today):
            with transaction.atomic():
                _batches_suspend(
                    supplier_id,
                    actor=None,
                    note=_("Supplier not approved or authorisation expired"),
                )
    return suspended
