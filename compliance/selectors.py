"""Reads of the compliance app: supplier standing, defect rates, review timers, provenance,
and complaints as resellers see them."""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import Count, Expression, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from compliance.models import (
    Complaint,
    OrderReview,
    SupplierClaim,
    SupplierDocument,
    SupplierVetting,
    VettingStatus,
)
from compliance.models.suppliers import AUTHORISATION_KINDS
from core.errors import NotFound
from fulfillment.models import Code, Supplier

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


@dataclass(frozen=True)
class DefectRate:
    """A supplier's codes delivered and claims opened in the defect window."""

    supplier_id: int
    delivered: int
    claims: int

    @property
    def percent(self) -> Decimal | None:
        """Claims per hundred codes delivered, to two places; None when nothing was delivered."""
        if not self.delivered:
            return None
        return (Decimal(self.claims * 100) / self.delivered).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP
        )

    def reaches_threshold(
        self, *, threshold_percent: Decimal | int | None = None, min_delivered: int | None = None
    ) -> bool:
        """At or above the threshold, with enough codes delivered to judge (exact arithmetic)."""
        if threshold_percent is None:
            threshold_percent = settings.KEYSHOP_SUPPLIER_DEFECT_RATE_THRESHOLD_PERCENT
        if min_delivered is None:
            min_delivered = settings.KEYSHOP_SUPPLIER_DEFECT_MIN_DELIVERED
        if not self.delivered or self.delivered < min_delivered:
            return False
        return self.claims * 100 >= Decimal(str(threshold_percent)) * self.delivered


def defect_window(*, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The defect window's start and end: the last KEYSHOP_SUPPLIER_DEFECT_WINDOW_DAYS."""
    end = now or timezone.now()
    return end - timedelta(days=settings.KEYSHOP_SUPPLIER_DEFECT_WINDOW_DAYS), end


def supplier_defect_annotations(
    *, supplier_ref: str, now: datetime | None = None
) -> dict[str, Expression]:
    """``defect_delivered`` and ``defect_claims`` for the supplier named by ``supplier_ref``.

    Annotations (correlated aggregate subqueries) for a queryset of suppliers
    (``"pk"``) or of rows pointing at one (``"supplier_id"``): the codes from the
    supplier's batches delivered in the window, whatever their status now, and the
    claims opened against those batches in the window. The one definition of both
    figures; a list of any length costs one query.
    """
    start, end = defect_window(now=now)
    delivered = (
        Code.objects.filter(
            batch__supplier_id=OuterRef(supplier_ref),
            delivered_at__gte=start,
            delivered_at__lte=end,
        )
        .order_by()
        .values("batch__supplier_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    claims = (
        SupplierClaim.objects.filter(
            batch__supplier_id=OuterRef(supplier_ref), created_at__gte=start, created_at__lte=end
        )
        .order_by()
        .values("batch__supplier_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return {
        "defect_delivered": Coalesce(Subquery(delivered, output_field=IntegerField()), 0),
        "defect_claims": Coalesce(Subquery(claims, output_field=IntegerField()), 0),
    }


def supplier_defect_rates(
    *, supplier_ids: Iterable[int] | None = None, now: datetime | None = None
) -> dict[int, DefectRate]:
    """Each supplier's (or each of ``supplier_ids``') defect rate, in one query."""
    suppliers = Supplier.objects.all()
    if supplier_ids is not None:
        suppliers = suppliers.filter(pk__in=list(supplier_ids))
    rows = (
        suppliers.order_by()
        .annotate(**supplier_defect_annotations(supplier_ref="pk", now=now))
        .values_list("pk", "defect_delivered", "defect_claims")
    )
    return {pk: DefectRate(pk, delivered, claims) for pk, delivered, claims in rows}


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


# --- complaints, as a reseller sees them through the API ---------------------------


def reseller_complaints(
    *, reseller_id: int, status: str = "", order_number: str = ""
) -> QuerySet[Complaint]:
    """The reseller's complaints, on its own orders only."""
    complaints = Complaint.objects.filter(order__reseller_id=reseller_id).select_related("order")
    if status:
        complaints = complaints.filter(status=status)
    if order_number:
        complaints = complaints.filter(order__number=order_number)
    return complaints.prefetch_related("codes")


def reseller_complaint_get(*, reseller_id: int, complaint_id: int) -> Complaint:
    """One of the reseller's complaints with its thread and evidence; another's is NotFound."""
    complaint = (
        reseller_complaints(reseller_id=reseller_id)
        .prefetch_related("messages", "evidence")
        .filter(pk=complaint_id)
        .first()
    )
    if complaint is None:
        raise NotFound()
    return complaint
