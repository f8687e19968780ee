from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from fulfillment.models import Code
from shop.models import Order, Product


class RevocationList(models.Model):
    """One imported publisher list of revoked codes. The file itself is not kept."""

    product = models.ForeignKey(
        Product, on_delete=models.PROTECT, related_name="+", verbose_name=_("product")
    )
    publisher = models.CharField(_("publisher"), max_length=200)
    reference = models.CharField(_("list reference"), max_length=200, blank=True)
    file_sha256 = models.CharField(_("file SHA-256"), max_length=64)
    lines_read = models.PositiveIntegerField(_("lines read"), default=0)
    codes_listed = models.PositiveIntegerField(_("codes on the list"), default=0)
    withdrawn_available = models.PositiveIntegerField(_("available codes withdrawn"), default=0)
    withdrawn_held_back = models.PositiveIntegerField(_("held-back codes withdrawn"), default=0)
    delivered_matches = models.PositiveIntegerField(_("delivered codes (cases opened)"), default=0)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    imported_at = models.DateTimeField(_("imported at"), auto_now_add=True)

    class Meta:
        ordering = ["-imported_at"]
        verbose_name = _("revocation list")
        verbose_name_plural = _("revocation lists")

    def __str__(self) -> str:
        return f"{self.publisher} {self.reference or self.pk}"


class RevokedCode(models.Model):
    """A revoked code, by its blind index only: no plaintext is kept."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    blind_index = models.BinaryField(max_length=32)
    revocation_list = models.ForeignKey(
        RevocationList, on_delete=models.PROTECT, related_name="revoked_codes"
    )

    class Meta:
        verbose_name = _("revoked code")
        verbose_name_plural = _("revoked codes")
        constraints = [
            models.UniqueConstraint(
                fields=["product", "blind_index"], name="revoked_code_once_per_product"
            )
        ]

    def __str__(self) -> str:
        return f"revoked #{self.pk}"


class RevocationCaseStatus(models.TextChoices):
    OPEN = "open", _("Open")
    RESOLVED = "resolved", _("Resolved")


class RevocationCase(models.Model):
    """A code the publisher revoked after we delivered it: staff must look at the order."""

    code = models.OneToOneField(Code, on_delete=models.PROTECT, related_name="revocation_case")
    order = models.ForeignKey(
        Order, on_delete=models.PROTECT, related_name="+", verbose_name=_("order")
    )
    revocation_list = models.ForeignKey(
        RevocationList, on_delete=models.PROTECT, related_name="cases"
    )
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=RevocationCaseStatus.choices,
        default=RevocationCaseStatus.OPEN,
    )
    opened_at = models.DateTimeField(_("opened at"), auto_now_add=True)
    buyer_notified_at = models.DateTimeField(_("buyer told at"), null=True, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        verbose_name = _("revocation case")
        verbose_name_plural = _("revocation cases")
        indexes = [models.Index(fields=["status", "opened_at"], name="revocation_case_status")]

    def __str__(self) -> str:
        return f"case #{self.pk} ({self.get_status_display()})"


class RevocationCaseEvent(models.Model):
    case = models.ForeignKey(RevocationCase, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField(_("at"), auto_now_add=True)
    from_status = models.CharField(max_length=12, choices=RevocationCaseStatus.choices, blank=True)
    to_status = models.CharField(max_length=12, choices=RevocationCaseStatus.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.TextField(_("note"), blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("revocation case event")
        verbose_name_plural = _("revocation case events")

    def __str__(self) -> str:
        return f"{self.case_id}: {self.from_status or '-'} -> {self.to_status}"
