from django.db import models
from django.utils.translation import gettext_lazy as _

from core.models import TimeStampedModel
from shop.models.catalogue import CURRENCY_CHOICES
from shop.models.orders import Order


class PaymentStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SUCCEEDED = "succeeded", _("Succeeded")
    CANCELED = "canceled", _("Canceled")
    # Stripe reported success for an amount or currency other than the order's.
    MISMATCH = "mismatch", _("Amount mismatch")


class Payment(TimeStampedModel):
    """The order's Stripe PaymentIntent. One per order, reused after a declined card."""

    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="payment")
    stripe_payment_intent_id = models.CharField(max_length=255, unique=True)
    # Handed to Stripe.js on the payment page; it can only complete this payment.
    client_secret = models.CharField(max_length=255)
    amount_minor = models.PositiveIntegerField(_("amount (minor units)"))
    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES)
    status = models.CharField(
        _("status"), max_length=16, choices=PaymentStatus.choices, default=PaymentStatus.PENDING
    )
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    # Kept for fraud screening: Stripe's card fingerprint identifies a card
    # without being the card number.
    card_fingerprint = models.CharField(max_length=64, blank=True, db_index=True)
    card_country = models.CharField(max_length=2, blank=True)
    risk_level = models.CharField(_("Radar risk level"), max_length=20, blank=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")

    def __str__(self) -> str:
        return self.stripe_payment_intent_id


class StripeEvent(models.Model):
    """Every Stripe webhook event received, once: the unique id makes a replay a no-op."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100, db_index=True)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name = _("Stripe event")
        verbose_name_plural = _("Stripe events")

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"
