from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = _("Compliance")

    def ready(self) -> None:
        from compliance import receivers
        from fulfillment.signals import batch_imported
        from shop.signals import order_created

        batch_imported.connect(receivers.batch_checks_queue, dispatch_uid="compliance-batch-checks")
        order_created.connect(
            receivers.order_context_store, dispatch_uid="compliance-order-context"
        )
