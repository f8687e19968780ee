from shop.models.catalogue import Category, Platform, Product, Region
from shop.models.orders import Order, OrderAccess, OrderEvent, OrderLine, OrderStatus
from shop.models.payments import Payment, PaymentStatus, StripeEvent

__all__ = [
    "Category",
    "Order",
    "OrderAccess",
    "OrderEvent",
    "OrderLine",
    "OrderStatus",
    "Payment",
    "PaymentStatus",
    "Platform",
    "Product",
    "Region",
    "StripeEvent",
]
