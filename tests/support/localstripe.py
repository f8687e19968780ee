"""A real localstripe server for tests, and helpers that talk to it as the browser does.

Use the fixture from a conftest.py::

    from tests.support.localstripe import localstripe_server  # noqa: F401

``localstripe_server`` starts ``manage.py run_localstripe`` (patched to behave
like real Stripe, see ``shop/localstripe_patches.py``) on a free port of
127.0.0.1, once per test session, points the Stripe settings at it and yields its
base URL. The settings stay pointed at it until the session ends.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from shop import stripe_gateway

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "sk_test_keyshop"
PUBLISHABLE_KEY = "pk_test_keyshop"
STARTUP_TIMEOUT = 20.0

# Test cards (the full list with what each does: shop/localstripe_patches.py).
CARD_SUCCESS = "4242424242424242"
CARD_DECLINED = "4000000000000002"  # "Your card was declined."
CARD_INSUFFICIENT_FUNDS = "4000000000009995"  # "Your card has insufficient funds."
CARD_3DS_REQUIRED = "4000002500003155"  # requires_action, then succeeds
CARD_3DS_THEN_DECLINED = "4000008260003178"  # requires_action, then insufficient funds
CARD_COUNTRY_DE = "4000002760000016"
CARD_RISK_ELEVATED = "4000000000009235"  # succeeds, Radar risk level "elevated"
CARD_RADAR_BLOCKED = "4100000000000019"  # declined, Radar risk level "highest"
CARD_INCORRECT_NUMBER = "4242424242424241"  # refused when tokenized

# No proxy, ever: the server is on 127.0.0.1.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="session")
def localstripe_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("localstripe") / "localstripe.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
    command = [sys.executable, "manage.py", "run_localstripe", "--port", str(port)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        _wait_until_answering(base_url, process, log_path)
        with override_settings(
            STRIPE_USES_LOCALSTRIPE=True,
            STRIPE_SECRET_KEY=SECRET_KEY,
            STRIPE_PUBLISHABLE_KEY=PUBLISHABLE_KEY,
            STRIPE_API_BASE=base_url,
            STRIPE_JS_URL=f"{base_url}/js.stripe.com/v3/",
        ):
            stripe_gateway.client_reset()
            yield base_url
    finally:
        stripe_gateway.client_reset()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_answering(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"localstripe exited ({process.returncode}):\n{log.read_text()}")
        try:
            with _opener.open(f"{base_url}/js.stripe.com/v3/", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"localstripe did not answer in {STARTUP_TIMEOUT}s:\n{log.read_text()}")


def _post(url: str, fields: dict[str, str] | list[tuple[str, str]]) -> tuple[int, dict[str, Any]]:
    data = urllib.parse.urlencode(fields).encode()
    request = urllib.request.Request(url, data=data, method="POST")  # noqa: S310 - our test URL
    try:
        with _opener.open(request, timeout=10) as response:
            body = response.read()
            return response.status, json.loads(body) if body else {}
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def card_token_create(
    base_url: str,
    number: str,
    *,
    exp_month: str = "12",
    exp_year: str = "2034",
    cvc: str = "123",
) -> str:
    """A card token, made exactly as Stripe.js ``stripe.createToken(cardElement)`` makes it.

    (localstripe's Stripe.js posts the card with the publishable key to /v1/tokens.)
    """
    status, body = _post(
        f"{base_url}/v1/tokens",
        {
            "card[number]": number,
            "card[exp_month]": exp_month,
            "card[exp_year]": exp_year,
            "card[cvc]": cvc,
            "key": PUBLISHABLE_KEY,
            "payment_user_agent": "localstripe",
        },
    )
    if status != 200:
        raise CardTokenRefused(body.get("error", {}))
    return body["id"]


class CardTokenRefused(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("message"))
        self.error = error


def payment_intent_authenticate(
    base_url: str, *, payment_intent_id: str, client_secret: str, success: bool = True
) -> dict[str, Any]:
    """Answer the 3-D Secure challenge as localstripe's modal does after
    ``stripe.confirmCardPayment(clientSecret)``; returns the PaymentIntent JSON."""
    status, body = _post(
        f"{base_url}/v1/payment_intents/{payment_intent_id}/_authenticate"
        f"?success={'true' if success else 'false'}",
        {"client_secret": client_secret, "key": PUBLISHABLE_KEY},
    )
    if status != 200 and "error" not in body:
        raise RuntimeError(f"3-D Secure answer failed ({status}): {body}")
    return body


def webhook_endpoint_register(
    base_url: str, *, endpoint_id: str, url: str, secret: str, events: list[str] | None = None
) -> None:
    """Have localstripe send webhooks signed with ``secret`` to ``url`` (all events by default).

    Registering the same ``endpoint_id`` again replaces it; there is no way to remove one,
    so mute it with ``events=["none"]``.
    """
    fields: list[tuple[str, str]] = [("url", url), ("secret", secret)]
    fields += [("events[]", event) for event in events or []]
    status, body = _post(f"{base_url}/_config/webhooks/{endpoint_id}", fields)
    if status != 200:
        raise RuntimeError(f"webhook registration failed ({status}): {body}")
