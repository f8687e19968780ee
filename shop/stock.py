"""Where the shop learns about and holds stock it does not own.

Inventory belongs to a higher app (fulfillment, with its code vault). It plugs in
here through the ``KEYSHOP_STOCK_PROVIDER`` setting, a dotted path to a class
implementing :class:`StockProvider`, so ``shop`` never imports ``fulfillment``.
"""

from collections.abc import Iterable, Mapping
from functools import cache
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string


class StockProvider(Protocol):
    def sellable_counts(self, product_ids: Iterable[int]) -> dict[int, int]:
        """Units that can be sold now, per product id, in one query whatever the count."""
        ...

    def reserve(self, quantities: Mapping[int, int]) -> bool:
        """Hold these units (product id -> quantity), all or none, in the caller's transaction.

        Returns False, holding nothing, when any product lacks the units.
        """
        ...

    def release(self, quantities: Mapping[int, int]) -> None:
        """Give back units held by :meth:`reserve`, in the caller's transaction."""
        ...


@cache
def stock_provider() -> StockProvider:
    return import_string(settings.KEYSHOP_STOCK_PROVIDER)()
