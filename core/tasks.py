"""Celery tasks of core: each calls one service."""

from celery import shared_task

from core.alerts import staff_alert_raise
from core.audit import AuditChainBroken, audit_seal


@shared_task
def audit_seal_task() -> int:
    """Seal the audit entries committed since the last run (beat, every few seconds).

    A broken chain is not retried: it raises a staff alert and waits for a person.
    """
    try:
        return audit_seal()
    except AuditChainBroken as broken:
        staff_alert_raise(kind="audit_chain_broken", subject="audit log", message=broken.message)
        return 0


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=8)
def staff_alert_email_task(alert_id: int) -> bool:
    # OSError covers an SMTP server that is down or refuses the connection.
    from core.alerts import staff_alert_email

    return staff_alert_email(alert_id=alert_id)
