"""The one door to Stripe: the only module that imports the Stripe SDK.

Callers get small frozen dataclasses of ours and one family of errors, never a
Stripe object. Amounts are integers in minor units; currencies are upper case
here and lower case on the wire. Every mutating call takes an idempotency key
that the caller derives from our own ids, so a retried call cannot charge or
refund twice.

The same code talks to real Stripe or to the local fake (localstripe, see
``manage.py run_localstripe``): only ``settings.STRIPE_API_BASE`` differs.
"""

import contextlib
import functools
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stripe
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from core.errors import KeyshopError

# Stripe retries network errors, 409 and 5xx itself, with our idempotency key.
MAX_NETWORK_RETRIES = 2


class PaymentGatewayError(KeyshopError):
    """Stripe refused a request in a way that retrying will not fix (a bug or misconfiguration).

    ``stripe_code`` is Stripe's error code when it gave one (for example
    ``payment_intent_unexpected_state`` or ``charge_already_refunded``) and
    ``stripe_message`` its explanation, meant for developers and logs, not buyers.
    """

    code = "payment_gateway_error"
    default_message = _("The payment service refused the request.")
    http_status = 502
    retryable = False

    def __init__(
        self,
        message: str | None = None,
        *,
        stripe_code: str | None = None,
        stripe_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.stripe_code = stripe_code
        self.stripe_message = stripe_message


class PaymentDeclined(PaymentGatewayError):
    """The card was declined; ``message`` is the card's human decline message.

    ``decline_code`` is kept off the message on purpose: Stripe advises not to
    tell the buyer codes such as ``stolen_card`` or ``fraudulent``.
    """

    code = "payment_declined"
    default_message = _("Your card was declined.")
    http_status = 402

    def __init__(
        self,
        message: str | None = None,
        *,
        stripe_code: str | None = None,
        decline_code: str | None = None,
        payment_intent_id: str | None = None,
    ) -> None:
        super().__init__(message, stripe_code=stripe_code, stripe_message=message)
        self.decline_code = decline_code
        self.payment_intent_id = payment_intent_id


class PaymentGatewayUnavailable(PaymentGatewayError):
    """Stripe could not be reached, failed (5xx) or rate-limited us: try again later."""

    code = "payment_gateway_unavailable"
    default_message = _("The payment service is not answering. Please try again in a moment.")
    http_status = 503
    retryable = True


class WebhookSignatureInvalid(KeyshopError):
    """A webhook whose signature, timestamp or body cannot be trusted."""

    code = "webhook_signature_invalid"
    default_message = _("The webhook signature is not valid.")
    http_status = 400


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentIntentInfo:
    id: str
    status: str
    amount_minor: int
    amount_received_minor: int
    currency: str
    client_secret: str | None
    order_id: int | None
    latest_charge_id: str | None
    last_error_message: str | None
    last_error_code: str | None
    next_action_type: str | None
    # From the latest charge, when Stripe gave it (fraud screening); else None.
    card_fingerprint: str | None
    card_country: str | None
    risk_level: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RefundInfo:
    id: str
    payment_intent_id: str | None
    charge_id: str | None
    amount_minor: int
    currency: str
    status: str
    reason: str | None
    failure_reason: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookEvent:
    id: str
    type: str
    created: datetime
    data_object: dict[str, Any]
    livemode: bool


# --- the client ----------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _client_for(pid: int, api_key: str, api_base: str) -> stripe.StripeClient:
    # Keyed by process id too, so a forked worker never shares its parent's connections.
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base} if api_base else None,
        max_network_retries=MAX_NETWORK_RETRIES,
    )


def _client() -> stripe.StripeClient:
    return _client_for(os.getpid(), settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE)


def client_reset() -> None:
    """Forget the cached client(s); the next call builds one from the current settings."""
    _client_for.cache_clear()


@contextlib.contextmanager
def _stripe_errors_translated() -> Iterator[None]:
    try:
        yield
    except stripe.CardError as error:
        body = _error_body(error)
        intent = body.get("payment_intent")
        raise PaymentDeclined(
            error.user_message or None,
            stripe_code=error.code,
            decline_code=body.get("decline_code"),
            payment_intent_id=intent.get("id") if isinstance(intent, Mapping) else None,
        ) from error
    except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as error:
        # APIError is any 5xx (or an unexpected status): Stripe's side, worth retrying.
        raise PaymentGatewayUnavailable() from error
    except stripe.StripeError as error:
        raise PaymentGatewayError(
            stripe_code=error.code, stripe_message=error.user_message
        ) from error


def _error_body(error: stripe.StripeError) -> Mapping[str, Any]:
    body = error.json_body if isinstance(error.json_body, Mapping) else {}
    inner = body.get("error")
    return inner if isinstance(inner, Mapping) else {}


def _options(idempotency_key: str) -> stripe.RequestOptions:
    if not idempotency_key:
        raise ValueError("a mutating Stripe call needs an idempotency key")
    return {"idempotency_key": idempotency_key}


# --- PaymentIntents --------------------------------------------------------


def payment_intent_create(
    *,
    order_id: int | None = None,
    amount_minor: int,
    currency: str,
    idempotency_key: str,
    description: str,
    payment_method_types: list[str] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> PaymentIntentInfo:
    """Create a PaymentIntent for an order (``order_id`` goes into its metadata) or, with
    ``metadata`` of the caller's, for something else; ``payment_method_types`` defaults to
    the setting."""
    params: dict[str, Any] = {
        "amount": amount_minor,
        "currency": currency.lower(),
        "payment_method_types": list(payment_method_types or settings.STRIPE_PAYMENT_METHOD_TYPES),
        "description": description,
        "metadata": {
            **(metadata or {}),
            **({"order_id": str(order_id)} if order_id is not None else {}),
        },
    }
    with _stripe_errors_translated():
        intent = _client().v1.payment_intents.create(
            params=params,  # type: ignore[arg-type]
            options=_options(idempotency_key),
        )
    return payment_intent_from_dict(intent.to_dict())


def payment_intent_retrieve(payment_intent_id: str) -> PaymentIntentInfo:
    """The PaymentIntent as Stripe has it now, with its latest charge's card and risk details."""
    with _stripe_errors_translated():
        intent = _client().v1.payment_intents.retrieve(
            payment_intent_id, params={"expand": ["latest_charge"]}
        )
    return payment_intent_from_dict(intent.to_dict())


def payment_intent_pay_with_card_token(
    *, payment_intent_id: str, card_token: str, idempotency_key: str, return_url: str
) -> PaymentIntentInfo:
    """Pay with a card token from Stripe.js ``createToken``: make a PaymentMethod, attach, confirm.

    Returns the PaymentIntent: ``succeeded``, or ``requires_action`` when the card
    needs 3-D Secure (the browser then calls ``stripe.confirmCardPayment`` with
    ``client_secret``). A declined card raises PaymentDeclined and leaves the
    PaymentIntent in ``requires_payment_method``, ready for another card.
    ``idempotency_key`` must be unique per attempt (per token): the three calls
    use it with their own suffixes.
    """
    client = _client()
    with _stripe_errors_translated():
        method = client.v1.payment_methods.create(
            params={"type": "card", "card": {"token": card_token}},
            options=_options(f"{idempotency_key}-payment-method"),
        )
        client.v1.payment_intents.update(
            payment_intent_id,
            params={"payment_method": method.id},
            options=_options(f"{idempotency_key}-attach"),
        )
        intent = client.v1.payment_intents.confirm(
            payment_intent_id,
            params={
                "return_url": return_url,
                # Next actions (3-D Secure) are handled by Stripe.js in the browser.
                "use_stripe_sdk": True,
                "expand": ["latest_charge"],
            },
            options=_options(f"{idempotency_key}-confirm"),
        )
    return payment_intent_from_dict(intent.to_dict())


def payment_intent_cancel(
    *, payment_intent_id: str, idempotency_key: str, cancellation_reason: str | None = None
) -> PaymentIntentInfo:
    """Cancel a PaymentIntent that has not succeeded.

    ``cancellation_reason``: ``duplicate``, ``fraudulent``, ``requested_by_customer``
    or ``abandoned``.
    """
    params: dict[str, Any] = {"expand": ["latest_charge"]}
    if cancellation_reason:
        params["cancellation_reason"] = cancellation_reason
    with _stripe_errors_translated():
        intent = _client().v1.payment_intents.cancel(
            payment_intent_id,
            params=params,  # type: ignore[arg-type]
            options=_options(idempotency_key),
        )
    return payment_intent_from_dict(intent.to_dict())


def payment_intent_from_dict(data: Mapping[str, Any]) -> PaymentIntentInfo:
    """Our view of a PaymentIntent in Stripe's JSON shape (an API answer or a webhook's object).

    A webhook's PaymentIntent names its latest charge by id only, so the card
    and risk fields are None there; ``payment_intent_retrieve`` fills them.
    """
    latest_charge = data.get("latest_charge")  # an id, or the charge when expanded
    charge = latest_charge if isinstance(latest_charge, Mapping) else {}
    charge_id = charge.get("id") if charge else latest_charge
    card = (charge.get("payment_method_details") or {}).get("card") or {}
    error = data.get("last_payment_error") or {}
    next_action = data.get("next_action") or {}
    order_id = (data.get("metadata") or {}).get("order_id")
    return PaymentIntentInfo(
        id=data["id"],
        status=data["status"],
        amount_minor=data["amount"],
        amount_received_minor=data.get("amount_received") or 0,
        currency=data["currency"].upper(),
        client_secret=data.get("client_secret"),
        order_id=int(order_id) if isinstance(order_id, str) and order_id.isdigit() else None,
        latest_charge_id=charge_id if isinstance(charge_id, str) else None,
        last_error_message=error.get("message"),
        last_error_code=error.get("decline_code") or error.get("code"),
        next_action_type=next_action.get("type"),
        card_fingerprint=card.get("fingerprint"),
        card_country=card.get("country"),
        risk_level=(charge.get("outcome") or {}).get("risk_level"),
    )


# --- Refunds ---------------------------------------------------------------


def refund_create(
    *, payment_intent_id: str, amount_minor: int | None, idempotency_key: str, reason: str | None
) -> RefundInfo:
    """Refund ``amount_minor`` (None: whatever is not refunded yet) of a paid PaymentIntent.

    ``reason``: ``duplicate``, ``fraudulent``, ``requested_by_customer`` or None.
    Refunding more than remains raises PaymentGatewayError.
    """
    params: dict[str, Any] = {"payment_intent": payment_intent_id}
    if amount_minor is not None:
        params["amount"] = amount_minor
    if reason:
        params["reason"] = reason
    with _stripe_errors_translated():
        refund = _client().v1.refunds.create(
            params=params,  # type: ignore[arg-type]
            options=_options(idempotency_key),
        )
    return _refund_info(refund.to_dict())


def refund_retrieve(refund_id: str) -> RefundInfo:
    with _stripe_errors_translated():
        refund = _client().v1.refunds.retrieve(refund_id)
    return _refund_info(refund.to_dict())


def _refund_info(data: Mapping[str, Any]) -> RefundInfo:
    def _id(value: object) -> str | None:
        if isinstance(value, Mapping):
            return value.get("id")
        return value if isinstance(value, str) else None

    return RefundInfo(
        id=data["id"],
        payment_intent_id=_id(data.get("payment_intent")),
        charge_id=_id(data.get("charge")),
        amount_minor=data["amount"],
        currency=data["currency"].upper(),
        status=data["status"],
        reason=data.get("reason"),
        failure_reason=data.get("failure_reason"),
    )


# --- Webhooks --------------------------------------------------------------


def webhook_event_construct(*, payload: bytes, signature_header: str | None) -> WebhookEvent:
    """Verify a webhook's ``Stripe-Signature`` with our secret and tolerance; parse the event.

    A bad signature, a timestamp older than ``STRIPE_WEBHOOK_TOLERANCE`` seconds or
    a body that is not a Stripe event raises WebhookSignatureInvalid.
    """
    try:
        event = _client().construct_event(
            payload,
            signature_header,
            settings.STRIPE_WEBHOOK_SECRET,
            tolerance=settings.STRIPE_WEBHOOK_TOLERANCE,
        )
        data = event.to_dict()
        return WebhookEvent(
            id=data["id"],
            type=data["type"],
            created=datetime.fromtimestamp(data["created"], tz=UTC),
            data_object=dict(data["data"]["object"]),
            livemode=bool(data.get("livemode", False)),
        )
    except stripe.SignatureVerificationError as error:
        raise WebhookSignatureInvalid() from error
    except (ValueError, KeyError, TypeError) as error:
        # Signed but not a Stripe event: bad JSON or bytes, or fields missing.
        raise WebhookSignatureInvalid(str(_("The webhook body is not a Stripe event."))) from error
