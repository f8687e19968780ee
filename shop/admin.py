from decimal import Decimal

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from core.money import Money
from shop.models import Category, Product


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "position", "is_active"]
    list_editable = ["position", "is_active"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}


class ProductAdminForm(forms.ModelForm):
    """Staff type the price as they read it (19.99); it is stored in minor units."""

    price = forms.DecimalField(
        label=_("price"), min_value=Decimal("0.01"), max_digits=12, decimal_places=2
    )

    class Meta:
        model = Product
        fields = [
            "name",
            "slug",
            "category",
            "description",
            "platform",
            "region",
            "currency",
            "min_per_order",
            "max_per_order",
            "is_active",
            "is_featured",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["price"] = self.instance.price.to_major()

    def clean(self):
        cleaned = super().clean()
        price, currency = cleaned.get("price"), cleaned.get("currency")
        if price is not None and currency:
            try:
                self.instance.price_minor = Money.from_major(price, currency).amount_minor
            except ValueError:
                self.add_error("price", _("This currency has no such small unit."))
        return cleaned


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    form = ProductAdminForm
    list_display = [
        "name",
        "category",
        "platform",
        "region",
        "display_price",
        "is_active",
        "is_featured",
    ]
    list_filter = ["is_active", "is_featured", "category", "platform", "region", "currency"]
    list_select_related = ["category"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    fieldsets = [
        (None, {"fields": ["name", "slug", "category", "description"]}),
        (_("Tags"), {"fields": ["platform", "region"]}),
        (
            _("Price and limits"),
            {"fields": ["price", "currency", "min_per_order", "max_per_order"]},
        ),
        (_("Visibility"), {"fields": ["is_active", "is_featured"]}),
    ]

    @admin.display(description=_("price"), ordering="price_minor")
    def display_price(self, product: Product) -> str:
        return product.price.format()
