"""Complaints: a buyer files one on delivered codes, staff and buyer write, staff resolve.

Evidence files are checked by their content (the first bytes), not their name
or the browser's type: PNG, JPEG, GIF, WebP and PDF only, each at most
``KEYSHOP_COMPLAINT_EVIDENCE_MAX_BYTES``. Everything is checked before anything
is stored, so a refused complaint leaves no row and no file behind. Files go to
the private storage (under MEDIA_ROOT, no URL) and leave only through the staff
download view.

Staff resolve a complaint by replacing its codes (the old ones become
``defective``, new ones of the same product are delivered on the same line by
``fulfillment.services.delivery.code_replace``), refunding them (a refund of
those codes, :mod:`compliance.services.refunds`), or rejecting it with a reason.
"""

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from compliance.models import (
    Complaint,
    ComplaintEvent,
    ComplaintEvidence,
    ComplaintMessage,
    ComplaintReason,
    ComplaintResolution,
    ComplaintStatus,
)
from compliance.services.claims import supplier_claims_open
from compliance.services.refunds import refund_request
from compliance.tasks import complaint_buyer_notify_task
from core.audit import audit_record
from core.errors import Conflict, IllegalTransition, InvalidInput
from core.logging import redact
from fulfillment.models import Code, CodeStatus
from fulfillment.services.delivery import code_replace
from shop.models import Order, WebhookEventType
from shop.services.orders import order_access_link_create
from shop.services.reseller_webhooks import reseller_order_event_announce

logger = logging.getLogger(__name__)

C = ComplaintStatus
ALLOWED_MOVES: dict[str, set[str]] = {
    C.OPEN: {C.AWAITING_BUYER, C.AWAITING_STAFF, C.RESOLVED},
    C.AWAITING_STAFF: {C.AWAITING_BUYER, C.RESOLVED},
    C.AWAITING_BUYER: {C.AWAITING_STAFF, C.RESOLVED, C.CLOSED},
    C.RESOLVED: {C.CLOSED},
    C.CLOSED: set(),
}
UNRESOLVED = {C.OPEN, C.AWAITING_STAFF, C.AWAITING_BUYER}
# Staff moving a complaint here have answered or resolved it: the buyer is emailed.
NOTIFY_BUYER = {C.AWAITING_BUYER, C.RESOLVED}

# Magic bytes of what we accept: (prefix, offset, content type, extension).
_SIGNATURES: list[tuple[bytes, int, str, str]] = [
    (b"\x89PNG\r\n\x1a\n", 0, "image/png", ".png"),
    (b"\xff\xd8\xff", 0, "image/jpeg", ".jpg"),
    (b"GIF87a", 0, "image/gif", ".gif"),
    (b"GIF89a", 0, "image/gif", ".gif"),
    (b"%PDF-", 0, "application/pdf", ".pdf"),
]
DESCRIPTION_MAX = 5000


@dataclass(frozen=True)
class CheckedFile:
    original_name: str
    content_type: str
    extension: str
    data: bytes


def _sniff(head: bytes) -> tuple[str, str] | None:
    for prefix, offset, content_type, extension in _SIGNATURES:
        if head[offset : offset + len(prefix)] == prefix:
            return content_type, extension
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp", ".webp"
    return None


def evidence_files_check(files: Sequence[UploadedFile]) -> list[CheckedFile]:
    """Read and check every file; raise InvalidInput naming the first refused one."""
    limit = settings.KEYSHOP_COMPLAINT_EVIDENCE_MAX_BYTES
    if len(files) > settings.KEYSHOP_COMPLAINT_EVIDENCE_MAX_FILES:
        raise InvalidInput(
            _("Attach at most %(count)d files.")
            % {"count": settings.KEYSHOP_COMPLAINT_EVIDENCE_MAX_FILES}
        )
    checked = []
    for upload in files:
        name = (upload.name or "file")[-255:]
        if upload.size is not None and upload.size > limit:
            raise InvalidInput(
                _("%(name)s is too large: at most %(mb)d MB per file.")
                % {"name": name, "mb": limit // (1024 * 1024)}
            )
        upload.seek(0)
        data = upload.read(limit + 1)
        if len(data) > limit:
            raise InvalidInput(
                _("%(name)s is too large: at most %(mb)d MB per file.")
                % {"name": name, "mb": limit // (1024 * 1024)}
            )
        if not data:
            raise InvalidInput(_("%(name)s is empty.") % {"name": name})
        kind = _sniff(data[:16])
        if kind is None:
            raise InvalidInput(
                _("%(name)s is not an image (PNG, JPEG, GIF, WebP) or a PDF.") % {"name": name}
            )
        checked.append(CheckedFile(name, kind[0], kind[1], data))
    return checked


def complaint_transition(
    *, complaint_id: int, to_status: str, actor: AbstractBaseUser | None = None, note: str = ""
) -> tuple[Complaint, bool]:
    """Move a complaint: lock it; a repeat is a no-op; an illegal move raises; record an event."""
    with transaction.atomic():
        complaint = Complaint.objects.select_for_update().get(pk=complaint_id)
        if complaint.status == to_status:
            return complaint, False
        if to_status not in ALLOWED_MOVES[complaint.status]:
            raise IllegalTransition(
                _("A complaint cannot go from %(from)s to %(to)s.")
                % {"from": complaint.get_status_display(), "to": C(to_status).label},
                from_status=complaint.status,
                to_status=to_status,
            )
        from_status = complaint.status
        complaint.status = to_status
        complaint.save(update_fields=["status", "updated_at"])
        ComplaintEvent.objects.create(
            complaint=complaint,
            from_status=from_status,
            to_status=to_status,
            actor=actor,
            note=note,
        )
        if actor is not None and to_status in NOTIFY_BUYER:
            transaction.on_commit(partial(complaint_buyer_notify_task.delay, complaint.pk))
        audit_record(
            action="complaint.transition",
            obj_type="compliance.complaint",
            obj_id=complaint.pk,
            actor=actor,
            reason=redact(note),
            data={"from": from_status, "to": to_status, "order_id": complaint.order_id},
        )
        return complaint, True


def complaint_file(
    *,
    order: Order,
    code_ids: Iterable[int],
    reason: str,
    description: str,
    files: Sequence[UploadedFile] = (),
) -> Complaint:
    """The buyer files a complaint on some of the order's delivered codes.

    Raises InvalidInput (nothing stored) for no codes, a code not delivered on
    this order, an unknown reason, an empty description or a refused file.
    """
    description = description.strip()
    if not description:
        raise InvalidInput(_("Describe what is wrong."))
    if len(description) > DESCRIPTION_MAX:
        raise InvalidInput(_("Please keep the description under 5000 characters."))
    if reason not in ComplaintReason.values:
        raise InvalidInput(_("Choose a reason."))
    wanted = sorted(set(code_ids))
    codes = Code.objects.filter(
        pk__in=wanted, order_line__order=order, status=CodeStatus.DELIVERED
    ).values_list("pk", flat=True)
    if not wanted or len(codes) != len(wanted):
        raise InvalidInput(_("Choose the codes of this order the complaint is about."))
    pending = (
        Complaint.objects.filter(order=order, status__in=UNRESOLVED, codes__in=wanted)
        .values_list("pk", flat=True)
        .first()
    )
    if pending is not None:
        # One case per code at a time; this also makes a retried request harmless.
        raise Conflict(
            _("Complaint #%(id)d about these codes is still open: write there instead.")
            % {"id": pending},
            complaint_id=pending,
        )
    checked = evidence_files_check(files)
    written: list[str] = []
    try:
        with transaction.atomic():
            complaint = Complaint.objects.create(
                order=order, reason=reason, description=description
            )
            complaint.codes.set(wanted)
            ComplaintEvent.objects.create(complaint=complaint, to_status=C.OPEN, note=reason)
            written = _files_save(complaint, checked)
            audit_record(
                action="complaint.file",
                obj_type="compliance.complaint",
                obj_id=complaint.pk,
                data={"order_id": order.pk, "reason": reason, "code_ids": wanted},
            )
    except Exception:
        _files_delete(written)
        raise
    return complaint


def _files_save(complaint: Complaint, files: list[CheckedFile]) -> list[str]:
    written = []
    for checked in files:
        evidence = ComplaintEvidence(
            complaint=complaint,
            original_name=checked.original_name,
            content_type=checked.content_type,
            size=len(checked.data),
            sha256=hashlib.sha256(checked.data).hexdigest(),
        )
        evidence.file.save(f"evidence{checked.extension}", ContentFile(checked.data), save=False)
        written.append(evidence.file.name)
        evidence.save()
    return written


def _files_delete(names: list[str]) -> None:
    from compliance.storage import private_storage

    for name in names:
        private_storage().delete(name)


def complaint_message_add(
    *,
    complaint_id: int,
    body: str,
    staff_user: AbstractBaseUser | None = None,
) -> ComplaintMessage:
    """A message on the thread. The buyer's waits for staff; staff's waits for the buyer."""
    body = body.strip()
    if not body:
        raise InvalidInput(_("Write a message."))
    with transaction.atomic():
        complaint = Complaint.objects.select_for_update().get(pk=complaint_id)
        if complaint.status not in UNRESOLVED:
            raise Conflict(_("This complaint is closed; file a new one if something is wrong."))
        message = ComplaintMessage.objects.create(
            complaint=complaint, body=body, staff_user=staff_user
        )
        complaint_transition(
            complaint_id=complaint.pk,
            to_status=C.AWAITING_BUYER if staff_user else C.AWAITING_STAFF,
            actor=staff_user,
            note="message",
        )
    return message


def _resolve(
    complaint: Complaint, resolution: str, actor: AbstractBaseUser | None, note: str, **extra
) -> Complaint:
    Complaint.objects.filter(pk=complaint.pk).update(
        resolution=resolution, resolution_note=note, resolved_by=actor, **extra
    )
    complaint, _moved = complaint_transition(
        complaint_id=complaint.pk, to_status=C.RESOLVED, actor=actor, note=f"{resolution}: {note}"
    )
    return complaint


def _locked_unresolved(complaint_id: int) -> Complaint:
    complaint = Complaint.objects.select_for_update().get(pk=complaint_id)
    if complaint.status not in UNRESOLVED:
        raise Conflict(_("This complaint is already resolved."))
    return complaint


@transaction.atomic
def complaint_resolve_replace(
    *, complaint_id: int, actor: AbstractBaseUser | None, note: str = ""
) -> list[Code]:
    """Replace the complaint's codes that are still delivered: all or none (OutOfStock)."""
    complaint = _locked_unresolved(complaint_id)
    old = list(
        complaint.codes.filter(status=CodeStatus.DELIVERED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not old:
        raise Conflict(_("None of these codes is still delivered; refund instead."))
    new = [code_replace(code_id=code_id) for code_id in old]
    supplier_claims_open(code_ids=old, complaint_id=complaint.pk, actor=actor)
    audit_record(
        action="complaint.replace",
        obj_type="compliance.complaint",
        obj_id=complaint.pk,
        actor=actor,
        reason=redact(note),
        data={"old_code_ids": old, "new_code_ids": [code.pk for code in new]},
    )
    _resolve(complaint, ComplaintResolution.REPLACED, actor, note)
    return new


def complaint_resolve_refund(
    *, complaint_id: int, actor: AbstractBaseUser | None, note: str
) -> Complaint:
    """Refund the complaint's codes (a refund of those codes; large ones need a second approval)."""
    with transaction.atomic():
        complaint = _locked_unresolved(complaint_id)
        code_ids = list(
            complaint.codes.filter(status=CodeStatus.DELIVERED).values_list("pk", flat=True)
        )
        refund = refund_request(
            order_id=complaint.order_id,
            code_ids=code_ids,
            reason=note or _("complaint #%(id)d") % {"id": complaint.pk},
            actor=actor,
        )
        return _resolve(complaint, ComplaintResolution.REFUNDED, actor, note, refund=refund)


@transaction.atomic
def complaint_reject(*, complaint_id: int, actor: AbstractBaseUser | None, note: str) -> Complaint:
    """Reject a complaint; the reason is required and shown to the buyer."""
    if not note.strip():
        raise InvalidInput(_("Write why the complaint is rejected."))
    complaint = _locked_unresolved(complaint_id)
    return _resolve(complaint, ComplaintResolution.REJECTED, actor, note)


def complaint_close(*, complaint_id: int, actor: AbstractBaseUser | None) -> Complaint:
    """Close a resolved complaint, or one the buyer has not answered."""
    complaint, _moved = complaint_transition(
        complaint_id=complaint_id, to_status=C.CLOSED, actor=actor, note="closed"
    )
    return complaint


def complaint_buyer_notify(*, complaint_id: int) -> None:
    """Email the buyer that staff answered or resolved their complaint, with a fresh link to it.

    A reseller is told by the ``complaint.updated`` webhook instead (once per
    complaint event) and reads the complaint through the API; no email.
    """
    complaint = Complaint.objects.select_related("order").get(pk=complaint_id)
    order = complaint.order
    if order.reseller_id is not None:
        latest = complaint.events.order_by("-pk").values_list("pk", flat=True).first()
        reseller_order_event_announce(
            order_id=order.pk,
            event_type=WebhookEventType.COMPLAINT_UPDATED,
            source=f"complaint-event:{latest}",
            data={
                "complaint": {
                    "id": complaint.pk,
                    "status": complaint.status,
                    "resolution": complaint.resolution,
                }
            },
        )
        return
    token = order_access_link_create(order=order)
    with translation.override(order.language):
        link = settings.SITE_URL + reverse(
            "compliance:complaint_detail",
            kwargs={"number": order.number, "token": token, "complaint_id": complaint.pk},
        )
        body = render_to_string(
            "compliance/email/complaint_update.txt", {"complaint": complaint, "link": link}
        )
        subject = _("Your complaint about order %(number)s: %(status)s") % {
            "number": order.number,
            "status": complaint.get_status_display(),
        }
        send_mail(subject, body, None, [order.email])
