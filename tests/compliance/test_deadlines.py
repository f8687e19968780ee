"""Complaints and held orders past their deadlines reach staff as alerts, by email too."""

from datetime import timedelta

import pytest
from django.utils import timezone

from compliance.models import Complaint, OrderReview, ReviewStatus
from compliance.services.complaints import complaint_file, complaint_message_add
from compliance.services.deadlines import overdue_alerts_refresh
from core.models import StaffAlert
from fulfillment.models import Code
from tests.compliance.conftest import staff_user
from tests.compliance.test_refunds import delivered_order

pytestmark = pytest.mark.django_db

STAFF = ["oncall@shop.example", "lead@shop.example"]


@pytest.fixture
def overdue(settings, django_capture_on_commit_callbacks):
    """A complaint unanswered for 25 hours and an order held for 5 hours; alerts emailed."""
    settings.KEYSHOP_STAFF_ALERT_EMAILS = STAFF
    order = delivered_order(django_capture_on_commit_callbacks)
    complaint = complaint_file(
        order=order,
        code_ids=Code.objects.filter(order_line__order=order).values_list("pk", flat=True),
        reason="does_not_work",
        description="Rejected by the launcher.",
    )
    review = OrderReview.objects.create(order=order)
    Complaint.objects.filter(pk=complaint.pk).update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    OrderReview.objects.filter(pk=review.pk).update(held_at=timezone.now() - timedelta(hours=5))
    return {"order": order, "complaint": complaint, "review": review}


def _open_alerts() -> set[tuple[str, str]]:
    """The open deadline alerts (delivering the order raised a low-stock one too)."""
    alerts = StaffAlert.objects.filter(resolved_at=None).exclude(kind="low_stock")
    return set(alerts.values_list("kind", "subject"))


def test_overdue_work_raises_one_alert_each_and_emails_staff_once(
    overdue, mailoutbox, django_capture_on_commit_callbacks
):
    order, complaint = overdue["order"], overdue["complaint"]
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        first = overdue_alerts_refresh()
    with django_capture_on_commit_callbacks(execute=True):
        second = overdue_alerts_refresh()

    assert (first.raised, second.raised) == (2, 0)
    assert _open_alerts() == {
        ("complaint_overdue", f"complaint {complaint.pk}"),
        ("review_overdue", f"order {order.number}"),
    }
    assert len(mailoutbox) == 2
    assert all(mail.to == STAFF for mail in mailoutbox)
    subjects = sorted(mail.subject for mail in mailoutbox)
    assert subjects == [
        f"[Keyshop] complaint_overdue: complaint {complaint.pk}",
        f"[Keyshop] review_overdue: order {order.number}",
    ]
    complaint_mail = next(m for m in mailoutbox if "complaint_overdue" in m.subject)
    assert f"Complaint #{complaint.pk} on order {order.number}" in complaint_mail.body
    assert "/staff/core/staffalert/" in complaint_mail.body
    assert all(order.email not in mail.body for mail in mailoutbox)  # no buyer's address


def test_answered_and_reviewed_work_has_its_alert_resolved(
    overdue, django_capture_on_commit_callbacks
):
    overdue_alerts_refresh()
    agent = staff_user("agent")
    complaint_message_add(
        complaint_id=overdue["complaint"].pk, body="Looking into it.", staff_user=agent
    )
    OrderReview.objects.filter(pk=overdue["review"].pk).update(status=ReviewStatus.APPROVED)

    refreshed = overdue_alerts_refresh()

    assert (refreshed.raised, refreshed.resolved) == (0, 2)
    assert _open_alerts() == set()


def test_work_within_its_deadline_raises_nothing(overdue, settings):
    settings.KEYSHOP_COMPLAINT_FIRST_RESPONSE_HOURS = 48
    settings.KEYSHOP_REVIEW_SLA_MINUTES = 6 * 60

    assert overdue_alerts_refresh().raised == 0
    assert _open_alerts() == set()


def test_without_staff_addresses_alerts_are_not_emailed(
    overdue, settings, mailoutbox, django_capture_on_commit_callbacks
):
    settings.KEYSHOP_STAFF_ALERT_EMAILS = []
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        overdue_alerts_refresh()

    assert len(_open_alerts()) == 2
    assert mailoutbox == []
