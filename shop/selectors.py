"""Reads for the storefront. Each runs a fixed number of queries whatever the catalogue size."""

from dataclasses import dataclass

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet

from core.errors import NotFound
from shop.models import Category, Product
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
