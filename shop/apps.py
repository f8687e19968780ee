from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ShopConfig(AppConfig):
    name = "shop"
    verbose_name = _("Shop")

    def ready(self) -> None:
        from shop.services.resellers import order_status_changed_receiver
        from shop.signals import order_status_changed

        order_status_changed.connect(
            order_status_changed_receiver, dispatch_uid="shop-resellers-order-status"
        )
