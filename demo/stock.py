"""Demo stock: for every product, a sellable batch of real, sealed codes.

Each batch goes the way a real one does: a clerk imports it from the approved
demo supplier with its provenance, and the staff user approves it (four eyes),
so a purchase in the demo ends with a code revealed from the vault.
"""

import io
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.utils import timezone

from compliance.services.provenance import batch_provenance_record
from core.money import Money
from fulfillment.models import Batch, BatchStatus, Supplier
from fulfillment.services.batches import batch_transition
from fulfillment.services.imports import batch_create, batch_import
from shop.models import Product

DEMO_CODES_PER_PRODUCT = 25
DEMO_CLERK_USERNAME = "demo-clerk"


def demo_code(product: Product) -> str:
    return f"DEMO-{product.slug[:6].upper()}-{secrets.token_hex(4).upper()}"


def demo_stock_load(*, supplier: Supplier, approver: AbstractBaseUser) -> int:
    """Give each product without sellable demo stock a fresh batch; returns how many."""
    clerk, _ = get_user_model().objects.get_or_create(
        username=DEMO_CLERK_USERNAME, defaults={"is_active": False}
    )
    stocked = set(
        Batch.objects.filter(supplier=supplier, status=BatchStatus.SELLABLE).values_list(
            "product_id", flat=True
        )
    )
    loaded = 0
    for product in Product.objects.exclude(pk__in=stocked).order_by("pk"):
        batch = batch_create(
            supplier=supplier, product=product, file_name=f"{product.slug}.txt", actor=clerk
        )
        codes = "".join(f"{demo_code(product)}\n" for _ in range(DEMO_CODES_PER_PRODUCT))
        batch_import(batch_id=batch.pk, path_or_file=io.BytesIO(codes.encode()), file_format="txt")
        batch_provenance_record(
            batch_id=batch.pk,
            invoice_reference=f"DEMO-INV-{batch.pk:05d}",
            acquired_on=timezone.localdate() - timedelta(days=2),
            unit_cost=Money(product.price_minor * 7 // 10, product.currency),
            publisher_authorisation_reference="PUB-AUTH-7781",
            actor=clerk,
        )
        batch_transition(batch_id=batch.pk, to_status=BatchStatus.SELLABLE, actor=approver)
        loaded += 1
    return loaded
