"""Where the shop learns how many units of a product can be sold.

The shop does not own inventory: a higher app (fulfillment, with its code
vault) does. It plugs in here through the ``KEYSHOP_STOCK_PROVIDER`` setting, a
dotted path to a class implementing :class:`StockProvider`, so ``shop`` never
imports ``fulfillment``.
"""

from collections.abc import Iterable
from functools import cache
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string


class StockProvider(Protocol):
    def sellable_counts(self, product_ids: Iterable[int]) -> dict[int, int]:
        """Units that can be sold now, per product id, in one query whatever the count."""
        ...


@cache
def stock_provider() -> StockProvider:
    return import_string(settings.KEYSHOP_STOCK_PROVIDER)()
