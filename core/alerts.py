"""Raising and resolving staff alerts: shown in the admin, logged, and emailed.

Each new alert is emailed to ``KEYSHOP_STAFF_ALERT_EMAILS`` (after commit, by a
task), so a shop that runs at 3 a.m. with nobody in the admin still reaches a
person. Raising an alert that is already open only refreshes it: no second email.
"""

import logging
from functools import partial

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from core.audit import audit_record
from core.models import StaffAlert

logger = logging.getLogger("keyshop.alerts")


@transaction.atomic
def staff_alert_raise(*, kind: str, subject: str, message: str) -> StaffAlert:
    alert, created = StaffAlert.objects.update_or_create(
        kind=kind, subject=subject, resolved_at=None, defaults={"message": message}
    )
    if created:
        logger.error("staff alert %s on %s: %s", kind, subject, message)
        if settings.KEYSHOP_STAFF_ALERT_EMAILS:
            from core.tasks import staff_alert_email_task

            transaction.on_commit(partial(staff_alert_email_task.delay, alert.pk))
    return alert


def staff_alert_email(*, alert_id: int) -> bool:
    """Email one alert to the staff addresses, once; False when it was resolved meanwhile."""
    alert = StaffAlert.objects.filter(pk=alert_id, resolved_at=None).first()
    if alert is None or not settings.KEYSHOP_STAFF_ALERT_EMAILS:
        return False
    link = settings.SITE_URL + reverse("admin:core_staffalert_change", args=[alert.pk])
    send_mail(
        _("[Keyshop] %(kind)s: %(subject)s") % {"kind": alert.kind, "subject": alert.subject},
        _("%(message)s\n\nSee and resolve it in the staff admin: %(link)s")
        % {"message": alert.message, "link": link},
        None,
        settings.KEYSHOP_STAFF_ALERT_EMAILS,
    )
    return True


def staff_alert_resolve(*, kind: str, subject: str, actor: AbstractBaseUser | None = None) -> int:
    """Resolve the open alert on (kind, subject), if any; audited, with who resolved it."""
    resolved = 0
    open_alerts = StaffAlert.objects.filter(kind=kind, subject=subject, resolved_at=None)
    for alert_id in open_alerts.values_list("pk", flat=True):
        with transaction.atomic():
            # Conditional: two resolvers at once resolve (and audit) it once.
            if StaffAlert.objects.filter(pk=alert_id, resolved_at=None).update(
                resolved_at=timezone.now()
            ):
                audit_record(
                    action="staff_alert.resolve",
                    obj_type="core.staffalert",
                    obj_id=alert_id,
                    actor=actor,
                    data={"kind": kind},
                )
                resolved += 1
    return resolved
