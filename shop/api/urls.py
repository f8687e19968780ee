"""/api/v1/: the reseller API, its OpenAPI schema and the reference page.

The reference page is Swagger UI from drf-spectacular-sidecar, served by this server
(no CDN). Redoc is not offered: its page loads fonts from Google.
"""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from shop.api import views

app_name = "api"

urlpatterns = [
    path("applications/", views.ApplicationCreateApi.as_view(), name="applications"),
    path("account/", views.AccountApi.as_view(), name="account"),
    path("catalogue/", views.CatalogueListApi.as_view(), name="catalogue"),
    path("orders/", views.OrderListCreateApi.as_view(), name="orders"),
    path("orders/<str:number>/", views.OrderDetailApi.as_view(), name="order"),
    path("balance/", views.BalanceListApi.as_view(), name="balance"),
    path("balance/ledger/", views.LedgerListApi.as_view(), name="ledger"),
    path("balance/top-ups/", views.TopUpListCreateApi.as_view(), name="top_ups"),
    path("balance/top-ups/<str:top_up_id>/", views.TopUpDetailApi.as_view(), name="top_up"),
    path("keys/", views.ApiKeyListCreateApi.as_view(), name="keys"),
    path("keys/<str:key_id>/", views.ApiKeyDetailApi.as_view(), name="key"),
    path(
        "webhooks/endpoints/",
        views.WebhookEndpointListCreateApi.as_view(),
        name="webhook_endpoints",
    ),
    path(
        "webhooks/endpoints/<str:endpoint_id>/",
        views.WebhookEndpointDetailApi.as_view(),
        name="webhook_endpoint",
    ),
    path(
        "webhooks/deliveries/",
        views.WebhookDeliveryListApi.as_view(),
        name="webhook_deliveries",
    ),
    path(
        "webhooks/deliveries/<str:delivery_id>/",
        views.WebhookDeliveryDetailApi.as_view(),
        name="webhook_delivery",
    ),
    path(
        "webhooks/deliveries/<str:delivery_id>/replay/",
        views.WebhookDeliveryReplayApi.as_view(),
        name="webhook_delivery_replay",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]
