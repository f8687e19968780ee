"""Claims against suppliers: a delivered code found defective, charged back to its batch."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from compliance.models.complaints import Complaint
from core.models import TimeStampedModel
from fulfillment.models import Batch, Code


class SupplierClaimStatus(models.TextChoices):
    OPEN = "open", _("Open")
    # The supplier credited or replaced the code.
    ACCEPTED = "accepted", _("Accepted by the supplier")
    # The supplier refused it.
    REJECTED = "rejected", _("Rejected by the supplier")


class SupplierClaim(TimeStampedModel):
    """A defective code claimed back from the supplier of its batch: one claim per code.

    Opened by ``compliance.services.claims.supplier_claims_open`` when staff replace a
    code a buyer complained about; closed by ``supplier_claim_transition`` once the
    supplier answers. Claims count towards the supplier's defect rate.
    """

    code = models.OneToOneField(
        Code, on_delete=models.PROTECT, related_name="supplier_claim", verbose_name=_("code")
    )
    # The code's batch, kept on the claim so lists filter by batch and supplier without it.
    batch = models.ForeignKey(
        Batch, on_delete=models.PROTECT, related_name="+", verbose_name=_("batch")
    )
    complaint = models.ForeignKey(
        Complaint,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="supplier_claims",
        verbose_name=_("complaint"),
    )
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=SupplierClaimStatus.choices,
        default=SupplierClaimStatus.OPEN,
    )
    note = models.TextField(_("note"), blank=True, help_text=_("What the supplier answered."))
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("resolved by"),
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("supplier claim")
        verbose_name_plural = _("supplier claims")
        permissions = [("resolve_supplierclaim", _("Can accept and reject supplier claims"))]
        indexes = [models.Index(fields=["status", "created_at"], name="supplier_claim_status")]

    def __str__(self) -> str:
        return f"claim #{self.pk} ({self.get_status_display()})"


class SupplierClaimEvent(models.Model):
    """Append-only history of a supplier claim."""

    claim = models.ForeignKey(SupplierClaim, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField(_("at"), auto_now_add=True)
    # Blank on the event that records the claim's opening.
    from_status = models.CharField(
        _("from"), max_length=12, choices=SupplierClaimStatus.choices, blank=True
    )
    to_status = models.CharField(_("to"), max_length=12, choices=SupplierClaimStatus.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.TextField(_("note"), blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("supplier claim event")
        verbose_name_plural = _("supplier claim events")

    def __str__(self) -> str:
        return f"{self.claim_id}: {self.from_status or '-'} -> {self.to_status}"
