import re

import pytest
from django.urls import reverse

from shop.models import (
    ResellerApiKey,
    ResellerBalance,
    ResellerEvent,
    ResellerLedgerEntry,
    ResellerStatus,
)
from shop.selectors_resellers import api_key_hash
from tests.shop.api.factories import ResellerFactory, fund

pytestmark = pytest.mark.django_db


def _action(client, model: str, action: str, pks, **fields):
    return client.post(
        reverse(f"admin:shop_{model}_changelist"),
        {"action": action, "_selected_action": [str(pk) for pk in pks], **fields},
        follow=True,
    )


@pytest.mark.parametrize(
    "model",
    [
        "reseller",
        "pricetier",
        "resellerapikey",
        "resellerbalance",
        "resellerledgerentry",
        "balancetopup",
        "resellerwebhookendpoint",
        "resellerwebhookdelivery",
    ],
)
def test_every_reseller_screen_opens(otp_admin_client, model):
    ResellerFactory()

    response = otp_admin_client.get(reverse(f"admin:shop_{model}_changelist"))

    assert response.status_code == 200


def test_an_officer_vets_an_application_from_the_list(otp_admin_client, admin_user):
    applicant = ResellerFactory(status=ResellerStatus.APPLIED)

    _action(otp_admin_client, "reseller", "vet_and_activate", [applicant.pk], note="KYC done")

    applicant.refresh_from_db()
    assert (applicant.status, applicant.vetted_by) == ("active", admin_user)
    assert ResellerEvent.objects.get(kind="vetted").note == "KYC done"


def test_suspending_without_a_reason_is_refused_and_changes_nothing(otp_admin_client):
    reseller = ResellerFactory()

    response = _action(otp_admin_client, "reseller", "suspend", [reseller.pk], note="")

    reseller.refresh_from_db()
    assert reseller.status == "active"
    assert "Give the reason for this change." in response.content.decode()


def test_staff_create_a_key_and_see_it_once(otp_admin_client):
    reseller = ResellerFactory()

    response = otp_admin_client.post(
        reverse("admin:shop_resellerapikey_add"),
        {"reseller": reseller.pk, "name": "their bot", "scopes": ["orders:read", "orders:write"]},
    )

    secret = re.search(r"<code[^>]*>(ks_[\w-]+)</code>", response.content.decode()).group(1)
    key = ResellerApiKey.objects.get()
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert key.key_hash == api_key_hash(secret)
    assert key.scopes == ["orders:read", "orders:write"]
    assert (
        secret
        not in otp_admin_client.get(
            reverse("admin:shop_resellerapikey_change", args=[key.pk])
        ).content.decode()
    )


def test_staff_adjust_a_balance_with_a_reason(otp_admin_client, admin_user):
    reseller = ResellerFactory()
    balance = fund(reseller, 1000)

    _action(
        otp_admin_client,
        "resellerbalance",
        "adjust",
        [balance.pk],
        amount="-2.50",
        reason="duplicate top-up",
    )
    _action(otp_admin_client, "resellerbalance", "adjust", [balance.pk], amount="5", reason="")

    entry = ResellerLedgerEntry.objects.order_by("-pk").first()
    assert (entry.amount_minor, entry.note, entry.actor) == (-250, "duplicate top-up", admin_user)
    assert ResellerBalance.objects.get().amount_minor == 750
    assert ResellerLedgerEntry.objects.count() == 2
