"""Complaints: filed by the buyer through the order link, resolved by staff."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from compliance.models import Complaint, ComplaintEvidence, Refund
from compliance.services.complaints import (
    complaint_message_add,
    complaint_reject,
    complaint_resolve_refund,
    complaint_resolve_replace,
)
from core.errors import Conflict, InvalidInput
from core.models import AuditEntry
from fulfillment.models import Code
from shop.services.orders import order_access_link_create
from tests.compliance.conftest import otp_login, staff_user
from tests.compliance.test_refunds import delivered_order
from tests.fulfillment.factories import code_plaintext

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n%test\n"
ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 64


@pytest.fixture
def order_link(django_capture_on_commit_callbacks):
    order = delivered_order(django_capture_on_commit_callbacks)
    return order, order_access_link_create(order=order)


def _codes(order):
    return list(Code.objects.filter(order_line__order=order).order_by("pk"))


def _url(order, token, name="compliance:complaints", **kwargs):
    return reverse(name, kwargs={"number": order.number, "token": token, **kwargs})


def _file(client, order, token, *, codes, description="It says already used.", files=()):
    return client.post(
        _url(order, token),
        {
            "codes": [code.pk for code in codes],
            "reason": "already_redeemed",
            "description": description,
            "evidence": list(files),
        },
    )


def _nothing_stored(private_media):
    assert Complaint.objects.count() == 0
    assert ComplaintEvidence.objects.count() == 0
    folder = private_media / "compliance" / "complaints"
    assert not folder.exists() or not any(p.is_file() for p in folder.rglob("*"))


def test_a_forged_token_is_a_404_and_stores_nothing(client, order_link, private_media):
    order, _token = order_link

    page = client.get(_url(order, "forged-token"))
    post = _file(client, order, "forged-token", codes=_codes(order)[:1])

    assert (page.status_code, post.status_code) == (404, 404)
    _nothing_stored(private_media)


def test_the_buyer_files_a_complaint_with_a_screenshot(client, order_link, private_media):
    order, token = order_link
    code = _codes(order)[0]

    response = _file(
        client,
        order,
        token,
        codes=[code],
        files=[SimpleUploadedFile("shot.png", PNG, content_type="image/png")],
    )

    complaint = Complaint.objects.get()
    evidence = complaint.evidence.get()
    assert response.status_code == 302
    assert response["Location"] == _url(
        order, token, "compliance:complaint_detail", complaint_id=complaint.pk
    )
    assert (complaint.order, complaint.status, complaint.reason) == (
        order,
        "open",
        "already_redeemed",
    )
    assert list(complaint.codes.all()) == [code]
    assert (evidence.content_type, evidence.size, evidence.original_name) == (
        "image/png",
        len(PNG),
        "shot.png",
    )
    assert (private_media / evidence.file.name).read_bytes() == PNG
    assert "shot" not in evidence.file.name  # our own name on disk
    assert client.get(response["Location"]).status_code == 200


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (SimpleUploadedFile("photo.png", ELF, content_type="image/png"), "is not an image"),
        (
            SimpleUploadedFile("big.pdf", b"%PDF-1.4" + b"0" * (50 * 1024 * 1024)),
            "is too large: at most 5 MB per file",
        ),
        (SimpleUploadedFile("empty.png", b"", content_type="image/png"), "is empty"),
    ],
    ids=["executable-renamed-png", "50-mb", "empty-file"],
)
def test_a_refused_file_is_explained_and_nothing_is_stored(
    client, order_link, private_media, upload, message
):
    order, token = order_link

    response = _file(client, order, token, codes=_codes(order)[:1], files=[upload])

    assert response.status_code == 400
    assert message in response.content.decode()
    _nothing_stored(private_media)


def test_an_empty_description_is_explained_and_nothing_is_stored(client, order_link, private_media):
    order, token = order_link

    response = _file(
        client,
        order,
        token,
        codes=_codes(order)[:1],
        description="   ",
        files=[SimpleUploadedFile("doc.pdf", PDF)],
    )

    assert response.status_code == 400
    assert "Describe what is wrong." in response.content.decode()
    _nothing_stored(private_media)


def test_a_code_of_another_order_cannot_be_complained_about(
    client, order_link, private_media, django_capture_on_commit_callbacks
):
    order, token = order_link
    other = delivered_order(django_capture_on_commit_callbacks, intent_id="pi_other")

    response = _file(client, order, token, codes=_codes(other)[:1])

    assert response.status_code == 400
    _nothing_stored(private_media)


def test_staff_replace_the_code_and_the_buyer_sees_the_new_one(client, order_link):
    order, token = order_link
    old, kept = _codes(order)
    _file(client, order, token, codes=[old])
    complaint = Complaint.objects.get()
    agent = staff_user("agent", "compliance.view_complaint", "compliance.change_complaint")

    otp_login(client, agent)
    client.post(
        reverse("admin:compliance_complaint_changelist"),
        {
            "action": "replace_codes",
            "_selected_action": [complaint.pk],
            "apply": "1",
            "note": "publisher confirmed it was used",
        },
    )
    client.logout()

    complaint.refresh_from_db()
    old.refresh_from_db()
    new = Code.objects.get(order_line=old.order_line, status="delivered", pk__gt=kept.pk)
    assert (complaint.status, complaint.resolution, complaint.resolved_by) == (
        "resolved",
        "replaced",
        agent,
    )
    assert old.status == "defective"
    download = client.get(
        reverse("shop:order_codes_download", kwargs={"number": order.number, "token": token})
    )
    body = download.content.decode()
    assert code_plaintext(new) in body and code_plaintext(kept) in body
    assert code_plaintext(old) not in body
    page = client.get(_url(order, token, "compliance:complaint_detail", complaint_id=complaint.pk))
    assert "Your new code is on the order page." in page.content.decode()
    assert AuditEntry.objects.filter(action="complaint.replace", obj_id=str(complaint.pk)).exists()


def test_replacing_without_stock_changes_nothing(client, order_link):
    order, token = order_link
    first, _second = _codes(order)
    _file(client, order, token, codes=[first])
    complaint = Complaint.objects.get()
    # The one spare code of the product is used up elsewhere.
    Code.objects.filter(product=first.product, status="available").update(status="revoked")

    from core.errors import OutOfStock

    with pytest.raises(OutOfStock):
        complaint_resolve_replace(complaint_id=complaint.pk, actor=None)

    complaint.refresh_from_db()
    first.refresh_from_db()
    assert (complaint.status, first.status) == ("open", "delivered")


def test_the_thread_moves_the_complaint_between_buyer_and_staff(client, order_link):
    order, token = order_link
    _file(client, order, token, codes=_codes(order)[:1])
    complaint = Complaint.objects.get()
    agent = staff_user("agent", "compliance.change_complaint")

    complaint_message_add(complaint_id=complaint.pk, body="Which platform?", staff_user=agent)
    complaint.refresh_from_db()
    assert complaint.status == "awaiting_buyer"
    client.post(
        _url(order, token, "compliance:complaint_detail", complaint_id=complaint.pk),
        {"body": "PC, Europe."},
    )
    complaint.refresh_from_db()
    assert complaint.status == "awaiting_staff"
    assert [m.body for m in complaint.messages.all()] == ["Which platform?", "PC, Europe."]

    complaint_reject(complaint_id=complaint.pk, actor=agent, note="redeemed on your account")
    complaint.refresh_from_db()
    assert (complaint.status, complaint.resolution) == ("resolved", "rejected")
    with pytest.raises(Conflict):
        complaint_message_add(complaint_id=complaint.pk, body="but")
    with pytest.raises(InvalidInput):
        complaint_reject(complaint_id=complaint.pk, actor=agent, note=" ")


def test_refunding_a_complaint_refunds_its_codes(
    client, order_link, django_capture_on_commit_callbacks, monkeypatch
):
    from shop import stripe_gateway
    from shop.stripe_gateway import RefundInfo

    monkeypatch.setattr(
        stripe_gateway,
        "refund_create",
        lambda **kw: RefundInfo(
            id="re_complaint",
            payment_intent_id=kw["payment_intent_id"],
            charge_id=None,
            amount_minor=kw["amount_minor"],
            currency="EUR",
            status="succeeded",
            reason=None,
            failure_reason=None,
        ),
    )
    order, token = order_link
    first, second = _codes(order)
    _file(client, order, token, codes=[first])
    complaint = Complaint.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        complaint_resolve_refund(complaint_id=complaint.pk, actor=None, note="code dead")

    complaint.refresh_from_db()
    first.refresh_from_db()
    second.refresh_from_db()
    order.refresh_from_db()
    assert (complaint.resolution, complaint.refund, complaint.refund.status) == (
        "refunded",
        Refund.objects.get(),
        "succeeded",
    )
    assert (first.status, second.status, order.status) == (
        "revoked",
        "delivered",
        "partially_refunded",
    )


def test_evidence_is_served_only_to_staff_with_the_permission(client, order_link):
    order, token = order_link
    _file(
        client,
        order,
        token,
        codes=_codes(order)[:1],
        files=[SimpleUploadedFile("doc.pdf", PDF)],
    )
    evidence = ComplaintEvidence.objects.get()
    url = reverse("admin:compliance_complaint_evidence", args=[evidence.pk])

    otp_login(client, staff_user("viewer", "compliance.view_complaint"))
    refused = client.get(url)
    client.logout()
    otp_login(client, staff_user("agent", "compliance.download_complaintevidence"))
    allowed = client.get(url)

    assert refused.status_code == 403
    assert allowed.status_code == 200
    assert b"".join(allowed.streaming_content) == PDF
    assert allowed["Content-Type"] == "application/pdf"
    assert AuditEntry.objects.filter(action="complaint_evidence.download").count() == 1


def test_the_staff_pages_open_for_a_superuser(otp_admin_client, order_link):
    order, token = order_link
    _file(otp_admin_client, order, token, codes=_codes(order)[:1])
    complaint = Complaint.objects.get()

    pages = [
        reverse("admin:compliance_complaint_changelist"),
        reverse("admin:compliance_complaint_change", args=[complaint.pk]),
        reverse("admin:compliance_refund_changelist"),
        reverse("admin:compliance_refund_add"),
        reverse("admin:compliance_dispute_changelist"),
    ]

    assert [otp_admin_client.get(page).status_code for page in pages] == [200] * len(pages)


def test_the_buyer_is_emailed_a_working_link_when_staff_answer_and_resolve(
    client, order_link, django_capture_on_commit_callbacks
):
    import re

    from django.conf import settings
    from django.core import mail

    order, token = order_link
    _file(client, order, token, codes=_codes(order)[:1])
    complaint = Complaint.objects.get()
    agent = staff_user("agent", "compliance.change_complaint")
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        complaint_message_add(complaint_id=complaint.pk, body="Which platform?", staff_user=agent)
    with django_capture_on_commit_callbacks(execute=True):
        complaint_reject(complaint_id=complaint.pk, actor=agent, note="redeemed on your account")

    subjects = [m.subject for m in mail.outbox]
    assert subjects == [
        f"Your complaint about order {order.number}: Waiting for you",
        f"Your complaint about order {order.number}: Resolved",
    ]
    link = re.search(r"http://\S+/complaints/\d+/", mail.outbox[0].body).group(0)
    assert client.get(link.removeprefix(settings.SITE_URL)).status_code == 200
    assert "Which platform?" not in mail.outbox[0].body  # the thread stays behind the link


def test_staff_see_when_the_first_answer_is_due_and_can_close(
    otp_admin_client, order_link, settings
):
    from datetime import timedelta

    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
    from django.utils import timezone

    order, token = order_link
    _file(otp_admin_client, order, token, codes=_codes(order)[:1])
    complaint = Complaint.objects.get()
    settings.KEYSHOP_COMPLAINT_FIRST_RESPONSE_HOURS = 24
    Complaint.objects.filter(pk=complaint.pk).update(created_at=timezone.now() - timedelta(days=2))
    changelist = reverse("admin:compliance_complaint_changelist")

    listing = otp_admin_client.get(changelist).content.decode()
    complaint_reject(complaint_id=complaint.pk, actor=None, note="redeemed on your account")
    otp_admin_client.post(
        changelist, {"action": "close", ACTION_CHECKBOX_NAME: [str(complaint.pk)]}
    )

    assert "<strong>overdue since" in listing
    complaint.refresh_from_db()
    assert complaint.status == "closed"


@pytest.mark.django_db(transaction=True)
def test_a_complaint_refunded_through_localstripe_revokes_its_code(localstripe_server):
    from django.test import Client

    from shop import stripe_gateway
    from tests.compliance.test_refunds import delivered_order_paid_through_stripe

    order = delivered_order_paid_through_stripe(localstripe_server)
    token = order_access_link_create(order=order)
    first, second = _codes(order)
    _file(Client(), order, token, codes=[first])
    complaint = Complaint.objects.get()
    agent = staff_user("agent", "compliance.change_complaint")

    complaint_resolve_refund(complaint_id=complaint.pk, actor=agent, note="code dead")

    complaint.refresh_from_db()
    first.refresh_from_db()
    second.refresh_from_db()
    order.refresh_from_db()
    refund = complaint.refund
    assert (complaint.resolution, refund.status) == ("refunded", "succeeded")
    assert (first.status, second.status, order.status) == (
        "revoked",
        "delivered",
        "partially_refunded",
    )
    at_stripe = stripe_gateway.refund_retrieve(refund.stripe_refund_id)
    assert (at_stripe.status, at_stripe.amount_minor) == ("succeeded", refund.amount_minor)
    assert at_stripe.payment_intent_id == order.payment.stripe_payment_intent_id
