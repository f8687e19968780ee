"""Checkout and payment pages. Thin: forms validate, services decide."""

import json
import logging

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from core.errors import KeyshopError
from core.privacy import pii_hash
from shop import selectors
from shop.forms import CheckoutForm
from shop.models import Order, OrderStatus
from shop.services import orders as order_services
from shop.services import payments as payment_services
from shop.signals import order_created
from shop.stripe_gateway import PaymentDeclined

logger = logging.getLogger(__name__)


def _order_url(name: str, order: Order, token: str) -> str:
    return reverse(f"shop:{name}", kwargs={"number": order.number, "token": token})


@require_POST
def checkout(request: HttpRequest, slug: str) -> HttpResponse:
    card = selectors.product_get(slug=slug)
    form = CheckoutForm(request.POST, product=card.product)
    if form.is_valid():
        try:
            order, token = order_services.order_create(
                email=form.cleaned_data["email"],
                product=card.product,
                quantity=form.cleaned_data["quantity"],
                terms_version=settings.KEYSHOP_TERMS_VERSION,
                language=get_language(),
            )
        except KeyshopError as error:
            form.add_error(None, error.message)
        else:
            _order_created_send(request, order)
            return redirect(_order_url("order_pay", order, token))
    return render(request, "shop/product.html", {"card": card, "form": form}, status=400)


def _order_created_send(request: HttpRequest, order: Order) -> None:
    """Hand the buyer's IP address, hashed, to whoever screens orders (shop.signals)."""
    ip_hash = pii_hash(request.META.get("REMOTE_ADDR", ""))
    for receiver, result in order_created.send_robust(
        sender=Order, order_id=order.pk, ip_hash=ip_hash
    ):
        if isinstance(result, Exception):
            logger.error("order_created receiver %r failed: %r", receiver, result)


@require_GET
def order_pay(request: HttpRequest, number: str, token: str) -> HttpResponse:
    order = selectors.order_get_for_access(number=number, token=token)
    if order.status not in payment_services.PAYABLE_STATUSES:
        return redirect(_order_url("order", order, token))
    payment = payment_services.payment_start(order=order)
    return render(
        request,
        "shop/pay.html",
        {
            "order": order,
            "payment_config": {
                "publishableKey": settings.STRIPE_PUBLISHABLE_KEY,
                "paymentMethodTypes": settings.STRIPE_PAYMENT_METHOD_TYPES,
                "clientSecret": payment.client_secret,
                "cardUrl": _order_url("order_pay_card", order, token),
                "returnUrl": request.build_absolute_uri(_order_url("order_return", order, token)),
                "orderUrl": _order_url("order", order, token),
                "messages": {
                    "failed": _("The payment did not go through. Please try again."),
                    "paying": _("Paying…"),
                },
            },
            "stripe_js_url": settings.STRIPE_JS_URL,
        },
    )


@require_POST
def order_pay_card(request: HttpRequest, number: str, token: str) -> JsonResponse:
    """The card form posts the Stripe.js token here; the answer tells the page what next."""
    order = selectors.order_get_for_access(number=number, token=token)
    try:
        card_token = str(json.loads(request.body)["token"])
    except (ValueError, KeyError, TypeError):
        return JsonResponse(
            {"error": _("The card details did not arrive. Please try again.")}, status=400
        )
    return_url = request.build_absolute_uri(_order_url("order_return", order, token))
    try:
        intent = payment_services.payment_pay_with_card(
            order=order, card_token=card_token, return_url=return_url
        )
    except PaymentDeclined as declined:
        return JsonResponse({"error": declined.message}, status=402)
    except KeyshopError as error:
        return JsonResponse({"error": error.message}, status=error.http_status)
    if intent.status == "requires_action":
        return JsonResponse({"action": "authenticate", "clientSecret": intent.client_secret})
    return JsonResponse({"redirect": _order_url("order", order, token)})


@require_GET
def order_return(request: HttpRequest, number: str, token: str) -> HttpResponse:
    """Where Stripe sends the buyer back. Asks Stripe itself, so a lost webhook strands no one."""
    order = selectors.order_get_for_access(number=number, token=token)
    payment_services.payment_refresh(order=order)
    order.refresh_from_db()
    if order.status == OrderStatus.AWAITING_PAYMENT:
        messages.error(request, _("The payment did not go through. Please try again."))
        return redirect(_order_url("order_pay", order, token))
    return redirect(_order_url("order", order, token))
