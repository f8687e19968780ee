"""The reseller API's views. Thin: validate the shape, call one selector or service, answer.

Every view below ``ResellerApi`` needs an API key with the scope it names per
method; objects are looked up within the caller's reseller, so another reseller's
order, code, ledger entry, key or webhook is a 404 like one that does not exist.
"""

import uuid

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import InvalidInput, NotFound
from core.privacy import pii_hash
from shop import selectors_resellers as selectors
from shop.api import schema as _schema  # noqa: F401  (registers the API key scheme)
from shop.api import serializers as s
from shop.api.authentication import ApiKeyAuthentication
from shop.api.permissions import HasScope
from shop.api.schema import ResellerAutoSchema
from shop.api.throttling import ApiKeyThrottle, ApplicationThrottle
from shop.delivered_codes import delivered_codes
from shop.models import ApiScope, Order, Reseller, ResellerApiKey
from shop.selectors import ORDER_STATUSES_WITH_CODES
from shop.services import reseller_webhooks, resellers

IDEMPOTENCY_KEY = OpenApiParameter(
    name="Idempotency-Key",
    location=OpenApiParameter.HEADER,
    required=True,
    type=OpenApiTypes.STR,
    description=str(
        _(
            "Required. Your unique key for this order (1-255 visible ASCII characters): "
            "the same key and body return the same order; the same key with another "
            "body is a 409."
        )
    ),
)


class ResellerCursorPagination(CursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class ResellerApi(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasScope]
    throttle_classes = [ApiKeyThrottle]
    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser]
    schema = ResellerAutoSchema()
    # method -> the scope a key needs (None: any valid key).
    required_scopes: dict[str, str | None] = {}
    # method -> error statuses beyond the shared ones, for the schema.
    error_statuses: dict[str, tuple[int, ...]] = {}

    @property
    def reseller(self) -> Reseller:
        return self.request.user.reseller

    @property
    def api_key(self) -> ResellerApiKey:
        return self.request.auth

    def _page(self, queryset: QuerySet, serializer_class, **context) -> Response:
        paginator = ResellerCursorPagination()
        page = paginator.paginate_queryset(queryset, self.request, view=self)
        data = serializer_class(page, many=True, context=context).data
        return paginator.get_paginated_response(data)


def validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def path_int(value: str) -> int:
    """A path id; one that is not a number (or out of range) is simply not found."""
    if not value.isascii() or not value.isdigit() or int(value) > 2**63 - 1:
        raise NotFound()
    return int(value)


def _path_uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound() from None


def path_param(name: str, kind=OpenApiTypes.INT) -> OpenApiParameter:
    return OpenApiParameter(name, kind, OpenApiParameter.PATH)


# --- applications and the account ---------------------------------------------


class ApplicationCreateApi(APIView):
    """Apply for a reseller account. No key needed; a compliance officer vets each application."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ApplicationThrottle]
    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser]
    schema = ResellerAutoSchema()

    @extend_schema(
        operation_id="applications_create",
        request=s.ApplicationCreateSerializer,
        responses={201: s.ApplicationSerializer},
        tags=["account"],
    )
    def post(self, request: Request) -> Response:
        data = validated(s.ApplicationCreateSerializer, request.data)
        reseller = resellers.reseller_apply(
            name=data["name"],
            contact_email=data["contact_email"],
            website=data["website"],
            country=data["country"],
            terms_accepted=data["accept_terms"],
        )
        body = {"status": reseller.status, "terms_version": reseller.terms_version}
        return Response(s.ApplicationSerializer(body).data, status=status.HTTP_201_CREATED)


class AccountApi(ResellerApi):
    required_scopes = {"GET": None}

    @extend_schema(operation_id="account_retrieve", responses=s.AccountSerializer, tags=["account"])
    def get(self, request: Request) -> Response:
        """The reseller behind this key, and the key's scopes."""
        return Response(s.AccountSerializer(request.user).data)


# --- catalogue ----------------------------------------------------------------


class CatalogueListApi(ResellerApi):
    required_scopes = {"GET": ApiScope.CATALOGUE_READ}
    pagination_class = ResellerCursorPagination

    @extend_schema(
        operation_id="catalogue_list",
        parameters=[s.CatalogueFilterSerializer],
        responses=s.CatalogueItemSerializer(many=True),
        tags=["catalogue"],
    )
    def get(self, request: Request) -> Response:
        """Products on sale with your price and live stock."""
        filters = validated(s.CatalogueFilterSerializer, request.query_params)
        paginator = ResellerCursorPagination()
        products = paginator.paginate_queryset(
            selectors.products_on_sale(**filters), request, view=self
        )
        items = selectors.catalogue_items(reseller=self.reseller, products=products)
        return paginator.get_paginated_response(s.CatalogueItemSerializer(items, many=True).data)


# --- orders -------------------------------------------------------------------


def _order_body(request: Request, order: Order) -> dict:
    """The order; with its codes (each reveal recorded) once it is delivered."""
    codes = None
    if order.status in ORDER_STATUSES_WITH_CODES:
        ip_hash = pii_hash(request.META.get("REMOTE_ADDR", ""))
        codes = delivered_codes().reveal(order, ip_hash=ip_hash)
    return s.OrderDetailSerializer(order, context={"codes": codes}).data


class OrderListCreateApi(ResellerApi):
    required_scopes = {"GET": ApiScope.ORDERS_READ, "POST": ApiScope.ORDERS_WRITE}
    error_statuses = {"POST": (402, 409)}
    pagination_class = ResellerCursorPagination

    @extend_schema(
        operation_id="orders_list",
        parameters=[s.OrderFilterSerializer],
        responses=s.OrderSerializer(many=True),
        tags=["orders"],
    )
    def get(self, request: Request) -> Response:
        """Your orders, newest first, without codes."""
        filters = validated(s.OrderFilterSerializer, request.query_params)
        return self._page(
            selectors.reseller_orders(reseller=self.reseller, **filters), s.OrderSerializer
        )

    @extend_schema(
        operation_id="orders_create",
        parameters=[IDEMPOTENCY_KEY],
        request=s.OrderCreateSerializer,
        responses={
            201: OpenApiResponse(s.OrderDetailSerializer, description=str(_("Order placed."))),
            200: OpenApiResponse(
                s.OrderDetailSerializer,
                description=str(_("The order this Idempotency-Key placed before.")),
            ),
        },
        tags=["orders"],
    )
    def post(self, request: Request) -> Response:
        """Place an order paid from your balance; codes follow within seconds.

        The answer is the order as it is then (usually paid; delivered once codes are
        allocated): read it again, or wait for the ``order.delivered`` webhook.
        """
        idempotency_key = request.headers.get("Idempotency-Key", "")
        if not idempotency_key:
            raise InvalidInput(str(_("The Idempotency-Key header is required.")))
        data = validated(s.OrderCreateSerializer, request.data)
        order, created = resellers.reseller_order_place(
            reseller=self.reseller,
            idempotency_key=idempotency_key,
            lines=[
                resellers.OrderLineRequest(product_id=line["product_id"], quantity=line["quantity"])
                for line in data["lines"]
            ],
            reference=data["reference"],
        )
        order = selectors.reseller_order_get(reseller=self.reseller, number=order.number)
        return Response(
            _order_body(request, order),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class OrderDetailApi(ResellerApi):
    required_scopes = {"GET": ApiScope.ORDERS_READ}

    @extend_schema(
        operation_id="orders_retrieve", responses=s.OrderDetailSerializer, tags=["orders"]
    )
    def get(self, request: Request, number: str) -> Response:
        """One order with its status and, once delivered, its codes (each reveal is recorded)."""
        order = selectors.reseller_order_get(reseller=self.reseller, number=number)
        return Response(_order_body(request, order))


# --- balance ------------------------------------------------------------------


class BalanceListApi(ResellerApi):
    required_scopes = {"GET": ApiScope.BALANCE_READ}

    @extend_schema(
        operation_id="balance_list", responses=s.BalanceSerializer(many=True), tags=["balance"]
    )
    def get(self, request: Request) -> Response:
        """Your balance in each currency you hold one in."""
        balances = list(selectors.reseller_balances(reseller=self.reseller))
        since = selectors.start_of_today()
        spent = {
            b.pk: selectors.order_spending_since(balance=b, since=since)
            for b in balances
            if b.daily_limit_minor is not None
        }
        return Response(
            s.BalanceSerializer(balances, many=True, context={"spent_today": spent}).data
        )


class LedgerListApi(ResellerApi):
    required_scopes = {"GET": ApiScope.BALANCE_READ}
    pagination_class = ResellerCursorPagination

    @extend_schema(
        operation_id="balance_ledger_list",
        parameters=[s.LedgerFilterSerializer],
        responses=s.LedgerEntrySerializer(many=True),
        tags=["balance"],
    )
    def get(self, request: Request) -> Response:
        """Every movement of your balances, newest first; each balance is the sum of its entries."""
        filters = validated(s.LedgerFilterSerializer, request.query_params)
        return self._page(
            selectors.reseller_ledger(reseller=self.reseller, **filters), s.LedgerEntrySerializer
        )


class TopUpListCreateApi(ResellerApi):
    required_scopes = {"GET": ApiScope.BALANCE_READ, "POST": ApiScope.BALANCE_TOP_UP}
    error_statuses = {"POST": (502, 503)}
    pagination_class = ResellerCursorPagination

    @extend_schema(
        operation_id="balance_top_ups_list",
        responses=s.TopUpSerializer(many=True),
        tags=["balance"],
    )
    def get(self, request: Request) -> Response:
        return self._page(selectors.reseller_top_ups(reseller=self.reseller), s.TopUpSerializer)

    @extend_schema(
        operation_id="balance_top_ups_create",
        request=s.TopUpCreateSerializer,
        responses={201: s.TopUpSerializer},
        tags=["balance"],
    )
    def post(self, request: Request) -> Response:
        """Start a top-up: pay its Stripe PaymentIntent; the balance is credited on success."""
        data = validated(s.TopUpCreateSerializer, request.data)
        top_up = resellers.balance_top_up_start(
            reseller=self.reseller, amount_minor=data["amount_minor"], currency=data["currency"]
        )
        return Response(s.TopUpSerializer(top_up).data, status=status.HTTP_201_CREATED)


class TopUpDetailApi(ResellerApi):
    required_scopes = {"GET": ApiScope.BALANCE_READ}
    error_statuses = {"GET": (502, 503)}

    @extend_schema(
        operation_id="balance_top_ups_retrieve",
        parameters=[path_param("top_up_id", OpenApiTypes.UUID)],
        responses=s.TopUpSerializer,
        tags=["balance"],
    )
    def get(self, request: Request, top_up_id: str) -> Response:
        """A top-up; a pending one is checked with Stripe first."""
        top_up = selectors.reseller_top_up_get(
            reseller=self.reseller, public_id=_path_uuid(top_up_id)
        )
        return Response(s.TopUpSerializer(resellers.balance_top_up_refresh(top_up=top_up)).data)


# --- keys ---------------------------------------------------------------------


class ApiKeyListCreateApi(ResellerApi):
    required_scopes = {"GET": ApiScope.KEYS_MANAGE, "POST": ApiScope.KEYS_MANAGE}
    pagination_class = ResellerCursorPagination

    @extend_schema(operation_id="keys_list", responses=s.ApiKeySerializer(many=True), tags=["keys"])
    def get(self, request: Request) -> Response:
        return self._page(selectors.reseller_api_keys(reseller=self.reseller), s.ApiKeySerializer)

    @extend_schema(
        operation_id="keys_create",
        request=s.ApiKeyCreateSerializer,
        responses={201: s.ApiKeyCreatedSerializer},
        tags=["keys"],
    )
    def post(self, request: Request) -> Response:
        """A new key with some or all of this key's scopes. The key is in this answer only."""
        data = validated(s.ApiKeyCreateSerializer, request.data)
        api_key, secret = resellers.api_key_create(
            reseller=self.reseller,
            name=data["name"],
            scopes=data["scopes"],
            creator_key=self.api_key,
        )
        body = s.ApiKeyCreatedSerializer(api_key, context={"secret": secret}).data
        return Response(body, status=status.HTTP_201_CREATED)


class ApiKeyDetailApi(ResellerApi):
    required_scopes = {"GET": ApiScope.KEYS_MANAGE, "DELETE": ApiScope.KEYS_MANAGE}

    @extend_schema(
        operation_id="keys_retrieve",
        parameters=[path_param("key_id")],
        responses=s.ApiKeySerializer,
        tags=["keys"],
    )
    def get(self, request: Request, key_id: str) -> Response:
        key = selectors.reseller_api_key_get(reseller=self.reseller, key_id=path_int(key_id))
        return Response(s.ApiKeySerializer(key).data)

    @extend_schema(
        operation_id="keys_revoke",
        parameters=[path_param("key_id")],
        responses={204: None},
        tags=["keys"],
    )
    def delete(self, request: Request, key_id: str) -> Response:
        """Revoke a key (this one too, if you name it): it stops working at once."""
        key = selectors.reseller_api_key_get(reseller=self.reseller, key_id=path_int(key_id))
        resellers.api_key_revoke(api_key_id=key.pk, by_key=self.api_key)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- webhooks -----------------------------------------------------------------

WEBHOOKS = ApiScope.WEBHOOKS_MANAGE


class WebhookEndpointListCreateApi(ResellerApi):
    required_scopes = {"GET": WEBHOOKS, "POST": WEBHOOKS}
    pagination_class = ResellerCursorPagination

    @extend_schema(
        operation_id="webhook_endpoints_list",
        responses=s.WebhookEndpointSerializer(many=True),
        tags=["webhooks"],
    )
    def get(self, request: Request) -> Response:
        return self._page(
            selectors.reseller_webhook_endpoints(reseller=self.reseller),
            s.WebhookEndpointSerializer,
        )

    @extend_schema(
        operation_id="webhook_endpoints_create",
        request=s.WebhookEndpointCreateSerializer,
        responses={201: s.WebhookEndpointCreatedSerializer},
        tags=["webhooks"],
    )
    def post(self, request: Request) -> Response:
        """Register an endpoint. Its signing secret is in this answer only."""
        data = validated(s.WebhookEndpointCreateSerializer, request.data)
        endpoint, secret = reseller_webhooks.webhook_endpoint_create(
            reseller=self.reseller,
            url=data["url"],
            event_types=data["event_types"],
            description=data["description"],
        )
        body = s.WebhookEndpointCreatedSerializer(endpoint, context={"secret": secret}).data
        return Response(body, status=status.HTTP_201_CREATED)


class WebhookEndpointDetailApi(ResellerApi):
    required_scopes = {"GET": WEBHOOKS, "PATCH": WEBHOOKS, "DELETE": WEBHOOKS}

    def _endpoint(self, endpoint_id: str):
        return selectors.reseller_webhook_endpoint_get(
            reseller=self.reseller, endpoint_id=path_int(endpoint_id)
        )

    @extend_schema(
        operation_id="webhook_endpoints_retrieve",
        parameters=[path_param("endpoint_id")],
        responses=s.WebhookEndpointSerializer,
        tags=["webhooks"],
    )
    def get(self, request: Request, endpoint_id: str) -> Response:
        return Response(s.WebhookEndpointSerializer(self._endpoint(endpoint_id)).data)

    @extend_schema(
        operation_id="webhook_endpoints_update",
        parameters=[path_param("endpoint_id")],
        request=s.WebhookEndpointUpdateSerializer,
        responses=s.WebhookEndpointSerializer,
        tags=["webhooks"],
    )
    def patch(self, request: Request, endpoint_id: str) -> Response:
        endpoint = self._endpoint(endpoint_id)
        data = validated(s.WebhookEndpointUpdateSerializer, request.data)
        endpoint = reseller_webhooks.webhook_endpoint_update(endpoint=endpoint, **data)
        return Response(s.WebhookEndpointSerializer(endpoint).data)

    @extend_schema(
        operation_id="webhook_endpoints_delete",
        parameters=[path_param("endpoint_id")],
        responses={204: None},
        tags=["webhooks"],
    )
    def delete(self, request: Request, endpoint_id: str) -> Response:
        """Delete an endpoint and its delivery log."""
        reseller_webhooks.webhook_endpoint_delete(endpoint=self._endpoint(endpoint_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookDeliveryListApi(ResellerApi):
    required_scopes = {"GET": WEBHOOKS}
    pagination_class = ResellerCursorPagination

    @extend_schema(
        operation_id="webhook_deliveries_list",
        parameters=[s.WebhookDeliveryFilterSerializer],
        responses=s.WebhookDeliverySerializer(many=True),
        tags=["webhooks"],
    )
    def get(self, request: Request) -> Response:
        """The delivery log, newest first."""
        filters = validated(s.WebhookDeliveryFilterSerializer, request.query_params)
        deliveries = selectors.reseller_webhook_deliveries(
            reseller=self.reseller,
            endpoint_id=filters.get("endpoint"),
            status=filters.get("status", ""),
            event_type=filters.get("event_type", ""),
        )
        return self._page(deliveries, s.WebhookDeliverySerializer)


class WebhookDeliveryDetailApi(ResellerApi):
    required_scopes = {"GET": WEBHOOKS}

    @extend_schema(
        operation_id="webhook_deliveries_retrieve",
        parameters=[path_param("delivery_id")],
        responses=s.WebhookDeliveryDetailSerializer,
        tags=["webhooks"],
    )
    def get(self, request: Request, delivery_id: str) -> Response:
        """A delivery with every attempt made."""
        delivery = selectors.reseller_webhook_delivery_get(
            reseller=self.reseller, delivery_id=path_int(delivery_id)
        )
        return Response(s.WebhookDeliveryDetailSerializer(delivery).data)


class WebhookDeliveryReplayApi(ResellerApi):
    required_scopes = {"POST": WEBHOOKS}

    @extend_schema(
        operation_id="webhook_deliveries_replay",
        parameters=[path_param("delivery_id")],
        request=None,
        responses={202: s.WebhookDeliverySerializer},
        tags=["webhooks"],
    )
    def post(self, request: Request, delivery_id: str) -> Response:
        """Send a delivery again now (same event id), with a fresh day of retries."""
        delivery = selectors.reseller_webhook_delivery_get(
            reseller=self.reseller, delivery_id=path_int(delivery_id)
        )
        delivery = reseller_webhooks.webhook_delivery_replay(delivery=delivery)
        return Response(s.WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
