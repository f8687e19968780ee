"""Taking codes out of circulation: withdrawn from stock, or revoked by staff.

Conditional UPDATEs throughout: a code being delivered at the same moment is
either delivered or withdrawn, never both, and only codes that were available
leave ``StockLevel.codes_available``, in the caller's transaction.
"""

from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from core.audit import audit_record
from core.errors import Conflict
from fulfillment.models import Code, CodeStatus, StockLevel


@dataclass(frozen=True)
class Withdrawn:
    available: int
    held_back: int


def codes_withdraw(*, product_id: int, codes: QuerySet[Code]) -> Withdrawn:
    """Mark these codes of one product revoked where still unsold; counters follow."""
    now = timezone.now()
    ids = codes.values("pk")
    available = Code.objects.filter(pk__in=ids, status=CodeStatus.AVAILABLE).update(
        status=CodeStatus.REVOKED, status_changed_at=now
    )
    if available:
        StockLevel.objects.filter(product_id=product_id).update(
            codes_available=F("codes_available") - available
        )
    held_back = Code.objects.filter(pk__in=ids, status=CodeStatus.HELD_BACK).update(
        status=CodeStatus.REVOKED, status_changed_at=now
    )
    return Withdrawn(available=available, held_back=held_back)


REVOCABLE = {CodeStatus.AVAILABLE, CodeStatus.HELD_BACK, CodeStatus.DELIVERED}


@transaction.atomic
def code_revoke(*, code_id: int, actor: AbstractBaseUser | None, reason: str) -> Code:
    """Revoke one code, sold or not (staff action, audited). A repeat changes nothing."""
    code = Code.objects.select_for_update().get(pk=code_id)
    if code.status == CodeStatus.REVOKED:
        return code
    if code.status not in REVOCABLE:
        raise Conflict(_("A defective code cannot be revoked."))
    if not reason.strip():
        raise Conflict(_("Say why the code is revoked."))
    if code.status in {CodeStatus.AVAILABLE, CodeStatus.HELD_BACK}:
        codes_withdraw(product_id=code.product_id, codes=Code.objects.filter(pk=code.pk))
    else:
        Code.objects.filter(pk=code.pk, status=CodeStatus.DELIVERED).update(
            status=CodeStatus.REVOKED, status_changed_at=timezone.now()
        )
    audit_record(
        action="code.revoke",
        obj_type="fulfillment.code",
        obj_id=code.pk,
        actor=actor,
        reason=reason,
        data={"from_status": code.status},
    )
    code.refresh_from_db()
    return code
