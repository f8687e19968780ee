"""Emails to buyers. Each carries a fresh secret link made here, inside the task,
so no link token ever travels through the broker or a log."""

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from shop.delivered_codes import delivered_codes
from shop.models import Order, OrderEvent
from shop.services.orders import order_access_link_create

SUBJECTS = {
    # The link a buyer asked for with "find my order".
    "lookup": lambda order: _("Your Keyshop order %(number)s") % {"number": order.number},
    "paid": lambda order: _("Payment received for order %(number)s") % {"number": order.number},
    "delivered": lambda order: (
        _("Your codes for order %(number)s are ready") % {"number": order.number}
    ),
}


def order_link(order: Order, token: str) -> str:
    return settings.SITE_URL + reverse(
        "shop:order", kwargs={"number": order.number, "token": token}
    )


def order_email_link(*, order_id: int, kind: str) -> None:
    order = Order.objects.get(pk=order_id)
    if order.reseller_id is not None:
        return  # resellers are told by signed webhooks, not one email per order
    # Codes travel by email only when the operator chose so; showing them is a reveal.
    codes = (
        delivered_codes().reveal(order, ip_hash="")
        if kind == "delivered" and settings.KEYSHOP_EMAIL_INCLUDES_CODES
        else []
    )
    with translation.override(order.language):
        link = order_link(order, order_access_link_create(order=order))
        body = render_to_string(
            f"shop/email/order_{kind}.txt", {"order": order, "link": link, "codes": codes}
        )
        send_mail(SUBJECTS[kind](order), body, None, [order.email])
    OrderEvent.objects.create(order=order, kind=f"email_{kind}")
