from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from shop.services.webhooks import stripe_event_receive
from shop.stripe_gateway import WebhookSignatureInvalid


@csrf_exempt  # Stripe signs the body instead; the signature is checked before anything is stored.
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    try:
        stripe_event_receive(
            payload=request.body, signature_header=request.headers.get("Stripe-Signature", "")
        )
    except WebhookSignatureInvalid:
        return HttpResponse("invalid signature", status=400, content_type="text/plain")
    return HttpResponse("ok", content_type="text/plain")
