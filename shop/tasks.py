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
