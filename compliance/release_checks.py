"""Checks a batch must pass before it becomes sellable (``KEYSHOP_BATCH_RELEASE_CHECKS``).

``fulfillment.services.batches.batch_transition`` calls each, with the locked
batch and the person releasing it, whenever a batch is about to become sellable
(first approval, or again after a suspension), whichever page or command asked.
Each refuses with ComplianceRefused.
"""

from django.contrib.auth.base_user import AbstractBaseUser
from django.utils.translation import gettext as _

from compliance.errors import ComplianceRefused
from compliance.models import BatchProvenance, SupplierVetting, VettingStatus
from compliance.selectors import supplier_authorisation_valid_until
from fulfillment.models import Batch

APPROVE_PERMISSION = "compliance.approve_batch"


def supplier_approved(batch: Batch, actor: AbstractBaseUser | None) -> None:
    """The supplier is approved and holds a current authorisation."""
    vetting = SupplierVetting.objects.filter(supplier_id=batch.supplier_id).first()
    if vetting is None or vetting.status != VettingStatus.APPROVED:
        status = vetting.get_status_display() if vetting else _("not vetted")
        raise ComplianceRefused(
            _("The supplier is not approved (%(status)s): its codes cannot be sold.")
            % {"status": status}
        )
    if supplier_authorisation_valid_until(supplier_id=batch.supplier_id) is None:
        raise ComplianceRefused(
            _("The supplier's authorisation has expired: its codes cannot be sold.")
        )


def provenance_complete(batch: Batch, actor: AbstractBaseUser | None) -> None:
    """Invoice, acquisition date, unit cost, authorisation reference and file hash recorded."""
    provenance = BatchProvenance.objects.filter(batch_id=batch.pk).first()
    if provenance is None or provenance.checks_run_at is None:
        raise ComplianceRefused(_("The batch has not been checked yet."))
    missing = provenance.missing_fields()
    if not batch.file_sha256:
        missing.append(_("the file's SHA-256"))
    if missing:
        raise ComplianceRefused(
            _("The batch's provenance is incomplete: %(missing)s.")
            % {"missing": ", ".join(missing)}
        )


def four_eyes(batch: Batch, actor: AbstractBaseUser | None) -> None:
    """A compliance officer releases the batch, and not the person who imported it."""
    if actor is None or not actor.has_perm(APPROVE_PERMISSION):
        raise ComplianceRefused(_("Only a compliance officer can put a batch on sale."))
    if batch.imported_by_id is not None and actor.pk == batch.imported_by_id:
        raise ComplianceRefused(_("The person who imported a batch cannot approve it."))
