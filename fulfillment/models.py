from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from shop.models import Product


class StockLevel(models.Model):
    """Sellable units per product, kept exact in the same transaction as every code change.

    Reading one row per product keeps the storefront's stock figure cheap however
    many codes the vault holds.
    """

    product = models.OneToOneField(
        Product, on_delete=models.CASCADE, primary_key=True, related_name="stock_level"
    )
    available = models.PositiveIntegerField(_("available"), default=0)

    class Meta:
        verbose_name = _("stock level")
        verbose_name_plural = _("stock levels")
        constraints = [
            models.CheckConstraint(condition=Q(available__gte=0), name="stock_level_not_negative")
        ]

    def __str__(self) -> str:
        return f"{self.product_id}: {self.available}"
