"""No reseller can read or touch another's orders, codes, ledger, keys, top-ups, webhooks
or complaints."""

import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from compliance.models import Complaint, ComplaintMessage
from compliance.services.complaints import complaint_file
from fulfillment.models import Code, CodeReveal
from shop.models import (
    BalanceTopUp,
    Order,
    ResellerApiKey,
    ResellerWebhookDelivery,
    ResellerWebhookEndpoint,
    WebhookEventType,
)
from shop.services.resellers import api_key_create
from tests.fulfillment.factories import codes_stock
from tests.shop.api.factories import ResellerFactory, fund
from tests.shop.factories import ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def theirs(client_for, django_capture_on_commit_callbacks):
    """Another reseller's delivered order, key, top-up, webhook endpoint and delivery."""
    owner = ResellerFactory()
    product = ProductFactory(price_minor=100)
    codes_stock(product, 1)
    fund(owner, 1000)
    owner_api = client_for(owner)
    with django_capture_on_commit_callbacks(execute=True):
        order = owner_api.post(
            reverse("api:orders"),
            {"lines": [{"product_id": product.pk, "quantity": 1}]},
            format="json",
            headers={"Idempotency-Key": "theirs"},
        ).json()
    api_key, _secret = api_key_create(reseller=owner, name="theirs", scopes=["orders:read"])
    endpoint = ResellerWebhookEndpoint.objects.create(
        reseller=owner,
        url="https://hooks.example/keyshop",
        event_types=[WebhookEventType.ORDER_DELIVERED],
        secret="whsec_x",
    )
    now = timezone.now()
    delivery = ResellerWebhookDelivery.objects.create(
        endpoint=endpoint,
        event_type=WebhookEventType.ORDER_DELIVERED,
        source="test",
        payload={"id": "x"},
        next_attempt_at=None,
        status="failed",
        expires_at=now + timedelta(hours=1),
    )
    top_up = BalanceTopUp.objects.create(
        reseller=owner,
        amount_minor=1000,
        currency="EUR",
        stripe_payment_intent_id="pi_theirs",
        client_secret="pi_theirs_secret",
        status="succeeded",
    )
    complaint = complaint_file(
        order=Order.objects.get(number=order["number"]),
        code_ids=Code.objects.filter(order_line__order__number=order["number"]).values_list(
            "pk", flat=True
        ),
        reason="does_not_work",
        description="Their complaint",
    )
    return {
        "complaint": complaint.pk,
        "order": order["number"],
        "key": api_key.pk,
        "endpoint": endpoint.pk,
        "delivery": delivery.pk,
        "top_up": top_up.public_id,
    }


def test_every_object_endpoint_answers_404_for_another_resellers_object(api, theirs):
    reveals_before = CodeReveal.objects.count()
    revoked_before = ResellerApiKey.objects.filter(revoked_at__isnull=False).count()
    calls = [
        ("get", reverse("api:order", kwargs={"number": theirs["order"]})),
        ("get", reverse("api:key", kwargs={"key_id": theirs["key"]})),
        ("delete", reverse("api:key", kwargs={"key_id": theirs["key"]})),
        ("get", reverse("api:top_up", kwargs={"top_up_id": theirs["top_up"]})),
        ("get", reverse("api:webhook_endpoint", kwargs={"endpoint_id": theirs["endpoint"]})),
        ("patch", reverse("api:webhook_endpoint", kwargs={"endpoint_id": theirs["endpoint"]})),
        ("delete", reverse("api:webhook_endpoint", kwargs={"endpoint_id": theirs["endpoint"]})),
        ("get", reverse("api:webhook_delivery", kwargs={"delivery_id": theirs["delivery"]})),
        (
            "post",
            reverse("api:webhook_delivery_replay", kwargs={"delivery_id": theirs["delivery"]}),
        ),
        ("get", reverse("complaints_api:complaint", kwargs={"complaint_id": theirs["complaint"]})),
        (
            "post",
            reverse(
                "complaints_api:complaint_messages", kwargs={"complaint_id": theirs["complaint"]}
            ),
        ),
        (
            "post",
            reverse("complaints_api:order_complaints", kwargs={"number": theirs["order"]}),
        ),
    ]

    answers = {(method, url): getattr(api, method)(url, {}, format="json") for method, url in calls}

    assert {key: a.status_code for key, a in answers.items()} == {key: 404 for key in answers}
    assert all(a.json()["error"]["code"] == "not_found" for a in answers.values())
    assert CodeReveal.objects.count() == reveals_before  # no code of theirs was shown
    assert ResellerApiKey.objects.filter(revoked_at__isnull=False).count() == revoked_before
    assert ResellerWebhookEndpoint.objects.filter(pk=theirs["endpoint"]).exists()
    assert ResellerWebhookDelivery.objects.get(pk=theirs["delivery"]).status == "failed"
    assert not ComplaintMessage.objects.exists()
    assert Complaint.objects.count() == 1


def test_an_object_that_does_not_exist_gets_the_same_404(api):
    calls = [
        reverse("api:order", kwargs={"number": "KS-NOSUCHONE"}),
        reverse("api:key", kwargs={"key_id": 999_999}),
        reverse("api:key", kwargs={"key_id": "not-a-number"}),
        reverse("api:top_up", kwargs={"top_up_id": uuid.uuid4()}),
        reverse("api:top_up", kwargs={"top_up_id": "not-a-uuid"}),
        reverse("api:webhook_endpoint", kwargs={"endpoint_id": 2**70}),
        reverse("complaints_api:complaint", kwargs={"complaint_id": 2**70}),
        reverse("complaints_api:complaint", kwargs={"complaint_id": "not-a-number"}),
    ]

    answers = [api.get(url) for url in calls]

    assert [a.status_code for a in answers] == [404] * len(calls)
    assert {a.json()["error"]["code"] for a in answers} == {"not_found"}


def test_lists_hold_only_the_callers_own_objects(api, reseller, theirs):
    lists = [
        "api:orders",
        "api:ledger",
        "api:top_ups",
        "api:webhook_endpoints",
        "api:webhook_deliveries",
        "complaints_api:complaints",
    ]

    results = {name: api.get(reverse(name)).json()["results"] for name in lists}
    balances = api.get(reverse("api:balance")).json()
    keys = api.get(reverse("api:keys")).json()["results"]

    assert results == {name: [] for name in lists}
    assert balances == []
    assert [k["name"] for k in keys] == ["test"]  # the caller's own key only
