from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from compliance.storage import private_storage, supplier_document_path
from core.models import TimeStampedModel
from fulfillment.models import Supplier


class VettingStatus(models.TextChoices):
    APPLIED = "applied", _("Applied")
    UNDER_REVIEW = "under_review", _("Under review")
    APPROVED = "approved", _("Approved")
    SUSPENDED = "suspended", _("Suspended")
    OFFBOARDED = "offboarded", _("Offboarded")


class SupplierVetting(TimeStampedModel):
    """Compliance's view of a supplier: where its vetting stands.

    Only batches of an approved supplier with a current authorisation can become
    sellable (``compliance.release_checks``). A supplier without this row is not vetted.
    """

    supplier = models.OneToOneField(
        Supplier, on_delete=models.PROTECT, related_name="vetting", verbose_name=_("supplier")
    )
    status = models.CharField(
        _("status"), max_length=16, choices=VettingStatus.choices, default=VettingStatus.APPLIED
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    # Set when a claim takes the supplier's defect rate over the threshold
    # (compliance.services.claims); sales go on until an officer suspends it or clears this.
    defect_flagged_at = models.DateTimeField(
        _("flagged for review at"),
        null=True,
        blank=True,
        help_text=_("Its defect rate reached the threshold; it is still selling."),
    )
    defect_flag_note = models.TextField(_("why flagged"), blank=True)

    class Meta:
        ordering = ["supplier__name"]
        verbose_name = _("supplier vetting")
        verbose_name_plural = _("supplier vetting")
        permissions = [("vet_supplier", _("Can approve, suspend and offboard suppliers"))]

    def __str__(self) -> str:
        return f"{self.supplier} ({self.get_status_display()})"


class SupplierVettingEvent(models.Model):
    """Append-only history of a supplier's vetting."""

    vetting = models.ForeignKey(SupplierVetting, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField(_("at"), auto_now_add=True)
    from_status = models.CharField(
        _("from"), max_length=16, choices=VettingStatus.choices, blank=True
    )
    to_status = models.CharField(_("to"), max_length=16, choices=VettingStatus.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.TextField(_("note"), blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("supplier vetting event")
        verbose_name_plural = _("supplier vetting events")

    def __str__(self) -> str:
        return f"{self.vetting_id}: {self.from_status or '-'} -> {self.to_status}"


class DocumentKind(models.TextChoices):
    REGISTRATION = "registration", _("Business registration")
    PUBLISHER_AUTHORISATION = "publisher_authorisation", _("Publisher authorisation")
    RESELLER_CERTIFICATE = "reseller_certificate", _("Reseller certificate")


# Documents that authorise a supplier to sell codes: one must be current.
AUTHORISATION_KINDS = [DocumentKind.PUBLISHER_AUTHORISATION, DocumentKind.RESELLER_CERTIFICATE]


class SupplierDocument(models.Model):
    """A business document of a supplier, stored privately (see compliance.storage)."""

    supplier = models.ForeignKey(
        Supplier, on_delete=models.PROTECT, related_name="documents", verbose_name=_("supplier")
    )
    kind = models.CharField(_("kind"), max_length=32, choices=DocumentKind.choices)
    reference = models.CharField(
        _("reference"), max_length=200, help_text=_("The document's number or reference.")
    )
    file = models.FileField(
        _("file"), storage=private_storage, upload_to=supplier_document_path, max_length=255
    )
    original_name = models.CharField(_("file name as uploaded"), max_length=255)
    sha256 = models.CharField(_("file SHA-256"), max_length=64)
    valid_until = models.DateField(
        _("valid until"), null=True, blank=True, help_text=_("Empty: does not expire.")
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    uploaded_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)

    class Meta:
        ordering = ["supplier", "kind", "-uploaded_at"]
        verbose_name = _("supplier document")
        verbose_name_plural = _("supplier documents")
        permissions = [("download_supplierdocument", _("Can download supplier documents"))]
        constraints = [
            # An authorisation always has an end date; the daily task acts on it.
            models.CheckConstraint(
                condition=~models.Q(kind__in=AUTHORISATION_KINDS)
                | models.Q(valid_until__isnull=False),
                name="supplier_authorisation_has_expiry",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.reference}"
