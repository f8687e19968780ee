"""What the API reads and writes. Serializers validate shape only; services decide."""

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from shop.models import (
    ApiScope,
    BalanceTopUp,
    LedgerKind,
    Order,
    OrderStatus,
    Platform,
    Region,
    ResellerApiKey,
    ResellerBalance,
    ResellerLedgerEntry,
    ResellerWebhookAttempt,
    ResellerWebhookDelivery,
    ResellerWebhookEndpoint,
    TopUpStatus,
    WebhookDeliveryStatus,
    WebhookEventType,
)
from shop.models.catalogue import CURRENCY_CHOICES

# --- errors -------------------------------------------------------------------


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text=_("Stable, for programs: e.g. insufficient_balance."))
    message = serializers.CharField(help_text=_("For people; in the request's language."))
    details = serializers.DictField(
        required=False, help_text=_("More about the error, e.g. the fields of invalid input.")
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


# --- account and applications -------------------------------------------------


class ApplicationCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, help_text=_("Company name."))
    contact_email = serializers.EmailField()
    website = serializers.URLField(max_length=200, required=False, allow_blank=True, default="")
    country = serializers.RegexField(
        r"^[A-Za-z]{2}$", required=False, allow_blank=True, default="", help_text=_("ISO 3166.")
    )
    accept_terms = serializers.BooleanField(
        help_text=_("True: you accept the current reseller terms (version and time are recorded).")
    )


class ApplicationSerializer(serializers.Serializer):
    status = serializers.CharField()
    terms_version = serializers.CharField()


class AccountSerializer(serializers.Serializer):
    name = serializers.CharField(source="reseller.name")
    status = serializers.CharField(source="reseller.status")
    price_tier = serializers.CharField(source="reseller.price_tier.name", allow_null=True)
    key_prefix = serializers.CharField(source="api_key.prefix")
    scopes = serializers.ListField(child=serializers.CharField(), source="api_key.scopes")


# --- catalogue ----------------------------------------------------------------


class CatalogueFilterSerializer(serializers.Serializer):
    category = serializers.SlugField(required=False, help_text=_("A category's slug."))
    platform = serializers.ChoiceField(choices=Platform.choices, required=False)
    region = serializers.ChoiceField(choices=Region.choices, required=False)
    currency = serializers.ChoiceField(choices=CURRENCY_CHOICES, required=False)


class CatalogueItemSerializer(serializers.Serializer):
    product_id = serializers.IntegerField(source="product.pk")
    name = serializers.CharField(source="product.name")
    slug = serializers.CharField(source="product.slug")
    category = serializers.CharField(source="product.category.slug")
    platform = serializers.CharField(source="product.platform")
    region = serializers.CharField(source="product.region")
    currency = serializers.CharField()
    list_price_minor = serializers.IntegerField(help_text=_("The storefront price."))
    price_minor = serializers.IntegerField(help_text=_("Your price, in minor units."))
    stock = serializers.IntegerField(help_text=_("Units that can be ordered now."))


# --- orders -------------------------------------------------------------------


class OrderLineCreateSerializer(serializers.Serializer):
    product_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    quantity = serializers.IntegerField(min_value=1)

    def validate_quantity(self, value: int) -> int:
        most = settings.KEYSHOP_RESELLER_MAX_QUANTITY_PER_LINE
        if value > most:
            raise serializers.ValidationError(_("At most %(most)d per line.") % {"most": most})
        return value


class OrderCreateSerializer(serializers.Serializer):
    lines = OrderLineCreateSerializer(many=True, min_length=1, max_length=50)
    reference = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        default="",
        help_text=_("Your own reference for the order; orders can be filtered by it."),
    )


class OrderLineSerializer(serializers.Serializer):
    product_id = serializers.IntegerField()
    product_name = serializers.CharField(source="product.name")
    quantity = serializers.IntegerField()
    unit_price_minor = serializers.IntegerField()


class CodeSerializer(serializers.Serializer):
    code_id = serializers.IntegerField()
    product_name = serializers.CharField()
    code = serializers.CharField()


class OrderSerializer(serializers.Serializer):
    number = serializers.CharField()
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    reference = serializers.SerializerMethodField()
    currency = serializers.CharField()
    total_minor = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    paid_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    lines = OrderLineSerializer(many=True, source="lines.all")

    def get_reference(self, order: Order) -> str:
        request = getattr(order, "reseller_request", None)
        return request.reference if request else ""


class OrderDetailSerializer(OrderSerializer):
    codes = serializers.SerializerMethodField(
        help_text=_("The codes once the order is delivered (each reveal is recorded); else null.")
    )

    @extend_schema_field(CodeSerializer(many=True, allow_null=True))
    def get_codes(self, order: Order) -> list[dict] | None:
        codes = self.context.get("codes")
        return None if codes is None else CodeSerializer(codes, many=True).data


class OrderFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=OrderStatus.choices, required=False)
    reference = serializers.CharField(max_length=100, required=False)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)


# --- balance ------------------------------------------------------------------


class BalanceSerializer(serializers.ModelSerializer):
    spent_today_minor = serializers.SerializerMethodField(
        help_text=_("Paid for orders today (shop time zone), against the daily limit.")
    )

    class Meta:
        model = ResellerBalance
        fields = ["currency", "amount_minor", "daily_limit_minor", "spent_today_minor"]

    def get_spent_today_minor(self, balance: ResellerBalance) -> int:
        return self.context["spent_today"].get(balance.pk, 0)


class LedgerFilterSerializer(serializers.Serializer):
    currency = serializers.ChoiceField(choices=CURRENCY_CHOICES, required=False)
    kind = serializers.ChoiceField(choices=LedgerKind.choices, required=False)


class LedgerEntrySerializer(serializers.ModelSerializer):
    order_number = serializers.CharField(source="order.number", allow_null=True, default=None)
    top_up_id = serializers.UUIDField(source="top_up.public_id", allow_null=True, default=None)

    class Meta:
        model = ResellerLedgerEntry
        fields = [
            "id",
            "kind",
            "amount_minor",
            "currency",
            "balance_after_minor",
            "order_number",
            "top_up_id",
            "note",
            "created_at",
        ]


class TopUpCreateSerializer(serializers.Serializer):
    amount_minor = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    currency = serializers.ChoiceField(choices=CURRENCY_CHOICES)


class TopUpSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    status = serializers.ChoiceField(choices=TopUpStatus.choices)
    client_secret = serializers.SerializerMethodField(
        help_text=_("Confirm the payment with Stripe.js and this secret (while pending).")
    )
    stripe_publishable_key = serializers.SerializerMethodField()

    class Meta:
        model = BalanceTopUp
        fields = [
            "id",
            "status",
            "amount_minor",
            "currency",
            "client_secret",
            "stripe_publishable_key",
            "created_at",
            "succeeded_at",
        ]

    def get_client_secret(self, top_up: BalanceTopUp) -> str | None:
        return top_up.client_secret if top_up.status == TopUpStatus.PENDING else None

    def get_stripe_publishable_key(self, top_up: BalanceTopUp) -> str:
        return settings.STRIPE_PUBLISHABLE_KEY


# --- keys ---------------------------------------------------------------------


class ApiKeySerializer(serializers.ModelSerializer):
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=ApiScope.choices))

    class Meta:
        model = ResellerApiKey
        fields = ["id", "name", "prefix", "scopes", "created_at", "last_used_at", "revoked_at"]


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=ApiScope.choices), min_length=1, max_length=10
    )


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.SerializerMethodField(help_text=_("The key itself: shown this once."))

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]

    def get_key(self, api_key: ResellerApiKey) -> str:
        return self.context["secret"]


# --- webhooks -----------------------------------------------------------------


class WebhookEndpointSerializer(serializers.ModelSerializer):
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEventType.choices)
    )

    class Meta:
        model = ResellerWebhookEndpoint
        fields = ["id", "url", "description", "event_types", "is_active", "created_at"]


class WebhookEndpointCreateSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=500)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEventType.choices), min_length=1, max_length=3
    )
    description = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )


class WebhookEndpointUpdateSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=500, required=False)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEventType.choices),
        min_length=1,
        max_length=3,
        required=False,
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.SerializerMethodField(
        help_text=_("Signs every delivery (HMAC-SHA256): shown this once.")
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]

    def get_secret(self, endpoint: ResellerWebhookEndpoint) -> str:
        return self.context["secret"]


class WebhookDeliveryFilterSerializer(serializers.Serializer):
    endpoint = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False)
    status = serializers.ChoiceField(choices=WebhookDeliveryStatus.choices, required=False)
    event_type = serializers.ChoiceField(choices=WebhookEventType.choices, required=False)


class WebhookDeliverySerializer(serializers.ModelSerializer):
    endpoint_id = serializers.IntegerField()
    payload = serializers.JSONField(help_text=_("The body that is sent (as sent: compact JSON)."))

    class Meta:
        model = ResellerWebhookDelivery
        fields = [
            "id",
            "event_id",
            "event_type",
            "endpoint_id",
            "status",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "succeeded_at",
            "expires_at",
            "created_at",
            "payload",
        ]


class WebhookAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = ResellerWebhookAttempt
        fields = ["number", "started_at", "duration_ms", "status_code", "error"]


class WebhookDeliveryDetailSerializer(WebhookDeliverySerializer):
    attempt_log = WebhookAttemptSerializer(many=True, source="attempt_log.all")

    class Meta(WebhookDeliverySerializer.Meta):
        fields = [*WebhookDeliverySerializer.Meta.fields, "attempt_log"]
