"""Raising and resolving staff alerts (shown in the admin, and logged)."""

import logging

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

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
    return alert


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
