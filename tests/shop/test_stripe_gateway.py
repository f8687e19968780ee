"""The Stripe gateway against localstripe over HTTP, through the real Stripe client.

Card tokens are made the way the browser makes them (Stripe.js createToken posts
the card with the publishable key), so the server side runs exactly as in checkout.
"""

import json
import queue
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings

from shop import stripe_gateway
from shop.stripe_gateway import (
    PaymentDeclined,
    PaymentGatewayError,
    PaymentGatewayUnavailable,
    PaymentIntentInfo,
    WebhookEvent,
    WebhookSignatureInvalid,
)
from tests.support.localstripe import (
    CARD_3DS_REQUIRED,
    CARD_3DS_THEN_DECLINED,
    CARD_COUNTRY_DE,
    CARD_DECLINED,
    CARD_INCORRECT_NUMBER,
    CARD_INSUFFICIENT_FUNDS,
    CARD_RADAR_BLOCKED,
    CARD_RISK_ELEVATED,
    CARD_SUCCESS,
    CardTokenRefused,
    card_token_create,
    payment_intent_authenticate,
    webhook_endpoint_register,
)
from tests.support.stripe_events import sign_payload, stripe_event

RETURN_URL = "http://127.0.0.1:8000/orders/K-1/payment-return"


def _key(label: str) -> str:
    return f"test-{label}-{uuid.uuid4().hex}"


def _intent(*, order_id: int = 41, amount_minor: int = 2599, currency: str = "EUR"):
    return stripe_gateway.payment_intent_create(
        order_id=order_id,
        amount_minor=amount_minor,
        currency=currency,
        payment_method_types=["card"],
        idempotency_key=_key("payment-intent"),
        description=f"Keyshop order {order_id}",
    )


def _pay(base_url: str, intent: PaymentIntentInfo, number: str) -> PaymentIntentInfo:
    return stripe_gateway.payment_intent_pay_with_card_token(
        payment_intent_id=intent.id,
        card_token=card_token_create(base_url, number),
        idempotency_key=_key("pay"),
        return_url=RETURN_URL,
    )


def _paid_intent(base_url: str, *, amount_minor: int = 2599) -> PaymentIntentInfo:
    paid = _pay(base_url, _intent(amount_minor=amount_minor), CARD_SUCCESS)
    assert paid.status == "succeeded"
    return paid


# --- PaymentIntents ----------------------------------------------------------------


def test_payment_intent_create_returns_amount_currency_and_order_id(localstripe_server):
    intent = _intent(order_id=41, amount_minor=2599, currency="EUR")

    assert intent.id.startswith("pi_")
    assert intent.status == "requires_payment_method"
    assert intent.amount_minor == 2599
    assert intent.amount_received_minor == 0
    assert intent.currency == "EUR"
    assert intent.order_id == 41
    assert intent.client_secret.startswith(f"{intent.id}_secret_")
    assert intent.latest_charge_id is None
    assert intent.last_error_message is None
    assert intent.card_fingerprint is None


def test_payment_intent_create_defaults_to_the_configured_payment_method_types(
    localstripe_server,
):
    intent = stripe_gateway.payment_intent_create(
        order_id=7,
        amount_minor=500,
        currency="USD",
        idempotency_key=_key("payment-intent"),
        description="Keyshop order 7",
    )

    assert (intent.amount_minor, intent.currency, intent.order_id) == (500, "USD", 7)


def test_payment_intent_create_with_a_used_key_returns_the_first_intent(localstripe_server):
    key = _key("payment-intent")
    arguments = {
        "order_id": 9,
        "amount_minor": 1000,
        "currency": "EUR",
        "idempotency_key": key,
        "description": "Keyshop order 9",
    }

    first = stripe_gateway.payment_intent_create(**arguments)
    again = stripe_gateway.payment_intent_create(**arguments)

    assert again == first


def test_payment_intent_create_with_a_used_key_and_other_amount_is_refused(localstripe_server):
    key = _key("payment-intent")
    first = stripe_gateway.payment_intent_create(
        order_id=9, amount_minor=1000, currency="EUR", idempotency_key=key, description="o"
    )

    with pytest.raises(PaymentGatewayError) as refused:
        stripe_gateway.payment_intent_create(
            order_id=9, amount_minor=2000, currency="EUR", idempotency_key=key, description="o"
        )

    assert not isinstance(refused.value, PaymentGatewayUnavailable)
    assert stripe_gateway.payment_intent_retrieve(first.id).amount_minor == 1000


def test_paying_with_the_success_card_succeeds(localstripe_server):
    intent = _intent(amount_minor=2599)

    paid = _pay(localstripe_server, intent, CARD_SUCCESS)

    assert paid.id == intent.id
    assert paid.status == "succeeded"
    assert paid.amount_received_minor == 2599
    assert paid.currency == "EUR"
    assert paid.order_id == 41
    assert paid.latest_charge_id.startswith("ch_")
    assert paid.last_error_message is None
    assert paid.next_action_type is None
    assert paid.card_country == "US"
    assert len(paid.card_fingerprint) == 16
    assert paid.risk_level == "normal"


def test_payment_intent_retrieve_returns_the_paid_intent_with_card_details(localstripe_server):
    paid = _paid_intent(localstripe_server)

    assert stripe_gateway.payment_intent_retrieve(paid.id) == paid


def test_the_same_card_gives_the_same_fingerprint_and_another_card_another(
    localstripe_server,
):
    first = _paid_intent(localstripe_server)
    second = _paid_intent(localstripe_server)
    german = _pay(localstripe_server, _intent(), CARD_COUNTRY_DE)

    assert first.card_fingerprint == second.card_fingerprint
    assert german.card_fingerprint != first.card_fingerprint
    assert german.card_country == "DE"


def test_an_elevated_risk_card_succeeds_with_its_radar_risk_level(localstripe_server):
    paid = _pay(localstripe_server, _intent(), CARD_RISK_ELEVATED)

    assert (paid.status, paid.risk_level) == ("succeeded", "elevated")


def test_a_declined_card_raises_payment_declined_and_leaves_the_intent_payable(
    localstripe_server,
):
    intent = _intent(amount_minor=2599)

    with pytest.raises(PaymentDeclined) as declined:
        _pay(localstripe_server, intent, CARD_DECLINED)

    assert declined.value.message == "Your card was declined."
    assert declined.value.decline_code == "generic_decline"
    assert declined.value.payment_intent_id == intent.id
    after = stripe_gateway.payment_intent_retrieve(intent.id)
    assert after.status == "requires_payment_method"
    assert after.amount_received_minor == 0
    assert after.last_error_message == "Your card was declined."
    assert after.last_error_code == "generic_decline"
    assert after.risk_level == "normal"


def test_a_card_without_funds_is_declined_with_its_own_message(localstripe_server):
    with pytest.raises(PaymentDeclined) as declined:
        _pay(localstripe_server, _intent(), CARD_INSUFFICIENT_FUNDS)

    assert declined.value.message == "Your card has insufficient funds."
    assert declined.value.decline_code == "insufficient_funds"


def test_a_card_blocked_by_radar_is_declined_with_risk_level_highest(localstripe_server):
    intent = _intent()

    with pytest.raises(PaymentDeclined) as declined:
        _pay(localstripe_server, intent, CARD_RADAR_BLOCKED)

    assert declined.value.decline_code == "fraudulent"
    after = stripe_gateway.payment_intent_retrieve(intent.id)
    assert (after.status, after.risk_level) == ("requires_payment_method", "highest")


def test_another_card_after_a_decline_pays_the_same_intent(localstripe_server):
    intent = _intent(amount_minor=2599)
    with pytest.raises(PaymentDeclined):
        _pay(localstripe_server, intent, CARD_DECLINED)

    paid = _pay(localstripe_server, intent, CARD_SUCCESS)

    assert (paid.id, paid.status, paid.amount_received_minor) == (intent.id, "succeeded", 2599)
    assert paid.last_error_message is None


def test_a_card_token_cannot_be_used_twice(localstripe_server):
    token = card_token_create(localstripe_server, CARD_SUCCESS)
    first = _intent()
    stripe_gateway.payment_intent_pay_with_card_token(
        payment_intent_id=first.id,
        card_token=token,
        idempotency_key=_key("pay"),
        return_url=RETURN_URL,
    )
    second = _intent()

    with pytest.raises(PaymentGatewayError) as refused:
        stripe_gateway.payment_intent_pay_with_card_token(
            payment_intent_id=second.id,
            card_token=token,
            idempotency_key=_key("pay"),
            return_url=RETURN_URL,
        )

    assert refused.value.stripe_code == "token_already_used"
    assert stripe_gateway.payment_intent_retrieve(second.id) == second


def test_paying_again_with_the_same_key_does_not_charge_twice(localstripe_server):
    intent = _intent()
    token = card_token_create(localstripe_server, CARD_SUCCESS)
    arguments = {
        "payment_intent_id": intent.id,
        "card_token": token,
        "idempotency_key": _key("pay"),
        "return_url": RETURN_URL,
    }

    first = stripe_gateway.payment_intent_pay_with_card_token(**arguments)
    again = stripe_gateway.payment_intent_pay_with_card_token(**arguments)

    assert again == first
    assert again.status == "succeeded"


def test_a_number_failing_the_luhn_check_is_refused_when_tokenized(localstripe_server):
    with pytest.raises(CardTokenRefused) as refused:
        card_token_create(localstripe_server, CARD_INCORRECT_NUMBER)

    assert refused.value.error["type"] == "card_error"
    assert refused.value.error["code"] == "incorrect_number"


def test_a_3ds_card_requires_action_then_succeeds_once_authenticated(localstripe_server):
    intent = _intent(amount_minor=2599)

    pending = _pay(localstripe_server, intent, CARD_3DS_REQUIRED)

    assert pending.status == "requires_action"
    assert pending.next_action_type == "use_stripe_sdk"
    assert pending.client_secret == intent.client_secret
    assert pending.amount_received_minor == 0
    payment_intent_authenticate(
        localstripe_server, payment_intent_id=intent.id, client_secret=intent.client_secret
    )
    paid = stripe_gateway.payment_intent_retrieve(intent.id)
    assert (paid.status, paid.amount_received_minor) == ("succeeded", 2599)
    assert paid.next_action_type is None


def test_a_failed_3ds_challenge_leaves_the_intent_payable(localstripe_server):
    intent = _intent()
    _pay(localstripe_server, intent, CARD_3DS_REQUIRED)

    payment_intent_authenticate(
        localstripe_server,
        payment_intent_id=intent.id,
        client_secret=intent.client_secret,
        success=False,
    )

    after = stripe_gateway.payment_intent_retrieve(intent.id)
    assert after.status == "requires_payment_method"
    assert after.last_error_message == "The provided PaymentMethod has failed authentication."
    assert _pay(localstripe_server, intent, CARD_SUCCESS).status == "succeeded"


def test_a_3ds_card_declined_after_authentication(localstripe_server):
    intent = _intent()
    _pay(localstripe_server, intent, CARD_3DS_THEN_DECLINED)

    answer = payment_intent_authenticate(
        localstripe_server, payment_intent_id=intent.id, client_secret=intent.client_secret
    )

    assert answer["error"]["message"] == "Your card has insufficient funds."
    after = stripe_gateway.payment_intent_retrieve(intent.id)
    assert after.status == "requires_payment_method"
    assert after.last_error_message == "Your card has insufficient funds."


def test_payment_intent_cancel(localstripe_server):
    intent = _intent()

    canceled = stripe_gateway.payment_intent_cancel(
        payment_intent_id=intent.id,
        idempotency_key=_key("cancel"),
        cancellation_reason="abandoned",
    )

    assert canceled.status == "canceled"
    assert stripe_gateway.payment_intent_retrieve(intent.id).status == "canceled"


def test_a_paid_intent_cannot_be_canceled(localstripe_server):
    paid = _paid_intent(localstripe_server)

    with pytest.raises(PaymentGatewayError) as refused:
        stripe_gateway.payment_intent_cancel(
            payment_intent_id=paid.id, idempotency_key=_key("cancel")
        )

    assert refused.value.stripe_code == "payment_intent_unexpected_state"
    assert stripe_gateway.payment_intent_retrieve(paid.id).status == "succeeded"


def test_retrieving_an_unknown_intent_is_refused(localstripe_server):
    with pytest.raises(PaymentGatewayError) as refused:
        stripe_gateway.payment_intent_retrieve("pi_doesnotexist")

    assert not isinstance(refused.value, PaymentGatewayUnavailable)


def test_an_unreachable_stripe_is_unavailable_and_retryable(settings, monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{closed_port}"
    settings.STRIPE_SECRET_KEY = "sk_test_keyshop"
    monkeypatch.setattr(stripe_gateway, "MAX_NETWORK_RETRIES", 0)
    stripe_gateway.client_reset()

    with pytest.raises(PaymentGatewayUnavailable) as unavailable:
        stripe_gateway.payment_intent_retrieve("pi_any")

    assert unavailable.value.retryable is True
    stripe_gateway.client_reset()


# --- Refunds -------------------------------------------------------------------------


def test_refund_partial_then_the_rest(localstripe_server):
    paid = _paid_intent(localstripe_server, amount_minor=2599)

    partial = stripe_gateway.refund_create(
        payment_intent_id=paid.id,
        amount_minor=1000,
        idempotency_key=_key("refund"),
        reason="requested_by_customer",
    )
    rest = stripe_gateway.refund_create(
        payment_intent_id=paid.id, amount_minor=None, idempotency_key=_key("refund"), reason=None
    )

    assert partial.id.startswith("re_")
    assert partial.payment_intent_id == paid.id
    assert partial.charge_id == paid.latest_charge_id
    assert (partial.amount_minor, partial.currency, partial.status) == (1000, "EUR", "succeeded")
    assert partial.reason == "requested_by_customer"
    assert (rest.amount_minor, rest.reason) == (1599, None)
    assert stripe_gateway.refund_retrieve(partial.id) == partial


def test_refund_in_full(localstripe_server):
    paid = _paid_intent(localstripe_server, amount_minor=2599)

    refund = stripe_gateway.refund_create(
        payment_intent_id=paid.id,
        amount_minor=2599,
        idempotency_key=_key("refund"),
        reason="duplicate",
    )

    assert (refund.amount_minor, refund.status, refund.reason) == (2599, "succeeded", "duplicate")


def test_refunding_more_than_remains_is_refused(localstripe_server):
    paid = _paid_intent(localstripe_server, amount_minor=2599)
    stripe_gateway.refund_create(
        payment_intent_id=paid.id, amount_minor=2000, idempotency_key=_key("refund"), reason=None
    )

    with pytest.raises(PaymentGatewayError) as too_much:
        stripe_gateway.refund_create(
            payment_intent_id=paid.id,
            amount_minor=600,
            idempotency_key=_key("refund"),
            reason=None,
        )

    assert too_much.value.stripe_code == "amount_too_large"
    rest = stripe_gateway.refund_create(
        payment_intent_id=paid.id, amount_minor=None, idempotency_key=_key("refund"), reason=None
    )
    assert rest.amount_minor == 599


def test_refunding_a_fully_refunded_payment_is_refused(localstripe_server):
    paid = _paid_intent(localstripe_server)
    stripe_gateway.refund_create(
        payment_intent_id=paid.id, amount_minor=None, idempotency_key=_key("refund"), reason=None
    )

    with pytest.raises(PaymentGatewayError) as refused:
        stripe_gateway.refund_create(
            payment_intent_id=paid.id, amount_minor=1, idempotency_key=_key("refund"), reason=None
        )

    assert refused.value.stripe_code == "charge_already_refunded"


def test_a_refund_retried_with_its_key_is_made_once(localstripe_server):
    paid = _paid_intent(localstripe_server, amount_minor=2599)
    key = _key("refund")

    first = stripe_gateway.refund_create(
        payment_intent_id=paid.id, amount_minor=500, idempotency_key=key, reason=None
    )
    again = stripe_gateway.refund_create(
        payment_intent_id=paid.id, amount_minor=500, idempotency_key=key, reason=None
    )

    assert again == first
    rest = stripe_gateway.refund_create(
        payment_intent_id=paid.id, amount_minor=None, idempotency_key=_key("refund"), reason=None
    )
    assert rest.amount_minor == 2099


def test_refunding_an_unpaid_intent_is_refused(localstripe_server):
    intent = _intent()

    with pytest.raises(PaymentGatewayError):
        stripe_gateway.refund_create(
            payment_intent_id=intent.id, amount_minor=100, idempotency_key=_key("r"), reason=None
        )


# --- Webhooks ---------------------------------------------------------------------------


def _signed(event: dict, *, secret: str | None = None, timestamp: int | None = None):
    payload = json.dumps(event).encode()
    secret = settings.STRIPE_WEBHOOK_SECRET if secret is None else secret
    return payload, sign_payload(payload, secret=secret, timestamp=timestamp)


def test_webhook_event_construct_accepts_a_correctly_signed_event():
    event = stripe_event(
        "payment_intent.succeeded",
        {"id": "pi_1", "object": "payment_intent"},
        created=1_800_000_000,
    )
    payload, header = _signed(event)

    constructed = stripe_gateway.webhook_event_construct(payload=payload, signature_header=header)

    assert constructed.id == event["id"]
    assert constructed.type == "payment_intent.succeeded"
    assert constructed.created.timestamp() == 1_800_000_000
    assert constructed.data_object == {"id": "pi_1", "object": "payment_intent"}
    assert constructed.livemode is False


def test_webhook_event_construct_rejects_a_forged_signature():
    payload, header = _signed(stripe_event("charge.refunded", {"id": "ch_1"}))
    forged = header.split(",v1=")[0] + ",v1=" + "0" * 64

    with pytest.raises(WebhookSignatureInvalid):
        stripe_gateway.webhook_event_construct(payload=payload, signature_header=forged)


def test_webhook_event_construct_rejects_another_secret():
    payload, header = _signed(stripe_event("charge.refunded", {"id": "ch_1"}), secret="whsec_x")

    with pytest.raises(WebhookSignatureInvalid):
        stripe_gateway.webhook_event_construct(payload=payload, signature_header=header)


def test_webhook_event_construct_rejects_a_changed_body():
    payload, header = _signed(stripe_event("charge.refunded", {"id": "ch_1", "amount": 100}))

    with pytest.raises(WebhookSignatureInvalid):
        stripe_gateway.webhook_event_construct(
            payload=payload.replace(b"100", b"999"), signature_header=header
        )


def test_webhook_event_construct_rejects_a_stale_timestamp():
    stale = int(time.time()) - settings.STRIPE_WEBHOOK_TOLERANCE - 10
    payload, header = _signed(stripe_event("charge.refunded", {"id": "ch_1"}), timestamp=stale)

    with pytest.raises(WebhookSignatureInvalid):
        stripe_gateway.webhook_event_construct(payload=payload, signature_header=header)


def test_webhook_event_construct_rejects_malformed_json():
    payload = b'{"id": "evt_1", "object": "event", '
    header = sign_payload(payload, secret=settings.STRIPE_WEBHOOK_SECRET)

    with pytest.raises(WebhookSignatureInvalid):
        stripe_gateway.webhook_event_construct(payload=payload, signature_header=header)


def test_webhook_event_construct_rejects_json_that_is_not_an_event():
    payload = b'{"object": "event"}'
    header = sign_payload(payload, secret=settings.STRIPE_WEBHOOK_SECRET)

    with pytest.raises(WebhookSignatureInvalid):
        stripe_gateway.webhook_event_construct(payload=payload, signature_header=header)


@pytest.mark.parametrize("header", ["", None, "garbage", "t=notanumber,v1=abc"])
def test_webhook_event_construct_rejects_a_missing_or_garbled_header(header):
    payload, _ = _signed(stripe_event("charge.refunded", {"id": "ch_1"}))

    with pytest.raises(WebhookSignatureInvalid):
        stripe_gateway.webhook_event_construct(payload=payload, signature_header=header)


class _WebhookReceiver(BaseHTTPRequestHandler):
    received: queue.Queue

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.put((body, self.headers.get("Stripe-Signature")))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def _event_wait(received: queue.Queue, *, type: str, object_id: str) -> WebhookEvent:
    deadline = time.monotonic() + 15
    while (left := deadline - time.monotonic()) > 0:
        try:
            payload, header = received.get(timeout=left)
        except queue.Empty:
            break
        event = stripe_gateway.webhook_event_construct(payload=payload, signature_header=header)
        if event.type == type and event.data_object.get("id") == object_id:
            return event
    raise AssertionError(f"no {type} webhook for {object_id}")


def test_localstripe_sends_a_signed_payment_intent_succeeded_that_we_accept(localstripe_server):
    received: queue.Queue = queue.Queue()
    handler = type("Receiver", (_WebhookReceiver,), {"received": received})
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    endpoint = {"endpoint_id": f"test-{uuid.uuid4().hex}", "secret": settings.STRIPE_WEBHOOK_SECRET}
    try:
        webhook_endpoint_register(
            localstripe_server,
            url=f"http://127.0.0.1:{receiver.server_port}/stripe/webhook/",
            events=["payment_intent.succeeded"],
            **endpoint,
        )
        paid = _paid_intent(localstripe_server, amount_minor=2599)

        event = _event_wait(received, type="payment_intent.succeeded", object_id=paid.id)
    finally:
        webhook_endpoint_register(
            localstripe_server, url="http://127.0.0.1:9/", events=["none"], **endpoint
        )
        receiver.shutdown()
        receiver.server_close()

    assert event.id.startswith("evt_")
    assert event.livemode is False
    assert event.data_object["status"] == "succeeded"
    assert event.data_object["amount_received"] == 2599
    assert event.data_object["latest_charge"] == paid.latest_charge_id  # an id, as at Stripe
    from_event = stripe_gateway.payment_intent_from_dict(event.data_object)
    assert (from_event.id, from_event.status, from_event.order_id) == (paid.id, "succeeded", 41)
