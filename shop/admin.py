from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from core.errors import KeyshopError
from core.money import Money
from shop.models import Category, Order, OrderEvent, OrderLine, Product, StripeEvent
from shop.services.payments import payment_refresh


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


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    can_delete = False
    fields = ["product", "quantity", "unit_price_minor"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class OrderEventInline(admin.TabularInline):
    model = OrderEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "kind", "from_status", "to_status", "note", "actor"]
    readonly_fields = fields
    ordering = ["created_at", "pk"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    """Orders are read-only here: every change goes through a service, as an action."""

    list_display = ["number", "created_at", "status", "display_total", "paid_at", "delivered_at"]
    list_filter = ["status", "currency", "created_at"]
    search_fields = ["number"]
    date_hierarchy = "created_at"
    inlines = [OrderLineInline, OrderEventInline]
    actions = ["check_payment_with_stripe"]
    readonly_fields = [
        "number", "status", "email", "currency", "total_minor", "terms_version",
        "terms_accepted_at", "language", "holds_reservation", "reserved_until", "paid_at",
        "delivered_at", "created_at", "updated_at",
    ]  # fmt: skip

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("total"), ordering="total_minor")
    def display_total(self, order: Order) -> str:
        return order.total.format()

    @admin.action(description=_("Check payment with Stripe (marks paid if Stripe says so)"))
    def check_payment_with_stripe(self, request, queryset):
        for order in queryset:
            try:
                payment_refresh(order=order)
            except KeyshopError as error:
                self.message_user(request, f"{order.number}: {error.message}", messages.ERROR)
        self.message_user(
            request, _("Checked %(count)d orders with Stripe.") % {"count": len(queryset)}
        )


@admin.register(StripeEvent)
class StripeEventAdmin(admin.ModelAdmin):
    list_display = ["received_at", "type", "event_id", "processed_at", "outcome"]
    list_filter = ["type", "outcome"]
    search_fields = ["event_id"]
    readonly_fields = ["event_id", "type", "payload", "received_at", "processed_at", "outcome"]

    def has_add_permission(self, request) -> bool:
        return False


from shop import admin_resellers  # noqa: E402, F401  (reseller screens, registered on import)
