from shop.models.catalogue import Category, Platform, Product, Region

__all__ = ["Category", "Platform", "Product", "Region"]
