"""Staff screens for resellers: vetting, price tiers, API keys, balances and their ledger.

Every change goes through a service in ``shop.services.resellers``; balances, ledger
entries, top-ups and webhook deliveries are read-only here. Vetting needs the
``shop.vet_reseller`` permission and balance adjustments ``shop.adjust_reseller_balance``.
"""

from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.http import HttpResponse
from django.template import RequestContext, Template
from django.utils.translation import gettext_lazy as _

from core.errors import KeyshopError
from core.money import Money
from shop.models import (
    ApiScope,
    BalanceTopUp,
    PriceTier,
    PriceTierCategoryDiscount,
    PriceTierPrice,
    Reseller,
    ResellerApiKey,
    ResellerBalance,
    ResellerEvent,
    ResellerLedgerEntry,
    ResellerStatus,
    ResellerWebhookAttempt,
    ResellerWebhookDelivery,
    ResellerWebhookEndpoint,
)
from shop.services import resellers as services


class ReadOnlyAdminMixin:
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class PriceTierCategoryDiscountInline(admin.TabularInline):
    model = PriceTierCategoryDiscount
    extra = 0


class PriceTierPriceInline(admin.TabularInline):
    model = PriceTierPrice
    extra = 0
    autocomplete_fields = ["product"]


@admin.register(PriceTier)
class PriceTierAdmin(admin.ModelAdmin):
    list_display = ["name", "discount_bps"]
    search_fields = ["name"]
    inlines = [PriceTierCategoryDiscountInline, PriceTierPriceInline]


class ResellerActionForm(helpers.ActionForm):
    note = forms.CharField(
        label=_("reason"), required=False, help_text=_("Needed to suspend or reject.")
    )


class ResellerEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ResellerEvent
    extra = 0
    fields = ["created_at", "kind", "from_status", "to_status", "note", "actor"]
    readonly_fields = fields


class ResellerApiKeyInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ResellerApiKey
    extra = 0
    fields = ["prefix", "name", "scopes", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields


@admin.register(Reseller)
class ResellerAdmin(admin.ModelAdmin):
    """Account details are editable; the status moves only through the actions."""

    list_display = ["name", "status", "price_tier", "country", "created_at", "vetted_at"]
    list_filter = ["status", "price_tier"]
    search_fields = ["name"]
    fields = [
        "name", "contact_email", "website", "country", "price_tier", "status",
        "terms_version", "terms_accepted_at", "vetted_by", "vetted_at",
    ]  # fmt: skip
    readonly_fields = ["status", "terms_version", "terms_accepted_at", "vetted_by", "vetted_at"]
    inlines = [ResellerApiKeyInline, ResellerEventInline]
    action_form = ResellerActionForm
    actions = ["vet_and_activate", "suspend", "reinstate", "reject"]

    def has_add_permission(self, request) -> bool:
        return False  # resellers apply through the API

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_vet_permission(self, request) -> bool:
        return request.user.has_perm("shop.vet_reseller")

    def _move(self, request, queryset, to_status: str) -> None:
        note = request.POST.get("note", "")
        moved = 0
        for reseller in queryset:
            try:
                _reseller, changed = services.reseller_transition(
                    reseller_id=reseller.pk, to_status=to_status, actor=request.user, note=note
                )
                moved += changed
            except KeyshopError as error:
                self.message_user(request, f"{reseller.name}: {error.message}", messages.ERROR)
        self.message_user(request, _("%(count)d resellers changed.") % {"count": moved})

    @admin.action(description=_("Vet and activate (terms recorded)"), permissions=["vet"])
    def vet_and_activate(self, request, queryset):
        self._move(request, queryset, ResellerStatus.ACTIVE)

    @admin.action(description=_("Suspend (stops their API at once)"), permissions=["vet"])
    def suspend(self, request, queryset):
        self._move(request, queryset, ResellerStatus.SUSPENDED)

    @admin.action(description=_("Reinstate a suspended reseller"), permissions=["vet"])
    def reinstate(self, request, queryset):
        self._move(request, queryset, ResellerStatus.ACTIVE)

    @admin.action(description=_("Reject the application"), permissions=["vet"])
    def reject(self, request, queryset):
        self._move(request, queryset, ResellerStatus.REJECTED)


class ApiKeyCreateForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        label=_("scopes"), choices=ApiScope.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = ResellerApiKey
        fields = ["reseller", "name", "scopes"]


KEY_SHOWN_ONCE = Template(
    """{% extends "admin/base_site.html" %}{% load i18n %}
{% block content %}
<p>{% blocktranslate %}The new key for {{ reseller }}. Copy it now: it is shown only this once
and Keyshop keeps only its hash.{% endblocktranslate %}</p>
<p><code style="font-size:1.2em">{{ secret }}</code></p>
<p><a href="{{ back }}">{% translate "Back to the API keys" %}</a></p>
{% endblock %}"""
)


@admin.register(ResellerApiKey)
class ResellerApiKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "name", "reseller", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    list_select_related = ["reseller"]
    search_fields = ["prefix", "name", "reseller__name"]
    readonly_fields = [
        "reseller", "name", "prefix", "scopes", "created_at", "created_by",
        "last_used_at", "revoked_at",
    ]  # fmt: skip
    exclude = ["key_hash"]
    actions = ["revoke"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyCreateForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else []

    def get_fields(self, request, obj=None):
        return ["reseller", "name", "scopes"] if obj is None else self.readonly_fields

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def add_view(self, request, form_url="", extra_context=None):
        form = ApiKeyCreateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                api_key, secret = services.api_key_create(
                    reseller=form.cleaned_data["reseller"],
                    name=form.cleaned_data["name"],
                    scopes=form.cleaned_data["scopes"],
                    created_by=request.user,
                )
            except KeyshopError as error:
                self.message_user(request, error.message, messages.ERROR)
            else:
                context = RequestContext(
                    request,
                    {
                        **self.admin_site.each_context(request),
                        "title": _("API key created"),
                        "reseller": api_key.reseller,
                        "secret": secret,
                        "back": "../",
                    },
                )
                # Rendered here, never redirected: the key is in no message or cookie.
                response = HttpResponse(KEY_SHOWN_ONCE.render(context))
                response["Cache-Control"] = "no-store"
                return response
        return super().add_view(request, form_url, extra_context)

    @admin.action(description=_("Revoke (stops working at once)"))
    def revoke(self, request, queryset):
        count = sum(
            services.api_key_revoke(api_key_id=key.pk, actor=request.user) for key in queryset
        )
        self.message_user(request, _("%(count)d keys revoked.") % {"count": count})


class BalanceActionForm(helpers.ActionForm):
    amount = forms.DecimalField(
        label=_("amount"),
        required=False,
        max_digits=12,
        decimal_places=2,
        help_text=_("In the balance's currency, e.g. 25.00 or -10.00."),
    )
    reason = forms.CharField(label=_("reason"), required=False)


class LedgerInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ResellerLedgerEntry
    extra = 0
    fields = ["created_at", "kind", "amount_minor", "balance_after_minor", "order", "note", "actor"]
    readonly_fields = fields
    ordering = ["-pk"]
    max_num = 0


@admin.register(ResellerBalance)
class ResellerBalanceAdmin(admin.ModelAdmin):
    """Only the daily limit is edited here; the amount moves by adjustment (with a reason)."""

    list_display = ["reseller", "currency", "display_amount", "daily_limit_minor"]
    list_filter = ["currency"]
    list_select_related = ["reseller"]
    search_fields = ["reseller__name"]
    fields = ["reseller", "currency", "amount_minor", "daily_limit_minor"]
    readonly_fields = ["reseller", "currency", "amount_minor"]
    inlines = [LedgerInline]
    action_form = BalanceActionForm
    actions = ["adjust"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_adjust_permission(self, request) -> bool:
        return request.user.has_perm("shop.adjust_reseller_balance")

    @admin.display(description=_("balance"), ordering="amount_minor")
    def display_amount(self, balance: ResellerBalance) -> str:
        return balance.amount.format()

    @admin.action(description=_("Adjust by the amount, with the reason"), permissions=["adjust"])
    def adjust(self, request, queryset):
        try:
            amount = Decimal(request.POST.get("amount") or "0")
        except ArithmeticError:
            amount = Decimal(0)
        reason = request.POST.get("reason", "")
        for balance in queryset:
            try:
                minor = Money.from_major(amount, balance.currency).amount_minor
                entry = services.balance_adjust(
                    reseller_id=balance.reseller_id,
                    currency=balance.currency,
                    amount_minor=minor,
                    reason=reason,
                    actor=request.user,
                )
            except (KeyshopError, ValueError) as error:
                message = getattr(error, "message", str(error))
                self.message_user(request, f"{balance}: {message}", messages.ERROR)
            else:
                self.message_user(request, f"{balance.reseller}: {entry.amount.format()}")


@admin.register(ResellerLedgerEntry)
class ResellerLedgerEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "balance", "kind", "amount_minor", "balance_after_minor", "order"]
    list_filter = ["kind", "currency"]
    list_select_related = ["balance__reseller", "order"]
    search_fields = ["balance__reseller__name", "order__number"]


@admin.register(BalanceTopUp)
class BalanceTopUpAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "reseller", "amount_minor", "currency", "status"]
    list_filter = ["status", "currency"]
    list_select_related = ["reseller"]
    search_fields = ["stripe_payment_intent_id", "reseller__name"]
    exclude = ["client_secret"]


@admin.register(ResellerWebhookEndpoint)
class ResellerWebhookEndpointAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["pk", "reseller", "url", "is_active", "created_at"]
    list_select_related = ["reseller"]
    exclude = ["secret"]


class WebhookAttemptInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ResellerWebhookAttempt
    extra = 0


@admin.register(ResellerWebhookDelivery)
class ResellerWebhookDeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "created_at",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
    ]
    list_filter = ["status", "event_type"]
    inlines = [WebhookAttemptInline]
