"""Compliance's answers to signals from below (shop, fulfillment)."""

from compliance.tasks import batch_checks_run_task


def batch_checks_queue(sender, batch_id: int, **kwargs) -> None:
    """fulfillment.signals.batch_imported (sent after commit): check the new batch."""
    batch_checks_run_task.delay(batch_id)


def order_context_store(sender, order_id: int, ip_hash: str, **kwargs) -> None:
    """shop.signals.order_created: keep the hashed IP address for screening."""
    from compliance.services.screening import order_context_record

    order_context_record(order_id=order_id, ip_hash=ip_hash)
