"""Supplier claims: a defective code is claimed back from its batch's supplier.

When staff replace a code a buyer complained about (``complaint_resolve_replace``),
the old code becomes ``defective`` and a claim opens against its batch, once per
code. The supplier answers: it credits or replaces the code (``accepted``) or
refuses (``rejected``); both are final.

Claims feed the supplier's defect rate (``compliance.selectors.DefectRate``): the
claims opened in the last ``KEYSHOP_SUPPLIER_DEFECT_WINDOW_DAYS`` over the codes
delivered from its batches in that time. After a claim commits, the supplier is
flagged for review when its rate is at or above
``KEYSHOP_SUPPLIER_DEFECT_RATE_THRESHOLD_PERCENT`` with at least
``KEYSHOP_SUPPLIER_DEFECT_MIN_DELIVERED`` codes delivered. A flag changes no vetting
status, so it stops no sale: a compliance officer suspends the supplier through
the vetting actions, or clears the flag with a note. A later claim while the rate
is still over the threshold flags it again.

The check runs after commit, in its own transaction (``supplier_defect_flag_check_task``):
the replacement has already moved the product's stock counter, and suspending a
supplier locks its vetting row before moving stock counters, so locking the vetting
row inside the replacement could deadlock with a suspension.
"""

import logging
from collections.abc import Iterable
from datetime import datetime
from functools import partial

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from compliance.models import (
    SupplierClaim,
    SupplierClaimEvent,
    SupplierClaimStatus,
    SupplierVetting,
)
from compliance.selectors import DefectRate, supplier_defect_rates
from compliance.tasks import supplier_defect_flag_check_task
from core.alerts import staff_alert_raise, staff_alert_resolve
from core.audit import audit_record
from core.errors import IllegalTransition, InvalidInput
from core.logging import redact
from fulfillment.models import Batch, Code, CodeStatus

logger = logging.getLogger(__name__)

S = SupplierClaimStatus
# Every allowed move of a claim, and nothing else: the supplier's answer is final.
ALLOWED_MOVES: dict[str, set[str]] = {
    S.OPEN: {S.ACCEPTED, S.REJECTED},
    S.ACCEPTED: set(),
    S.REJECTED: set(),
}
DEFECT_ALERT_KIND = "supplier_defect_rate"


def _status_label(status: str) -> str:
    return str(S(status).label) if status in S.values else status


@transaction.atomic
def supplier_claims_open(
    *, code_ids: Iterable[int], complaint_id: int | None, actor: AbstractBaseUser | None
) -> list[SupplierClaim]:
    """Open a claim against its batch for each of these codes that is ``defective``.

    Idempotent: a code that already has a claim is skipped (and the code's
    one-to-one key refuses a second claim whatever happens). Returns the claims
    opened now. Each supplier concerned is checked against the defect threshold
    after commit.
    """
    wanted = sorted(set(code_ids))
    # The codes are locked (in key order) so two openers for one code queue here.
    codes = list(
        Code.objects.select_for_update(of=("self",))
        .filter(pk__in=wanted, status=CodeStatus.DEFECTIVE)
        .order_by("pk")
        .values_list("pk", "batch_id")
    )
    claimed = set(
        SupplierClaim.objects.filter(code_id__in=[pk for pk, _batch in codes]).values_list(
            "code_id", flat=True
        )
    )
    opened = []
    for code_id, batch_id in codes:
        if code_id in claimed:
            continue
        claim = SupplierClaim.objects.create(
            code_id=code_id, batch_id=batch_id, complaint_id=complaint_id
        )
        SupplierClaimEvent.objects.create(claim=claim, to_status=claim.status, actor=actor)
        audit_record(
            action="supplier_claim.open",
            obj_type="compliance.supplierclaim",
            obj_id=claim.pk,
            actor=actor,
            data={"code_id": code_id, "batch_id": batch_id, "complaint_id": complaint_id},
        )
        opened.append(claim)
    batch_ids = {claim.batch_id for claim in opened}
    supplier_ids = sorted(
        set(Batch.objects.filter(pk__in=batch_ids).values_list("supplier_id", flat=True))
    )
    for supplier_id in supplier_ids:
        transaction.on_commit(partial(supplier_defect_flag_check_task.delay, supplier_id))
    return opened


@transaction.atomic
def supplier_claim_transition(
    *, claim_id: int, to_status: str, actor: AbstractBaseUser | None, note: str = ""
) -> tuple[SupplierClaim, bool]:
    """Record the supplier's answer. Returns the locked claim and whether it moved.

    Locks the claim; a repeat of the move already made is a no-op; a move not in
    ALLOWED_MOVES raises IllegalTransition. A rejection needs a note (why the
    supplier refused). Every move records an event and an audit entry.
    """
    claim = SupplierClaim.objects.select_for_update().get(pk=claim_id)
    if claim.status == to_status:
        return claim, False
    if to_status not in ALLOWED_MOVES[claim.status]:
        raise IllegalTransition(
            _("A supplier claim cannot go from %(from)s to %(to)s.")
            % {"from": claim.get_status_display(), "to": _status_label(to_status)},
            from_status=claim.status,
            to_status=to_status,
        )
    if to_status == S.REJECTED and not note.strip():
        raise InvalidInput(_("Write why the supplier refused the claim."))
    from_status = claim.status
    claim.status, claim.note, claim.resolved_by = to_status, note, actor
    claim.save(update_fields=["status", "note", "resolved_by", "updated_at"])
    SupplierClaimEvent.objects.create(
        claim=claim, from_status=from_status, to_status=to_status, actor=actor, note=note
    )
    audit_record(
        action="supplier_claim.transition",
        obj_type="compliance.supplierclaim",
        obj_id=claim.pk,
        actor=actor,
        reason=redact(note),
        data={
            "from": from_status,
            "to": to_status,
            "code_id": claim.code_id,
            "batch_id": claim.batch_id,
        },
    )
    return claim, True


def defect_rate_text(rate: DefectRate) -> str:
    """The figures behind a rate, for staff: claims, codes delivered, window, rate, threshold."""
    return _(
        "Claims: %(claims)d; codes delivered: %(delivered)d (last %(days)d days); "
        "rate: %(rate)s. Flagged for review at %(threshold)s%% or more with at least "
        "%(minimum)d codes delivered."
    ) % {
        "claims": rate.claims,
        "delivered": rate.delivered,
        "days": settings.KEYSHOP_SUPPLIER_DEFECT_WINDOW_DAYS,
        "rate": "-" if rate.percent is None else f"{rate.percent}%",
        "threshold": settings.KEYSHOP_SUPPLIER_DEFECT_RATE_THRESHOLD_PERCENT,
        "minimum": settings.KEYSHOP_SUPPLIER_DEFECT_MIN_DELIVERED,
    }


def _alert_subject(supplier_id: int) -> str:
    return f"supplier {supplier_id}"


@transaction.atomic
def supplier_defect_flag_check(*, supplier_id: int, now: datetime | None = None) -> bool:
    """Flag the supplier for review if its defect rate reaches the threshold.

    Locks its vetting row; a supplier already flagged, or not being vetted, is left
    as it is. Flagging writes the figures on the row, an audit entry and a staff
    alert; it changes no vetting status. Returns whether it flagged now.
    """
    now = now or timezone.now()
    vetting = SupplierVetting.objects.select_for_update().filter(supplier_id=supplier_id).first()
    if vetting is None or vetting.defect_flagged_at is not None:
        return False
    rate = supplier_defect_rates(supplier_ids=[supplier_id], now=now)[supplier_id]
    if not rate.reaches_threshold():
        return False
    note = defect_rate_text(rate)
    vetting.defect_flagged_at, vetting.defect_flag_note = now, note
    vetting.save(update_fields=["defect_flagged_at", "defect_flag_note", "updated_at"])
    audit_record(
        action="supplier_vetting.defect_flag",
        obj_type="compliance.suppliervetting",
        obj_id=vetting.pk,
        data={
            "supplier_id": supplier_id,
            "delivered": rate.delivered,
            "claims": rate.claims,
            "window_days": settings.KEYSHOP_SUPPLIER_DEFECT_WINDOW_DAYS,
            "threshold_percent": str(settings.KEYSHOP_SUPPLIER_DEFECT_RATE_THRESHOLD_PERCENT),
            "min_delivered": settings.KEYSHOP_SUPPLIER_DEFECT_MIN_DELIVERED,
        },
    )
    staff_alert_raise(
        kind=DEFECT_ALERT_KIND,
        subject=_alert_subject(supplier_id),
        message=_("Supplier flagged for review: %(figures)s") % {"figures": note},
    )
    logger.info(
        "supplier %s flagged: %d claims on %d delivered", supplier_id, rate.claims, rate.delivered
    )
    return True


@transaction.atomic
def supplier_defect_flag_clear(
    *, vetting_id: int, actor: AbstractBaseUser | None, note: str
) -> tuple[SupplierVetting, bool]:
    """A compliance officer clears the review flag, saying why. Returns whether it was set.

    The supplier keeps its vetting status (suspending is a vetting action); its
    staff alert is resolved. A later claim while the rate is over the threshold
    flags it again.
    """
    if not note.strip():
        raise InvalidInput(_("Write why the flag is cleared."))
    vetting = SupplierVetting.objects.select_for_update().get(pk=vetting_id)
    if vetting.defect_flagged_at is None:
        return vetting, False
    flagged_at = vetting.defect_flagged_at
    vetting.defect_flagged_at, vetting.defect_flag_note = None, ""
    vetting.save(update_fields=["defect_flagged_at", "defect_flag_note", "updated_at"])
    audit_record(
        action="supplier_vetting.defect_flag_clear",
        obj_type="compliance.suppliervetting",
        obj_id=vetting.pk,
        actor=actor,
        reason=redact(note),
        data={"supplier_id": vetting.supplier_id, "flagged_at": flagged_at.isoformat()},
    )
    staff_alert_resolve(
        kind=DEFECT_ALERT_KIND, subject=_alert_subject(vetting.supplier_id), actor=actor
    )
    return vetting, True
