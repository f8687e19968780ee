"""Webhooks to resellers, sent for real to a receiver on 127.0.0.1."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from shop.models import (
    ResellerWebhookDelivery,
    ResellerWebhookEndpoint,
    WebhookEventType,
)
from shop.services.orders import order_create, order_mark_paid
from shop.services.reseller_webhooks import (
    _retry_delay,
    webhook_deliveries_send_due,
    webhook_delivery_attempt,
)
from tests.fulfillment.factories import codes_stock
from tests.shop.api.factories import fund
from tests.shop.api.webhooks_support import ENDPOINTS, register_endpoint, verify_signed
from tests.shop.factories import ProductFactory

pytestmark = pytest.mark.django_db


def _deliver_an_order(api, reseller, capture) -> str:
    product = ProductFactory(price_minor=700)
    codes_stock(product, 1)
    fund(reseller, 700)
    with capture(execute=True):
        response = api.post(
            reverse("api:orders"),
            {"lines": [{"product_id": product.pk, "quantity": 1}], "reference": "ref-9"},
            format="json",
            headers={"Idempotency-Key": "hooked"},
        )
    return response.json()["number"]


def test_a_delivered_order_is_announced_signed_and_retried_after_a_failure(
    api, reseller, receiver, django_capture_on_commit_callbacks
):
    hook = receiver(statuses=[500, 200])
    endpoint = register_endpoint(api, hook.url)

    number = _deliver_an_order(api, reseller, django_capture_on_commit_callbacks)
    delivery = ResellerWebhookDelivery.objects.get()
    after_failure = (delivery.status, delivery.attempts, delivery.last_status_code)
    retry_in = delivery.next_attempt_at - timezone.now()
    # Time passes: the retry is due and the beat task sends it.
    ResellerWebhookDelivery.objects.update(next_attempt_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        queued = webhook_deliveries_send_due()
    delivery.refresh_from_db()

    assert after_failure == ("pending", 1, 500)
    assert timedelta(seconds=20) < retry_in <= timedelta(seconds=30)
    assert queued == 1
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 2, 200)
    assert len(hook.requests) == 2
    first, second = (verify_signed(endpoint["secret"], r) for r in hook.requests)
    assert first == second  # a retry is the same event
    assert first["id"] == str(delivery.event_id)
    assert first["type"] == "order.delivered"
    assert first["data"]["order"]["number"] == number
    assert first["data"]["order"]["status"] == "delivered"
    assert first["data"]["order"]["reference"] == "ref-9"
    assert hook.requests[0]["headers"]["Keyshop-Event-Id"] == first["id"]
    assert b"TEST-" not in hook.requests[0]["body"]  # never a code in a webhook
    assert reseller.contact_email.encode() not in hook.requests[0]["body"]


def test_the_delivery_log_shows_every_attempt_and_a_replay_sends_the_same_event(
    api, reseller, receiver, django_capture_on_commit_callbacks
):
    hook = receiver(statuses=[503])
    endpoint = register_endpoint(api, hook.url)
    _deliver_an_order(api, reseller, django_capture_on_commit_callbacks)
    delivery = ResellerWebhookDelivery.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        replayed = api.post(
            reverse("api:webhook_delivery_replay", kwargs={"delivery_id": delivery.pk})
        )
    log = api.get(reverse("api:webhook_delivery", kwargs={"delivery_id": delivery.pk})).json()
    listed = api.get(ENDPOINTS).json()["results"]

    assert replayed.status_code == 202
    assert log["status"] == "succeeded"
    assert [(a["number"], a["status_code"]) for a in log["attempt_log"]] == [(1, 503), (2, 200)]
    assert log["attempt_log"][0]["error"] == "HTTP 503"
    events = [verify_signed(endpoint["secret"], r)["id"] for r in hook.requests]
    assert events == [str(delivery.event_id)] * 2
    assert "secret" not in listed[0]


def test_a_delivery_that_keeps_failing_gives_up_after_its_day(api, reseller, receiver):
    hook = receiver(statuses=[500] * 5)
    register_endpoint(api, hook.url)
    endpoint = ResellerWebhookEndpoint.objects.get()
    delivery = ResellerWebhookDelivery.objects.create(
        endpoint=endpoint,
        event_type=WebhookEventType.ORDER_DELIVERED,
        source="test",
        payload={"id": "evt"},
        next_attempt_at=timezone.now(),
        expires_at=timezone.now() + timedelta(seconds=10),
    )

    status = webhook_delivery_attempt(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert status == "failed"
    assert (delivery.attempts, delivery.next_attempt_at) == (1, None)


def test_retries_back_off_exponentially_for_a_day():
    delays = [_retry_delay(n).total_seconds() for n in range(1, 10)]
    day = timedelta(hours=settings.KEYSHOP_RESELLER_WEBHOOK_RETRY_HOURS).total_seconds()
    attempts, elapsed = 1, 0.0
    while elapsed + _retry_delay(attempts).total_seconds() <= day:
        elapsed += _retry_delay(attempts).total_seconds()
        attempts += 1

    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert 25 <= attempts <= 40


def test_a_delivery_not_due_or_already_sent_is_not_sent_again(api, reseller, receiver):
    hook = receiver()
    register_endpoint(api, hook.url)
    delivery = ResellerWebhookDelivery.objects.create(
        endpoint=ResellerWebhookEndpoint.objects.get(),
        event_type=WebhookEventType.ORDER_DELIVERED,
        source="test",
        payload={"id": "evt"},
        next_attempt_at=timezone.now() + timedelta(minutes=5),
        expires_at=timezone.now() + timedelta(days=1),
    )

    not_due = webhook_delivery_attempt(delivery_id=delivery.pk)
    ResellerWebhookDelivery.objects.update(next_attempt_at=timezone.now())
    sent = webhook_delivery_attempt(delivery_id=delivery.pk)
    again = webhook_delivery_attempt(delivery_id=delivery.pk)

    assert (not_due, sent, again) == ("pending", "succeeded", "succeeded")
    assert len(hook.requests) == 1


def test_only_subscribed_endpoints_and_reseller_orders_are_announced(
    api, reseller, receiver, django_capture_on_commit_callbacks
):
    hook = receiver()
    register_endpoint(api, hook.url, event_types=["order.refunded"])
    _deliver_an_order(api, reseller, django_capture_on_commit_callbacks)
    product = ProductFactory()
    codes_stock(product, 1)
    buyer_order, _token = order_create(
        email="buyer@example.com",
        product=product,
        quantity=1,
        terms_version=settings.KEYSHOP_TERMS_VERSION,
        language="en",
    )
    with django_capture_on_commit_callbacks(execute=True):
        order_mark_paid(order_id=buyer_order.pk)

    buyer_order.refresh_from_db()
    assert buyer_order.status == "delivered"
    assert ResellerWebhookDelivery.objects.count() == 0
    assert hook.requests == []


def test_private_and_plain_http_addresses_are_refused_outside_development(api, settings):
    settings.KEYSHOP_RESELLER_WEBHOOK_ALLOW_HTTP = False
    settings.KEYSHOP_RESELLER_WEBHOOK_ALLOW_PRIVATE_HOSTS = False
    refused = [
        "http://hooks.example/keyshop",
        "https://10.0.0.7/keyshop",
        "https://127.0.0.1/keyshop",
        "https://[::1]/keyshop",
        "https://user:pw@hooks.example/keyshop",
    ]

    answers = [
        api.post(ENDPOINTS, {"url": url, "event_types": ["order.delivered"]}, format="json")
        for url in refused
    ]

    assert [a.status_code for a in answers] == [400] * len(refused)
    assert ResellerWebhookEndpoint.objects.count() == 0


def test_a_name_that_resolves_to_a_private_address_is_refused_when_sending(
    api, reseller, receiver, settings
):
    hook = receiver()
    port = hook.server.server_address[1]
    register_endpoint(api, f"http://localhost:{port}/keyshop-hook")
    settings.KEYSHOP_RESELLER_WEBHOOK_ALLOW_PRIVATE_HOSTS = False
    delivery = ResellerWebhookDelivery.objects.create(
        endpoint=ResellerWebhookEndpoint.objects.get(),
        event_type=WebhookEventType.ORDER_DELIVERED,
        source="test",
        payload={"id": "evt"},
        next_attempt_at=timezone.now(),
        expires_at=timezone.now() + timedelta(days=1),
    )

    webhook_delivery_attempt(delivery_id=delivery.pk)

    delivery.refresh_from_db()
    assert delivery.last_error == "refused: the host has a private address"
    assert hook.requests == []


def test_endpoints_can_be_changed_and_deleted(api):
    created = register_endpoint(api, "https://hooks.example/a")
    url = reverse("api:webhook_endpoint", kwargs={"endpoint_id": created["id"]})

    changed = api.patch(url, {"is_active": False, "event_types": ["code.revoked"]}, format="json")
    deleted = api.delete(url)

    assert changed.status_code == 200
    assert (changed.json()["is_active"], changed.json()["event_types"]) == (
        False,
        ["code.revoked"],
    )
    assert deleted.status_code == 204
    assert ResellerWebhookEndpoint.objects.count() == 0


def _deliver_two_codes(api, reseller, capture, codes) -> tuple[str, list[int]]:
    product = ProductFactory(price_minor=300)
    codes_stock(product, 2, codes=codes)
    fund(reseller, 600)
    with capture(execute=True):
        created = api.post(
            reverse("api:orders"),
            {"lines": [{"product_id": product.pk, "quantity": 2}], "reference": "ref-r"},
            format="json",
            headers={"Idempotency-Key": "to-revoke"},
        )
    number = created.json()["number"]
    detail = api.get(reverse("api:order", kwargs={"number": number})).json()
    return number, sorted(code["code_id"] for code in detail["codes"])


def test_a_code_revoked_by_staff_is_announced_once_with_its_cause(
    api, reseller, receiver, django_capture_on_commit_callbacks
):
    from fulfillment.services.codes import code_revoke

    hook = receiver()
    endpoint = register_endpoint(api, hook.url, event_types=["code.revoked"])
    number, (first, second) = _deliver_two_codes(
        api, reseller, django_capture_on_commit_callbacks, ["REVOKE-ME-1", "REVOKE-ME-2"]
    )

    for _repeat in range(2):  # a repeat revokes nothing and announces nothing
        with django_capture_on_commit_callbacks(execute=True):
            code_revoke(code_id=first, actor=None, reason="publisher recalled it")

    assert len(hook.requests) == 1
    event = verify_signed(endpoint["secret"], hook.requests[0])
    assert event["type"] == "code.revoked"
    assert event["data"]["code"] == {"id": first, "cause": "revoked_by_staff"}
    assert event["data"]["order"]["number"] == number
    assert event["data"]["order"]["reference"] == "ref-r"
    assert b"REVOKE-ME" not in hook.requests[0]["body"]
    assert b"publisher recalled" not in hook.requests[0]["body"]  # staff's words stay inside
    revealed = api.get(reverse("api:order", kwargs={"number": number})).json()["codes"]
    assert [code["code_id"] for code in revealed] == [second]


def test_codes_on_a_publisher_revocation_list_are_announced_to_the_reseller(
    api, reseller, receiver, django_capture_on_commit_callbacks
):
    import io

    from compliance.services.revocations import revocation_list_import
    from fulfillment.models import Code

    hook = receiver()
    endpoint = register_endpoint(api, hook.url, event_types=["code.revoked", "order.delivered"])
    _number, code_ids = _deliver_two_codes(
        api, reseller, django_capture_on_commit_callbacks, ["LISTED-AAA-1", "LISTED-AAA-2"]
    )
    product = Code.objects.get(pk=code_ids[0]).product
    hook.requests.clear()

    with django_capture_on_commit_callbacks(execute=True):
        revocation_list_import(
            product=product,
            publisher="Publisher",
            reference="RL-1",
            file=io.BytesIO(b"LISTED-AAA-2\nNOT-OURS-9\n"),
            actor=None,
        )

    events = [verify_signed(endpoint["secret"], r) for r in hook.requests]
    assert [(e["type"], e["data"]["code"]) for e in events] == [
        ("code.revoked", {"id": code_ids[1], "cause": "publisher_revocation_list"})
    ]


def test_an_endpoint_not_subscribed_to_code_revoked_hears_nothing_of_it(
    api, reseller, receiver, django_capture_on_commit_callbacks
):
    from fulfillment.services.codes import code_revoke

    hook = receiver()
    register_endpoint(api, hook.url, event_types=["order.refunded"])
    _number, code_ids = _deliver_two_codes(
        api, reseller, django_capture_on_commit_callbacks, ["QUIET-0001", "QUIET-0002"]
    )

    with django_capture_on_commit_callbacks(execute=True):
        code_revoke(code_id=code_ids[0], actor=None, reason="test")

    assert hook.requests == []
    assert not ResellerWebhookDelivery.objects.filter(event_type="code.revoked").exists()
