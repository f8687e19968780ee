"""Make localstripe behave like real Stripe where Keyshop's payment flow needs it.

localstripe (a development dependency) is a fake, stateful Stripe server. Our
production code talks to it through the real Stripe client, unchanged; where the
fake lacks something real Stripe does, we patch the fake here, at start-up, and
each patch says which real Stripe behaviour it mirrors. Imported only by the
``run_localstripe`` command and the tests.

Test cards (card numbers typed into the checkout form; any future expiry, any CVC):

==================  =========================================================
4242424242424242    succeeds (US)
4000002760000016    succeeds, card country DE (also 4000002500000003 FR,
                    4000008260000000 GB, 4000001560000002 CN, ... see
                    ``COUNTRY_BY_ISO_NUMERIC``)
4000000000009235    succeeds with Radar risk level ``elevated``
4000000000000002    declined: "Your card was declined." (generic_decline)
4000000000009995    declined: "Your card has insufficient funds."
4000000000009987    declined (lost_card); 4000000000009979 declined (stolen_card)
4000000000000069    declined: "Your card has expired."
4000000000000127    declined: "Your card's security code is incorrect."
4000000000000119    declined: "An error occurred while processing your card..."
4000000000000341    declined when charged (attaching to a customer succeeds)
4000000000004954    blocked by Radar, risk level ``highest`` (also 4100000000000019)
4000002500003155    needs 3-D Secure (also 4000002760003184, 4000000000003220,
                    4000000000003063); then succeeds
4000008260003178    needs 3-D Secure, then declined (insufficient funds)
4000008400001629    needs 3-D Secure, then declined
4242424242424241    refused when tokenized: "Your card number is incorrect."
==================  =========================================================

The 3-D Secure list is localstripe's own (``PaymentMethod._requires_authentication``);
the decline and Radar cards are Stripe's documented test cards.
"""

import hashlib
import os
import pickle
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from localstripe import resources as ls
from localstripe.errors import UserError

REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
CANCELLATION_REASONS = ("duplicate", "fraudulent", "requested_by_customer", "abandoned")

_DECLINED = "Your card was declined."
_NO_FUNDS = "Your card has insufficient funds."
# card number -> (error code, decline code, message), as real Stripe answers for its test cards.
DECLINES: dict[str, tuple[str, str, str]] = {
    "4000000000000002": ("card_declined", "generic_decline", _DECLINED),
    "4000000000009995": ("card_declined", "insufficient_funds", _NO_FUNDS),
    "4000000000009987": ("card_declined", "lost_card", _DECLINED),
    "4000000000009979": ("card_declined", "stolen_card", _DECLINED),
    "4000000000000069": ("expired_card", "expired_card", "Your card has expired."),
    "4000000000000127": (
        "incorrect_cvc",
        "incorrect_cvc",
        "Your card's security code is incorrect.",
    ),
    "4000000000000119": (
        "processing_error",
        "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
    ),
    "4000000000000341": ("card_declined", "generic_decline", _DECLINED),
    "4000008260003178": ("card_declined", "insufficient_funds", _NO_FUNDS),
    "4000008400001629": ("card_declined", "generic_decline", _DECLINED),
    # Radar blocks these as highest risk.
    "4000000000004954": ("card_declined", "fraudulent", _DECLINED),
    "4100000000000019": ("card_declined", "fraudulent", _DECLINED),
}
RADAR_BLOCKED = {"4000000000004954", "4100000000000019"}
RISK_LEVELS = {"4000000000009235": "elevated", **dict.fromkeys(RADAR_BLOCKED, "highest")}

# Stripe's international test cards are 400000 + the ISO 3166 numeric country code.
COUNTRY_BY_ISO_NUMERIC = {
    "036": "AU",
    "040": "AT",
    "056": "BE",
    "076": "BR",
    "124": "CA",
    "156": "CN",
    "208": "DK",
    "250": "FR",
    "276": "DE",
    "344": "HK",
    "356": "IN",
    "372": "IE",
    "380": "IT",
    "392": "JP",
    "484": "MX",
    "528": "NL",
    "578": "NO",
    "616": "PL",
    "620": "PT",
    "702": "SG",
    "724": "ES",
    "752": "SE",
    "756": "CH",
    "784": "AE",
    "826": "GB",
}


def app_build(*, store_path: Path) -> web.Application:
    """Patch localstripe and return its aiohttp app, with an empty store, ready to run.

    Must run before anything imports ``localstripe.server``: that module turns
    the resource methods into routes when it is imported.
    """
    if "localstripe.server" in sys.modules:
        raise RuntimeError("localstripe.server was imported before the patches were applied")
    _store_relocate(store_path)
    _cards_patch()
    _payment_methods_patch()
    _charges_patch()
    _payment_intents_patch()
    _refunds_patch()
    _extra_routes_rebind()

    from localstripe.server import app, save_store_middleware

    # After authentication, before the store is saved (see localstripe.server).
    app.middlewares.insert(app.middlewares.index(save_store_middleware), idempotency_middleware)
    return app


# --- errors shaped like Stripe's -------------------------------------------


def _card_error(message: str, **contents: Any) -> UserError:
    # Real Stripe answers a card problem with HTTP 402 and an error of type card_error.
    error = UserError(402, message, contents)
    error.body["error"]["type"] = "card_error"
    return error


def _invalid(message: str, **contents: Any) -> UserError:
    return UserError(400, message, contents)


# --- the store ---------------------------------------------------------------


def _store_relocate(path: Path) -> None:
    """localstripe pickles its whole store to /tmp/localstripe.pickle after every write.

    That file is shared by every localstripe on the machine; keep ours in our var/
    directory, one per port. It is never loaded: each run starts from scratch.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")

    def dump_to_disk(self: ls.Store) -> None:
        with open(partial, "wb") as f:
            pickle.dump(self, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(partial, path)

    ls.Store.dump_to_disk = dump_to_disk
    ls.store.clear()


# --- cards and tokens ---------------------------------------------------------


def _luhn_valid(number: str) -> bool:
    digits = [int(d) for d in reversed(number)]
    total = sum(digits[0::2]) + sum(sum(divmod(2 * d, 10)) for d in digits[1::2])
    return total % 10 == 0


def card_country(number: str) -> str:
    """The card's country as real Stripe reports it for its test cards (US by default)."""
    if number.startswith("400000"):
        return COUNTRY_BY_ISO_NUMERIC.get(number[6:9], "US")
    return "US"


def _cards_patch() -> None:
    original_card_init = ls.Card.__init__
    original_token_init = ls.Token.__init__

    def card_init(self: ls.Card, source: Any = None, **kwargs: Any) -> None:
        # Real Stripe refuses a number that fails the Luhn check when it is
        # tokenized: 402 card_error, code incorrect_number.
        number = source.get("number") if isinstance(source, dict) else None
        if isinstance(number, str) and number.isdigit() and not _luhn_valid(number):
            raise _card_error(
                "Your card number is incorrect.", code="incorrect_number", param="number"
            )
        original_card_init(self, source=source, **kwargs)
        # Real Stripe reports the issuing country of its international test cards.
        self.country = card_country(self._card_number)

    def token_init(self: ls.Token, *args: Any, **kwargs: Any) -> None:
        original_token_init(self, *args, **kwargs)
        # Real Stripe tokens carry `used`; a token can make one PaymentMethod only.
        self.used = False

    ls.Card.__init__ = card_init
    ls.Token.__init__ = token_init


def _payment_methods_patch() -> None:
    original_init = ls.PaymentMethod.__init__
    original_charging_is_declined = ls.PaymentMethod._charging_is_declined

    def init(self: ls.PaymentMethod, type: Any = None, card: Any = None, **kwargs: Any) -> None:
        # Real Stripe creates a card PaymentMethod from a Stripe.js token:
        # POST /v1/payment_methods type=card card[token]=tok_... (localstripe only
        # accepts raw card numbers). The token is spent once used.
        token = None
        if type == "card" and isinstance(card, dict) and set(card) == {"token"}:
            token = _token_spendable(card["token"])
            source = token.card
            card = {
                "number": source._card_number,
                "exp_month": source.exp_month,
                "exp_year": source.exp_year,
                "cvc": "000",  # a token does not keep the CVC; it was checked when tokenized
            }
        original_init(self, type=type, card=card, **kwargs)
        if self.type == "card":
            self.card["country"] = card_country(self._card_number)
        if token is not None:
            token.used = True

    def charging_is_declined(self: Any) -> bool:
        # Real Stripe declines its decline test cards when charged
        # (localstripe declines most of them only when attached to a customer).
        number = getattr(self, "_card_number", None)
        return number in DECLINES or original_charging_is_declined(self)

    ls.PaymentMethod.__init__ = init
    ls.PaymentMethod._charging_is_declined = charging_is_declined


def _token_spendable(token_id: Any) -> ls.Token:
    if not isinstance(token_id, str) or not token_id.startswith("tok_"):
        raise _invalid("Invalid token id.", param="card[token]")
    token = ls.store.get("token:" + token_id)
    if token is None:
        raise _invalid(f"No such token: '{token_id}'", code="resource_missing", param="card[token]")
    if getattr(token, "used", False):
        raise _invalid(
            f"You cannot use a Stripe token more than once: {token_id}.",
            code="token_already_used",
            param="card[token]",
        )
    return token


# --- charges ---------------------------------------------------------------------


def _charge_card(charge: ls.Charge) -> dict[str, Any] | None:
    try:
        method = ls.PaymentMethod._api_retrieve(charge.payment_method)
    except UserError:
        return None
    number = getattr(method, "_card_number", None)
    if number is None:
        return None
    if isinstance(method, ls.PaymentMethod):
        exp_month, exp_year = method.card["exp_month"], method.card["exp_year"]
        three_d_secure = method._requires_authentication()
    else:  # a legacy Card
        exp_month, exp_year, three_d_secure = method.exp_month, method.exp_year, False
    return {
        "number": number,
        "brand": "visa",
        "checks": {
            "address_line1_check": None,
            "address_postal_code_check": None,
            "cvc_check": "pass",
        },
        "country": card_country(number),
        "exp_month": exp_month,
        "exp_year": exp_year,
        "fingerprint": ls.fingerprint(number),
        "funding": "credit",
        "last4": number[-4:],
        "network": "visa",
        "three_d_secure": (
            {"authentication_flow": "challenge", "result": "authenticated", "version": "2.2.0"}
            if three_d_secure and charge.status == "succeeded"
            else None
        ),
        "wallet": None,
    }


def _charges_patch() -> None:
    original_set_auth_failure = ls.Charge._set_auth_failure

    def set_auth_failure(self: ls.Charge) -> None:
        # Real Stripe's decline test cards each fail with their own code, decline
        # code and message (localstripe always says card_declined).
        original_set_auth_failure(self)
        card = _charge_card(self)
        decline = DECLINES.get(card["number"]) if card else None
        if decline:
            self.failure_code, self._decline_code, self.failure_message = decline
        else:
            self._decline_code = "generic_decline"

    def raise_failure(self: ls.Charge) -> None:
        # Real Stripe's 402 for a declined confirmation is a card_error naming the
        # decline code, the charge and the PaymentIntent (now requires_payment_method).
        contents: dict[str, Any] = {
            "code": self.failure_code,
            "decline_code": getattr(self, "_decline_code", None),
            "charge": self.id,
        }
        if self.payment_intent:
            contents["payment_intent"] = ls.PaymentIntent._api_retrieve(
                self.payment_intent
            )._export()
        raise _card_error(self.failure_message, **contents)

    def payment_method_details(self: ls.Charge) -> dict[str, Any] | None:
        # Real Stripe charges describe the card: country, fingerprint, checks, 3DS.
        card = _charge_card(self)
        if card is None:
            return None
        card.pop("number")
        return {"type": "card", "card": card}

    def outcome(self: ls.Charge) -> dict[str, Any] | None:
        # Real Stripe charges carry Radar's outcome: risk level, and why a
        # payment was blocked or declined.
        if self.status == "pending":
            return None
        card = _charge_card(self)
        number = card["number"] if card else None
        risk_level = RISK_LEVELS.get(number, "normal") if number else "not_assessed"
        if self.status == "failed" and number in RADAR_BLOCKED:
            return {
                "network_status": "not_sent_to_network",
                "reason": "highest_risk_level",
                "risk_level": risk_level,
                "seller_message": "Stripe blocked this payment as too risky.",
                "type": "blocked",
            }
        if self.status == "failed":
            return {
                "network_status": "declined_by_network",
                "reason": getattr(self, "_decline_code", None),
                "risk_level": risk_level,
                "seller_message": "The bank declined this payment.",
                "type": "issuer_declined",
            }
        return {
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": risk_level,
            "seller_message": "Payment complete.",
            "type": "authorized",
        }

    def amount_captured(self: ls.Charge) -> int:
        return self.amount if self.status == "succeeded" and self.captured else 0

    ls.Charge._set_auth_failure = set_auth_failure
    ls.Charge._raise_failure = raise_failure
    ls.Charge.payment_method_details = property(payment_method_details)
    ls.Charge.outcome = property(outcome)
    ls.Charge.amount_captured = property(amount_captured)


# --- PaymentIntents ----------------------------------------------------------------


def _payment_intents_patch() -> None:
    pi = ls.PaymentIntent
    original_init = pi.__init__
    original_export = pi._export
    original_report_failure = pi._report_failure
    original_last_payment_error = pi.last_payment_error
    original_api_update = pi._api_update
    original_api_confirm = pi._api_confirm
    original_api_cancel = pi._api_cancel

    def init(self: ls.PaymentIntent, *args: Any, description: Any = None, **kwargs: Any) -> None:
        # Real Stripe accepts and returns `description`, returns
        # `payment_method_types`, `canceled_at` and `cancellation_reason`.
        if description is not None and not isinstance(description, str):
            raise _invalid("Invalid description.", param="description")
        original_init(self, *args, **kwargs)
        self.description = description
        self.payment_method_types = kwargs.get("payment_method_types") or ["card"]
        self.canceled_at = None
        self.cancellation_reason = None
        self._last_payment_error = None

    def status(self: ls.PaymentIntent) -> str | None:
        # As localstripe's, except that a new payment method after a declined
        # charge makes the PaymentIntent confirmable again, as in real Stripe.
        if self._canceled:
            return "canceled"
        if not self.payment_method:
            return "requires_payment_method"
        if self.next_action:
            return "requires_action"
        charge = self.latest_charge
        if charge is None or charge.status == "failed":
            return "requires_confirmation"
        if charge.status == "succeeded":
            return "succeeded" if charge.captured else "requires_capture"
        return "processing"

    def amount_received(self: ls.PaymentIntent) -> int:
        # Real Stripe's PaymentIntent reports the amount actually collected.
        charge = self.latest_charge
        return charge.amount if charge and charge.status == "succeeded" and charge.captured else 0

    def last_payment_error(self: ls.PaymentIntent) -> dict[str, Any] | None:
        # Real Stripe clears last_payment_error when the PaymentIntent is updated.
        recorded = getattr(self, "_last_payment_error", None)
        if recorded is not None:
            return recorded
        if self.latest_charge is not None and self.latest_charge.status == "failed":
            return None  # cleared by an update since
        return original_last_payment_error.fget(self)

    def export(self: ls.PaymentIntent, expand: Any = None) -> dict[str, Any]:
        # Real Stripe gives `latest_charge` as an id unless expanded, and has no
        # `charges` list any more (removed in API version 2022-11-15).
        expand = [] if expand is None else expand
        if not isinstance(expand, list) or not all(isinstance(p, str) for p in expand):
            return original_export(self, expand=expand)  # which refuses it as localstripe does
        charge_paths = [p for p in expand if p.split(".", 1)[0] == "latest_charge"]
        data = original_export(self, expand=[p for p in expand if p not in charge_paths])
        data.pop("charges", None)
        charge = self.latest_charge
        if charge is None:
            data["latest_charge"] = None
        elif charge_paths:
            deeper = [p.split(".", 1)[1] for p in charge_paths if "." in p]
            data["latest_charge"] = charge._export(expand=deeper)
        else:
            data["latest_charge"] = charge.id
        return data

    def report_failure(self: ls.PaymentIntent) -> None:
        # Real Stripe: a declined confirmation detaches the payment method (the
        # PaymentIntent returns to requires_payment_method) and records the error.
        charge = self.latest_charge
        self._last_payment_error = {
            "charge": charge.id,
            "code": charge.failure_code,
            "decline_code": getattr(charge, "_decline_code", None),
            "message": charge.failure_message,
            "payment_method": ls.PaymentMethod._api_retrieve(self.payment_method)._export(),
            "type": "card_error",
        }
        self.payment_method = None
        original_report_failure(self)

    def api_update(cls: type[ls.PaymentIntent], id: str, **data: Any) -> ls.PaymentIntent:
        obj = cls._api_retrieve(id)
        if "payment_method" in data:
            # Real Stripe changes the payment method only in these states, checks
            # that it exists, and leaves the PaymentIntent requires_confirmation.
            allowed = ("requires_payment_method", "requires_confirmation", "requires_action")
            if obj.status not in allowed:
                raise _invalid(
                    "You cannot update this PaymentIntent's payment_method because it has a "
                    f"status of {obj.status}. You may only update the payment_method of a "
                    f"PaymentIntent with one of the following statuses: {', '.join(allowed)}.",
                    code="payment_intent_unexpected_state",
                )
            method_id = data["payment_method"]
            if not isinstance(method_id, str) or not method_id.startswith(("pm_", "card_", "src_")):
                raise _invalid("Invalid payment_method.", param="payment_method")
            ls.PaymentMethod._api_retrieve(method_id)  # 404 when it does not exist
            obj.next_action = None
        result = original_api_update(id, **data)
        result._last_payment_error = None
        result._authentication_failed = False
        return result

    def api_confirm(
        cls: type[ls.PaymentIntent],
        id: str,
        return_url: Any = None,
        use_stripe_sdk: Any = None,
        **kwargs: Any,
    ) -> ls.PaymentIntent:
        # Real Stripe accepts `return_url` and `use_stripe_sdk` when confirming on the
        # server. With use_stripe_sdk the next action for 3-D Secure is `use_stripe_sdk`,
        # which is what localstripe always answers; a redirect page is not mirrored.
        if return_url is not None and not (
            isinstance(return_url, str) and return_url.startswith(("http://", "https://"))
        ):
            raise _invalid("Invalid URL: return_url.", param="return_url")
        if use_stripe_sdk not in (None, True, False, "true", "false"):
            raise _invalid("Invalid boolean: use_stripe_sdk.", param="use_stripe_sdk")
        obj = cls._api_retrieve(id)
        if obj.status in ("succeeded", "canceled", "processing", "requires_capture"):
            raise _invalid(
                f"This PaymentIntent's status is {obj.status}, so it cannot be confirmed.",
                code="payment_intent_unexpected_state",
            )
        return original_api_confirm(id, **kwargs)

    def api_cancel(
        cls: type[ls.PaymentIntent],
        id: str,
        cancellation_reason: Any = None,
        **kwargs: Any,
    ) -> ls.PaymentIntent:
        # Real Stripe takes a cancellation_reason, stamps canceled_at, refuses
        # other states with payment_intent_unexpected_state and sends
        # payment_intent.canceled.
        if cancellation_reason is not None and cancellation_reason not in CANCELLATION_REASONS:
            raise _invalid("Invalid cancellation_reason.", param="cancellation_reason")
        obj = cls._api_retrieve(id)
        cancellable = (
            "requires_payment_method",
            "requires_capture",
            "requires_confirmation",
            "requires_action",
        )
        if obj.status not in cancellable:
            raise _invalid(
                f"You cannot cancel this PaymentIntent because it has a status of {obj.status}. "
                "Only a PaymentIntent with one of the following statuses may be canceled: "
                f"{', '.join(cancellable)}, processing.",
                code="payment_intent_unexpected_state",
            )
        obj = original_api_cancel(id, **kwargs)
        obj.canceled_at = int(time.time())
        obj.cancellation_reason = cancellation_reason
        ls.schedule_webhook(ls.Event("payment_intent.canceled", obj))
        return obj

    pi.__init__ = init
    pi.status = property(status)
    pi.amount_received = property(amount_received)
    pi.last_payment_error = property(last_payment_error)
    pi._export = export
    pi._report_failure = report_failure
    pi._api_update = classmethod(api_update)
    pi._api_confirm = classmethod(api_confirm)
    pi._api_cancel = classmethod(api_cancel)


# --- Refunds -----------------------------------------------------------------------


def _refunds_patch() -> None:
    original_init = ls.Refund.__init__

    def init(
        self: ls.Refund,
        charge: Any = None,
        payment_intent: Any = None,
        amount: Any = None,
        reason: Any = None,
        **kwargs: Any,
    ) -> None:
        # Real Stripe: takes a `reason`; refuses to refund more than remains
        # (amount_too_large) or a charge already fully refunded
        # (charge_already_refunded); without an amount refunds what remains (not
        # the whole charge); sends refund.created and charge.refunded.
        if reason is not None and reason not in REFUND_REASONS:
            raise _invalid("Invalid reason.", param="reason")
        charge_obj = _refunded_charge(charge, payment_intent)
        if charge_obj is not None and charge_obj.status == "succeeded":
            remaining = charge_obj.amount - charge_obj.amount_refunded
            if remaining <= 0:
                raise _invalid(
                    f"Charge {charge_obj.id} has already been refunded.",
                    code="charge_already_refunded",
                )
            amount = ls.try_convert_to_int(amount)
            if amount is None:
                amount = remaining
            elif isinstance(amount, int) and amount > remaining:
                raise _invalid(
                    f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                    f"({remaining})",
                    code="amount_too_large",
                    param="amount",
                )
        original_init(self, charge=charge, payment_intent=payment_intent, amount=amount, **kwargs)
        self.reason = reason
        self.failure_reason = None
        ls.schedule_webhook(ls.Event("refund.created", self))
        ls.schedule_webhook(ls.Event("charge.refunded", ls.Charge._api_retrieve(self.charge)))

    ls.Refund.__init__ = init


def _refunded_charge(charge: Any, payment_intent: Any) -> ls.Charge | None:
    if isinstance(payment_intent, str) and charge is None:
        intent = ls.PaymentIntent._api_retrieve(payment_intent)
        if intent.latest_charge is None:
            # localstripe would fail with a 500 here.
            raise _invalid(
                f"This PaymentIntent ({payment_intent}) does not have a successful charge "
                "to refund.",
                code="charge_not_refundable",
            )
        return intent.latest_charge
    if isinstance(charge, str) and charge.startswith("ch_"):
        return ls.Charge._api_retrieve(charge)
    return None  # localstripe's own checks refuse the request


# --- routes and idempotency ----------------------------------------------------------


def _extra_routes_rebind() -> None:
    """localstripe lists its extra routes with the methods bound at import; point them at ours."""
    for index, (method, url, func) in enumerate(ls.extra_apis):
        owner = getattr(func, "__self__", None)
        if isinstance(owner, type):
            ls.extra_apis[index] = (method, url, getattr(owner, func.__name__))


_idempotent_responses: dict[tuple[str, str], tuple[str, int, bytes]] = {}
_idempotent_in_flight: set[tuple[str, str]] = set()


@web.middleware
async def idempotency_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Real Stripe's idempotent requests, which localstripe ignores.

    A POST with an ``Idempotency-Key`` that comes again gets the first answer
    back (header ``Idempotent-Replayed: true``) instead of being run twice; the
    same key with other parameters is refused (400 idempotency_error); one still
    running answers 409. As at Stripe, only answers of requests that ran are
    kept: successes and card errors (402), not validation errors. Keys are
    scoped by API key and kept for the server's lifetime (Stripe: 24 hours).
    """
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or not key:
        return await handler(request)
    scope = (request.headers.get("Authorization", ""), key)
    body = await request.read()
    fingerprint = hashlib.sha256(request.path_qs.encode() + b"\0" + body).hexdigest()
    known = _idempotent_responses.get(scope)
    if known is not None:
        known_fingerprint, status, content = known
        if known_fingerprint != fingerprint:
            return _error_response(
                400,
                "Keys for idempotent requests can only be used with the same parameters they "
                f"were first used with. Try using a key other than '{key}' if you meant to "
                "execute a different request.",
            )
        return web.Response(
            body=content,
            status=status,
            content_type="application/json",
            headers={"Idempotency-Key": key, "Idempotent-Replayed": "true"},
        )
    if scope in _idempotent_in_flight:
        return _error_response(
            409, "There is currently another in-progress request using this Idempotent Key."
        )
    _idempotent_in_flight.add(scope)
    try:
        try:
            response = await handler(request)
        except UserError as error:
            response = error.to_response()
        if (200 <= response.status < 300 or response.status == 402) and isinstance(
            response, web.Response
        ):
            _idempotent_responses[scope] = (fingerprint, response.status, bytes(response.body))
        response.headers["Idempotency-Key"] = key
        return response
    finally:
        _idempotent_in_flight.discard(scope)


def _error_response(status: int, message: str) -> web.Response:
    error = UserError(status, message)
    error.body["error"]["type"] = "idempotency_error"
    return error.to_response()
