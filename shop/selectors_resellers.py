"""Reads for the reseller API. Every read of a reseller's own objects is scoped to that
reseller, and an object that is not theirs is NotFound, exactly like one that does not exist.
"""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from core.errors import NotFound
from shop.models import (
    BalanceTopUp,
    LedgerKind,
    Order,
    PriceTierCategoryDiscount,
    PriceTierPrice,
    Product,
    Reseller,
    ResellerApiKey,
    ResellerBalance,
    ResellerLedgerEntry,
    ResellerWebhookDelivery,
    ResellerWebhookEndpoint,
)
from shop.models.resellers import BASIS_POINTS
from shop.stock import stock_provider


def api_key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_get_by_secret(*, key: str) -> ResellerApiKey | None:
    """The key (with its reseller) whose hash matches, revoked or not; None for an unknown key."""
    return (
        ResellerApiKey.objects.select_related("reseller").filter(key_hash=api_key_hash(key)).first()
    )


# --- prices and the catalogue -------------------------------------------------


def _discounted(price_minor: int, discount_bps: int) -> int:
    """The price less a discount, rounded half up to a minor unit, never below 1."""
    discounted = (price_minor * (BASIS_POINTS - discount_bps) + BASIS_POINTS // 2) // BASIS_POINTS
    return max(1, discounted)


def reseller_unit_prices(*, reseller: Reseller, products: Iterable[Product]) -> dict[int, int]:
    """The reseller's unit price per product id, in each product's currency.

    An explicit tier price (in the product's currency) wins, then the tier's
    discount for the product's category, then the tier's default discount; without
    a tier, the list price. Two queries at most, whatever the number of products.
    """
    products = list(products)
    tier = reseller.price_tier
    if tier is None:
        return {p.pk: p.price_minor for p in products}
    explicit = {
        (product_id, currency): price
        for product_id, currency, price in PriceTierPrice.objects.filter(
            tier=tier, product__in=[p.pk for p in products]
        ).values_list("product_id", "currency", "price_minor")
    }
    by_category = dict(
        PriceTierCategoryDiscount.objects.filter(
            tier=tier, category__in={p.category_id for p in products}
        ).values_list("category_id", "discount_bps")
    )
    prices = {}
    for product in products:
        price = explicit.get((product.pk, product.currency))
        if price is None:
            discount = by_category.get(product.category_id, tier.discount_bps)
            price = _discounted(product.price_minor, discount)
        prices[product.pk] = price
    return prices


@dataclass(frozen=True)
class CatalogueItem:
    product: Product
    list_price_minor: int
    price_minor: int
    currency: str
    stock: int


def products_on_sale(
    *, category: str = "", platform: str = "", region: str = "", currency: str = ""
) -> QuerySet[Product]:
    products = Product.objects.filter(is_active=True, category__is_active=True).select_related(
        "category"
    )
    if category:
        products = products.filter(category__slug=category)
    if platform:
        products = products.filter(platform=platform)
    if region:
        products = products.filter(region=region)
    if currency:
        products = products.filter(currency=currency)
    return products


def catalogue_items(*, reseller: Reseller, products: Iterable[Product]) -> list[CatalogueItem]:
    """Products with the reseller's prices and live stock: three queries at most."""
    products = list(products)
    prices = reseller_unit_prices(reseller=reseller, products=products)
    stock = stock_provider().sellable_counts([p.pk for p in products])
    return [
        CatalogueItem(
            product=p,
            list_price_minor=p.price_minor,
            price_minor=prices[p.pk],
            currency=p.currency,
            stock=stock.get(p.pk, 0),
        )
        for p in products
    ]


# --- orders -------------------------------------------------------------------


def reseller_orders(
    *,
    reseller: Reseller,
    status: str = "",
    reference: str = "",
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> QuerySet[Order]:
    orders = (
        Order.objects.filter(reseller=reseller)
        .select_related("reseller_request")
        .prefetch_related("lines__product")
    )
    if status:
        orders = orders.filter(status=status)
    if reference:
        orders = orders.filter(reseller_request__reference=reference)
    if created_after:
        orders = orders.filter(created_at__gte=created_after)
    if created_before:
        orders = orders.filter(created_at__lt=created_before)
    return orders


def reseller_order_get(*, reseller: Reseller, number: str) -> Order:
    order = reseller_orders(reseller=reseller).filter(number=number).first()
    if order is None:
        raise NotFound()
    return order


# --- balance ------------------------------------------------------------------


def reseller_balances(*, reseller: Reseller) -> QuerySet[ResellerBalance]:
    return ResellerBalance.objects.filter(reseller=reseller).order_by("currency")


def reseller_ledger(
    *, reseller: Reseller, currency: str = "", kind: str = ""
) -> QuerySet[ResellerLedgerEntry]:
    entries = ResellerLedgerEntry.objects.filter(balance__reseller=reseller).select_related(
        "order", "top_up"
    )
    if currency:
        entries = entries.filter(currency=currency)
    if kind:
        entries = entries.filter(kind=kind)
    return entries


def ledger_sum(*, balance: ResellerBalance) -> int:
    return balance.ledger.aggregate(total=Sum("amount_minor"))["total"] or 0


def order_spending_since(*, balance: ResellerBalance, since: datetime) -> int:
    """Minor units paid for orders from this balance since ``since``."""
    debits = balance.ledger.filter(kind=LedgerKind.ORDER, created_at__gte=since).aggregate(
        total=Sum("amount_minor")
    )["total"]
    return -(debits or 0)


def start_of_today() -> datetime:
    return timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)


def reseller_top_ups(*, reseller: Reseller) -> QuerySet[BalanceTopUp]:
    return BalanceTopUp.objects.filter(reseller=reseller)


def reseller_top_up_get(*, reseller: Reseller, public_id: str) -> BalanceTopUp:
    top_up = reseller_top_ups(reseller=reseller).filter(public_id=public_id).first()
    if top_up is None:
        raise NotFound()
    return top_up


# --- keys and webhooks --------------------------------------------------------


def reseller_api_keys(*, reseller: Reseller) -> QuerySet[ResellerApiKey]:
    return ResellerApiKey.objects.filter(reseller=reseller)


def reseller_api_key_get(*, reseller: Reseller, key_id: int) -> ResellerApiKey:
    key = reseller_api_keys(reseller=reseller).filter(pk=key_id).first()
    if key is None:
        raise NotFound()
    return key


def reseller_webhook_endpoints(*, reseller: Reseller) -> QuerySet[ResellerWebhookEndpoint]:
    return ResellerWebhookEndpoint.objects.filter(reseller=reseller)


def reseller_webhook_endpoint_get(
    *, reseller: Reseller, endpoint_id: int
) -> ResellerWebhookEndpoint:
    endpoint = reseller_webhook_endpoints(reseller=reseller).filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound()
    return endpoint


def reseller_webhook_deliveries(
    *, reseller: Reseller, endpoint_id: int | None = None, status: str = "", event_type: str = ""
) -> QuerySet[ResellerWebhookDelivery]:
    deliveries = ResellerWebhookDelivery.objects.filter(endpoint__reseller=reseller)
    filters = Q()
    if endpoint_id is not None:
        filters &= Q(endpoint_id=endpoint_id)
    if status:
        filters &= Q(status=status)
    if event_type:
        filters &= Q(event_type=event_type)
    return deliveries.filter(filters)


def reseller_webhook_delivery_get(
    *, reseller: Reseller, delivery_id: int
) -> ResellerWebhookDelivery:
    delivery = (
        reseller_webhook_deliveries(reseller=reseller)
        .prefetch_related("attempt_log")
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None:
        raise NotFound()
    return delivery
