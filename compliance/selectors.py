"""Reads of the compliance app: supplier standing, review timers, provenance export."""

from collections.abc import Iterator
from datetime import UTC, date, datetime

from django.utils import timezone

from compliance.models import OrderReview, SupplierDocument, SupplierVetting, VettingStatus
from compliance.models.suppliers import AUTHORISATION_KINDS
from fulfillment.models import Code

# Hex digits of the blind index shown as a code's fingerprint: enough to tell codes
# apart in an audit, and useless for finding the code (the index is a keyed HMAC).
FINGERPRINT_HEX_DIGITS = 16


def supplier_authorisation_valid_until(
    *, supplier_id: int, today: date | None = None
) -> date | None:
    """The latest end date of the supplier's current authorisations; None when none is current."""
    today = today or timezone.localdate()
    ends = SupplierDocument.objects.filter(
        supplier_id=supplier_id, kind__in=AUTHORISATION_KINDS, valid_until__gte=today
    ).values_list("valid_until", flat=True)
    return max(ends, default=None)


def supplier_may_sell(*, supplier_id: int, today: date | None = None) -> bool:
    """Approved, with a current publisher authorisation or reseller certificate."""
    approved = SupplierVetting.objects.filter(
        supplier_id=supplier_id, status=VettingStatus.APPROVED
    ).exists()
    return (
        approved
        and supplier_authorisation_valid_until(supplier_id=supplier_id, today=today) is not None
    )


def review_waiting_seconds(review: OrderReview, *, now: datetime | None = None) -> int:
    """How long the order has been held (the review's service-level timer)."""
    end = review.closed_at or now or timezone.now()
    return max(int((end - review.held_at).total_seconds()), 0)


def code_fingerprint(blind_index: bytes | memoryview) -> str:
    return bytes(blind_index).hex()[:FINGERPRINT_HEX_DIGITS]


PROVENANCE_HEADER = (
    "fingerprint",
    "product",
    "batch",
    "supplier",
    "invoice_reference",
    "publisher_authorisation_reference",
    "acquired_on",
    "imported_at",
    "file_sha256",
    "status",
    "delivered_at",
    "order_number",
)


def provenance_rows(
    *,
    batch_ids: list[int] | None = None,
    product_id: int | None = None,
    supplier_id: int | None = None,
    chunk_size: int = 2000,
) -> Iterator[tuple[object, ...]]:
    """One row per code (never the code: its fingerprint), streamed from the database."""
    codes = Code.objects.all()
    if batch_ids is not None:
        codes = codes.filter(batch_id__in=batch_ids)
    if product_id is not None:
        codes = codes.filter(product_id=product_id)
    if supplier_id is not None:
        codes = codes.filter(batch__supplier_id=supplier_id)
    rows = codes.order_by("batch_id", "pk").values_list(
        "blind_index",
        "product__name",
        "batch_id",
        "batch__supplier__name",
        "batch__provenance__invoice_reference",
        "batch__provenance__publisher_authorisation_reference",
        "batch__provenance__acquired_on",
        "batch__created_at",
        "batch__file_sha256",
        "status",
        "delivered_at",
        "order_line__order__number",
    )
    for blind_index, *rest in rows.iterator(chunk_size=chunk_size):
        yield (code_fingerprint(blind_index), *(_csv_value(value) for value in rest))


def _csv_value(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return value
