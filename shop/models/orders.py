from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Upper
from django.utils.translation import gettext_lazy as _

from core.models import TimeStampedModel
from core.money import Money
from shop.models.catalogue import CURRENCY_CHOICES, Product


class OrderStatus(models.TextChoices):
    AWAITING_PAYMENT = "awaiting_payment", _("Awaiting payment")
    PAID = "paid", _("Paid")
    HELD = "held", _("Held for review")
    DELIVERING = "delivering", _("Delivering")
    DELIVERED = "delivered", _("Delivered")
    AWAITING_STOCK = "awaiting_stock", _("Awaiting stock")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", _("Expired")
    REFUNDED = "refunded", _("Refunded")
    PARTIALLY_REFUNDED = "partially_refunded", _("Partially refunded")
    DISPUTED = "disputed", _("Disputed")


class Order(TimeStampedModel):
    """A buyer's order. The email is the only personal field (see docs/privacy.md)."""

    number = models.CharField(_("order number"), max_length=20, unique=True)
    email = models.EmailField(_("email"))
    status = models.CharField(
        _("status"),
        max_length=24,
        choices=OrderStatus.choices,
        default=OrderStatus.AWAITING_PAYMENT,
    )
    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES)
    total_minor = models.PositiveIntegerField(_("total (minor units)"))
    terms_version = models.CharField(_("terms version"), max_length=20)
    terms_accepted_at = models.DateTimeField(_("terms accepted at"))
    language = models.CharField(_("language"), max_length=10, default="en")
    # Stock is held for the order while it waits for payment; the flag says whether
    # the hold is still in force so it is released (or consumed) exactly once.
    holds_reservation = models.BooleanField(_("holds a stock reservation"), default=False)
    reserved_until = models.DateTimeField(_("reserved until"), null=True, blank=True)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    # Set for orders placed through the reseller API (paid from the reseller's balance).
    reseller = models.ForeignKey(
        "shop.Reseller",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="orders",
        verbose_name=_("reseller"),
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        indexes = [
            models.Index(fields=["status", "reserved_until"], name="order_status_reserved_until"),
            models.Index(fields=["status", "paid_at"], name="order_status_paid_at"),
            # Screening counts a buyer's recent orders by email, case-insensitively
            # (email__iexact is UPPER(email) = UPPER(%s) on PostgreSQL).
            models.Index(Upper("email"), F("paid_at"), name="order_email_upper_paid_at"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(holds_reservation=False) | Q(reserved_until__isnull=False),
                name="order_reservation_has_deadline",
            )
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def total(self) -> Money:
        return Money(self.total_minor, self.currency)


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveSmallIntegerField(_("quantity"))
    unit_price_minor = models.PositiveIntegerField(_("unit price (minor units)"))

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gte=1), name="order_line_quantity_positive"
            ),
            models.UniqueConstraint(fields=["order", "product"], name="order_line_product_once"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product_id}"

    @property
    def total_minor(self) -> int:
        return self.unit_price_minor * self.quantity


class OrderEvent(models.Model):
    """Append-only history of an order: every status change and staff action."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField(auto_now_add=True)
    from_status = models.CharField(max_length=24, choices=OrderStatus.choices, blank=True)
    to_status = models.CharField(max_length=24, choices=OrderStatus.choices, blank=True)
    kind = models.CharField(_("kind"), max_length=40)
    note = models.TextField(_("note"), blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("order event")
        verbose_name_plural = _("order events")

    def __str__(self) -> str:
        return f"{self.order_id} {self.kind}"


class OrderAccess(models.Model):
    """A secret link to an order. Only the SHA-256 of the token is kept."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="access_links")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("order access link")
        verbose_name_plural = _("order access links")

    def __str__(self) -> str:
        return f"link for {self.order_id}"
