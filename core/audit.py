"""The tamper-evident audit log: record an entry, seal the chain, verify it.

Writers call ``audit_record`` inside their own transaction; it only inserts a row
(no lock, no read), so parallel transitions never wait on each other for the log.
The sealer (``audit_seal``: a beat task every few seconds, and the verifier before
it checks) takes the one chain lock, gives the unsealed entries the next sequence
numbers in id order and chains them: each entry's ``hash`` is an HMAC-SHA256,
under ``AUDIT_HMAC_KEY``, of its canonical form, which includes the previous
entry's hash. An entry that commits late simply gets a later ``seq``: the chain
runs over ``seq``, not id.

``audit_verify`` walks the chain in ``seq`` order and reports the first entry that
is missing (a gap), does not link to the one before, or does not match its hash.
"""

import contextlib
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import UTC

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import InvalidInput, KeyshopError
from core.logging import EMAIL_PATTERN
from core.models import AuditChainHead, AuditEntry

logger = logging.getLogger("keyshop.audit")

# The previous hash of the first entry.
GENESIS = "0" * 64
SEAL_BATCH_SIZE = 1000


class PersonalDataInAudit(InvalidInput):
    """The reason or details of an audit entry contain what looks like an email address."""

    code = "personal_data_in_audit"
    default_message = _("Please leave email addresses out: the audit log must not hold them.")


class AuditChainBroken(KeyshopError):
    """The sealer found the chain's end changed since it last sealed; it seals nothing."""

    code = "audit_chain_broken"
    default_message = _("The audit log's chain is broken; run verify_audit_log.")
    http_status = 500


def _contains_email(value: object) -> bool:
    if isinstance(value, str):
        return EMAIL_PATTERN.search(value) is not None
    if isinstance(value, dict):
        return any(_contains_email(k) or _contains_email(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_contains_email(item) for item in value)
    return False


def audit_record(
    *,
    action: str,
    obj_type: str,
    obj_id: str | int,
    actor: AbstractBaseUser | None = None,
    reason: str = "",
    data: dict | None = None,
) -> AuditEntry:
    """Append an unsealed entry: ``actor`` did ``action`` to ``obj_type`` ``obj_id``.

    Call it inside the transaction of the change it records, so both commit or
    neither does. ``action`` is ``<noun>.<verb>`` (``order.transition``);
    ``obj_type`` is ``<app_label>.<model>``; ``data`` holds JSON values only: ids
    and statuses, never a code or an email. Raises PersonalDataInAudit when the
    reason or the data contain something that looks like an email address.
    """
    data = data or {}
    if _contains_email(reason) or _contains_email(data):
        raise PersonalDataInAudit(action=action, obj_type=obj_type)
    # Refuse what JSON cannot hold now, not at sealing time.
    json.dumps(data)
    return AuditEntry.objects.create(
        action=action,
        obj_type=obj_type,
        obj_id=str(obj_id),
        actor_id=actor.pk if actor is not None else None,
        reason=reason,
        data=data,
    )


def audit_code_reveal(
    *, actor: AbstractBaseUser, code_id: int, reason: str, order_id: int | None = None
) -> AuditEntry:
    """Record that a staff member was shown a code in clear, and why.

    For the code that reveals it, inside the same transaction; a reveal without a
    staff member or a reason is refused.
    """
    if actor is None or not reason.strip():
        raise InvalidInput(_("Say why you need to see this code."))
    return audit_record(
        action="code.reveal",
        obj_type="fulfillment.code",
        obj_id=code_id,
        actor=actor,
        reason=reason,
        data={"order_id": order_id} if order_id is not None else {},
    )


def _canonical(entry: AuditEntry) -> bytes:
    """The bytes an entry's hash covers: sorted-key, compact, ASCII JSON of its fields."""
    fields = {
        "id": entry.pk,
        "seq": entry.seq,
        "prev_hash": entry.prev_hash,
        "created_at": entry.created_at.astimezone(UTC).isoformat(),
        "action": entry.action,
        "obj_type": entry.obj_type,
        "obj_id": entry.obj_id,
        "actor_id": entry.actor_id,
        "reason": entry.reason,
        "data": entry.data,
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("ascii")


def audit_entry_hash(entry: AuditEntry) -> str:
    """HMAC-SHA256 of the entry's canonical form under AUDIT_HMAC_KEY, in hex."""
    key = settings.AUDIT_HMAC_KEY.encode("utf-8")
    return hmac.new(key, _canonical(entry), hashlib.sha256).hexdigest()


def audit_seal(*, batch_size: int = SEAL_BATCH_SIZE) -> int:
    """Seal every entry committed so far; returns how many were sealed.

    One short transaction per ``batch_size`` entries. Raises AuditChainBroken,
    sealing nothing, when the last sealed entry is not the one the sealer recorded.
    """
    total = 0
    while True:
        sealed = _seal_next(batch_size)
        total += sealed
        if sealed < batch_size:
            return total


@transaction.atomic
def _seal_next(batch_size: int) -> int:
    AuditChainHead.objects.get_or_create(pk=1)
    # The chain lock: concurrent sealers queue here, writers never take it.
    head = AuditChainHead.objects.select_for_update().get(pk=1)
    last = (
        AuditEntry.objects.filter(seq__isnull=False)
        .order_by("-seq")
        .values_list("seq", "hash")
        .first()
    ) or (0, "")
    if last != (head.last_seq, head.last_hash):
        raise AuditChainBroken(
            _(
                "The audit log ends at seq %(found)d but was sealed up to seq %(sealed)d; "
                "nothing more is sealed until this is looked into."
            )
            % {"found": last[0], "sealed": head.last_seq}
        )
    entries = list(AuditEntry.objects.filter(seq__isnull=True).order_by("pk")[:batch_size])
    if not entries:
        return 0
    seq, prev_hash = head.last_seq, head.last_hash or GENESIS
    for entry in entries:
        seq += 1
        entry.seq, entry.prev_hash = seq, prev_hash
        entry.hash = prev_hash = audit_entry_hash(entry)
    AuditEntry.objects.bulk_update(entries, ["seq", "prev_hash", "hash"])
    head.last_seq, head.last_hash, head.sealed_at = seq, prev_hash, timezone.now()
    head.save(update_fields=["last_seq", "last_hash", "sealed_at"])
    # An anchor outside the database: compare it with the verifier's report.
    logger.info("audit log sealed up to seq %d (hash %s)", seq, prev_hash)
    return len(entries)


@dataclass(frozen=True)
class AuditCheck:
    """What the verifier found. ``broken_seq`` is the first entry that fails, if any."""

    entries: int
    last_seq: int
    last_hash: str
    unsealed: int
    broken_seq: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_seq is None


def _entry_problem(entry: AuditEntry, expected_seq: int, prev_hash: str) -> str:
    if entry.seq != expected_seq:
        return f"seq {entry.seq} follows seq {expected_seq - 1}: the entries between are missing"
    if entry.prev_hash != prev_hash:
        return "it does not link to the entry before it (entries were swapped or replaced)"
    if not hmac.compare_digest(entry.hash, audit_entry_hash(entry)):
        return "its contents do not match its hash (the entry was altered)"
    return ""


def audit_verify(*, seal: bool = True) -> AuditCheck:
    """Check the whole chain, after sealing what is waiting unless ``seal`` is False."""
    if seal:
        # A sealer that refuses leaves the break to the walk below, which names it.
        with contextlib.suppress(AuditChainBroken):
            audit_seal()
    count, expected_seq, prev_hash = 0, 1, GENESIS
    sealed = AuditEntry.objects.filter(seq__isnull=False).order_by("seq")
    unsealed = AuditEntry.objects.filter(seq__isnull=True).count()
    for entry in sealed.iterator(chunk_size=2000):
        problem = _entry_problem(entry, expected_seq, prev_hash)
        if problem:
            return AuditCheck(count, expected_seq - 1, prev_hash, unsealed, entry.seq, problem)
        count, expected_seq, prev_hash = count + 1, entry.seq + 1, entry.hash
    last_seq, last_hash = expected_seq - 1, prev_hash if count else ""
    head = AuditChainHead.objects.filter(pk=1).first()
    head_seq, head_hash = (head.last_seq, head.last_hash) if head else (0, "")
    if (head_seq, head_hash) == (last_seq, last_hash):
        return AuditCheck(count, last_seq, last_hash, unsealed)
    if head_seq > last_seq:
        broken_seq = last_seq + 1
        problem = (
            f"the log ends at seq {last_seq} but was sealed up to seq {head_seq}: "
            "entries at its end were deleted"
        )
    else:
        broken_seq = min(head_seq + 1, last_seq)
        problem = f"the sealer's record (seq {head_seq}) does not match the end of the log"
    return AuditCheck(count, last_seq, last_hash, unsealed, broken_seq, problem)
