"""The buyer's order page, its status feed, and "find my order"."""

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from core.privacy import pii_hash
from core.ratelimit import rate_limit_exceeded
from shop import selectors
from shop.forms import OrderLookupForm
from shop.tasks import order_email_link_task


@require_GET
def order_detail(request: HttpRequest, number: str, token: str) -> HttpResponse:
    order = selectors.order_get_for_access(number=number, token=token)
    return render(request, "shop/order.html", {"order": order, "token": token})


@require_GET
def order_status(request: HttpRequest, number: str, token: str) -> JsonResponse:
    order = selectors.order_get_for_access(number=number, token=token)
    return JsonResponse({"status": order.status, "label": order.get_status_display()})


def order_lookup(request: HttpRequest) -> HttpResponse:
    """Email plus order number: the link goes to that email if they match.

    The answer is the same whether or not they match, so the form reveals nothing.
    """
    form = OrderLookupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        limit = settings.KEYSHOP_LOOKUP_LIMIT_PER_HOUR
        email = form.cleaned_data["email"]
        # Both counters always count (| does not short-circuit), per IP and per email.
        over_limit = rate_limit_exceeded(
            f"lookup:ip:{pii_hash(request.META.get('REMOTE_ADDR', ''))}",
            limit=limit,
            window_seconds=3600,
        ) | rate_limit_exceeded(f"lookup:email:{pii_hash(email)}", limit=limit, window_seconds=3600)
        if over_limit:
            return render(
                request,
                "shop/order_lookup.html",
                {"form": form, "rate_limited": True},
                status=429,
            )
        order = selectors.order_find(email=email, number=form.cleaned_data["number"])
        if order is not None:
            order_email_link_task.delay(order.pk, "lookup")
        messages.success(
            request,
            _("If that order number belongs to that email address, we have sent the link to it."),
        )
        return redirect("shop:order_lookup")
    return render(request, "shop/order_lookup.html", {"form": form})


@require_GET
def terms(request: HttpRequest) -> HttpResponse:
    return render(request, "shop/terms.html", {"version": settings.KEYSHOP_TERMS_VERSION})
