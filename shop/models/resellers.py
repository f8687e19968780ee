"""Resellers: accounts, price tiers, API keys, the prepaid balance and its ledger, webhooks.

Money is integer minor units with its currency on the same row. A reseller's
balance in a currency is one ``ResellerBalance`` row whose amount is always the
sum of its ``ResellerLedgerEntry`` rows: both are written together, under the
balance row's lock, by ``shop.services.resellers`` only.
"""

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.models import TimeStampedModel
from core.money import Money
from shop.models.catalogue import CURRENCY_CHOICES, Category, Product
from shop.models.orders import Order

# 10 000 basis points are 100 %.
BASIS_POINTS = 10_000


class PriceTier(TimeStampedModel):
    """A reseller price list: explicit prices first, then category discounts, then the default."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    discount_bps = models.PositiveIntegerField(
        _("default discount (basis points)"),
        default=0,
        validators=[MaxValueValidator(BASIS_POINTS - 1)],
        help_text=_("Off the list price for every product: 1500 is 15 %."),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("price tier")
        verbose_name_plural = _("price tiers")
        constraints = [
            models.CheckConstraint(
                condition=Q(discount_bps__lt=BASIS_POINTS), name="price_tier_discount_below_100"
            )
        ]

    def __str__(self) -> str:
        return self.name


class PriceTierCategoryDiscount(models.Model):
    tier = models.ForeignKey(PriceTier, on_delete=models.CASCADE, related_name="category_discounts")
    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="+")
    discount_bps = models.PositiveIntegerField(
        _("discount (basis points)"), validators=[MaxValueValidator(BASIS_POINTS - 1)]
    )

    class Meta:
        verbose_name = _("category discount")
        verbose_name_plural = _("category discounts")
        constraints = [
            models.UniqueConstraint(fields=["tier", "category"], name="tier_category_once"),
            models.CheckConstraint(
                condition=Q(discount_bps__lt=BASIS_POINTS), name="tier_category_discount_below_100"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tier_id}: {self.category_id} -{self.discount_bps}bps"


class PriceTierPrice(models.Model):
    """An explicit price; it applies only while its currency is the product's."""

    tier = models.ForeignKey(PriceTier, on_delete=models.CASCADE, related_name="prices")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    price_minor = models.PositiveIntegerField(
        _("price (minor units)"), validators=[MinValueValidator(1)]
    )
    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES)

    class Meta:
        verbose_name = _("explicit price")
        verbose_name_plural = _("explicit prices")
        constraints = [
            models.UniqueConstraint(fields=["tier", "product"], name="tier_product_once"),
            models.CheckConstraint(condition=Q(price_minor__gte=1), name="tier_price_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.tier_id}: {self.product_id} {self.price_minor} {self.currency}"


class ResellerStatus(models.TextChoices):
    APPLIED = "applied", _("Applied")
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")
    REJECTED = "rejected", _("Rejected")


class Reseller(TimeStampedModel):
    """A business that buys through the API. Only an active reseller's keys work."""

    name = models.CharField(_("company name"), max_length=200)
    contact_email = models.EmailField(_("contact email"))
    website = models.URLField(_("website"), blank=True)
    country = models.CharField(_("country (ISO 3166)"), max_length=2, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=ResellerStatus.choices, default=ResellerStatus.APPLIED
    )
    price_tier = models.ForeignKey(
        PriceTier,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="resellers",
        verbose_name=_("price tier"),
        help_text=_("Without a tier the reseller pays list prices."),
    )
    # The reseller terms accepted when applying (version and time).
    terms_version = models.CharField(_("reseller terms version"), max_length=20)
    terms_accepted_at = models.DateTimeField(_("terms accepted at"))
    vetted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("vetted by"),
    )
    vetted_at = models.DateTimeField(_("vetted at"), null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("reseller")
        verbose_name_plural = _("resellers")
        permissions = [
            ("vet_reseller", _("Can vet, activate, suspend and reject resellers")),
            ("adjust_reseller_balance", _("Can adjust reseller balances")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="active") | Q(vetted_at__isnull=False),
                name="reseller_active_was_vetted",
            )
        ]

    def __str__(self) -> str:
        return self.name


class ResellerEvent(models.Model):
    """Append-only history of a reseller account: application, vetting, suspension, keys."""

    reseller = models.ForeignKey(Reseller, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField(auto_now_add=True)
    from_status = models.CharField(max_length=16, choices=ResellerStatus.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=ResellerStatus.choices, blank=True)
    kind = models.CharField(_("kind"), max_length=40)
    note = models.TextField(_("note"), blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("reseller event")
        verbose_name_plural = _("reseller events")

    def __str__(self) -> str:
        return f"{self.reseller_id} {self.kind}"


class ApiScope(models.TextChoices):
    CATALOGUE_READ = "catalogue:read", _("Read the catalogue, prices and stock")
    ORDERS_WRITE = "orders:write", _("Place orders")
    ORDERS_READ = "orders:read", _("Read orders and their codes")
    BALANCE_READ = "balance:read", _("Read the balance, ledger and top-ups")
    BALANCE_TOP_UP = "balance:top_up", _("Start balance top-ups")
    WEBHOOKS_MANAGE = "webhooks:manage", _("Manage webhooks and read their deliveries")
    KEYS_MANAGE = "keys:manage", _("Create and revoke API keys")
    COMPLAINTS = "complaints", _("File complaints about delivered codes and follow them")


class ResellerApiKey(models.Model):
    """An API key. Only its SHA-256 is kept; the prefix identifies it to people."""

    reseller = models.ForeignKey(Reseller, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=16, unique=True)
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(_("scopes"), default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ResellerBalance(TimeStampedModel):
    """The prepaid balance in one currency: always the sum of its ledger."""

    reseller = models.ForeignKey(Reseller, on_delete=models.PROTECT, related_name="balances")
    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES)
    amount_minor = models.BigIntegerField(_("balance (minor units)"), default=0)
    daily_limit_minor = models.PositiveBigIntegerField(
        _("daily spending limit (minor units)"),
        null=True,
        blank=True,
        help_text=_("Orders per calendar day (shop time zone) in this currency; empty: no limit."),
    )

    class Meta:
        ordering = ["reseller", "currency"]
        verbose_name = _("reseller balance")
        verbose_name_plural = _("reseller balances")
        constraints = [
            models.UniqueConstraint(fields=["reseller", "currency"], name="reseller_balance_once"),
            models.CheckConstraint(
                condition=Q(amount_minor__gte=0), name="reseller_balance_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reseller_id} {self.amount}"

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)


class TopUpStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SUCCEEDED = "succeeded", _("Succeeded")
    CANCELED = "canceled", _("Canceled")
    # Stripe reported success for another amount or currency: not credited.
    MISMATCH = "mismatch", _("Amount mismatch")


class BalanceTopUp(TimeStampedModel):
    """A top-up paid through a Stripe PaymentIntent; credited once when Stripe reports success."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    reseller = models.ForeignKey(Reseller, on_delete=models.PROTECT, related_name="top_ups")
    amount_minor = models.PositiveIntegerField(
        _("amount (minor units)"), validators=[MinValueValidator(1)]
    )
    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES)
    stripe_payment_intent_id = models.CharField(max_length=255, unique=True)
    client_secret = models.CharField(max_length=255)
    status = models.CharField(
        _("status"), max_length=16, choices=TopUpStatus.choices, default=TopUpStatus.PENDING
    )
    succeeded_at = models.DateTimeField(_("succeeded at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("balance top-up")
        verbose_name_plural = _("balance top-ups")
        constraints = [
            models.CheckConstraint(condition=Q(amount_minor__gte=1), name="top_up_positive")
        ]

    def __str__(self) -> str:
        return self.stripe_payment_intent_id

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)


class LedgerKind(models.TextChoices):
    TOP_UP = "top_up", _("Top-up")
    ORDER = "order", _("Order")
    REFUND = "refund", _("Refund")
    ADJUSTMENT = "adjustment", _("Adjustment")


class ResellerLedgerEntry(models.Model):
    """One movement of a balance. Append-only; the balance is the sum of its entries."""

    balance = models.ForeignKey(ResellerBalance, on_delete=models.PROTECT, related_name="ledger")
    kind = models.CharField(_("kind"), max_length=16, choices=LedgerKind.choices)
    amount_minor = models.BigIntegerField(_("amount (minor units)"))
    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES)
    balance_after_minor = models.BigIntegerField(_("balance after (minor units)"))
    order = models.ForeignKey(
        Order, on_delete=models.PROTECT, null=True, blank=True, related_name="ledger_entries"
    )
    top_up = models.OneToOneField(
        BalanceTopUp, on_delete=models.PROTECT, null=True, blank=True, related_name="ledger_entry"
    )
    note = models.TextField(_("note"), blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-pk"]
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        indexes = [
            models.Index(fields=["balance", "kind", "created_at"], name="ledger_balance_kind_time")
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(amount_minor=0), name="ledger_amount_not_zero"),
            models.CheckConstraint(
                condition=Q(balance_after_minor__gte=0), name="ledger_balance_after_not_negative"
            ),
            models.CheckConstraint(
                condition=~Q(kind="order") | (Q(amount_minor__lt=0) & Q(order__isnull=False)),
                name="ledger_order_is_a_debit_of_an_order",
            ),
            models.CheckConstraint(
                condition=~Q(kind="refund") | (Q(amount_minor__gt=0) & Q(order__isnull=False)),
                name="ledger_refund_is_a_credit_for_an_order",
            ),
            models.CheckConstraint(
                condition=~Q(kind="top_up") | (Q(amount_minor__gt=0) & Q(top_up__isnull=False)),
                name="ledger_top_up_is_a_credit_of_a_top_up",
            ),
            models.CheckConstraint(
                condition=~Q(kind="adjustment") | ~Q(note=""),
                name="ledger_adjustment_has_a_reason",
            ),
            # An order is paid from the balance once.
            models.UniqueConstraint(
                fields=["order"], condition=Q(kind="order"), name="ledger_one_debit_per_order"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount_minor} {self.currency}"

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)


class ResellerOrderRequest(models.Model):
    """The Idempotency-Key a reseller sent with an order, and a hash of what it asked for."""

    reseller = models.ForeignKey(Reseller, on_delete=models.PROTECT, related_name="+")
    idempotency_key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    reference = models.CharField(_("reseller's reference"), max_length=100, blank=True)
    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="reseller_request")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("reseller order request")
        verbose_name_plural = _("reseller order requests")
        constraints = [
            models.UniqueConstraint(
                fields=["reseller", "idempotency_key"], name="reseller_idempotency_key_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.reseller_id} {self.order_id}"


class WebhookEventType(models.TextChoices):
    ORDER_DELIVERED = "order.delivered", _("Order delivered")
    ORDER_REFUNDED = "order.refunded", _("Order refunded (fully or partly)")
    CODE_REVOKED = "code.revoked", _("Code revoked")
    COMPLAINT_UPDATED = "complaint.updated", _("Complaint answered or resolved")


class ResellerWebhookEndpoint(TimeStampedModel):
    """Where a reseller wants events. The secret signs every delivery (HMAC-SHA256)."""

    reseller = models.ForeignKey(
        Reseller, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(_("URL"), max_length=500)
    description = models.CharField(_("description"), max_length=200, blank=True)
    event_types = models.JSONField(_("event types"), default=list)
    secret = models.CharField(max_length=100)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["pk"]
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")

    def __str__(self) -> str:
        return f"{self.reseller_id} endpoint {self.pk}"


class WebhookDeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed (retries given up)")


class ResellerWebhookDelivery(models.Model):
    """One event for one endpoint, retried with exponential backoff until it succeeds or expires."""

    endpoint = models.ForeignKey(
        ResellerWebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    event_type = models.CharField(max_length=40, choices=WebhookEventType.choices)
    # What caused the event (e.g. "order-event:<pk>"), so it is announced once per endpoint.
    source = models.CharField(max_length=100)
    payload = models.JSONField()
    status = models.CharField(
        max_length=16,
        choices=WebhookDeliveryStatus.choices,
        default=WebhookDeliveryStatus.PENDING,
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-pk"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due")]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "source"], name="webhook_source_once")
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"


class ResellerWebhookAttempt(models.Model):
    """One HTTP attempt of a delivery: the log the reseller reads."""

    delivery = models.ForeignKey(
        ResellerWebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["pk"]
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")

    def __str__(self) -> str:
        return f"{self.delivery_id} #{self.number}"
