"""Celery tasks of the fulfillment app: each takes ids and calls one service.

Services queue these tasks (on commit), so a task imports its service inside its
body; importing at the top would make the two modules import each other.
"""

from celery import shared_task
from django.db import OperationalError


# acks_late: a worker that dies mid-import leaves the message queued, and the
# rerun starts afresh (the import is one transaction; the file is kept until it
# has a result). A finished import makes a repeat a no-op.
@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def batch_import_task(batch_id: int, stored_path: str, file_format: str) -> str:
    from fulfillment.services.imports import batch_import_stored

    return batch_import_stored(
        batch_id=batch_id, stored_path=stored_path, file_format=file_format
    ).status


# acks_late with prefetch 1 (settings): a worker killed mid-delivery leaves the
# message queued for another; delivery is one transaction that a repeat finds done.
@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=8)
def order_deliver_task(order_id: int) -> str:
    from fulfillment.services.delivery import order_deliver

    return order_deliver(order_id=order_id).status


@shared_task
def batches_stuck_importing_fail_task() -> int:
    from fulfillment.services.imports import batches_stuck_importing_fail

    return batches_stuck_importing_fail()


@shared_task
def deliveries_reconcile_task() -> int:
    from fulfillment.services.delivery import deliveries_reconcile

    return deliveries_reconcile()


@shared_task
def orders_awaiting_stock_deliver_task(product_id: int) -> int:
    from fulfillment.services.delivery import orders_awaiting_stock_queue

    return orders_awaiting_stock_queue(product_id=product_id)


@shared_task
def orders_awaiting_stock_refund_task() -> int:
    from fulfillment.services.delivery import orders_awaiting_stock_refund

    return orders_awaiting_stock_refund()
