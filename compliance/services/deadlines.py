"""Staff deadlines: complaints and held orders waiting past their time raise staff alerts.

Run by a beat task. A complaint nobody from staff has answered within
``KEYSHOP_COMPLAINT_FIRST_RESPONSE_HOURS``, or an order held for review longer
than ``KEYSHOP_REVIEW_SLA_MINUTES``, gets one open alert (emailed to
``KEYSHOP_STAFF_ALERT_EMAILS``); once it has been answered, resolved or reviewed,
the next run resolves its alert. The admin lists show the same deadlines.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from compliance.models import Complaint, ComplaintMessage, OrderReview, ReviewStatus
from compliance.services.complaints import UNRESOLVED
from core.alerts import staff_alert_raise, staff_alert_resolve
from core.models import StaffAlert

COMPLAINT_OVERDUE = "complaint_overdue"
REVIEW_OVERDUE = "review_overdue"


@dataclass(frozen=True)
class DeadlineAlerts:
    raised: int
    resolved: int


def overdue_alerts_refresh(*, now: datetime | None = None) -> DeadlineAlerts:
    """Raise an alert for each complaint and held order past its deadline; resolve the rest."""
    now = now or timezone.now()
    complaint_due = now - timedelta(hours=settings.KEYSHOP_COMPLAINT_FIRST_RESPONSE_HOURS)
    staff_answers = ComplaintMessage.objects.filter(
        complaint=OuterRef("pk"), staff_user__isnull=False
    )
    complaints = (
        Complaint.objects.filter(status__in=UNRESOLVED, created_at__lt=complaint_due)
        .exclude(Exists(staff_answers))
        .select_related("order")
        .order_by("pk")
    )
    overdue = {(COMPLAINT_OVERDUE, f"complaint {c.pk}"): c for c in complaints}
    reviews = OrderReview.objects.filter(
        status=ReviewStatus.PENDING,
        held_at__lt=now - timedelta(minutes=settings.KEYSHOP_REVIEW_SLA_MINUTES),
    ).select_related("order")
    overdue |= {(REVIEW_OVERDUE, f"order {r.order.number}"): r for r in reviews.order_by("pk")}

    open_alerts = set(
        StaffAlert.objects.filter(
            kind__in=[COMPLAINT_OVERDUE, REVIEW_OVERDUE], resolved_at=None
        ).values_list("kind", "subject")
    )
    for (kind, subject), item in overdue.items():
        if (kind, subject) not in open_alerts:
            staff_alert_raise(kind=kind, subject=subject, message=_message(kind, item))
    resolved = sum(
        staff_alert_resolve(kind=kind, subject=subject)
        for kind, subject in sorted(open_alerts - overdue.keys())
    )
    return DeadlineAlerts(raised=len(overdue.keys() - open_alerts), resolved=resolved)


def _message(kind: str, item: Complaint | OrderReview) -> str:
    if kind == COMPLAINT_OVERDUE:
        return _(
            "Complaint #%(id)d on order %(number)s has had no answer from staff for more "
            "than %(hours)d hours."
        ) % {
            "id": item.pk,
            "number": item.order.number,
            "hours": settings.KEYSHOP_COMPLAINT_FIRST_RESPONSE_HOURS,
        }
    return _("Order %(number)s has been held for review for more than %(minutes)d minutes.") % {
        "number": item.order.number,
        "minutes": settings.KEYSHOP_REVIEW_SLA_MINUTES,
    }
