"""Raising and resolving staff alerts (shown in the admin, and logged)."""

import logging

from django.db import transaction
from django.utils import timezone

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


def staff_alert_resolve(*, kind: str, subject: str) -> int:
    return StaffAlert.objects.filter(kind=kind, subject=subject, resolved_at=None).update(
        resolved_at=timezone.now()
    )
