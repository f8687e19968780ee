"""Celery tasks of the compliance app: each takes ids and calls one service.

Services queue these tasks (on commit), so a task imports its service inside its
body; importing at the top would make the two modules import each other.
"""

import logging

from celery import shared_task
from django.db import OperationalError

from core.errors import KeyshopError
from shop.stripe_gateway import PaymentGatewayUnavailable

logger = logging.getLogger(__name__)

RETRYABLE = (PaymentGatewayUnavailable, OperationalError)


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def batch_checks_run_task(batch_id: int) -> int:
    from compliance.services.provenance import batch_checks_run

    return len(batch_checks_run(batch_id=batch_id))


@shared_task(autoretry_for=(OSError, OperationalError), retry_backoff=True, max_retries=8)
def revocation_buyer_notify_task(order_id: int) -> int:
    from compliance.services.revocations import revocation_buyer_notify

    return revocation_buyer_notify(order_id=order_id)


@shared_task(autoretry_for=RETRYABLE, retry_backoff=True, retry_backoff_max=600, max_retries=10)
def order_review_refuse_task(order_id: int) -> str:
    """Finish a refusal decided by screening: refund, then mark the order refunded."""
    from compliance.models import ScreeningDecision
    from compliance.services.reviews import order_review_refuse
    from compliance.services.screening import reasons_summary
    from core.alerts import staff_alert_raise

    decision = ScreeningDecision.objects.filter(order_id=order_id).first()
    note = reasons_summary(decision.reasons) if decision else "refused by screening"
    try:
        return order_review_refuse(
            order_id=order_id, actor=None, note=note, source="screening"
        ).status
    except KeyshopError as error:
        # Not retryable (no payment to refund, Stripe refused): a person must look.
        staff_alert_raise(
            kind="refusal_stuck", subject=f"order {order_id}", message=str(error.message)
        )
        logger.error("refusal of order %s stopped: %s", order_id, error.code)
        return "stuck"


@shared_task
def suppliers_expire_authorisations_task() -> int:
    from compliance.services.suppliers import suppliers_expire_authorisations

    return suppliers_expire_authorisations()


@shared_task
def pii_retention_purge_task() -> str:
    from compliance.services.retention import pii_retention_purge

    return str(pii_retention_purge())


@shared_task
def order_reviews_refusing_requeue_task() -> int:
    from compliance.services.reviews import order_reviews_refusing_requeue

    return order_reviews_refusing_requeue()


@shared_task(autoretry_for=RETRYABLE, retry_backoff=True, retry_backoff_max=600, max_retries=10)
def refund_submit_task(refund_id: int) -> str:
    """Send an approved refund to Stripe; the idempotency key makes a retry safe."""
    from compliance.services.refunds import refund_submit

    return refund_submit(refund_id=refund_id).status


@shared_task
def refunds_reconcile_task() -> int:
    from compliance.services.refunds import refunds_reconcile

    return refunds_reconcile()


@shared_task(autoretry_for=(OSError, OperationalError), retry_backoff=True, max_retries=8)
def complaint_buyer_notify_task(complaint_id: int) -> None:
    from compliance.services.complaints import complaint_buyer_notify

    complaint_buyer_notify(complaint_id=complaint_id)


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def supplier_defect_flag_check_task(supplier_id: int) -> bool:
    """After a supplier claim committed: flag the supplier if its defect rate is too high."""
    from compliance.services.claims import supplier_defect_flag_check

    return supplier_defect_flag_check(supplier_id=supplier_id)


@shared_task
def overdue_alerts_refresh_task() -> dict:
    from compliance.services.deadlines import overdue_alerts_refresh

    alerts = overdue_alerts_refresh()
    return {"raised": alerts.raised, "resolved": alerts.resolved}
