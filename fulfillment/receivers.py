"""Fulfillment's answers to signals from below (shop) and from itself."""

from core.alerts import staff_alert_resolve
from fulfillment.models import StockLevel
from fulfillment.services.delivery import low_stock_subject
from fulfillment.tasks import order_deliver_task, orders_awaiting_stock_deliver_task


def deliver_paid_order(sender, order_id: int, **kwargs) -> None:
    """shop.signals.order_paid: queue delivery (the signal is sent after commit)."""
    order_deliver_task.delay(order_id)


def deliver_orders_awaiting_stock(sender, product_id: int, **kwargs) -> None:
    """fulfillment.signals.stock_arrived: orders waiting for this product, oldest first."""
    orders_awaiting_stock_deliver_task.delay(product_id)
    level = StockLevel.objects.select_related("product").get(product_id=product_id)
    if level.sellable >= level.low_stock_threshold:
        staff_alert_resolve(kind="low_stock", subject=low_stock_subject(level))
