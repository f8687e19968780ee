"""How the order page gets the codes it shows, without shop importing the vault.

The vault (fulfillment) implements :class:`DeliveredCodes` and is named by the
``KEYSHOP_DELIVERED_CODES`` setting. Every call that returns plaintext records a
reveal (time, hashed IP) as evidence for disputes.
"""

from dataclasses import dataclass
from functools import cache
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from shop.models import Order


@dataclass(frozen=True)
class RevealedCode:
    code_id: int
    product_name: str
    code: str

    def __repr__(self) -> str:  # never the code itself
        return f"RevealedCode(code_id={self.code_id})"


class DeliveredCodes(Protocol):
    def reveal(self, order: Order, *, ip_hash: str) -> list[RevealedCode]:
        """The order's delivered codes in clear, recording one reveal per code."""
        ...


@cache
def delivered_codes() -> DeliveredCodes:
    return import_string(settings.KEYSHOP_DELIVERED_CODES)()
