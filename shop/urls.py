from django.urls import path

from shop.views import catalogue, checkout, orders, webhooks

app_name = "shop"

ORDER = "orders/<str:number>/<str:token>/"

urlpatterns = [
    path("", catalogue.home, name="home"),
    path("search/", catalogue.search, name="search"),
    path("c/<slug:slug>/", catalogue.category_detail, name="category"),
    path("p/<slug:slug>/", catalogue.product_detail, name="product"),
    path("p/<slug:slug>/checkout/", checkout.checkout, name="checkout"),
    path(ORDER, orders.order_detail, name="order"),
    path(ORDER + "status/", orders.order_status, name="order_status"),
    path(ORDER + "codes/", orders.order_codes, name="order_codes"),
    path(ORDER + "codes.txt", orders.order_codes_download, name="order_codes_download"),
    path(ORDER + "pay/", checkout.order_pay, name="order_pay"),
    path(ORDER + "pay/card/", checkout.order_pay_card, name="order_pay_card"),
    path(ORDER + "pay/return/", checkout.order_return, name="order_return"),
    path("find-my-order/", orders.order_lookup, name="order_lookup"),
    path("terms/", orders.terms, name="terms"),
    path("stripe/webhook/", webhooks.stripe_webhook, name="stripe_webhook"),
]
