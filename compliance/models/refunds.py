"""Refunds staff make after delivery (whole order or chosen codes), and their history."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from fulfillment.models import Code
from shop.models import Order


class RefundStatus(models.TextChoices):
    # Waits for a second member of staff (above KEYSHOP_REFUND_SECOND_APPROVAL_MINOR).
    REQUESTED = "requested", _("Requested")
    # Sent to Stripe; not done until Stripe says so.
    PENDING = "pending", _("Pending at Stripe")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class Refund(models.Model):
    """Money given back on one order through Stripe; the codes it covers are revoked on success.

    No codes listed means the whole order. The Stripe refund id is unique: a
    refund is applied once however many events report it.
    """

    order = models.ForeignKey(
        Order, on_delete=models.PROTECT, related_name="refunds", verbose_name=_("order")
    )
    amount_minor = models.PositiveIntegerField(_("amount (minor units)"))
    currency = models.CharField(_("currency"), max_length=3)
    whole_order = models.BooleanField(_("whole order"), default=False)
    codes = models.ManyToManyField(
        Code, blank=True, related_name="+", verbose_name=_("codes refunded")
    )
    reason = models.TextField(_("reason"))
    # Where it came from: staff, an early fraud warning, a lost dispute.
    source = models.CharField(_("source"), max_length=24, default="staff")
    status = models.CharField(
        _("status"), max_length=12, choices=RefundStatus.choices, default=RefundStatus.REQUESTED
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("approved by"),
    )
    stripe_refund_id = models.CharField(_("Stripe refund"), max_length=255, blank=True)
    failure_reason = models.CharField(_("why it failed"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_refund_id"],
                condition=~Q(stripe_refund_id=""),
                name="refund_stripe_id_unique",
            ),
            models.CheckConstraint(condition=Q(amount_minor__gt=0), name="refund_amount_positive"),
        ]
        indexes = [models.Index(fields=["status", "updated_at"], name="refund_status")]

    def __str__(self) -> str:
        return f"refund #{self.pk} ({self.get_status_display()})"


class RefundEvent(models.Model):
    """Append-only history of a refund: each status change, who made it and why."""

    refund = models.ForeignKey(Refund, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField(_("at"), auto_now_add=True)
    from_status = models.CharField(
        _("from"), max_length=12, choices=RefundStatus.choices, blank=True
    )
    to_status = models.CharField(_("to"), max_length=12, choices=RefundStatus.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.TextField(_("note"), blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("refund event")
        verbose_name_plural = _("refund events")

    def __str__(self) -> str:
        return f"{self.refund_id}: {self.from_status or '-'} -> {self.to_status}"
