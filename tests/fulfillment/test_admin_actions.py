import pytest
from django.conf import settings
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core import mail
from django.urls import reverse

from core.models import AuditEntry
from fulfillment.models import Code, StockLevel
from shop.services.orders import order_create, order_mark_paid
from tests.fulfillment.factories import codes_stock
from tests.shop.factories import ProductFactory

pytestmark = pytest.mark.django_db


def _action(client, model: str, action: str, ids: list[int], **extra):
    return client.post(
        reverse(f"admin:{model}_changelist"),
        {"action": action, ACTION_CHECKBOX_NAME: [str(pk) for pk in ids], **extra},
    )


def test_revoking_asks_for_a_reason_then_revokes_and_audits(otp_admin_client):
    product = ProductFactory()
    codes_stock(product, 3)
    code = Code.objects.filter(product=product).first()

    asked = _action(otp_admin_client, "fulfillment_code", "revoke", [code.pk])
    done = _action(
        otp_admin_client,
        "fulfillment_code",
        "revoke",
        [code.pk],
        apply="1",
        note="Publisher recalled it",
    )

    assert asked.status_code == 200 and "Why are these codes revoked?" in asked.content.decode()
    assert done.status_code == 302
    code.refresh_from_db()
    assert code.status == "revoked"
    assert StockLevel.objects.get(product=product).codes_available == 2
    entry = AuditEntry.objects.get(action="code.revoke")
    assert (entry.reason, entry.obj_id) == ("Publisher recalled it", str(code.pk))


def test_code_admin_never_shows_the_code(otp_admin_client):
    product = ProductFactory()
    codes_stock(product, 1, codes=["VISIBLE-NEVER-1"])
    code = Code.objects.get(product=product)

    pages = [
        otp_admin_client.get(reverse("admin:fulfillment_code_changelist")),
        otp_admin_client.get(reverse("admin:fulfillment_code_change", args=[code.pk])),
    ]

    assert [page.status_code for page in pages] == [200, 200]
    assert all("VISIBLE-NEVER-1" not in page.content.decode() for page in pages)


def test_staff_can_run_delivery_again_and_resend_the_email(
    otp_admin_client, django_capture_on_commit_callbacks
):
    product = ProductFactory()
    codes_stock(product, 2)
    order, _token = order_create(
        email="buyer@example.com", product=product, quantity=1,
        terms_version=settings.KEYSHOP_TERMS_VERSION, language="en",
    )  # fmt: skip
    order_mark_paid(order_id=order.pk)  # the hand-off was lost: no on-commit callbacks ran

    _action(otp_admin_client, "shop_order", "deliver_again", [order.pk])
    order.refresh_from_db()
    assert order.status == "delivered"

    mail.outbox.clear()
    _action(otp_admin_client, "shop_order", "resend_delivery_email", [order.pk])
    assert [m.subject for m in mail.outbox] == [f"Your codes for order {order.number} are ready"]
