"""Stripe webhooks: verify, record once, process in the background.

The endpoint only verifies the signature and stores the event under its unique
id; a Celery task queued on commit does the work. A replayed event finds its id
taken and does nothing. Event types the shop does not handle itself are routed
through ``KEYSHOP_STRIPE_EVENT_HANDLERS`` (event type -> dotted path of a function
taking the StripeEvent), which higher apps fill in; anything else is recorded as
ignored.
"""

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from shop import stripe_gateway
from shop.models import StripeEvent
from shop.services.payments import payment_apply_intent
from shop.services.resellers import balance_top_up_apply_intent, is_top_up_intent
from shop.tasks import stripe_event_process_task

logger = logging.getLogger(__name__)

PAYMENT_INTENT_EVENTS = {
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
    "payment_intent.processing",
}


def stripe_event_receive(*, payload: bytes, signature_header: str) -> StripeEvent | None:
    """Verify and record a webhook; returns None for an event already received.

    Raises WebhookSignatureInvalid (nothing stored) for a forged, stale or malformed one.
    """
    event = stripe_gateway.webhook_event_construct(
        payload=payload, signature_header=signature_header
    )
    try:
        with transaction.atomic():
            record = StripeEvent.objects.create(
                event_id=event.id, type=event.type, payload={"object": event.data_object}
            )
            transaction.on_commit(lambda: stripe_event_process_task.delay(record.pk))
    except IntegrityError:
        logger.info("Stripe event %s (%s) replayed; ignored", event.id, event.type)
        return None
    return record


def _handler_for(event_type: str) -> Callable[[StripeEvent], str] | None:
    if event_type in PAYMENT_INTENT_EVENTS:
        return _handle_payment_intent
    path = settings.KEYSHOP_STRIPE_EVENT_HANDLERS.get(event_type)
    return import_string(path) if path else None


def _handle_payment_intent(event: StripeEvent) -> str:
    intent = stripe_gateway.payment_intent_from_dict(event.payload["object"])
    if is_top_up_intent(event.payload["object"]):
        top_up = balance_top_up_apply_intent(intent=intent, source=f"webhook {event.type}")
        return "top-up applied" if top_up else "not our top-up"
    payment = payment_apply_intent(intent=intent, source=f"webhook {event.type}")
    return "applied" if payment else "not our payment"


@transaction.atomic
def stripe_event_process(*, stripe_event_pk: int) -> str:
    """Process a recorded event once; a second run finds it processed and returns."""
    event = StripeEvent.objects.select_for_update().get(pk=stripe_event_pk)
    if event.processed_at:
        return event.outcome
    handler = _handler_for(event.type)
    if handler is None:
        logger.info("Stripe event type %s has no handler; ignored", event.type)
        outcome = "ignored"
    else:
        outcome = handler(event)
    event.processed_at = timezone.now()
    event.outcome = outcome[:200]
    event.save(update_fields=["processed_at", "outcome"])
    return outcome
