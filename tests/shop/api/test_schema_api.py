"""The OpenAPI schema, the local reference pages, and Schemathesis against the schema.

Schemathesis generates requests for every operation from the schema and sends
them, with a key holding every scope, to the Django app in this process; each
answer must be no server error and must match the schema (status, content type,
body). Examples per operation are few, so the run stays well under a minute.
"""

import re

import hypothesis
import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.urls import reverse
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shop.services import resellers as reseller_services
from shop.stripe_gateway import PaymentIntentInfo
from tests.shop.api.factories import ResellerFactory, fund, key_for
from tests.shop.factories import ProductFactory, stock_product

pytestmark = pytest.mark.django_db

SCHEMA_PATH = "/api/v1/schema/?format=json"


def test_the_schema_is_openapi_3_with_every_operation_and_the_error_shape(client):
    response = client.get(SCHEMA_PATH)

    schema = response.json()
    operations = {
        (method.upper(), path)
        for path, methods in schema["paths"].items()
        for method in methods
        if method != "parameters"
    }
    assert response.status_code == 200
    assert schema["openapi"].startswith("3.")
    assert len(operations) == 27
    assert ("POST", "/api/v1/orders/") in operations
    assert schema["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    assert schema["components"]["schemas"]["Error"]["required"] == ["error"]
    order_create = schema["paths"]["/api/v1/orders/"]["post"]
    assert {"200", "201", "400", "401", "402", "403", "404", "409", "429"} <= set(
        order_create["responses"]
    )
    assert any(p["name"] == "Idempotency-Key" and p["required"] for p in order_create["parameters"])


def test_the_reference_page_loads_everything_from_this_server(client):
    response = client.get(reverse("api:docs"))

    html = response.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert response.status_code == 200
    assert sources
    assert all(src.startswith("/") for src in sources), sources
    assert "cdn" not in html.lower()
    assert client.get(next(s for s in sources if s.endswith(".js"))).status_code == 200


# --- Schemathesis ---------------------------------------------------------------


@pytest.fixture
def in_process_requests():
    """As Django's test client does: a request must not close the test's connection."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def bearer(settings, monkeypatch, in_process_requests):
    """A key with every scope, a funded reseller and a product in stock; no real Stripe."""
    settings.KEYSHOP_RESELLER_API_RATE = "100000/min"
    settings.KEYSHOP_RESELLER_APPLICATION_RATE = "100000/min"
    settings.ALLOWED_HOSTS = ["localhost", "testserver"]

    def fake_intent(*, public_id, reseller_id, amount_minor, currency):
        return PaymentIntentInfo(
            id=f"pi_fake_{public_id}",
            status="requires_payment_method",
            amount_minor=amount_minor,
            amount_received_minor=0,
            currency=currency,
            client_secret=f"pi_fake_{public_id}_secret",
            order_id=None,
            latest_charge_id=None,
            last_error_message=None,
            last_error_code=None,
            next_action_type=None,
            card_fingerprint=None,
            card_country=None,
            risk_level=None,
        )

    monkeypatch.setattr(reseller_services, "_top_up_intent_create", fake_intent)
    reseller = ResellerFactory()
    stock_product(ProductFactory(price_minor=100), 1000)
    fund(reseller, 1_000_000)
    return {"Authorization": f"Bearer {key_for(reseller)}"}


# Loaded at collection (pytest-django has set Django up by then); the schema view
# needs no database. (schemathesis.pytest.from_fixture does not work with pytest 9.)
schema = schemathesis.openapi.from_wsgi(SCHEMA_PATH, WSGIHandler())


@schema.parametrize()
@hypothesis.settings(
    max_examples=12,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_no_request_the_schema_allows_gets_a_server_error_or_an_answer_outside_it(case, bearer):
    case.call_and_validate(
        headers=bearer,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
