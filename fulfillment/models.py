from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from core.models import TimeStampedModel
from shop.models import OrderLine, Product


class StockLevel(models.Model):
    """Per product: codes in the vault that can be sold, and units promised to orders.

    Both counters change in the same transaction as the codes or orders they count,
    so ``codes_available`` always equals the number of available codes and
    ``units_held`` the units held by orders not yet delivered. What a buyer can
    still get is the difference. Reading one row per product keeps the storefront's
    stock figure cheap however many codes the vault holds.
    """

    product = models.OneToOneField(
        Product, on_delete=models.CASCADE, primary_key=True, related_name="stock_level"
    )
    codes_available = models.PositiveIntegerField(_("codes available"), default=0)
    units_held = models.PositiveIntegerField(_("units held by orders"), default=0)
    low_stock_threshold = models.PositiveIntegerField(
        _("low-stock alert below"), default=10, help_text=_("Staff are alerted below this.")
    )
    # Allocation's queue head: (batch id, code id) of a code it took last (or a few
    # codes before the last, under concurrent deliveries), where the next pick starts,
    # so it does not walk the dead index entries of every code sold since the last
    # VACUUM. A hint, not a rule: codes behind it are still found, and NULL (also set
    # when a batch is made sellable again) means "start from the oldest batch".
    queue_batch_id = models.BigIntegerField(null=True, blank=True, editable=False)
    queue_code_id = models.BigIntegerField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("stock level")
        verbose_name_plural = _("stock levels")
        constraints = [
            models.CheckConstraint(
                condition=Q(codes_available__gte=0) & Q(units_held__gte=0),
                name="stock_level_counters_not_negative",
            )
        ]

    def __str__(self) -> str:
        return f"{self.product_id}: {self.sellable}"

    @property
    def sellable(self) -> int:
        return max(self.codes_available - self.units_held, 0)


class CodeRule(models.Model):
    """How a product's codes look. Imports reject lines that do not fit."""

    product = models.OneToOneField(
        Product, on_delete=models.CASCADE, primary_key=True, related_name="code_rule"
    )
    pattern = models.CharField(
        _("pattern"),
        max_length=200,
        blank=True,
        help_text=_("A regular expression the whole code must match, after normalising."),
    )
    min_length = models.PositiveSmallIntegerField(_("minimum length"), default=5)
    max_length = models.PositiveSmallIntegerField(_("maximum length"), default=64)

    class Meta:
        verbose_name = _("code format")
        verbose_name_plural = _("code formats")
        constraints = [
            models.CheckConstraint(
                condition=Q(max_length__gte=F("min_length")), name="code_rule_lengths_ordered"
            )
        ]

    def __str__(self) -> str:
        return self.pattern or f"{self.min_length}-{self.max_length}"


class Supplier(TimeStampedModel):
    """Where codes come from. Vetting and documents are kept by the compliance app."""

    name = models.CharField(_("name"), max_length=200, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("supplier")
        verbose_name_plural = _("suppliers")

    def __str__(self) -> str:
        return self.name


class BatchStatus(models.TextChoices):
    IMPORTING = "importing", _("Importing")
    QUARANTINED = "quarantined", _("Quarantined")
    SELLABLE = "sellable", _("Sellable")
    SUSPENDED = "suspended", _("Suspended")
    EXHAUSTED = "exhausted", _("Exhausted")
    # The import failed or was refused; the batch holds no codes.
    FAILED = "failed", _("Import failed")
    REJECTED = "rejected", _("Rejected")


class Batch(TimeStampedModel):
    """One supplier delivery of codes for one product. New batches start quarantined."""

    supplier = models.ForeignKey(Supplier, on_delete=models.PROTECT, related_name="batches")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(
        _("status"), max_length=16, choices=BatchStatus.choices, default=BatchStatus.IMPORTING
    )
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    file_name = models.CharField(_("file name"), max_length=255, blank=True)
    file_sha256 = models.CharField(_("file SHA-256"), max_length=64, blank=True)
    lines_read = models.PositiveIntegerField(_("lines read"), default=0)
    codes_imported = models.PositiveIntegerField(_("codes imported"), default=0)
    lines_rejected = models.PositiveIntegerField(_("lines rejected"), default=0)
    failure = models.CharField(_("why the import failed"), max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("batch")
        verbose_name_plural = _("batches")

    def __str__(self) -> str:
        return f"#{self.pk} {self.product} ({self.get_status_display()})"


class BatchRejection(models.Model):
    """One line of an import file that was not imported, and why. Never the code itself."""

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="rejections")
    line_no = models.PositiveIntegerField(_("line"))
    reason = models.CharField(_("reason"), max_length=32)

    class Meta:
        ordering = ["batch", "line_no"]
        verbose_name = _("rejected line")
        verbose_name_plural = _("rejected lines")

    def __str__(self) -> str:
        return f"line {self.line_no}: {self.reason}"


class BatchEvent(models.Model):
    """Append-only history of a batch: every status change, who made it and why."""

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField(_("at"), auto_now_add=True)
    # Blank on the event that records the batch's creation.
    from_status = models.CharField(
        _("from"), max_length=16, choices=BatchStatus.choices, blank=True
    )
    to_status = models.CharField(_("to"), max_length=16, choices=BatchStatus.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.TextField(_("note"), blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("batch event")
        verbose_name_plural = _("batch events")

    def __str__(self) -> str:
        return f"{self.batch_id}: {self.from_status or '-'} -> {self.to_status}"


class CodeStatus(models.TextChoices):
    # Waits for its batch to be approved, or its batch is suspended.
    HELD_BACK = "held_back", _("Held back")
    AVAILABLE = "available", _("Available")
    DELIVERED = "delivered", _("Delivered")
    REVOKED = "revoked", _("Revoked")
    DEFECTIVE = "defective", _("Defective")


class Code(models.Model):
    """One code, sealed by the vault. ``blind_index`` finds it without decrypting."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="codes")
    status = models.CharField(
        _("status"), max_length=12, choices=CodeStatus.choices, default=CodeStatus.HELD_BACK
    )
    blind_index = models.BinaryField(max_length=32)
    key_id = models.CharField(max_length=32)
    ciphertext = models.BinaryField()
    # A code is on at most one order line: the key is on the code.
    order_line = models.ForeignKey(
        OrderLine, on_delete=models.PROTECT, null=True, blank=True, related_name="codes"
    )
    delivered_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("code")
        verbose_name_plural = _("codes")
        constraints = [
            models.UniqueConstraint(
                fields=["product", "blind_index"], name="code_unique_per_product"
            ),
            models.CheckConstraint(
                condition=Q(order_line__isnull=True)
                | Q(status__in=["delivered", "revoked", "defective"]),
                name="code_on_order_only_once_sold",
            ),
            models.CheckConstraint(
                condition=~Q(status="delivered") | Q(order_line__isnull=False),
                name="code_delivered_has_order_line",
            ),
        ]
        indexes = [
            # Allocation reads the head of this index: available codes of a product,
            # oldest batch first. Partial, so sold codes leave it.
            models.Index(
                fields=["product", "batch", "id"],
                condition=Q(status="available"),
                name="code_available_queue",
            ),
            models.Index(fields=["batch", "status"], name="code_batch_status"),
        ]

    def __str__(self) -> str:
        return f"code #{self.pk} ({self.status})"


class CodeReveal(models.Model):
    """Evidence: each time a code was shown to someone holding the order link."""

    code = models.ForeignKey(Code, on_delete=models.PROTECT, related_name="reveals")
    revealed_at = models.DateTimeField(auto_now_add=True)
    ip_hash = models.CharField(max_length=32, blank=True)
    # Set when staff revealed it (an audited action), empty for the buyer.
    staff_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["revealed_at"]
        verbose_name = _("code reveal")
        verbose_name_plural = _("code reveals")

    def __str__(self) -> str:
        return f"{self.code_id} at {self.revealed_at:%Y-%m-%d %H:%M}"
