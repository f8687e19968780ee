from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from core.models import TimeStampedModel
from core.money import CURRENCY_EXPONENTS, Money


class Platform(models.TextChoices):
    STEAM = "steam", _("Steam")
    PLAYSTATION = "playstation", _("PlayStation")
    XBOX = "xbox", _("Xbox")
    NINTENDO = "nintendo", _("Nintendo")
    WINDOWS = "windows", _("Windows")
    GIFT_CARD = "gift_card", _("Gift card")
    SUBSCRIPTION = "subscription", _("Subscription")
    OTHER = "other", _("Other")


class Region(models.TextChoices):
    GLOBAL = "global", _("Global")
    EUROPE = "eu", _("Europe")
    NORTH_AMERICA = "na", _("North America")
    CHINA = "cn", _("China")
    ASIA = "asia", _("Asia")


CURRENCY_CHOICES = [(code, code) for code in CURRENCY_EXPONENTS]


class Category(TimeStampedModel):
    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("slug"), max_length=140, unique=True)
    description = models.TextField(_("description"), blank=True)
    position = models.PositiveIntegerField(
        _("position"), default=0, help_text=_("Lower comes first.")
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["position", "name"]
        verbose_name = _("category")
        verbose_name_plural = _("categories")

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("shop:category", kwargs={"slug": self.slug})


class Product(TimeStampedModel):
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, related_name="products", verbose_name=_("category")
    )
    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=220, unique=True)
    description = models.TextField(
        _("description"), blank=True, help_text=_("Plain text; shown as written.")
    )
    platform = models.CharField(
        _("platform"), max_length=20, choices=Platform.choices, default=Platform.OTHER
    )
    region = models.CharField(
        _("region"), max_length=10, choices=Region.choices, default=Region.GLOBAL
    )
    price_minor = models.PositiveIntegerField(
        _("price (minor units)"), validators=[MinValueValidator(1)]
    )
    currency = models.CharField(
        _("currency"), max_length=3, choices=CURRENCY_CHOICES, default="EUR"
    )
    min_per_order = models.PositiveSmallIntegerField(
        _("minimum per order"), default=1, validators=[MinValueValidator(1)]
    )
    max_per_order = models.PositiveSmallIntegerField(
        _("maximum per order"), default=5, validators=[MinValueValidator(1)]
    )
    is_active = models.BooleanField(_("on sale"), default=True)
    is_featured = models.BooleanField(_("featured on the home page"), default=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("product")
        verbose_name_plural = _("products")
        constraints = [
            models.CheckConstraint(condition=Q(price_minor__gte=1), name="product_price_positive"),
            models.CheckConstraint(
                condition=Q(min_per_order__gte=1) & Q(max_per_order__gte=F("min_per_order")),
                name="product_quantity_limits_ordered",
            ),
        ]
        indexes = [models.Index(fields=["is_active", "is_featured"])]

    def __str__(self) -> str:
        return self.name

    @property
    def price(self) -> Money:
        return Money(self.price_minor, self.currency)

    def get_absolute_url(self) -> str:
        return reverse("shop:product", kwargs={"slug": self.slug})
