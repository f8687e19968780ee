"""Writes on batches of stored codes: the batch pipeline and key rotation.

A batch's codes are on sale exactly while the batch is sellable. Moving a batch
to sellable flips its held-back codes to available, adds them to the product's
``StockLevel.codes_available`` and resets the product's queue head (allocation's
hint); moving it away flips the available ones back and subtracts them, in the
same transaction, with conditional UPDATEs and ``F()``, so the counter always
equals the number of available codes, even while orders are being delivered
from the batch.
"""

from functools import partial

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Count, F
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from core.audit import audit_record
from core.errors import Conflict, IllegalTransition
from fulfillment import vault
from fulfillment.models import Batch, BatchEvent, BatchStatus, Code, CodeStatus, StockLevel
from fulfillment.signals import stock_arrived

B = BatchStatus
# The batch pipeline: every allowed move, and nothing else.
ALLOWED_MOVES: dict[str, set[str]] = {
    B.IMPORTING: {B.QUARANTINED, B.FAILED},
    # Quarantined codes wait for the release checks (KEYSHOP_BATCH_RELEASE_CHECKS).
    B.QUARANTINED: {B.SELLABLE, B.REJECTED},
    # Exhausted is for the delivery of a batch's last code: nothing left to sell.
    B.SELLABLE: {B.SUSPENDED, B.EXHAUSTED},
    B.SUSPENDED: {B.SELLABLE, B.REJECTED},
    B.EXHAUSTED: set(),
    B.FAILED: set(),
    B.REJECTED: set(),
}


@transaction.atomic
def batch_transition(
    *,
    batch_id: int,
    to_status: str,
    actor: AbstractBaseUser | None = None,
    note: str = "",
) -> tuple[Batch, bool]:
    """Move a batch along the pipeline. Returns the locked batch and whether it moved.

    Locks the row first, so concurrent callers serialise; a repeat of the move the
    batch already made is a no-op; a move not in ALLOWED_MOVES raises
    IllegalTransition. Before a batch becomes sellable every release check runs
    and may refuse with a KeyshopError. Every move records a BatchEvent. When
    codes became available, ``stock_arrived`` is sent after commit.
    """
    batch = Batch.objects.select_for_update().get(pk=batch_id)
    if batch.status == to_status:
        return batch, False
    if to_status not in ALLOWED_MOVES[batch.status]:
        raise IllegalTransition(
            _("A batch cannot go from %(from)s to %(to)s.")
            % {"from": batch.get_status_display(), "to": B(to_status).label},
            from_status=batch.status,
            to_status=to_status,
        )
    if to_status == B.SELLABLE:
        _release_checks_run(batch, actor)
    if (
        to_status == B.EXHAUSTED
        and Code.objects.filter(batch_id=batch.pk, status=CodeStatus.AVAILABLE).exists()
    ):
        # Exhausted is final: with codes left it would take them off sale for good.
        raise Conflict(_("This batch still has codes available."), batch_id=batch.pk)
    from_status = batch.status
    batch.status = to_status
    batch.save(update_fields=["status", "updated_at"])
    if to_status == B.SELLABLE:
        _codes_release(batch)
    elif from_status == B.SELLABLE:
        _codes_withhold(batch)
    BatchEvent.objects.create(
        batch=batch, from_status=from_status, to_status=to_status, actor=actor, note=note
    )
    audit_record(
        action="batch.transition",
        obj_type="fulfillment.batch",
        obj_id=batch.pk,
        actor=actor,
        reason=note,
        data={"from": from_status, "to": to_status},
    )
    return batch, True


def _release_checks_run(batch: Batch, actor: AbstractBaseUser | None) -> None:
    # Defined here, implemented by higher apps (compliance: supplier approved, four
    # eyes), named in settings so fulfillment never imports them.
    for path in settings.KEYSHOP_BATCH_RELEASE_CHECKS:
        import_string(path)(batch, actor)


def _codes_release(batch: Batch) -> None:
    released = Code.objects.filter(batch_id=batch.pk, status=CodeStatus.HELD_BACK).update(
        status=CodeStatus.AVAILABLE, status_changed_at=timezone.now()
    )
    if not released:
        return
    _stock_add(batch.product_id, released)
    transaction.on_commit(partial(stock_arrived.send, sender=Batch, product_id=batch.product_id))


def _codes_withhold(batch: Batch) -> None:
    # On PostgreSQL the UPDATE waits for codes being delivered right now and
    # re-checks their status afterwards, so only codes still available are counted.
    withheld = Code.objects.filter(batch_id=batch.pk, status=CodeStatus.AVAILABLE).update(
        status=CodeStatus.HELD_BACK, status_changed_at=timezone.now()
    )
    if withheld:
        StockLevel.objects.filter(product_id=batch.product_id).update(
            codes_available=F("codes_available") - withheld
        )


def _stock_add(product_id: int, count: int) -> None:
    # The codes made available may lie behind the queue head (an older batch made
    # sellable again): the head goes back to NULL, so allocation starts from the
    # oldest batch again and moves the head on from there.
    added = {
        "codes_available": F("codes_available") + count,
        "queue_batch_id": None,
        "queue_code_id": None,
    }
    if StockLevel.objects.filter(product_id=product_id).update(**added):
        return
    # The product's first sellable codes: its row does not exist yet. get_or_create
    # copes with a concurrent creation; the counter is still raised with F().
    StockLevel.objects.get_or_create(product_id=product_id)
    StockLevel.objects.filter(product_id=product_id).update(**added)


def batch_code_counts(*, batch_id: int) -> dict[str, int]:
    """How many codes of the batch are in each status (statuses with none left out)."""
    return dict(
        Code.objects.filter(batch_id=batch_id)
        .values_list("status")
        .annotate(count=Count("pk"))
        .order_by("status")
    )


# Key rotation. Each call is its own short transaction, so a rotation can be
# interrupted anywhere and run again: committed rows are on the new key and no
# longer match, the rest are picked up by the next run.


def codes_to_reseal_count() -> int:
    """How many codes are sealed under a key other than the current one."""
    return Code.objects.exclude(key_id=vault.current_key_id()).count()


@transaction.atomic
def codes_reseal_next(*, after_pk: int = 0, batch_size: int = 500) -> tuple[int, int | None]:
    """Reseal the next ``batch_size`` codes not on the current key, in primary-key order.

    Only codes with a primary key above ``after_pk`` are taken; codes locked by
    someone else (being delivered) are skipped on PostgreSQL and left for a later
    run. Returns how many were resealed and the last primary key resealed, or
    None when nothing was left to reseal.
    """
    skip_locked = connection.features.has_select_for_update_skip_locked
    codes = list(
        Code.objects.select_for_update(skip_locked=skip_locked)
        .exclude(key_id=vault.current_key_id())
        .filter(pk__gt=after_pk)
        .order_by("pk")
        .only("pk", "product_id", "blind_index", "key_id", "ciphertext")[:batch_size]
    )
    if not codes:
        return 0, None
    for code in codes:
        # PostgreSQL hands binary columns back as memoryview.
        blind_index = bytes(code.blind_index)
        sealed = vault.reseal(
            vault.Sealed(key_id=code.key_id, ciphertext=bytes(code.ciphertext)),
            product_id=code.product_id,
            blind_index=blind_index,
        )
        code.key_id, code.ciphertext = sealed.key_id, sealed.ciphertext
    Code.objects.bulk_update(codes, ["key_id", "ciphertext"])
    return len(codes), codes[-1].pk
