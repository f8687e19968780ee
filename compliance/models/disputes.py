"""Card disputes (chargebacks) opened on our orders, and what Stripe decided."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from shop.models import Order


class DisputeStatus(models.TextChoices):
    OPEN = "open", _("Open")
    WON = "won", _("Won")
    LOST = "lost", _("Lost")


class Dispute(models.Model):
    """One Stripe dispute. The evidence pack is assembled from the order when downloaded."""

    order = models.ForeignKey(
        Order, on_delete=models.PROTECT, related_name="disputes", verbose_name=_("order")
    )
    stripe_dispute_id = models.CharField(_("Stripe dispute"), max_length=255, unique=True)
    reason = models.CharField(_("reason"), max_length=64, blank=True)
    amount_minor = models.PositiveIntegerField(_("amount (minor units)"))
    currency = models.CharField(_("currency"), max_length=3)
    status = models.CharField(
        _("status"), max_length=8, choices=DisputeStatus.choices, default=DisputeStatus.OPEN
    )
    codes_revoked = models.PositiveIntegerField(_("unrevealed codes revoked"), default=0)
    opened_at = models.DateTimeField(_("opened at"), auto_now_add=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        verbose_name = _("dispute")
        verbose_name_plural = _("disputes")

    def __str__(self) -> str:
        return f"{self.stripe_dispute_id} ({self.get_status_display()})"
