from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FulfillmentConfig(AppConfig):
    name = "fulfillment"
    verbose_name = _("Fulfillment")

    def ready(self) -> None:
        from fulfillment import receivers
        from fulfillment.signals import stock_arrived
        from shop.signals import order_paid

        order_paid.connect(receivers.deliver_paid_order, dispatch_uid="fulfillment-deliver-paid")
        stock_arrived.connect(
            receivers.deliver_orders_awaiting_stock, dispatch_uid="fulfillment-awaiting-stock"
        )
