"""The vault's answer to the shop's stock question (see shop.stock)."""

from collections.abc import Iterable

from fulfillment.models import StockLevel


class VaultStockProvider:
    def sellable_counts(self, product_ids: Iterable[int]) -> dict[int, int]:
        ids = list(product_ids)
        if not ids:
            return {}
        return dict(
            StockLevel.objects.filter(product_id__in=ids).values_list("product_id", "available")
        )
