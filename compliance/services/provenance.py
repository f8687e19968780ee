"""Batch provenance: where codes came from, the automatic checks, and the officer's decision.

A batch's provenance row is created when its import has committed
(``fulfillment.signals.batch_imported``), and the automatic checks run then; they
run again when staff record the references and unit cost. A compliance officer
who did not import the batch approves it (``batch_transition`` to sellable, where
the release checks in ``compliance.release_checks`` have the last word) or
rejects it.
"""

import logging
import statistics
from datetime import date, datetime

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from compliance.models import (
    BatchCheck,
    BatchProvenance,
    CheckKind,
    CheckOutcome,
    RevokedCode,
)
from core.audit import audit_record
from core.errors import Conflict, InvalidInput
from core.money import Money
from fulfillment.code_import import RejectReason
from fulfillment.models import Batch, BatchRejection, BatchStatus, Code
from fulfillment.services.batches import batch_transition
from fulfillment.services.codes import codes_withdraw

logger = logging.getLogger(__name__)

# Provenance can be recorded or corrected while the batch is not on sale.
EDITABLE_STATUSES = {BatchStatus.IMPORTING, BatchStatus.QUARANTINED, BatchStatus.SUSPENDED}
# Batches of the supplier that count as its history.
HISTORY_STATUSES = [
    BatchStatus.QUARANTINED,
    BatchStatus.SELLABLE,
    BatchStatus.SUSPENDED,
    BatchStatus.EXHAUSTED,
]
# The history needs this many earlier batches before volume or cost can be unusual.
MIN_HISTORY = 3
HISTORY_SIZE = 20
# Unusual: more than this many times the median volume; a unit cost outside this
# share of the median cost.
VOLUME_FACTOR = 3
COST_RANGE = (0.5, 2.0)

DUPLICATE_REASONS = {
    RejectReason.DUPLICATE_IN_STOCK: "in_stock",
    RejectReason.DUPLICATE_SOLD: "sold",
    RejectReason.DUPLICATE_IN_FILE: "in_file",
}
FORMAT_REASONS = [RejectReason.TOO_SHORT, RejectReason.TOO_LONG, RejectReason.PATTERN]


@transaction.atomic
def batch_provenance_record(
    *,
    batch_id: int,
    invoice_reference: str,
    acquired_on: date | None,
    unit_cost: Money | None,
    publisher_authorisation_reference: str,
    actor: AbstractBaseUser | None,
) -> BatchProvenance:
    """Record where a batch came from, then run its checks again (the unit cost one needs it)."""
    batch = Batch.objects.select_for_update().get(pk=batch_id)
    if batch.status not in EDITABLE_STATUSES:
        raise Conflict(
            _("The provenance of a %(status)s batch cannot be changed.")
            % {"status": batch.get_status_display()}
        )
    if acquired_on is not None and acquired_on > timezone.localdate():
        raise InvalidInput(_("The acquisition date is in the future."))
    provenance, _created = BatchProvenance.objects.get_or_create(batch=batch)
    provenance.invoice_reference = invoice_reference.strip()
    provenance.acquired_on = acquired_on
    provenance.unit_cost_minor = unit_cost.amount_minor if unit_cost else None
    provenance.unit_cost_currency = unit_cost.currency if unit_cost else ""
    provenance.publisher_authorisation_reference = publisher_authorisation_reference.strip()
    provenance.recorded_by = actor
    provenance.save()
    audit_record(
        action="batch_provenance.record",
        obj_type="compliance.batchprovenance",
        obj_id=provenance.pk,
        actor=actor,
        data={"batch_id": batch.pk, "missing": len(provenance.missing_fields())},
    )
    batch_checks_run(batch_id=batch.pk)
    provenance.refresh_from_db()
    return provenance


@transaction.atomic
def batch_checks_run(*, batch_id: int, now: datetime | None = None) -> list[BatchCheck]:
    """Run every automatic check of a batch and store the outcomes (one row per check).

    Safe to run again: each check's row is replaced. Codes of the batch found on a
    revocation list are withdrawn. Nothing stored names a code.
    """
    now = now or timezone.now()
    batch = Batch.objects.select_for_update().get(pk=batch_id)
    provenance, _created = BatchProvenance.objects.get_or_create(batch=batch)
    rejected = dict(
        BatchRejection.objects.filter(batch_id=batch.pk)
        .values_list("reason")
        .annotate(count=Count("pk"))
        .order_by("reason")
    )
    results = [
        _duplicates_check(rejected),
        _format_check(rejected),
        _revoked_check(batch),
        _volume_check(batch),
        _unit_cost_check(batch, provenance),
    ]
    checks = []
    for kind, outcome, count, detail in results:
        check, _created = BatchCheck.objects.update_or_create(
            batch=batch,
            kind=kind,
            defaults={
                "outcome": outcome,
                "count": count,
                "detail": detail[:300],
                "checked_at": now,
            },
        )
        checks.append(check)
    provenance.checks_run_at = now
    provenance.save(update_fields=["checks_run_at", "updated_at"])
    warnings = [check.kind for check in checks if check.outcome == CheckOutcome.WARNING]
    logger.info("batch %s checked: warnings %s", batch.pk, ",".join(warnings) or "none")
    return checks


CheckResult = tuple[str, str, int, str]


def _duplicates_check(rejected: dict[str, int]) -> CheckResult:
    counts = {name: rejected.get(reason, 0) for reason, name in DUPLICATE_REASONS.items()}
    total = sum(counts.values())
    detail = (
        _(
            "%(in_stock)d already in the vault, %(sold)d already sold, "
            "%(in_file)d repeated in the file"
        )
        % counts
    )
    return (
        CheckKind.DUPLICATES,
        CheckOutcome.WARNING if total else CheckOutcome.PASSED,
        total,
        detail,
    )


def _format_check(rejected: dict[str, int]) -> CheckResult:
    total = sum(rejected.get(reason, 0) for reason in FORMAT_REASONS)
    detail = _("%(count)d lines not in the product's code format") % {"count": total}
    return CheckKind.FORMAT, CheckOutcome.WARNING if total else CheckOutcome.PASSED, total, detail


def _revoked_check(batch: Batch) -> CheckResult:
    revoked = RevokedCode.objects.filter(product_id=batch.product_id).values("blind_index")
    matches = Code.objects.filter(batch_id=batch.pk, blind_index__in=revoked)
    total = matches.count()
    withdrawn = codes_withdraw(product_id=batch.product_id, codes=matches)
    detail = _("%(count)d codes on a publisher revocation list (withdrawn: %(withdrawn)d)") % {
        "count": total,
        "withdrawn": withdrawn.available + withdrawn.held_back,
    }
    return CheckKind.REVOKED, CheckOutcome.WARNING if total else CheckOutcome.PASSED, total, detail


def _history(batch: Batch) -> list[Batch]:
    return list(
        Batch.objects.filter(supplier_id=batch.supplier_id, status__in=HISTORY_STATUSES)
        .exclude(pk=batch.pk)
        .filter(created_at__lte=batch.created_at)
        .order_by("-created_at")[:HISTORY_SIZE]
    )


def _volume_check(batch: Batch) -> CheckResult:
    history = [earlier.codes_imported for earlier in _history(batch)]
    if len(history) < MIN_HISTORY:
        detail = _("Not enough history: %(count)d earlier batches") % {"count": len(history)}
        return CheckKind.VOLUME, CheckOutcome.NOT_APPLICABLE, batch.codes_imported, detail
    median = statistics.median(history)
    unusual = batch.codes_imported > VOLUME_FACTOR * max(median, 1)
    detail = _("%(count)d codes; this supplier's batches usually hold %(median)d") % {
        "count": batch.codes_imported,
        "median": median,
    }
    outcome = CheckOutcome.WARNING if unusual else CheckOutcome.PASSED
    return CheckKind.VOLUME, outcome, batch.codes_imported, detail


def _unit_cost_check(batch: Batch, provenance: BatchProvenance) -> CheckResult:
    cost = provenance.unit_cost
    if cost is None:
        return CheckKind.UNIT_COST, CheckOutcome.NOT_APPLICABLE, 0, _("Unit cost not recorded yet")
    earlier = [other.pk for other in _history(batch) if other.product_id == batch.product_id]
    history = list(
        BatchProvenance.objects.filter(
            batch_id__in=earlier, unit_cost_currency=cost.currency, unit_cost_minor__isnull=False
        ).values_list("unit_cost_minor", flat=True)
    )
    if len(history) < MIN_HISTORY:
        detail = _("Not enough history: %(count)d earlier costs for this product") % {
            "count": len(history)
        }
        return CheckKind.UNIT_COST, CheckOutcome.NOT_APPLICABLE, cost.amount_minor, detail
    median = int(statistics.median(history))
    low, high = COST_RANGE
    unusual = not low * median <= cost.amount_minor <= high * median
    detail = _("%(cost)s per code; this supplier usually charges %(median)s") % {
        "cost": cost.format(),
        "median": Money(median, cost.currency).format(),
    }
    outcome = CheckOutcome.WARNING if unusual else CheckOutcome.PASSED
    return CheckKind.UNIT_COST, outcome, cost.amount_minor, detail


def batch_approve(*, batch_id: int, actor: AbstractBaseUser, note: str = "") -> Batch:
    """Put a quarantined (or suspended) batch on sale, if the release checks agree."""
    batch, _moved = batch_transition(
        batch_id=batch_id, to_status=BatchStatus.SELLABLE, actor=actor, note=note
    )
    return batch


def batch_reject(*, batch_id: int, actor: AbstractBaseUser, note: str) -> Batch:
    """Refuse a quarantined (or suspended) batch for good; its codes are never sold."""
    if not note.strip():
        raise InvalidInput(_("Write why the batch is rejected."))
    batch, _moved = batch_transition(
        batch_id=batch_id, to_status=BatchStatus.REJECTED, actor=actor, note=note
    )
    return batch
