import factory

from shop.models import Category, Platform, Product, Region


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    category = factory.SubFactory(CategoryFactory)
    name = factory.Sequence(lambda n: f"Product {n}")
    slug = factory.Sequence(lambda n: f"product-{n}")
    description = "A code for a game."
    platform = Platform.STEAM
    region = Region.GLOBAL
    price_minor = 1999
    currency = "EUR"
    max_per_order = 5


def stock_product(product: Product, available: int) -> Product:
    """Give a product sellable units: the vault's counter only, no codes behind it."""
    from fulfillment.models import StockLevel

    StockLevel.objects.update_or_create(product=product, defaults={"codes_available": available})
    return product


def stock_of(product: Product) -> int:
    from fulfillment.models import StockLevel

    return StockLevel.objects.get(product=product).sellable
