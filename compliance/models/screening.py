from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from shop.models import Order
from shop.models.catalogue import CURRENCY_CHOICES


class RuleKind(models.TextChoices):
    EMAIL_VELOCITY = "email_velocity", _("Paid orders per email")
    IP_VELOCITY = "ip_velocity", _("Paid orders per IP address (hashed)")
    CARD_VELOCITY = "card_velocity", _("Paid orders per card")
    FIRST_ORDER_AMOUNT = "first_order_amount", _("First order above an amount")
    DISPOSABLE_EMAIL = "disposable_email", _("Disposable email domain")
    BLOCKLIST = "blocklist", _("On the blocklist")
    RADAR_ELEVATED = "radar_elevated", _("Stripe Radar risk: elevated")
    RADAR_HIGHEST = "radar_highest", _("Stripe Radar risk: highest")


# What ``threshold`` means for each kind (shown to staff); kinds not named use no threshold.
THRESHOLD_MEANING = {
    RuleKind.EMAIL_VELOCITY: _("more than this many paid orders in the window, this one included"),
    RuleKind.IP_VELOCITY: _("more than this many paid orders in the window, this one included"),
    RuleKind.CARD_VELOCITY: _("more than this many paid orders in the window, this one included"),
    RuleKind.FIRST_ORDER_AMOUNT: _(
        "a first order above this total, in minor units of the currency"
    ),
}


class ScreeningRule(models.Model):
    """One screening rule and its staff-editable threshold and weight.

    An order's score is the sum of the points of the rules it triggers; the score
    decides (``KEYSHOP_SCREENING_HOLD_SCORE``, ``KEYSHOP_SCREENING_REFUSE_SCORE``).
    The first-order rule has a row per currency; the others one row, currency blank.
    """

    kind = models.CharField(_("rule"), max_length=24, choices=RuleKind.choices)
    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    points = models.PositiveSmallIntegerField(_("points"), default=50)
    threshold = models.PositiveIntegerField(_("threshold"), default=0)
    window_hours = models.PositiveSmallIntegerField(
        _("window (hours)"), default=24, validators=[MinValueValidator(1)]
    )
    updated_at = models.DateTimeField(_("changed at"), auto_now=True)

    class Meta:
        ordering = ["kind", "currency"]
        verbose_name = _("screening rule")
        verbose_name_plural = _("screening rules")
        constraints = [
            models.UniqueConstraint(fields=["kind", "currency"], name="screening_rule_once")
        ]

    def __str__(self) -> str:
        label = RuleKind(self.kind).label
        return f"{label} ({self.currency})" if self.currency else str(label)


class BlocklistKind(models.TextChoices):
    EMAIL = "email", _("Email address")
    EMAIL_WILDCARD = "email_wildcard", _("Email pattern (e.g. *@example.com)")
    IP = "ip", _("IP address (stored hashed)")
    COUNTRY = "country", _("Card country (ISO code)")


class BlocklistEntry(models.Model):
    """A person, pattern, address or country refused, with a written reason and an end."""

    kind = models.CharField(_("kind"), max_length=16, choices=BlocklistKind.choices)
    # Email: lower case; pattern: lower case; IP: its keyed hash (core.privacy); country: upper.
    value = models.CharField(_("value"), max_length=254)
    reason = models.TextField(_("reason"))
    expires_at = models.DateTimeField(_("expires at"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("blocklist entry")
        verbose_name_plural = _("blocklist entries")
        indexes = [models.Index(fields=["kind", "value"], name="blocklist_kind_value")]
        constraints = [
            models.CheckConstraint(condition=~models.Q(reason=""), name="blocklist_has_reason")
        ]

    def __str__(self) -> str:
        shown = "…" if self.kind == BlocklistKind.IP else self.value
        return f"{self.get_kind_display()}: {shown}"


class Decision(models.TextChoices):
    DELIVER = "deliver", _("Deliver")
    HOLD = "hold", _("Hold for review")
    REFUSE = "refuse", _("Refuse and refund")


class ScreeningDecision(models.Model):
    """The screening of a paid order, once: its score, each reason, and the decision."""

    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="screening")
    score = models.PositiveIntegerField(_("score"))
    decision = models.CharField(_("decision"), max_length=8, choices=Decision.choices)
    # [{"rule": kind, "points": n, "detail": "sentence without personal data"}, ...]
    reasons = models.JSONField(_("reasons"), default=list)
    created_at = models.DateTimeField(_("screened at"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("screening decision")
        verbose_name_plural = _("screening decisions")

    def __str__(self) -> str:
        return f"{self.order_id}: {self.decision} ({self.score})"


class ReviewStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for review")
    APPROVED = "approved", _("Approved")
    # The refund has been asked for (or is being asked for); the order is not yet refunded.
    REFUSING = "refusing", _("Refusing")
    REFUSED = "refused", _("Refused and refunded")


class OrderReview(models.Model):
    """A held order in the review queue: approved (delivered) or refused (refunded)."""

    order = models.OneToOneField(
        Order, on_delete=models.PROTECT, related_name="review", verbose_name=_("order")
    )
    status = models.CharField(
        _("status"), max_length=12, choices=ReviewStatus.choices, default=ReviewStatus.PENDING
    )
    held_at = models.DateTimeField(_("held at"), auto_now_add=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    note = models.TextField(_("note"), blank=True)
    stripe_refund_id = models.CharField(_("Stripe refund"), max_length=255, blank=True)

    class Meta:
        ordering = ["held_at"]
        verbose_name = _("order review")
        verbose_name_plural = _("order reviews")
        permissions = [("review_order", _("Can approve or refuse held orders"))]
        indexes = [models.Index(fields=["status", "held_at"], name="order_review_queue")]

    def __str__(self) -> str:
        return f"review of order {self.order_id} ({self.get_status_display()})"


class OrderReviewEvent(models.Model):
    """Append-only history of a review: who decided what, when, and why."""

    review = models.ForeignKey(OrderReview, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField(_("at"), auto_now_add=True)
    from_status = models.CharField(max_length=12, choices=ReviewStatus.choices, blank=True)
    to_status = models.CharField(max_length=12, choices=ReviewStatus.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # "screening", "staff" or "stripe_radar"
    source = models.CharField(_("by"), max_length=16)
    note = models.TextField(_("note"), blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("order review event")
        verbose_name_plural = _("order review events")

    def __str__(self) -> str:
        return f"{self.review_id}: {self.from_status or '-'} -> {self.to_status}"


class OrderContext(models.Model):
    """What the checkout knew about the buyer's connection, for screening only.

    The IP address is kept as a keyed, truncated hash (core.privacy.pii_hash) and
    erased after ``KEYSHOP_PII_RETENTION_DAYS`` (compliance.services.retention).
    """

    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="context")
    ip_hash = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("order context")
        verbose_name_plural = _("order contexts")
        indexes = [models.Index(fields=["ip_hash"], name="order_context_ip_hash")]

    def __str__(self) -> str:
        return f"context of order {self.order_id}"
