import json

import pytest
from django.conf import settings
from django.urls import reverse

from core.errors import IllegalTransition, InvalidInput
from shop import stripe_gateway
from shop.models import (
    BalanceTopUp,
    LedgerKind,
    Order,
    ResellerBalance,
    ResellerLedgerEntry,
    StripeEvent,
    WebhookEventType,
)
from shop.selectors_resellers import ledger_sum
from shop.services.resellers import (
    StaffPermissionRequired,
    balance_adjust,
    reseller_order_refund,
)
from tests.shop.api.factories import fund, staff_user
from tests.shop.factories import ProductFactory, stock_of, stock_product
from tests.support.localstripe import CARD_SUCCESS, card_token_create
from tests.support.stripe_events import sign_payload, stripe_event

pytestmark = pytest.mark.django_db

TOP_UPS = reverse("api:top_ups")


def _entries(reseller) -> list[tuple[str, int, int]]:
    return list(
        ResellerLedgerEntry.objects.filter(balance__reseller=reseller)
        .order_by("pk")
        .values_list("kind", "amount_minor", "balance_after_minor")
    )


def _top_up_intent(top_up: BalanceTopUp, *, amount_received=None, status="succeeded") -> dict:
    return {
        "id": top_up.stripe_payment_intent_id,
        "object": "payment_intent",
        "amount": top_up.amount_minor,
        "amount_received": top_up.amount_minor if amount_received is None else amount_received,
        "currency": top_up.currency.lower(),
        "status": status,
        "metadata": {"keyshop_kind": "reseller_top_up", "top_up_id": str(top_up.public_id)},
        "latest_charge": "ch_1",
    }


@pytest.fixture
def post_stripe_event(client, django_capture_on_commit_callbacks):
    def post(event: dict):
        payload = json.dumps(event).encode()
        signature = sign_payload(payload, secret=settings.STRIPE_WEBHOOK_SECRET)
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                reverse("shop:stripe_webhook"),
                data=payload,
                content_type="application/json",
                headers={"Stripe-Signature": signature},
            )

    return post


def test_a_top_up_paid_through_stripe_credits_the_balance_once(api, reseller, localstripe_server):
    started = api.post(TOP_UPS, {"amount_minor": 25_000, "currency": "EUR"}, format="json")
    top_up = BalanceTopUp.objects.get()
    token = card_token_create(localstripe_server, CARD_SUCCESS)
    stripe_gateway.payment_intent_pay_with_card_token(
        payment_intent_id=top_up.stripe_payment_intent_id,
        card_token=token,
        idempotency_key=f"test-top-up-{top_up.pk}",
        return_url="http://127.0.0.1/return",
    )

    url = reverse("api:top_up", kwargs={"top_up_id": top_up.public_id})
    checked = api.get(url).json()
    checked_again = api.get(url).json()

    assert started.status_code == 201
    assert started.json()["status"] == "pending"
    assert started.json()["client_secret"] == top_up.client_secret
    assert started.json()["client_secret"].startswith(top_up.stripe_payment_intent_id)
    assert (checked["status"], checked["client_secret"]) == ("succeeded", None)
    assert checked_again["status"] == "succeeded"
    assert _entries(reseller) == [(LedgerKind.TOP_UP, 25_000, 25_000)]
    assert api.get(reverse("api:balance")).json() == [
        {
            "currency": "EUR",
            "amount_minor": 25_000,
            "daily_limit_minor": None,
            "spent_today_minor": 0,
        }
    ]


def test_a_top_ups_signed_webhook_credits_once_and_a_replay_changes_nothing(
    reseller, post_stripe_event
):
    top_up = BalanceTopUp.objects.create(
        reseller=reseller,
        amount_minor=5000,
        currency="EUR",
        stripe_payment_intent_id="pi_top_up_1",
        client_secret="pi_top_up_1_secret",
    )
    event = stripe_event("payment_intent.succeeded", _top_up_intent(top_up))
    # Another event id for the same intent (Stripe can send both; the top-up row decides).
    again = stripe_event("payment_intent.succeeded", _top_up_intent(top_up))

    first = post_stripe_event(event)
    replay = post_stripe_event(event)
    second = post_stripe_event(again)

    top_up.refresh_from_db()
    assert [r.status_code for r in (first, replay, second)] == [200, 200, 200]
    assert top_up.status == "succeeded"
    assert _entries(reseller) == [(LedgerKind.TOP_UP, 5000, 5000)]
    assert list(StripeEvent.objects.order_by("pk").values_list("outcome", flat=True)) == [
        "top-up applied",
        "top-up applied",
    ]
    assert Order.objects.count() == 0


def test_a_top_up_paid_with_another_amount_is_not_credited(reseller, post_stripe_event):
    top_up = BalanceTopUp.objects.create(
        reseller=reseller,
        amount_minor=5000,
        currency="EUR",
        stripe_payment_intent_id="pi_top_up_2",
        client_secret="s",
    )

    post_stripe_event(
        stripe_event("payment_intent.succeeded", _top_up_intent(top_up, amount_received=500))
    )

    top_up.refresh_from_db()
    assert top_up.status == "mismatch"
    assert _entries(reseller) == []


def test_a_top_up_outside_the_limits_is_refused(api):
    response = api.post(TOP_UPS, {"amount_minor": 1, "currency": "EUR"}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"
    assert BalanceTopUp.objects.count() == 0


def test_staff_adjust_with_a_reason_and_the_right_permission(reseller):
    accountant = staff_user("adjust_reseller_balance")
    clerk = staff_user()

    balance_adjust(
        reseller_id=reseller.pk,
        currency="EUR",
        amount_minor=1500,
        reason="goodwill",
        actor=accountant,
    )
    with pytest.raises(InvalidInput):
        balance_adjust(
            reseller_id=reseller.pk, currency="EUR", amount_minor=100, reason=" ", actor=accountant
        )
    with pytest.raises(StaffPermissionRequired):
        balance_adjust(
            reseller_id=reseller.pk, currency="EUR", amount_minor=100, reason="x", actor=clerk
        )
    with pytest.raises(InvalidInput):  # the balance never goes below zero
        balance_adjust(
            reseller_id=reseller.pk,
            currency="EUR",
            amount_minor=-1501,
            reason="too much",
            actor=accountant,
        )

    entry = ResellerLedgerEntry.objects.get()
    assert (entry.kind, entry.amount_minor, entry.note, entry.actor) == (
        "adjustment",
        1500,
        "goodwill",
        accountant,
    )
    assert ResellerBalance.objects.get().amount_minor == 1500


def test_the_ledger_lists_every_movement_and_sums_to_the_balance(api, reseller):
    product = stock_product(ProductFactory(price_minor=300), 10)
    fund(reseller, 1000)
    api.post(
        reverse("api:orders"),
        {"lines": [{"product_id": product.pk, "quantity": 2}]},
        format="json",
        headers={"Idempotency-Key": "o1"},
    )

    ledger = api.get(reverse("api:ledger")).json()["results"]
    only_orders = api.get(reverse("api:ledger"), {"kind": "order"}).json()["results"]

    assert [(e["kind"], e["amount_minor"], e["balance_after_minor"]) for e in ledger] == [
        ("order", -600, 400),
        ("adjustment", 1000, 1000),
    ]
    assert ledger[0]["order_number"] == Order.objects.get().number
    assert ledger[1]["note"] == "test funds"
    assert len(only_orders) == 1
    assert ledger_sum(balance=ResellerBalance.objects.get()) == 400


def test_refunding_a_reseller_order_credits_the_balance_and_is_announced(
    api, reseller, django_capture_on_commit_callbacks
):
    from tests.fulfillment.factories import codes_stock

    product = ProductFactory(price_minor=1000)
    codes_stock(product, 2)
    fund(reseller, 2000)
    with django_capture_on_commit_callbacks(execute=True):
        number = api.post(
            reverse("api:orders"),
            {"lines": [{"product_id": product.pk, "quantity": 2}]},
            format="json",
            headers={"Idempotency-Key": "r1"},
        ).json()["number"]
    api.post(
        reverse("api:webhook_endpoints"),
        {"url": "http://127.0.0.1:9/hook", "event_types": [WebhookEventType.ORDER_REFUNDED]},
        format="json",
    )
    order = Order.objects.get(number=number)

    with django_capture_on_commit_callbacks(execute=True):
        reseller_order_refund(order_id=order.pk, amount_minor=500, reason="one code did not work")
    with django_capture_on_commit_callbacks(execute=True):
        reseller_order_refund(order_id=order.pk, amount_minor=None, reason="the rest")
    with pytest.raises(InvalidInput):
        reseller_order_refund(order_id=order.pk, amount_minor=None, reason="again")

    order.refresh_from_db()
    assert order.status == "refunded"
    assert _entries(reseller)[-2:] == [
        (LedgerKind.REFUND, 500, 500),
        (LedgerKind.REFUND, 1500, 2000),
    ]
    assert ResellerBalance.objects.get().amount_minor == 2000
    deliveries = api.get(reverse("api:webhook_deliveries")).json()["results"]
    assert [d["payload"]["data"]["order"]["status"] for d in deliveries] == [
        "refunded",
        "partially_refunded",
    ]


def test_an_order_refunded_elsewhere_is_credited_once(reseller, django_capture_on_commit_callbacks):
    from shop.services.orders import order_transition

    product = stock_product(ProductFactory(price_minor=800), 5)
    fund(reseller, 800)
    from shop.services.resellers import OrderLineRequest, reseller_order_place

    order, _created = reseller_order_place(
        reseller=reseller,
        idempotency_key="k",
        lines=[OrderLineRequest(product_id=product.pk, quantity=1)],
    )

    with django_capture_on_commit_callbacks(execute=True):
        order_transition(order_id=order.pk, to_status="refunded", note="compliance refund")

    assert _entries(reseller)[-1] == (LedgerKind.REFUND, 800, 800)
    assert ResellerLedgerEntry.objects.filter(kind=LedgerKind.REFUND).count() == 1
    assert stock_of(product) == 4  # the hold is compliance's to release when it refunds


def test_a_refund_the_pipeline_does_not_allow_changes_nothing(reseller):
    product = stock_product(ProductFactory(price_minor=800), 5)
    fund(reseller, 800)
    from shop.services.resellers import OrderLineRequest, reseller_order_place

    order, _created = reseller_order_place(
        reseller=reseller,
        idempotency_key="k",
        lines=[OrderLineRequest(product_id=product.pk, quantity=1)],
    )

    with pytest.raises(IllegalTransition):  # paid: only a full refund is a move
        reseller_order_refund(order_id=order.pk, amount_minor=100, reason="part")

    order.refresh_from_db()
    assert order.status == "paid"
    assert ResellerBalance.objects.get().amount_minor == 0
