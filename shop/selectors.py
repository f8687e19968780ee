"""Reads for the storefront. Each runs a fixed number of queries whatever the catalogue size."""

import hashlib
import hmac
from dataclasses import dataclass

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet

from core.errors import NotFound
from shop.models import Category, Order, OrderAccess, OrderStatus, Product
from shop.stock import stock_provider


@dataclass(frozen=True)
class ProductCard:
    """A product with its live stock figure, ready for a template."""

    product: Product
    stock: int

    @property
    def in_stock(self) -> bool:
        return self.stock > 0


def _on_sale() -> QuerySet[Product]:
    return Product.objects.filter(is_active=True, category__is_active=True).select_related(
        "category"
    )


def _with_stock(products: list[Product]) -> list[ProductCard]:
    counts = stock_provider().sellable_counts([p.pk for p in products])
    return [ProductCard(product=p, stock=counts.get(p.pk, 0)) for p in products]


def category_list() -> list[Category]:
    return list(Category.objects.filter(is_active=True))


def featured_product_list(*, limit: int = 8) -> list[ProductCard]:
    return _with_stock(list(_on_sale().filter(is_featured=True)[:limit]))


def category_get(*, slug: str) -> Category:
    try:
        return Category.objects.get(slug=slug, is_active=True)
    except Category.DoesNotExist:
        raise NotFound() from None


def _page(
    products: QuerySet[Product], page_number: str | int | None
) -> tuple[Page, list[ProductCard]]:
    page = Paginator(products, settings.KEYSHOP_PAGE_SIZE).get_page(page_number)
    return page, _with_stock(list(page.object_list))


def category_product_page(
    *, category: Category, page_number: str | int | None
) -> tuple[Page, list[ProductCard]]:
    return _page(_on_sale().filter(category=category), page_number)


def product_search(*, query: str, page_number: str | int | None) -> tuple[Page, list[ProductCard]]:
    return _page(_on_sale().filter(name__icontains=query.strip()), page_number)


def product_get(*, slug: str) -> ProductCard:
    try:
        product = _on_sale().get(slug=slug)
    except Product.DoesNotExist:
        raise NotFound() from None
    return _with_stock([product])[0]


# Statuses in which the buyer may see the codes delivered to them.
ORDER_STATUSES_WITH_CODES = {
    OrderStatus.DELIVERED,
    OrderStatus.PARTIALLY_REFUNDED,
    OrderStatus.DISPUTED,
}


def access_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def order_get_for_access(*, number: str, token: str) -> Order:
    """The order behind a secret link, or NotFound; the same answer for a wrong number or token.

    The token's hash is compared with each of the order's link hashes in constant time.
    """
    token_hash = access_token_hash(token)
    order = Order.objects.filter(number=number).prefetch_related("lines__product").first()
    stored = OrderAccess.objects.filter(order=order).values_list("token_hash", flat=True)
    matched = False
    for candidate in stored if order else ["0" * 64]:
        matched |= hmac.compare_digest(candidate, token_hash)
    if order is None or not matched:
        raise NotFound()
    return order


def order_find(*, email: str, number: str) -> Order | None:
    order = Order.objects.filter(number=number.strip().upper()).first()
    if order and hmac.compare_digest(order.email.lower(), email.strip().lower()):
        return order
    return None
