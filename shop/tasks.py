"""Celery tasks of the shop: each takes ids, calls one service, retries only what can pass.

Services queue these tasks (on commit), so a task imports its service inside its
body; importing at the top would make the two modules import each other.
"""

from celery import shared_task
from django.db import OperationalError

from shop.stripe_gateway import PaymentGatewayUnavailable

RETRYABLE = (PaymentGatewayUnavailable, OperationalError)


@shared_task(autoretry_for=RETRYABLE, retry_backoff=True, retry_backoff_max=300, max_retries=10)
def stripe_event_process_task(stripe_event_pk: int) -> str:
    from shop.services.webhooks import stripe_event_process

    return stripe_event_process(stripe_event_pk=stripe_event_pk)


@shared_task
def orders_expire_reservations_task() -> int:
    from shop.services.orders import orders_expire_reservations

    return orders_expire_reservations()


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=8)
def order_email_link_task(order_id: int, kind: str) -> None:
    from shop.services.emails import order_email_link

    order_email_link(order_id=order_id, kind=kind)


# --- resellers ----------------------------------------------------------------


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=10)
def reseller_webhooks_announce_task(order_id: int, to_status: str) -> int:
    from shop.services.reseller_webhooks import order_status_announce

    return order_status_announce(order_id=order_id, to_status=to_status)


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=10)
def reseller_codes_revoked_announce_task(order_id: int, code_ids: list[int], cause: str) -> int:
    from shop.services.reseller_webhooks import codes_revoked_announce

    return codes_revoked_announce(order_id=order_id, code_ids=code_ids, cause=cause)


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def reseller_webhook_delivery_attempt_task(delivery_id: int) -> str:
    # HTTP failures are not retried here: the delivery records them and the beat
    # task below sends it again when its backoff is over.
    from shop.services.reseller_webhooks import webhook_delivery_attempt

    return webhook_delivery_attempt(delivery_id=delivery_id)


@shared_task
def reseller_webhooks_send_due_task() -> int:
    from shop.services.reseller_webhooks import webhook_deliveries_send_due

    return webhook_deliveries_send_due()


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=10)
def reseller_order_refund_settle_task(order_id: int) -> None:
    from shop.services.resellers import reseller_order_refund_settle

    reseller_order_refund_settle(order_id=order_id)
