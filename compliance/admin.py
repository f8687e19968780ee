"""Staff pages of the compliance app: suppliers, provenance, revocations, screening, reviews.

Thin: forms validate, services decide. Each action that changes something is
guarded by a Django permission (``compliance.vet_supplier``,
``compliance.approve_batch``, ``compliance.export_provenance``,
``compliance.review_order``, ``compliance.download_supplierdocument``,
``compliance.resolve_supplierclaim``), and no page shows a code (provenance
exports carry a fingerprint) or an IP address.
"""

import csv
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from compliance import selectors
from compliance.forms import (
    BatchProvenanceForm,
    BlocklistEntryAddForm,
    RefundRequestForm,
    RevocationListForm,
    SupplierDocumentForm,
    SupplierVettingOpenForm,
)
from compliance.models import (
    BatchCheck,
    BatchProvenance,
    BlocklistEntry,
    BlocklistKind,
    CheckOutcome,
    Complaint,
    ComplaintEvidence,
    ComplaintMessage,
    Dispute,
    OrderReview,
    OrderReviewEvent,
    Refund,
    RefundEvent,
    ReviewStatus,
    RevocationCase,
    RevocationCaseStatus,
    RevocationList,
    ScreeningDecision,
    ScreeningRule,
    SupplierClaim,
    SupplierClaimEvent,
    SupplierClaimStatus,
    SupplierDocument,
    SupplierVetting,
    SupplierVettingEvent,
    VettingStatus,
)
from compliance.models.screening import THRESHOLD_MEANING, RuleKind
from compliance.services import claims as claim_services
from compliance.services import complaints as complaint_services
from compliance.services import disputes as dispute_services
from compliance.services import provenance as provenance_services
from compliance.services import refunds as refund_services
from compliance.services import reviews as review_services
from compliance.services import suppliers as supplier_services
from compliance.services.revocations import revocation_case_transition, revocation_list_import
from compliance.services.screening import (
    blocklist_entries_expire,
    blocklist_entry_add,
    reason_text,
)
from core.admin_pages import action_with_note, service_form_page
from core.audit import audit_record
from core.errors import KeyshopError
from shop.models import Order


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _each(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    ids: Iterable[int],
    do: Callable[[int], object],
    label: Callable[[int], str],
) -> int:
    """Run a service per selected row, one transaction each: a refusal does not stop the rest."""
    done = 0
    for pk in ids:
        try:
            do(pk)
        except KeyshopError as error:
            model_admin.message_user(request, f"{label(pk)}: {error.message}", messages.ERROR)
        else:
            done += 1
    if done:
        model_admin.message_user(
            request, gettext("%(count)d changed.") % {"count": done}, messages.SUCCESS
        )
    return done


# --- Suppliers ---------------------------------------------------------------


class SupplierDocumentInline(_ReadOnlyInline):
    model = SupplierDocument
    fk_name = "supplier"
    fields = ["kind", "reference", "valid_until", "uploaded_at", "uploaded_by", "download"]
    readonly_fields = fields

    @admin.display(description=_("file"))
    def download(self, document: SupplierDocument) -> str:
        return _download_link(document)


def _download_link(document: SupplierDocument) -> str:
    url = reverse("admin:compliance_supplierdocument_download", args=[document.pk])
    return format_html('<a href="{}">{}</a>', url, gettext("Download"))


class SupplierVettingEventInline(_ReadOnlyInline):
    model = SupplierVettingEvent
    fields = ["created_at", "from_status", "to_status", "actor", "note"]
    readonly_fields = fields


def _defect_rate(vetting: SupplierVetting) -> selectors.DefectRate:
    """The rate from the annotations of ``SupplierVettingAdmin.get_queryset`` (no query)."""
    return selectors.DefectRate(
        vetting.supplier_id,
        getattr(vetting, "defect_delivered", 0),
        getattr(vetting, "defect_claims", 0),
    )


def _percent_text(rate: selectors.DefectRate) -> str:
    if rate.percent is None:
        return "-"
    return f"{number_format(rate.percent, decimal_pos=2)}%"


class DefectFlagFilter(admin.SimpleListFilter):
    """Suppliers whose defect rate reached the threshold and wait for an officer."""

    title = _("flagged for review")
    parameter_name = "defect_flagged"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(defect_flagged_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(defect_flagged_at__isnull=True)
        return queryset


@admin.register(SupplierVetting)
class SupplierVettingAdmin(admin.ModelAdmin):
    list_display = [
        "supplier",
        "status",
        "authorisation_valid_until",
        "documents",
        "defect_delivered",
        "defect_claims",
        "defect_rate",
        "defect_flagged",
        "updated_at",
    ]
    list_filter = ["status", DefectFlagFilter]
    list_select_related = ["supplier"]
    search_fields = ["supplier__name"]
    fields = [
        "supplier",
        "status",
        "approved_at",
        "authorisation_valid_until",
        "notes",
        "defect_summary",
        "defect_flagged_at",
        "defect_flag_note",
    ]
    readonly_fields = [
        "supplier",
        "status",
        "approved_at",
        "authorisation_valid_until",
        "defect_summary",
        "defect_flagged_at",
        "defect_flag_note",
    ]
    inlines = [SupplierVettingEventInline]
    actions = ["start_review", "approve", "suspend", "offboard", "clear_defect_flag"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[SupplierVetting]:
        # Counts as subqueries, not joins: a join would multiply the document count.
        return (
            super()
            .get_queryset(request)
            .annotate(
                document_count=Count("supplier__documents"),
                **selectors.supplier_defect_annotations(supplier_ref="supplier_id"),
            )
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_vet_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("compliance.vet_supplier")

    @admin.display(description=_("authorisation valid until"))
    def authorisation_valid_until(self, vetting: SupplierVetting) -> object:
        valid_until = selectors.supplier_authorisation_valid_until(supplier_id=vetting.supplier_id)
        return valid_until or gettext("none current")

    @admin.display(description=_("documents"), ordering="document_count")
    def documents(self, vetting: SupplierVetting) -> str:
        url = reverse("admin:compliance_supplierdocument_changelist")
        return format_html(
            '<a href="{}?supplier__id__exact={}">{}</a>',
            url,
            vetting.supplier_id,
            getattr(vetting, "document_count", 0),
        )

    @admin.display(description=_("codes delivered (window)"), ordering="defect_delivered")
    def defect_delivered(self, vetting: SupplierVetting) -> int:
        return _defect_rate(vetting).delivered

    @admin.display(description=_("claims (window)"), ordering="defect_claims")
    def defect_claims(self, vetting: SupplierVetting) -> str:
        url = reverse("admin:compliance_supplierclaim_changelist")
        return format_html(
            '<a href="{}?batch__supplier__id__exact={}">{}</a>',
            url,
            vetting.supplier_id,
            _defect_rate(vetting).claims,
        )

    @admin.display(description=_("defect rate"))
    def defect_rate(self, vetting: SupplierVetting) -> str:
        rate = _defect_rate(vetting)
        text = _percent_text(rate)
        if rate.reaches_threshold():
            return format_html('<strong style="color: var(--error-fg)">{}</strong>', text)
        return text

    @admin.display(description=_("flagged for review"), boolean=True)
    def defect_flagged(self, vetting: SupplierVetting) -> bool:
        return vetting.defect_flagged_at is not None

    @admin.display(description=_("defect rate"))
    def defect_summary(self, vetting: SupplierVetting) -> str:
        return claim_services.defect_rate_text(_defect_rate(vetting))

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None):
        """Vetting starts by naming an existing supplier (fulfillment keeps the supplier)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = SupplierVettingOpenForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            vetting = supplier_services.supplier_vetting_open(
                supplier=form.cleaned_data["supplier"],
                actor=request.user,
                notes=form.cleaned_data["notes"],
            )
            return redirect("admin:compliance_suppliervetting_change", vetting.pk)
        return service_form_page(
            self,
            request,
            form,
            title=gettext("Start vetting a supplier"),
            submit_label=gettext("Start vetting"),
        )

    def _move(self, request: HttpRequest, queryset: QuerySet, to_status: str) -> None:
        _each(
            self,
            request,
            queryset.order_by("pk").values_list("pk", flat=True),
            lambda pk: supplier_services.supplier_vetting_transition(
                vetting_id=pk, to_status=to_status, actor=request.user
            ),
            lambda pk: str(SupplierVetting.objects.get(pk=pk).supplier),
        )

    @admin.action(description=_("Start review"), permissions=["vet"])
    def start_review(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._move(request, queryset, VettingStatus.UNDER_REVIEW)

    @admin.action(description=_("Approve"), permissions=["vet"])
    def approve(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._move(request, queryset, VettingStatus.APPROVED)

    @admin.action(description=_("Suspend (takes its batches off sale)"), permissions=["vet"])
    def suspend(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._move(request, queryset, VettingStatus.SUSPENDED)

    @admin.action(description=_("Offboard (takes its batches off sale)"), permissions=["vet"])
    def offboard(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._move(request, queryset, VettingStatus.OFFBOARDED)

    @admin.action(description=_("Clear the defect flag (asks why)"), permissions=["vet"])
    def clear_defect_flag(self, request: HttpRequest, queryset: QuerySet):
        return action_with_note(
            self,
            request,
            queryset,
            action="clear_defect_flag",
            title=gettext("Clear the defect flag"),
            question=gettext(
                "The suppliers stay as they are (suspend them with the vetting actions). "
                "Why is the flag cleared?"
            ),
            submit_label=gettext("Clear the flag"),
            apply=lambda vetting, note: claim_services.supplier_defect_flag_clear(
                vetting_id=vetting.pk, actor=request.user, note=note
            ),
        )


@admin.register(SupplierDocument)
class SupplierDocumentAdmin(admin.ModelAdmin):
    list_display = ["supplier", "kind", "reference", "valid_until", "uploaded_at", "file_link"]
    list_filter = ["kind", "supplier"]
    list_select_related = ["supplier"]
    search_fields = ["supplier__name", "reference"]
    fields = [
        "supplier",
        "kind",
        "reference",
        "valid_until",
        "original_name",
        "sha256",
        "uploaded_by",
        "uploaded_at",
        "file_link",
    ]
    readonly_fields = fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Evidence of vetting: superseded by a newer document, never deleted.
        return False

    def get_urls(self):
        download = path(
            "<int:document_id>/download/",
            self.admin_site.admin_view(self.download_view),
            name="compliance_supplierdocument_download",
        )
        return [download, *super().get_urls()]

    @admin.display(description=_("file"))
    def file_link(self, document: SupplierDocument) -> str:
        return _download_link(document)

    def download_view(self, request: HttpRequest, document_id: int) -> FileResponse:
        """The only way a supplier document leaves the server: staff with the permission."""
        if not request.user.has_perm("compliance.download_supplierdocument"):
            raise PermissionDenied
        document = SupplierDocument.objects.filter(pk=document_id).first()
        if document is None:
            raise Http404
        audit_record(
            action="supplier_document.download",
            obj_type="compliance.supplierdocument",
            obj_id=document.pk,
            actor=request.user,
            data={"supplier_id": document.supplier_id},
        )
        return FileResponse(
            document.file.open("rb"), as_attachment=True, filename=document.original_name
        )

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = SupplierDocumentForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                supplier_services.supplier_document_add(
                    supplier=form.cleaned_data["supplier"],
                    kind=form.cleaned_data["kind"],
                    reference=form.cleaned_data["reference"],
                    file=form.cleaned_data["file"],
                    valid_until=form.cleaned_data["valid_until"],
                    actor=request.user,
                )
            except KeyshopError as error:
                form.add_error(None, error.message)
            else:
                self.message_user(request, gettext("Document stored."), messages.SUCCESS)
                return redirect("admin:compliance_supplierdocument_changelist")
        return service_form_page(
            self,
            request,
            form,
            title=gettext("Upload a supplier document"),
            submit_label=gettext("Upload"),
        )


# --- Batches: provenance, checks, approval, export ------------------------------


class BatchCheckInline(_ReadOnlyInline):
    model = BatchCheck
    fk_name = "batch"
    fields = ["kind", "outcome", "count", "detail", "checked_at"]
    readonly_fields = fields


class _Echo:
    """A file-like object whose write returns the line, for streaming csv rows."""

    def write(self, value: str) -> str:
        return value


def _csv_lines(header: Iterable[str], rows: Iterable[tuple[object, ...]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow(row)


def provenance_csv_response(
    request: HttpRequest, filename: str, **scope: Any
) -> StreamingHttpResponse:
    audit_record(
        action="provenance.export",
        obj_type="compliance.batchprovenance",
        obj_id="-",
        actor=request.user,
        data={key: value for key, value in scope.items()},
    )
    response = StreamingHttpResponse(
        _csv_lines(selectors.PROVENANCE_HEADER, selectors.provenance_rows(**scope)),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@admin.register(BatchProvenance)
class BatchProvenanceAdmin(admin.ModelAdmin):
    """The quarantine desk: provenance, what the checks found, approve or reject."""

    form = BatchProvenanceForm
    list_display = [
        "batch_link",
        "product",
        "supplier",
        "batch_status",
        "imported_by",
        "codes",
        "warnings",
        "complete",
        "created_at",
    ]
    list_filter = ["batch__status", "batch__supplier"]
    list_select_related = ["batch", "batch__product", "batch__supplier", "batch__imported_by"]
    search_fields = ["invoice_reference", "batch__product__name", "batch__supplier__name"]
    readonly_fields = [
        "batch_link",
        "batch_status",
        "supplier",
        "imported_by",
        "file_sha256",
        "checks",
        "recorded_by",
        "checks_run_at",
    ]
    fieldsets = [
        (
            _("Batch"),
            {"fields": ["batch_link", "batch_status", "supplier", "imported_by", "file_sha256"]},
        ),
        (
            _("Provenance"),
            {
                "fields": [
                    "invoice_reference",
                    "acquired_on",
                    "unit_cost",
                    "unit_cost_currency",
                    "publisher_authorisation_reference",
                    "recorded_by",
                ]
            },
        ),
        (_("Automatic checks"), {"fields": ["checks", "checks_run_at"]}),
    ]
    actions = ["approve", "reject", "run_checks", "export_csv"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[BatchProvenance]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                warning_count=Count(
                    "batch__compliance_checks",
                    filter=Q(batch__compliance_checks__outcome=CheckOutcome.WARNING),
                )
            )
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # created when a batch's import finishes

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_approve_batch_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("compliance.approve_batch")

    def has_export_provenance_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("compliance.export_provenance")

    def get_urls(self):
        export = path(
            "export.csv",
            self.admin_site.admin_view(self.export_view),
            name="compliance_provenance_export",
        )
        return [export, *super().get_urls()]

    @admin.display(description=_("batch"), ordering="batch_id")
    def batch_link(self, provenance: BatchProvenance) -> str:
        url = reverse("admin:fulfillment_batch_change", args=[provenance.batch_id])
        return format_html('<a href="{}">#{}</a>', url, provenance.batch_id)

    @admin.display(description=_("product"))
    def product(self, provenance: BatchProvenance) -> object:
        return provenance.batch.product

    @admin.display(description=_("supplier"))
    def supplier(self, provenance: BatchProvenance) -> object:
        return provenance.batch.supplier

    @admin.display(description=_("status"))
    def batch_status(self, provenance: BatchProvenance) -> str:
        return provenance.batch.get_status_display()

    @admin.display(description=_("imported by"))
    def imported_by(self, provenance: BatchProvenance) -> object:
        return provenance.batch.imported_by or "-"

    @admin.display(description=_("codes"))
    def codes(self, provenance: BatchProvenance) -> int:
        return provenance.batch.codes_imported

    @admin.display(description=_("file SHA-256"))
    def file_sha256(self, provenance: BatchProvenance) -> str:
        return provenance.batch.file_sha256

    @admin.display(description=_("warnings"), ordering="warning_count")
    def warnings(self, provenance: BatchProvenance) -> int:
        return getattr(provenance, "warning_count", 0)

    @admin.display(description=_("provenance complete"), boolean=True)
    def complete(self, provenance: BatchProvenance) -> bool:
        return not provenance.missing_fields()

    @admin.display(description=_("checks"))
    def checks(self, provenance: BatchProvenance) -> str:
        rows = BatchCheck.objects.filter(batch_id=provenance.batch_id).order_by("kind")
        return format_html(
            "<table>{}</table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td><strong>{}</strong></td><td>{}</td></tr>",
                ((c.get_kind_display(), c.get_outcome_display(), c.detail) for c in rows),
            ),
        )

    def save_model(self, request: HttpRequest, obj: BatchProvenance, form, change: bool) -> None:
        provenance_services.batch_provenance_record(
            batch_id=obj.batch_id,
            invoice_reference=form.cleaned_data["invoice_reference"],
            acquired_on=form.cleaned_data["acquired_on"],
            unit_cost=form.cleaned_data["unit_cost_money"],
            publisher_authorisation_reference=form.cleaned_data[
                "publisher_authorisation_reference"
            ],
            actor=request.user,
        )

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except KeyshopError as error:
            self.message_user(request, error.message, messages.ERROR)
            return redirect(request.path)

    @admin.action(description=_("Approve: put on sale"), permissions=["approve_batch"])
    def approve(self, request: HttpRequest, queryset: QuerySet) -> None:
        _each(
            self,
            request,
            queryset.order_by("batch_id").values_list("batch_id", flat=True),
            lambda batch_id: provenance_services.batch_approve(
                batch_id=batch_id, actor=request.user
            ),
            lambda batch_id: gettext("Batch #%(batch)d") % {"batch": batch_id},
        )

    @admin.action(description=_("Reject (asks why)"), permissions=["approve_batch"])
    def reject(self, request: HttpRequest, queryset: QuerySet):
        return action_with_note(
            self,
            request,
            queryset,
            action="reject",
            title=gettext("Reject batches"),
            question=gettext("Their codes will never be sold. Why are they rejected?"),
            submit_label=gettext("Reject"),
            apply=lambda provenance, note: provenance_services.batch_reject(
                batch_id=provenance.batch_id, actor=request.user, note=note
            ),
        )

    @admin.action(description=_("Run the automatic checks again"), permissions=["change"])
    def run_checks(self, request: HttpRequest, queryset: QuerySet) -> None:
        _each(
            self,
            request,
            queryset.order_by("batch_id").values_list("batch_id", flat=True),
            lambda batch_id: provenance_services.batch_checks_run(batch_id=batch_id),
            lambda batch_id: gettext("Batch #%(batch)d") % {"batch": batch_id},
        )

    @admin.action(description=_("Export provenance (CSV)"), permissions=["export_provenance"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet) -> StreamingHttpResponse:
        batch_ids = list(queryset.values_list("batch_id", flat=True))
        return provenance_csv_response(request, "provenance-batches.csv", batch_ids=batch_ids)

    def export_view(self, request: HttpRequest) -> StreamingHttpResponse:
        """?batch=<id>, ?product=<id> or ?supplier=<id>: every code's provenance, streamed."""
        if not request.user.has_perm("compliance.export_provenance"):
            raise PermissionDenied
        scope: dict[str, Any] = {}
        for param, key in [
            ("batch", "batch_ids"),
            ("product", "product_id"),
            ("supplier", "supplier_id"),
        ]:
            value = request.GET.get(param, "")
            if value:
                if not value.isdigit():
                    raise Http404
                scope[key] = [int(value)] if key == "batch_ids" else int(value)
        if not scope:
            raise Http404
        name = "-".join(
            f"{param}-{request.GET[param]}"
            for param in ("batch", "product", "supplier")
            if request.GET.get(param)
        )
        return provenance_csv_response(request, f"provenance-{name}.csv", **scope)


# --- Revocation lists and cases ---------------------------------------------------


@admin.register(RevocationList)
class RevocationListAdmin(admin.ModelAdmin):
    list_display = [
        "imported_at",
        "publisher",
        "reference",
        "product",
        "codes_listed",
        "withdrawn_available",
        "withdrawn_held_back",
        "delivered_matches",
    ]
    list_filter = ["publisher"]
    list_select_related = ["product"]
    search_fields = ["publisher", "reference", "product__name"]
    readonly_fields = [
        "product",
        "publisher",
        "reference",
        "file_sha256",
        "lines_read",
        "codes_listed",
        "withdrawn_available",
        "withdrawn_held_back",
        "delivered_matches",
        "imported_by",
        "imported_at",
    ]
    fields = readonly_fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None):
        """The upload form: matching codes are withdrawn, sold ones open cases."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = RevocationListForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                revocation_list = revocation_list_import(
                    product=form.cleaned_data["product"],
                    publisher=form.cleaned_data["publisher"],
                    reference=form.cleaned_data["reference"],
                    file=form.cleaned_data["file"],
                    file_format=form.cleaned_data["file_format"],
                    actor=request.user,
                )
            except KeyshopError as error:
                form.add_error("file", error.message)
            else:
                self.message_user(
                    request,
                    gettext(
                        "%(listed)d codes listed: %(withdrawn)d withdrawn from stock, "
                        "%(cases)d already delivered (cases opened)."
                    )
                    % {
                        "listed": revocation_list.codes_listed,
                        "withdrawn": revocation_list.withdrawn_available
                        + revocation_list.withdrawn_held_back,
                        "cases": revocation_list.delivered_matches,
                    },
                    messages.SUCCESS,
                )
                return redirect("admin:compliance_revocationlist_change", revocation_list.pk)
        return service_form_page(
            self,
            request,
            form,
            title=gettext("Import a revocation list"),
            submit_label=gettext("Import"),
            intro=gettext(
                "One revoked code per line, or a CSV file with a “code” column. Codes in stock "
                "are withdrawn at once; buyers of codes already delivered are told by email."
            ),
        )


@admin.register(RevocationCase)
class RevocationCaseAdmin(admin.ModelAdmin):
    list_display = [
        "pk",
        "order_link",
        "product",
        "revocation_list",
        "status",
        "opened_at",
        "buyer_notified_at",
    ]
    list_filter = ["status"]
    list_select_related = ["order", "code__product", "revocation_list"]
    search_fields = ["order__number"]
    fields = [
        "order_link",
        "product",
        "revocation_list",
        "status",
        "opened_at",
        "buyer_notified_at",
    ]
    readonly_fields = fields
    actions = ["resolve"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("order"))
    def order_link(self, case: RevocationCase) -> str:
        url = reverse("admin:shop_order_change", args=[case.order_id])
        return format_html('<a href="{}">{}</a>', url, case.order.number)

    @admin.display(description=_("product"))
    def product(self, case: RevocationCase) -> object:
        return case.code.product

    @admin.action(description=_("Resolve (asks how)"), permissions=["change"])
    def resolve(self, request: HttpRequest, queryset: QuerySet):
        return action_with_note(
            self,
            request,
            queryset.filter(status=RevocationCaseStatus.OPEN),
            action="resolve",
            title=gettext("Resolve revocation cases"),
            question=gettext("How was each case resolved (replacement, refund, …)?"),
            submit_label=gettext("Resolve"),
            apply=lambda case, note: revocation_case_transition(
                case_id=case.pk,
                to_status=RevocationCaseStatus.RESOLVED,
                actor=request.user,
                note=note,
            ),
        )


# --- Screening: rules, blocklist, decisions, the review queue ---------------------


@admin.register(ScreeningRule)
class ScreeningRuleAdmin(admin.ModelAdmin):
    list_display = ["__str__", "is_active", "points", "threshold", "window_hours", "meaning"]
    list_editable = ["is_active", "points", "threshold", "window_hours"]
    list_filter = ["is_active"]
    fields = ["kind", "currency", "is_active", "points", "threshold", "window_hours"]

    @admin.display(description=_("threshold means"))
    def meaning(self, rule: ScreeningRule) -> str:
        return str(THRESHOLD_MEANING.get(RuleKind(rule.kind), "-"))

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # switch a rule off instead


@admin.register(BlocklistEntry)
class BlocklistEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "shown_value", "reason", "expires_at", "created_by"]
    list_filter = ["kind"]
    search_fields = ["value", "reason"]
    fields = ["kind", "shown_value", "reason", "expires_at", "created_by", "created_at"]
    readonly_fields = ["kind", "shown_value", "created_by", "created_at"]
    actions = ["expire_now"]

    @admin.display(description=_("value"))
    def shown_value(self, entry: BlocklistEntry) -> str:
        # An IP address is kept only as its hash, which means nothing to a person.
        return gettext("(hashed IP address)") if entry.kind == BlocklistKind.IP else entry.value

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = BlocklistEntryAddForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                blocklist_entry_add(actor=request.user, **form.cleaned_data)
            except KeyshopError as error:
                form.add_error(None, error.message)
            else:
                return redirect("admin:compliance_blocklistentry_changelist")
        return service_form_page(
            self,
            request,
            form,
            title=gettext("Block"),
            submit_label=gettext("Add to the blocklist"),
        )

    @admin.action(description=_("Expire now"), permissions=["change"])
    def expire_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        count = blocklist_entries_expire(entry_ids=ids, actor=request.user)
        self.message_user(request, gettext("%(count)d entries expired.") % {"count": count})


def _reasons_html(reasons: list[dict[str, Any]]) -> str:
    return format_html_join("", "<div>{}</div>", ((reason_text(r),) for r in reasons)) or "-"


@admin.register(ScreeningDecision)
class ScreeningDecisionAdmin(admin.ModelAdmin):
    list_display = ["created_at", "order", "decision", "score", "reasons_shown"]
    list_filter = ["decision"]
    list_select_related = ["order"]
    search_fields = ["order__number"]
    fields = ["order", "decision", "score", "reasons_shown", "created_at"]
    readonly_fields = fields

    @admin.display(description=_("reasons"))
    def reasons_shown(self, decision: ScreeningDecision) -> str:
        return _reasons_html(decision.reasons)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class OrderReviewEventInline(_ReadOnlyInline):
    model = OrderReviewEvent
    fields = ["created_at", "from_status", "to_status", "source", "actor", "note"]
    readonly_fields = fields


class PendingFirst(admin.SimpleListFilter):
    """The queue opens on what waits for a person."""

    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("all", gettext("All")), *ReviewStatus.choices]

    def choices(self, changelist):
        for value, label in self.lookup_choices:
            selected = (self.value() or ReviewStatus.PENDING) == value
            yield {
                "selected": selected,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        value = self.value() or ReviewStatus.PENDING
        return queryset if value == "all" else queryset.filter(status=value)


@admin.register(OrderReview)
class OrderReviewAdmin(admin.ModelAdmin):
    """The review queue: held orders, why they were held, and for how long."""

    list_display = [
        "order_link",
        "waiting",
        "total",
        "score",
        "reasons",
        "status",
        "closed_by",
    ]
    list_filter = [PendingFirst]
    list_select_related = ["order", "order__screening", "closed_by"]
    search_fields = ["order__number"]
    ordering = ["held_at"]
    fields = [
        "order_link",
        "status",
        "held_at",
        "waiting",
        "total",
        "score",
        "reasons",
        "closed_at",
        "closed_by",
        "note",
        "stripe_refund_id",
    ]
    readonly_fields = fields
    inlines = [OrderReviewEventInline]
    actions = ["approve", "refuse"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Read-only pages; decisions are the actions.
        return obj is None and super().has_change_permission(request)

    def has_review_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("compliance.review_order")

    @admin.display(description=_("order"), ordering="order__number")
    def order_link(self, review: OrderReview) -> str:
        url = reverse("admin:shop_order_change", args=[review.order_id])
        return format_html('<a href="{}">{}</a>', url, review.order.number)

    @admin.display(description=_("held for"), ordering="held_at")
    def waiting(self, review: OrderReview) -> str:
        seconds = selectors.review_waiting_seconds(review)
        hours, minutes = divmod(seconds // 60, 60)
        text = gettext("%(hours)d h %(minutes)02d min") % {"hours": hours, "minutes": minutes}
        overdue = (
            review.status == ReviewStatus.PENDING
            and seconds > settings.KEYSHOP_REVIEW_SLA_MINUTES * 60
        )
        if overdue:
            return format_html('<strong style="color: var(--error-fg)">{} ⚠</strong>', text)
        return text

    @admin.display(description=_("total"))
    def total(self, review: OrderReview) -> str:
        return review.order.total.format()

    def _screening(self, review: OrderReview) -> ScreeningDecision | None:
        return getattr(review.order, "screening", None)

    @admin.display(description=_("score"))
    def score(self, review: OrderReview) -> object:
        screening = self._screening(review)
        return screening.score if screening else "-"

    @admin.display(description=_("reasons"))
    def reasons(self, review: OrderReview) -> str:
        screening = self._screening(review)
        return _reasons_html(screening.reasons) if screening else "-"

    @admin.action(description=_("Approve: deliver"), permissions=["review"])
    def approve(self, request: HttpRequest, queryset: QuerySet) -> None:
        _each(
            self,
            request,
            queryset.order_by("order_id").values_list("order_id", flat=True),
            lambda order_id: review_services.order_review_approve(
                order_id=order_id, actor=request.user
            ),
            lambda order_id: gettext("Order %(id)d") % {"id": order_id},
        )

    @admin.action(description=_("Refuse: refund (asks why)"), permissions=["review"])
    def refuse(self, request: HttpRequest, queryset: QuerySet):
        return action_with_note(
            self,
            request,
            queryset,
            action="refuse",
            title=gettext("Refuse held orders"),
            question=gettext(
                "The payments are refunded through Stripe and no code is delivered. Why?"
            ),
            submit_label=gettext("Refuse and refund"),
            apply=lambda review, note: review_services.order_review_refuse(
                order_id=review.order_id, actor=request.user, note=note
            ),
        )


# --- Refunds and disputes -------------------------------------------------------------


class RefundEventInline(_ReadOnlyInline):
    model = RefundEvent
    fields = ["created_at", "from_status", "to_status", "actor", "note"]
    readonly_fields = fields


@admin.register(Refund)
class RefundAdmin(admin.ModelAdmin):
    """Refunds are asked for on the add page and, above the threshold, approved by another."""

    list_display = [
        "pk",
        "order",
        "amount_minor",
        "currency",
        "whole_order",
        "status",
        "requested_by",
        "approved_by",
        "created_at",
    ]
    list_filter = ["status", "source"]
    list_select_related = ["order", "requested_by", "approved_by"]
    search_fields = ["order__number", "stripe_refund_id"]
    readonly_fields = [
        "order",
        "amount_minor",
        "currency",
        "whole_order",
        "codes",
        "reason",
        "source",
        "status",
        "requested_by",
        "approved_by",
        "stripe_refund_id",
        "failure_reason",
        "created_at",
        "updated_at",
    ]
    fields = readonly_fields
    inlines = [RefundEventInline]
    actions = ["approve"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = RefundRequestForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            order = Order.objects.filter(number=form.cleaned_data["order_number"].strip()).first()
            if order is None:
                form.add_error("order_number", gettext("No order has this number."))
            else:
                try:
                    refund = refund_services.refund_request(
                        order_id=order.pk,
                        code_ids=form.cleaned_data["code_ids"],
                        reason=form.cleaned_data["reason"],
                        actor=request.user,
                    )
                except KeyshopError as error:
                    form.add_error(None, error.message)
                else:
                    self.message_user(
                        request,
                        gettext("Refund requested: %(status)s.")
                        % {"status": refund.get_status_display()},
                        messages.SUCCESS,
                    )
                    return redirect("admin:compliance_refund_change", refund.pk)
        return service_form_page(
            self,
            request,
            form,
            title=gettext("Refund an order"),
            submit_label=gettext("Request the refund"),
            intro=gettext(
                "The refund goes through Stripe; the refunded codes are revoked once Stripe "
                "confirms it. A refund above %(limit)s (minor units) waits for another member "
                "of staff to approve it."
            )
            % {"limit": settings.KEYSHOP_REFUND_SECOND_APPROVAL_MINOR},
        )

    @admin.action(
        description=_("Approve the selected refunds (second approval)"), permissions=["change"]
    )
    def approve(self, request: HttpRequest, queryset: QuerySet) -> None:
        _each(
            self,
            request,
            queryset.values_list("pk", flat=True),
            lambda pk: refund_services.refund_approve(refund_id=pk, actor=request.user),
            lambda pk: f"refund #{pk}",
        )


@admin.register(Dispute)
class DisputeAdmin(admin.ModelAdmin):
    """Disputes arrive by webhook; staff read them and download the evidence pack."""

    list_display = ["stripe_dispute_id", "order", "reason", "amount_minor", "currency", "status"]
    list_filter = ["status"]
    list_select_related = ["order"]
    search_fields = ["stripe_dispute_id", "order__number"]
    readonly_fields = [
        "order",
        "stripe_dispute_id",
        "reason",
        "amount_minor",
        "currency",
        "status",
        "codes_revoked",
        "opened_at",
        "closed_at",
        "evidence_links",
    ]
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self):
        evidence = path(
            "<int:dispute_id>/evidence.<str:fmt>",
            self.admin_site.admin_view(self.evidence_view),
            name="compliance_dispute_evidence",
        )
        return [evidence, *super().get_urls()]

    @admin.display(description=_("evidence pack"))
    def evidence_links(self, dispute: Dispute) -> str:
        return format_html(
            '<a href="{}">JSON</a> · <a href="{}">{}</a>',
            reverse("admin:compliance_dispute_evidence", args=[dispute.pk, "json"]),
            reverse("admin:compliance_dispute_evidence", args=[dispute.pk, "txt"]),
            gettext("text"),
        )

    def evidence_view(self, request: HttpRequest, dispute_id: int, fmt: str) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        if fmt not in {"json", "txt"} or not Dispute.objects.filter(pk=dispute_id).exists():
            raise Http404
        pack = dispute_services.dispute_evidence_pack(dispute_id=dispute_id)
        audit_record(
            action="dispute.evidence_download",
            obj_type="compliance.dispute",
            obj_id=dispute_id,
            actor=request.user,
            data={"format": fmt},
        )
        if fmt == "json":
            body, content_type = dispute_services.evidence_pack_json(pack), "application/json"
        else:
            body, content_type = dispute_services.evidence_pack_text(pack), "text/plain"
        response = HttpResponse(body, content_type=f"{content_type}; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="dispute-{pack["dispute"]["id"]}.{fmt}"'
        )
        return response


# --- Complaints ------------------------------------------------------------------------


class ComplaintMessageInline(_ReadOnlyInline):
    model = ComplaintMessage
    fields = ["created_at", "staff_user", "body"]
    readonly_fields = fields


class ComplaintEvidenceInline(_ReadOnlyInline):
    model = ComplaintEvidence
    fields = ["uploaded_at", "original_name", "content_type", "size", "download"]
    readonly_fields = fields

    @admin.display(description=_("file"))
    def download(self, evidence: ComplaintEvidence) -> str:
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:compliance_complaint_evidence", args=[evidence.pk]),
            gettext("download"),
        )


@admin.register(Complaint)
class ComplaintAdmin(admin.ModelAdmin):
    """Buyers file complaints from the order page; support replies, replaces, refunds or rejects."""

    list_display = [
        "pk",
        "order",
        "reason",
        "status",
        "resolution",
        "first_answer_due",
        "updated_at",
    ]
    list_filter = ["status", "reason", "resolution"]
    list_select_related = ["order"]
    search_fields = ["order__number"]
    readonly_fields = [
        "order",
        "codes",
        "reason",
        "description",
        "status",
        "resolution",
        "resolution_note",
        "refund",
        "resolved_by",
        "created_at",
        "updated_at",
    ]
    fields = readonly_fields
    inlines = [ComplaintEvidenceInline, ComplaintMessageInline]
    actions = ["reply", "replace_codes", "refund_codes", "reject", "close"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        staff_answers = ComplaintMessage.objects.filter(
            complaint=OuterRef("pk"), staff_user__isnull=False
        )
        return super().get_queryset(request).annotate(answered=Exists(staff_answers))

    @admin.display(description=_("first answer due"), ordering="created_at")
    def first_answer_due(self, complaint: Complaint) -> str:
        """When support must first answer; marked once that time has passed unanswered."""
        hours = settings.KEYSHOP_COMPLAINT_FIRST_RESPONSE_HOURS
        due = complaint.created_at + timedelta(hours=hours)
        shown = date_format(due, "SHORT_DATETIME_FORMAT")
        waiting = not complaint.answered and complaint.status in complaint_services.UNRESOLVED
        if waiting and due < timezone.now():
            overdue = gettext("overdue since %(due)s") % {"due": shown}
            return format_html("<strong>{}</strong>", overdue)
        return shown

    @admin.action(description=_("Close"), permissions=["change"])
    def close(self, request: HttpRequest, queryset: QuerySet) -> None:
        _each(
            self,
            request,
            queryset.order_by("pk").values_list("pk", flat=True),
            lambda complaint_id: complaint_services.complaint_close(
                complaint_id=complaint_id, actor=request.user
            ),
            lambda complaint_id: gettext("Complaint #%(id)d") % {"id": complaint_id},
        )

    def get_urls(self):
        evidence = path(
            "evidence/<int:evidence_id>/",
            self.admin_site.admin_view(self.evidence_view),
            name="compliance_complaint_evidence",
        )
        return [evidence, *super().get_urls()]

    def evidence_view(self, request: HttpRequest, evidence_id: int) -> FileResponse:
        """The only way a buyer's file leaves the server: staff with the permission."""
        if not request.user.has_perm("compliance.download_complaintevidence"):
            raise PermissionDenied
        evidence = ComplaintEvidence.objects.filter(pk=evidence_id).first()
        if evidence is None:
            raise Http404
        audit_record(
            action="complaint_evidence.download",
            obj_type="compliance.complaintevidence",
            obj_id=evidence.pk,
            actor=request.user,
            data={"complaint_id": evidence.complaint_id},
        )
        response = FileResponse(
            evidence.file.open("rb"), as_attachment=True, filename=f"evidence-{evidence.pk}"
        )
        response["Content-Type"] = evidence.content_type
        response["X-Content-Type-Options"] = "nosniff"
        return response

    @admin.action(description=_("Reply to the buyer"), permissions=["change"])
    def reply(self, request: HttpRequest, queryset: QuerySet):
        return action_with_note(
            self,
            request,
            queryset,
            action="reply",
            title=gettext("Reply to the buyer"),
            question=gettext("Your message (the buyer reads it on the complaint page):"),
            submit_label=gettext("Send"),
            apply=lambda complaint, note: complaint_services.complaint_message_add(
                complaint_id=complaint.pk, body=note, staff_user=request.user
            ),
        )

    @admin.action(description=_("Replace the codes (old ones defective)"), permissions=["change"])
    def replace_codes(self, request: HttpRequest, queryset: QuerySet):
        return action_with_note(
            self,
            request,
            queryset,
            action="replace_codes",
            title=gettext("Replace the codes"),
            question=gettext("The codes become defective and new ones are delivered. Note:"),
            submit_label=gettext("Replace"),
            apply=lambda complaint, note: complaint_services.complaint_resolve_replace(
                complaint_id=complaint.pk, actor=request.user, note=note
            ),
        )

    @admin.action(description=_("Refund the codes"), permissions=["change"])
    def refund_codes(self, request: HttpRequest, queryset: QuerySet):
        if not request.user.has_perm("compliance.add_refund"):
            raise PermissionDenied
        return action_with_note(
            self,
            request,
            queryset,
            action="refund_codes",
            title=gettext("Refund the codes"),
            question=gettext("Why are they refunded?"),
            submit_label=gettext("Refund"),
            apply=lambda complaint, note: complaint_services.complaint_resolve_refund(
                complaint_id=complaint.pk, actor=request.user, note=note
            ),
        )

    @admin.action(description=_("Reject"), permissions=["change"])
    def reject(self, request: HttpRequest, queryset: QuerySet):
        return action_with_note(
            self,
            request,
            queryset,
            action="reject",
            title=gettext("Reject complaints"),
            question=gettext("Why is each rejected? The buyer reads this."),
            submit_label=gettext("Reject"),
            apply=lambda complaint, note: complaint_services.complaint_reject(
                complaint_id=complaint.pk, actor=request.user, note=note
            ),
        )


# --- Supplier claims ---------------------------------------------------------------------


class SupplierClaimEventInline(_ReadOnlyInline):
    model = SupplierClaimEvent
    fields = ["created_at", "from_status", "to_status", "actor", "note"]
    readonly_fields = fields


@admin.register(SupplierClaim)
class SupplierClaimAdmin(admin.ModelAdmin):
    """Defective codes claimed back from suppliers; the supplier's answer is recorded here."""

    list_display = [
        "pk",
        "supplier",
        "batch_link",
        "product",
        "code_number",
        "complaint_link",
        "status",
        "created_at",
        "resolved_by",
    ]
    list_filter = [
        "status",
        ("batch__supplier", admin.RelatedOnlyFieldListFilter),
        ("batch", admin.RelatedOnlyFieldListFilter),
    ]
    list_select_related = ["batch__supplier", "batch__product", "resolved_by"]
    search_fields = ["batch__supplier__name", "complaint__order__number"]
    fields = [
        "supplier",
        "batch_link",
        "product",
        "code_number",
        "complaint_link",
        "status",
        "note",
        "resolved_by",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields
    inlines = [SupplierClaimEventInline]
    actions = ["accept", "reject"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # opened when a complaint's codes are replaced

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # read-only pages; the supplier's answer is an action

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("compliance.resolve_supplierclaim")

    @admin.display(description=_("supplier"), ordering="batch__supplier__name")
    def supplier(self, claim: SupplierClaim) -> object:
        return claim.batch.supplier

    @admin.display(description=_("batch"), ordering="batch_id")
    def batch_link(self, claim: SupplierClaim) -> str:
        url = reverse("admin:fulfillment_batch_change", args=[claim.batch_id])
        return format_html('<a href="{}">#{}</a>', url, claim.batch_id)

    @admin.display(description=_("product"))
    def product(self, claim: SupplierClaim) -> object:
        return claim.batch.product

    @admin.display(description=_("code"), ordering="code_id")
    def code_number(self, claim: SupplierClaim) -> str:
        return f"#{claim.code_id}"  # its number only: never the code

    @admin.display(description=_("complaint"), ordering="complaint_id")
    def complaint_link(self, claim: SupplierClaim) -> str:
        if claim.complaint_id is None:
            return "-"
        url = reverse("admin:compliance_complaint_change", args=[claim.complaint_id])
        return format_html('<a href="{}">#{}</a>', url, claim.complaint_id)

    def _answer(self, request: HttpRequest, queryset: QuerySet, to_status: str, **texts: str):
        return action_with_note(
            self,
            request,
            queryset,
            apply=lambda claim, note: claim_services.supplier_claim_transition(
                claim_id=claim.pk, to_status=to_status, actor=request.user, note=note
            ),
            **texts,
        )

    @admin.action(
        description=_("Accepted: the supplier credited or replaced them"), permissions=["resolve"]
    )
    def accept(self, request: HttpRequest, queryset: QuerySet):
        return self._answer(
            request,
            queryset,
            SupplierClaimStatus.ACCEPTED,
            action="accept",
            title=gettext("The supplier accepted the claims"),
            question=gettext("How did the supplier settle them (credit note, replacement codes)?"),
            submit_label=gettext("Record as accepted"),
        )

    @admin.action(description=_("Rejected: the supplier refused them"), permissions=["resolve"])
    def reject(self, request: HttpRequest, queryset: QuerySet):
        return self._answer(
            request,
            queryset,
            SupplierClaimStatus.REJECTED,
            action="reject",
            title=gettext("The supplier rejected the claims"),
            question=gettext("Why did the supplier refuse them?"),
            submit_label=gettext("Record as rejected"),
        )
