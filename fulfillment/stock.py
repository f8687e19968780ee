"""The vault's answer to the shop's stock questions (see shop.stock).

A buyer can be promised ``codes_available - units_held`` units of a product.
Holding and releasing are single conditional UPDATEs on the product's
StockLevel row, so concurrent checkouts cannot oversell and no lock is held
across a network call. Rows are touched in product-id order so two
multi-product orders cannot deadlock.
"""

from collections.abc import Iterable, Mapping

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest

from fulfillment.models import StockLevel


class VaultStockProvider:
    def sellable_counts(self, product_ids: Iterable[int]) -> dict[int, int]:
        ids = list(product_ids)
        if not ids:
            return {}
        return dict(
            StockLevel.objects.filter(product_id__in=ids)
            .annotate(sellable=Greatest(F("codes_available") - F("units_held"), 0))
            .values_list("product_id", "sellable")
        )

    def reserve(self, quantities: Mapping[int, int]) -> bool:
        with transaction.atomic():
            for product_id, quantity in sorted(quantities.items()):
                held = StockLevel.objects.filter(
                    product_id=product_id, codes_available__gte=F("units_held") + quantity
                ).update(units_held=F("units_held") + quantity)
                if not held:
                    # Roll back this savepoint: lines already held in this call are undone.
                    transaction.set_rollback(True)
                    return False
        return True

    def release(self, quantities: Mapping[int, int]) -> None:
        for product_id, quantity in sorted(quantities.items()):
            StockLevel.objects.filter(product_id=product_id).update(
                units_held=Greatest(F("units_held") - quantity, 0)
            )
