"""Taking codes out of circulation: withdrawn from stock, or revoked once sold.

Conditional UPDATEs throughout: a code being delivered at the same moment is
either delivered or withdrawn, never both, and only codes that were available
leave ``StockLevel.codes_available``, in the caller's transaction.

Every revocation of a delivered code goes through :func:`delivered_codes_revoke`,
which audits it and, after commit, has the shop tell a reseller whose order it
was (the ``code.revoked`` webhook).
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import partial

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from core.audit import audit_record
from core.errors import Conflict
from fulfillment.models import Code, CodeStatus, StockLevel
from shop.models import Order
from shop.tasks import reseller_codes_revoked_announce_task


class RevocationCause(StrEnum):
    """Why a delivered code was revoked: the ``cause`` resellers see in ``code.revoked``."""

    REFUNDED = "refunded"
    DISPUTED = "disputed"
    FRAUD_WARNING = "fraud_warning"
    STAFF = "revoked_by_staff"
    PUBLISHER = "publisher_revocation_list"


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


@transaction.atomic
def delivered_codes_revoke(
    *,
    code_ids: Iterable[int],
    cause: RevocationCause,
    obj_type: str,
    obj_id: object,
    actor: AbstractBaseUser | None = None,
    reason: str = "",
) -> list[int]:
    """Revoke those of these codes that are still delivered; returns their ids.

    Audited as ``code.revoke`` on the object that caused it (a refund, a dispute,
    the code itself). Resellers whose orders held them are told after commit.
    """
    rows = list(
        Code.objects.select_for_update(of=("self",))
        .filter(pk__in=list(code_ids), status=CodeStatus.DELIVERED)
        .order_by("pk")
        .values_list("pk", "order_line__order_id")
    )
    if not rows:
        return []
    revoked = [code_id for code_id, _order_id in rows]
    Code.objects.filter(pk__in=revoked).update(
        status=CodeStatus.REVOKED, status_changed_at=timezone.now()
    )
    by_order: dict[int, list[int]] = defaultdict(list)
    for code_id, order_id in rows:
        by_order[order_id].append(code_id)
    audit_record(
        action="code.revoke",
        obj_type=obj_type,
        obj_id=obj_id,
        actor=actor,
        reason=reason or cause,
        data={"code_ids": revoked, "order_ids": sorted(by_order), "cause": str(cause)},
    )
    revoked_codes_announce(by_order, cause=cause)
    return revoked


def revoked_codes_announce(codes_by_order: dict[int, list[int]], *, cause: RevocationCause) -> None:
    """After commit, have the shop send ``code.revoked`` for the orders a reseller placed."""
    reseller_orders = Order.objects.filter(pk__in=codes_by_order, reseller__isnull=False)
    for order_id in reseller_orders.values_list("pk", flat=True):
        transaction.on_commit(
            partial(
                reseller_codes_revoked_announce_task.delay,
                order_id,
                codes_by_order[order_id],
                str(cause),
            )
        )


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
    if code.status == CodeStatus.DELIVERED:
        delivered_codes_revoke(
            code_ids=[code.pk],
            cause=RevocationCause.STAFF,
            obj_type="fulfillment.code",
            obj_id=code.pk,
            actor=actor,
            reason=reason,
        )
    else:
        codes_withdraw(product_id=code.product_id, codes=Code.objects.filter(pk=code.pk))
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
