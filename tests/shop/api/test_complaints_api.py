"""Complaints through the reseller API: the buyers' workflow, with an API key.

The reseller files on delivered codes with evidence, follows the thread, and is
told by signed webhooks; staff replace (the new code is on the order) or refund
(to the balance, the codes revoked and announced).
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from compliance.models import Complaint, ComplaintEvidence, Refund
from compliance.services.complaints import (
    complaint_close,
    complaint_message_add,
    complaint_reject,
    complaint_resolve_refund,
    complaint_resolve_replace,
)
from fulfillment.models import Code
from shop.models import LedgerKind, ResellerLedgerEntry
from tests.fulfillment.factories import codes_stock
from tests.shop.api.factories import fund
from tests.shop.api.webhooks_support import register_endpoint, verify_signed
from tests.shop.factories import ProductFactory

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("agent", password="x", is_staff=True)


@pytest.fixture
def delivered(api, reseller, django_capture_on_commit_callbacks):
    """A delivered reseller order of two codes, with one more code in stock for a replacement."""
    product = ProductFactory(price_minor=500)
    codes_stock(product, 3, codes=["CPL-AAAA-1", "CPL-AAAA-2", "CPL-AAAA-3"])
    fund(reseller, 1000)
    with django_capture_on_commit_callbacks(execute=True):
        number = api.post(
            reverse("api:orders"),
            {"lines": [{"product_id": product.pk, "quantity": 2}], "reference": "shop-77"},
            format="json",
            headers={"Idempotency-Key": "complain-later"},
        ).json()["number"]
    code_ids = sorted(
        Code.objects.filter(order_line__order__number=number).values_list("pk", flat=True)
    )
    return {"number": number, "code_ids": code_ids}


def _file(api, number, **fields):
    body = {"reason": "does_not_work", "description": "Says already used.", **fields}
    return api.post(
        reverse("complaints_api:order_complaints", kwargs={"number": number}),
        body,
        format="multipart",
    )


def test_a_reseller_files_with_evidence_and_staff_replace_the_code(
    api, delivered, staff, receiver, django_capture_on_commit_callbacks
):
    hook = receiver()
    endpoint = register_endpoint(api, hook.url, event_types=["complaint.updated"])
    bad, good = delivered["code_ids"]

    filed = _file(
        api,
        delivered["number"],
        code_ids=[bad],
        evidence=[SimpleUploadedFile("shot.png", PNG, content_type="image/png")],
    )
    complaint_id = filed.json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        complaint_message_add(complaint_id=complaint_id, body="Which platform?", staff_user=staff)
    answered = api.post(
        reverse("complaints_api:complaint_messages", kwargs={"complaint_id": complaint_id}),
        {"body": "PC, redeemed in the launcher."},
        format="json",
    )
    with django_capture_on_commit_callbacks(execute=True):
        (new_code,) = complaint_resolve_replace(complaint_id=complaint_id, actor=staff)
    detail = api.get(
        reverse("complaints_api:complaint", kwargs={"complaint_id": complaint_id})
    ).json()
    order = api.get(reverse("api:order", kwargs={"number": delivered["number"]})).json()

    assert filed.status_code == 201, filed.json()
    assert filed.json()["order"] == delivered["number"]
    assert filed.json()["code_ids"] == [bad]
    assert filed.json()["status"] == "open"
    assert [
        (e["original_name"], e["content_type"], e["size"]) for e in filed.json()["evidence"]
    ] == [("shot.png", "image/png", len(PNG))]
    assert answered.status_code == 201
    assert [(m["author"], m["body"]) for m in answered.json()["messages"]] == [
        ("staff", "Which platform?"),
        ("you", "PC, redeemed in the launcher."),
    ]
    assert answered.json()["status"] == "awaiting_staff"
    assert (detail["status"], detail["resolution"]) == ("resolved", "replaced")
    assert sorted(code["code_id"] for code in order["codes"]) == sorted([good, new_code.pk])
    assert Code.objects.get(pk=bad).status == "defective"
    events = [verify_signed(endpoint["secret"], r) for r in hook.requests]
    assert [(e["type"], e["data"]["complaint"]["status"]) for e in events] == [
        ("complaint.updated", "awaiting_buyer"),
        ("complaint.updated", "resolved"),
    ]
    assert events[-1]["data"]["complaint"] == {
        "id": complaint_id,
        "status": "resolved",
        "resolution": "replaced",
    }
    assert events[-1]["data"]["order"]["reference"] == "shop-77"
    assert all(b"CPL-AAAA" not in r["body"] for r in hook.requests)


def test_a_complaint_refunded_goes_back_to_the_balance_and_the_code_is_revoked(
    api, reseller, delivered, staff, receiver, django_capture_on_commit_callbacks
):
    hook = receiver()
    endpoint = register_endpoint(api, hook.url, event_types=["code.revoked", "order.refunded"])
    bad, good = delivered["code_ids"]
    complaint_id = _file(api, delivered["number"], code_ids=[bad]).json()["id"]

    with django_capture_on_commit_callbacks(execute=True):
        complaint_resolve_refund(complaint_id=complaint_id, actor=staff, note="cannot replace")
    refund = Refund.objects.get()
    ledger = api.get(reverse("api:ledger")).json()["results"]
    balance = api.get(reverse("api:balance")).json()
    order = api.get(reverse("api:order", kwargs={"number": delivered["number"]})).json()

    assert (refund.status, refund.amount_minor, refund.stripe_refund_id) == ("succeeded", 500, "")
    assert Code.objects.get(pk=bad).status == "revoked"
    assert Code.objects.get(pk=good).status == "delivered"
    assert order["status"] == "partially_refunded"
    assert [code["code_id"] for code in order["codes"]] == [good]
    assert ledger[0]["kind"] == LedgerKind.REFUND
    assert ledger[0]["amount_minor"] == 500
    assert "cannot replace" not in ledger[0]["note"]  # staff's words stay inside
    assert balance[0]["amount_minor"] == 500  # 1000 funded - 1000 spent + 500 back
    assert sum(ResellerLedgerEntry.objects.values_list("amount_minor", flat=True)) == 500
    events = sorted(
        (e["type"], e["data"].get("code"))
        for e in (verify_signed(endpoint["secret"], r) for r in hook.requests)
    )
    assert events == [
        ("code.revoked", {"id": bad, "cause": "refunded"}),
        ("order.refunded", None),
    ]


def test_bad_input_is_refused_clearly_and_nothing_is_stored(api, delivered, settings):
    settings.KEYSHOP_COMPLAINT_EVIDENCE_MAX_BYTES = 1024
    number, (first, _second) = delivered["number"], delivered["code_ids"]
    exe = SimpleUploadedFile("shot.png", b"MZ\x90\x00" + b"\x00" * 100, content_type="image/png")
    large = SimpleUploadedFile("big.png", PNG + b"\x00" * 2048, content_type="image/png")

    answers = {
        "renamed executable": _file(api, number, code_ids=[first], evidence=[exe]),
        "too large": _file(api, number, code_ids=[first], evidence=[large]),
        "empty description": _file(api, number, code_ids=[first], description=" "),
        "no codes": _file(api, number),
        "a code of no order": _file(api, number, code_ids=[10**9]),
        "unknown reason": _file(api, number, code_ids=[first], reason="bored"),
    }

    statuses = {name: (a.status_code, a.json()["error"]["code"]) for name, a in answers.items()}
    assert statuses == {name: (400, "invalid_input") for name in answers}
    assert "not an image" in answers["renamed executable"].json()["error"]["message"]
    assert "too large" in answers["too large"].json()["error"]["message"]
    assert "description" in answers["empty description"].json()["error"]["details"]
    assert not Complaint.objects.exists()
    assert not ComplaintEvidence.objects.exists()


def test_a_second_complaint_on_an_open_ones_code_is_a_409_naming_it(api, delivered):
    number, (first, second) = delivered["number"], delivered["code_ids"]
    filed = _file(api, number, code_ids=[first]).json()

    again = _file(api, number, code_ids=[first, second])
    other = _file(api, number, code_ids=[second])

    assert again.status_code == 409
    assert again.json()["error"]["details"] == {"complaint_id": filed["id"]}
    assert other.status_code == 201
    assert Complaint.objects.count() == 2


def test_the_list_filters_by_status_and_order_and_a_closed_thread_refuses_messages(
    api, delivered, staff
):
    number, (first, second) = delivered["number"], delivered["code_ids"]
    rejected = _file(api, number, code_ids=[first]).json()["id"]
    still_open = _file(api, number, code_ids=[second]).json()["id"]
    complaint_reject(complaint_id=rejected, actor=staff, note="Redeemed on your account.")
    complaint_close(complaint_id=rejected, actor=staff)
    url = reverse("complaints_api:complaints")

    everything = api.get(url).json()["results"]
    open_only = api.get(url, {"status": "open"}).json()["results"]
    other_order = api.get(url, {"order": "KS-NOTTHIS1"}).json()["results"]
    closed = api.post(
        reverse("complaints_api:complaint_messages", kwargs={"complaint_id": rejected}),
        {"body": "But why?"},
        format="json",
    )
    detail = api.get(reverse("complaints_api:complaint", kwargs={"complaint_id": rejected})).json()

    assert [c["id"] for c in everything] == [still_open, rejected]
    assert [c["id"] for c in open_only] == [still_open]
    assert other_order == []
    assert closed.status_code == 409
    assert (detail["status"], detail["resolution"]) == ("closed", "rejected")
    assert detail["resolution_note"] == "Redeemed on your account."


def test_a_key_without_the_complaints_scope_is_refused(client_for, reseller, delivered):
    api = client_for(reseller, scopes=["orders:read"])

    answers = [
        _file(api, delivered["number"], code_ids=delivered["code_ids"][:1]),
        api.get(reverse("complaints_api:complaints")),
    ]

    assert [(a.status_code, a.json()["error"]["code"]) for a in answers] == [
        (403, "insufficient_scope")
    ] * 2
    assert not Complaint.objects.exists()
