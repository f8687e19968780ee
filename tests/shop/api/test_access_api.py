import logging

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from shop.models import ApiScope, ResellerApiKey, ResellerEvent, ResellerStatus
from shop.services.resellers import api_key_create, api_key_revoke, reseller_transition
from tests.shop.api.factories import ResellerFactory, key_for, staff_user

pytestmark = pytest.mark.django_db

ACCOUNT = reverse("api:account")
ORDERS = reverse("api:orders")
KEYS = reverse("api:keys")


def _client(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_no_key_is_a_401_in_the_error_shape():
    response = APIClient().get(ORDERS)

    assert response.status_code == 401
    assert response.json() == {
        "error": {
            "code": "not_authenticated",
            "message": "Authentication credentials were not provided.",
        }
    }
    assert response["WWW-Authenticate"] == 'Bearer realm="keyshop-api"'


def test_an_unknown_key_is_a_401():
    response = _client("ks_not-a-real-key").get(ACCOUNT)

    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": "authentication_failed",
        "message": "This API key is not valid.",
    }


def test_a_revoked_key_is_refused_at_once(reseller):
    api_key, secret = api_key_create(reseller=reseller, name="bot", scopes=["orders:read"])
    client = _client(secret)
    before = client.get(ORDERS)

    api_key_revoke(api_key_id=api_key.pk)
    after = client.get(ORDERS)

    assert before.status_code == 200
    assert after.status_code == 401
    assert after.json()["error"]["code"] == "api_key_revoked"


def test_a_suspended_reseller_is_refused_at_once_and_reinstated_works_again(reseller, api):
    officer = staff_user("vet_reseller")
    before = api.get(ORDERS)

    reseller_transition(
        reseller_id=reseller.pk, to_status="suspended", actor=officer, note="chargebacks"
    )
    suspended = api.get(ORDERS)
    reseller_transition(reseller_id=reseller.pk, to_status="active", actor=officer)
    reinstated = api.get(ORDERS)

    assert before.status_code == 200
    assert suspended.status_code == 403
    assert suspended.json()["error"] == {
        "code": "reseller_suspended",
        "message": "This reseller account is suspended.",
    }
    assert reinstated.status_code == 200


def test_an_applicant_not_yet_vetted_cannot_use_a_key():
    applicant = ResellerFactory(status=ResellerStatus.APPLIED)

    response = _client(key_for(applicant)).get(ACCOUNT)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "reseller_not_active"


def test_a_key_without_the_scope_is_a_403(reseller):
    client = _client(key_for(reseller, scopes=["catalogue:read"]))

    response = client.post(ORDERS, {"lines": []}, format="json", headers={"Idempotency-Key": "x"})

    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "insufficient_scope",
        "message": "This API key lacks the orders:write scope.",
    }


def test_the_account_shows_who_the_key_belongs_to(reseller):
    secret = key_for(reseller, scopes=["orders:read", "catalogue:read"])

    response = _client(secret).get(ACCOUNT)

    assert response.json() == {
        "name": reseller.name,
        "status": "active",
        "price_tier": None,
        "key_prefix": secret[:11],
        "scopes": ["catalogue:read", "orders:read"],
    }


def test_requests_past_the_keys_rate_get_a_clear_429(reseller, settings):
    settings.KEYSHOP_RESELLER_API_RATE = "2/min"
    client = _client(key_for(reseller))
    other_key = _client(key_for(reseller))

    answers = [client.get(ACCOUNT) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["error"]["code"] == "throttled"
    assert answers[2].json()["error"]["message"].startswith("Too many requests; try again in ")
    assert 1 <= int(answers[2]["Retry-After"]) <= 60
    assert other_key.get(ACCOUNT).status_code == 200  # the limit is per key


def test_a_key_is_shown_once_and_only_its_hash_is_stored(api, reseller):
    response = api.post(KEYS, {"name": "shop bot", "scopes": ["orders:read"]}, format="json")

    body = response.json()
    stored = ResellerApiKey.objects.get(pk=body["id"])
    assert response.status_code == 201
    assert body["key"].startswith("ks_") and len(body["key"]) >= 46
    assert body["prefix"] == body["key"][:11] == stored.prefix
    assert stored.key_hash != body["key"] and len(stored.key_hash) == 64
    assert "key" not in api.get(reverse("api:key", kwargs={"key_id": stored.pk})).json()
    assert _client(body["key"]).get(ORDERS).status_code == 200


def test_a_key_cannot_make_a_key_with_more_scopes_than_its_own(reseller):
    client = _client(key_for(reseller, scopes=["keys:manage", "orders:read"]))
    before = ResellerApiKey.objects.count()

    response = client.post(KEYS, {"name": "x", "scopes": ["orders:write"]}, format="json")

    assert response.status_code == 400
    assert ResellerApiKey.objects.count() == before


def test_revoking_a_key_through_the_api_stops_it(api, reseller):
    other = ResellerApiKey.objects.get(
        pk=api.post(KEYS, {"name": "x", "scopes": ["orders:read"]}, format="json").json()["id"]
    )

    response = api.delete(reverse("api:key", kwargs={"key_id": other.pk}))

    other.refresh_from_db()
    assert response.status_code == 204
    assert other.revoked_at is not None
    assert ResellerEvent.objects.filter(reseller=reseller, kind="api_key_revoked").count() == 1


def test_keys_never_reach_the_logs(reseller, caplog):
    caplog.set_level(logging.DEBUG)
    secret = key_for(reseller)

    _client(secret).get(ACCOUNT)
    _client(secret + "x").get(ACCOUNT)

    assert secret not in caplog.text
    assert secret[11:] not in caplog.text


def test_every_scope_has_a_readable_label():
    assert all(label for label in ApiScope.labels)
