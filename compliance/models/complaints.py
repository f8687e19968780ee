"""Buyers' complaints about delivered codes: the thread, the evidence files, the outcome."""

import secrets
from pathlib import PurePosixPath

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from compliance.models.refunds import Refund
from compliance.storage import private_storage
from fulfillment.models import Code
from shop.models import Order


class ComplaintReason(models.TextChoices):
    DOES_NOT_WORK = "does_not_work", _("The code does not work")
    ALREADY_REDEEMED = "already_redeemed", _("The code was already redeemed")
    WRONG_REGION = "wrong_region", _("Wrong region or platform")
    NOT_RECEIVED = "not_received", _("I did not receive the code")
    OTHER = "other", _("Something else")


class ComplaintStatus(models.TextChoices):
    OPEN = "open", _("Open")
    AWAITING_STAFF = "awaiting_staff", _("Waiting for us")
    AWAITING_BUYER = "awaiting_buyer", _("Waiting for you")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")


class ComplaintResolution(models.TextChoices):
    REPLACED = "replaced", _("Code replaced")
    REFUNDED = "refunded", _("Refunded")
    REJECTED = "rejected", _("Rejected")


class Complaint(models.Model):
    """A buyer's complaint about some delivered codes of one order."""

    order = models.ForeignKey(
        Order, on_delete=models.PROTECT, related_name="complaints", verbose_name=_("order")
    )
    codes = models.ManyToManyField(Code, related_name="+", verbose_name=_("codes"))
    reason = models.CharField(_("reason"), max_length=20, choices=ComplaintReason.choices)
    description = models.TextField(_("description"))
    status = models.CharField(
        _("status"), max_length=16, choices=ComplaintStatus.choices, default=ComplaintStatus.OPEN
    )
    resolution = models.CharField(
        _("resolution"), max_length=12, choices=ComplaintResolution.choices, blank=True
    )
    resolution_note = models.TextField(_("resolution note"), blank=True)
    refund = models.ForeignKey(
        Refund, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("filed at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("complaint")
        verbose_name_plural = _("complaints")
        permissions = [("download_complaintevidence", _("Can download complaint evidence"))]
        indexes = [models.Index(fields=["status", "updated_at"], name="complaint_status")]

    def __str__(self) -> str:
        return f"complaint #{self.pk} ({self.get_status_display()})"


def complaint_evidence_path(evidence: object, filename: str) -> str:
    """Our own file name, never the buyer's."""
    suffix = PurePosixPath(filename).suffix.lower()[:10]
    complaint_id = getattr(evidence, "complaint_id", "unknown")
    return f"compliance/complaints/{complaint_id}/{secrets.token_hex(16)}{suffix}"


class ComplaintEvidence(models.Model):
    """A screenshot or PDF the buyer sent; private, downloaded only by permitted staff."""

    complaint = models.ForeignKey(Complaint, on_delete=models.CASCADE, related_name="evidence")
    file = models.FileField(
        _("file"), storage=private_storage, upload_to=complaint_evidence_path, max_length=200
    )
    original_name = models.CharField(_("original name"), max_length=255)
    content_type = models.CharField(_("content type"), max_length=40)
    size = models.PositiveIntegerField(_("size (bytes)"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    uploaded_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)

    class Meta:
        ordering = ["uploaded_at", "pk"]
        verbose_name = _("complaint evidence")
        verbose_name_plural = _("complaint evidence")

    def __str__(self) -> str:
        return f"evidence #{self.pk} ({self.content_type})"


class ComplaintMessage(models.Model):
    """One message of the thread, by the buyer (no staff user) or by staff."""

    complaint = models.ForeignKey(Complaint, on_delete=models.CASCADE, related_name="messages")
    staff_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    body = models.TextField(_("message"))
    created_at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("complaint message")
        verbose_name_plural = _("complaint messages")

    def __str__(self) -> str:
        return f"{self.complaint_id}: {'staff' if self.staff_user_id else 'buyer'}"


class ComplaintEvent(models.Model):
    """Append-only history of a complaint's status."""

    complaint = models.ForeignKey(Complaint, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField(_("at"), auto_now_add=True)
    from_status = models.CharField(max_length=16, choices=ComplaintStatus.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=ComplaintStatus.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.TextField(_("note"), blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("complaint event")
        verbose_name_plural = _("complaint events")

    def __str__(self) -> str:
        return f"{self.complaint_id}: {self.from_status or '-'} -> {self.to_status}"
