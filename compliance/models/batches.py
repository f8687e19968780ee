from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from core.models import TimeStampedModel
from core.money import Money
from fulfillment.models import Batch
from shop.models.catalogue import CURRENCY_CHOICES


class BatchProvenance(TimeStampedModel):
    """Where a batch's codes came from, and what the automatic checks found.

    Created when the batch's import finishes (``fulfillment.signals.batch_imported``);
    the references are then filled in by staff. The file's SHA-256 is the batch's own
    (``Batch.file_sha256``). A batch becomes sellable only with this complete.
    """

    batch = models.OneToOneField(
        Batch, on_delete=models.PROTECT, related_name="provenance", verbose_name=_("batch")
    )
    invoice_reference = models.CharField(
        _("invoice or purchase-order reference"), max_length=100, blank=True
    )
    acquired_on = models.DateField(_("acquired on"), null=True, blank=True)
    unit_cost_minor = models.PositiveIntegerField(
        _("unit cost (minor units)"), null=True, blank=True
    )
    unit_cost_currency = models.CharField(
        _("unit cost currency"), max_length=3, choices=CURRENCY_CHOICES, blank=True
    )
    publisher_authorisation_reference = models.CharField(
        _("publisher authorisation reference"), max_length=100, blank=True
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    checks_run_at = models.DateTimeField(_("checks run at"), null=True, blank=True)

    class Meta:
        ordering = ["-batch_id"]
        verbose_name = _("batch provenance")
        verbose_name_plural = _("batch provenance")
        permissions = [
            ("approve_batch", _("Can approve or reject quarantined batches")),
            ("export_provenance", _("Can export code provenance")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(unit_cost_minor__isnull=True) | ~models.Q(unit_cost_currency=""),
                name="provenance_unit_cost_has_currency",
            )
        ]

    def __str__(self) -> str:
        return f"provenance of batch #{self.batch_id}"

    @property
    def unit_cost(self) -> Money | None:
        if self.unit_cost_minor is None:
            return None
        return Money(self.unit_cost_minor, self.unit_cost_currency)

    def missing_fields(self) -> list[str]:
        """The names (for people) of what is still missing; empty when complete."""
        missing = []
        if not self.invoice_reference.strip():
            missing.append(str(_("invoice or purchase-order reference")))
        if self.acquired_on is None:
            missing.append(str(_("acquisition date")))
        if self.unit_cost_minor is None:
            missing.append(str(_("unit cost")))
        if not self.publisher_authorisation_reference.strip():
            missing.append(str(_("publisher authorisation reference")))
        return missing


class CheckKind(models.TextChoices):
    DUPLICATES = "duplicates", _("Duplicates of stored or sold codes")
    REVOKED = "revoked", _("Codes on a publisher revocation list")
    FORMAT = "format", _("Lines not in the product's code format")
    VOLUME = "volume", _("Unusual volume for this supplier")
    UNIT_COST = "unit_cost", _("Unusual unit cost for this supplier")


class CheckOutcome(models.TextChoices):
    PASSED = "passed", _("Passed")
    WARNING = "warning", _("Look at this")
    NOT_APPLICABLE = "n/a", _("Not applicable yet")


class BatchCheck(models.Model):
    """One automatic check of a batch and what it found: counts and a sentence, never a code."""

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="compliance_checks")
    kind = models.CharField(_("check"), max_length=16, choices=CheckKind.choices)
    outcome = models.CharField(_("outcome"), max_length=8, choices=CheckOutcome.choices)
    count = models.PositiveIntegerField(_("count"), default=0)
    detail = models.CharField(_("detail"), max_length=300, blank=True)
    checked_at = models.DateTimeField(_("checked at"))

    class Meta:
        ordering = ["batch", "kind"]
        verbose_name = _("batch check")
        verbose_name_plural = _("batch checks")
        constraints = [
            models.UniqueConstraint(fields=["batch", "kind"], name="batch_check_once_per_kind")
        ]

    def __str__(self) -> str:
        return f"{self.batch_id} {self.kind}: {self.outcome}"
