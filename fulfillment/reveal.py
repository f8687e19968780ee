"""The vault's answer to the order page (see shop.delivered_codes)."""

from django.db import transaction

from fulfillment import vault
from fulfillment.models import Code, CodeReveal, CodeStatus
from shop.delivered_codes import RevealedCode
from shop.models import Order


class VaultDeliveredCodes:
    @transaction.atomic
    def reveal(self, order: Order, *, ip_hash: str) -> list[RevealedCode]:
        codes = list(
            Code.objects.filter(order_line__order=order, status=CodeStatus.DELIVERED)
            .select_related("product")
            .order_by("order_line_id", "pk")
        )
        CodeReveal.objects.bulk_create(CodeReveal(code=code, ip_hash=ip_hash) for code in codes)
        return [
            RevealedCode(
                code_id=code.pk,
                product_name=code.product.name,
                code=vault.open_sealed(
                    vault.Sealed(code.key_id, bytes(code.ciphertext)),
                    product_id=code.product_id,
                    blind_index=bytes(code.blind_index),
                ),
            )
            for code in codes
        ]
