"""The buyer's order page, its status feed, and "find my order"."""

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from core.errors import NotFound
from core.privacy import pii_hash
from core.ratelimit import rate_limit_exceeded
from shop import selectors
from shop.delivered_codes import delivered_codes
from shop.forms import OrderLookupForm
from shop.tasks import order_email_link_task


@require_GET
def order_detail(request: HttpRequest, number: str, token: str) -> HttpResponse:
    order = selectors.order_get_for_access(number=number, token=token)
    codes_ready = order.status in selectors.ORDER_STATUSES_WITH_CODES
    # Pages of higher apps about this order (complaints), named in settings.
    links = [
        (reverse(name, kwargs={"number": order.number, "token": token}), label)
        for name, label in settings.KEYSHOP_ORDER_PAGE_LINKS
    ]
    return render(
        request,
        "shop/order.html",
        {"order": order, "token": token, "codes_ready": codes_ready, "links": links},
    )


def _reveal(request: HttpRequest, number: str, token: str):
    order = selectors.order_get_for_access(number=number, token=token)
    if order.status not in selectors.ORDER_STATUSES_WITH_CODES:
        raise NotFound()
    ip_hash = pii_hash(request.META.get("REMOTE_ADDR", ""))
    return order, delivered_codes().reveal(order, ip_hash=ip_hash)


@never_cache
@require_POST
def order_codes(request: HttpRequest, number: str, token: str) -> HttpResponse:
    """Shows the codes on the order page; each showing is recorded as evidence."""
    order, codes = _reveal(request, number, token)
    return render(request, "shop/order.html", {"order": order, "token": token, "codes": codes})


@never_cache
@require_GET
def order_codes_download(request: HttpRequest, number: str, token: str) -> HttpResponse:
    order, codes = _reveal(request, number, token)
    body = "".join(f"{code.product_name}\t{code.code}\n" for code in codes)
    response = HttpResponse(body, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="keyshop-{order.number}.txt"'
    return response


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
