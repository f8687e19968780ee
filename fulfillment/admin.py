"""Staff pages for suppliers, code formats, batches and stock levels.

No page shows a code, neither its plaintext nor its ciphertext: a batch shows
counts, its rejected lines are a downloadable report of line numbers and
reasons. A batch is created by uploading its file (the batch "add" page is the
upload form); after that it changes only through ``batch_transition``.
"""

import csv
import re
from collections.abc import Iterable, Iterator

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.admin_pages import action_with_note, service_form_page
from core.errors import KeyshopError
from fulfillment.code_import import CodeFileFormat
from fulfillment.models import (
    Batch,
    BatchEvent,
    BatchStatus,
    Code,
    CodeRule,
    CodeStatus,
    StockLevel,
    Supplier,
)
from fulfillment.services.batches import batch_code_counts, batch_transition
from fulfillment.services.codes import code_revoke
from fulfillment.services.imports import (
    batch_import_progress,
    batch_import_queue,
    batch_rejection_report,
)
from fulfillment.tasks import order_deliver_task
from shop.admin import OrderAdmin
from shop.models import Order, Product
from shop.selectors import ORDER_STATUSES_WITH_CODES
from shop.tasks import order_email_link_task


@admin.register(Supplier)
class SupplierAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]


class CodeRuleAdminForm(forms.ModelForm):
    class Meta:
        model = CodeRule
        fields = ["product", "pattern", "min_length", "max_length"]

    def clean_pattern(self) -> str:
        # A broken pattern would fail every later import of the product.
        pattern = self.cleaned_data["pattern"]
        try:
            re.compile(pattern)
        except re.error as error:
            raise forms.ValidationError(
                _("This is not a valid regular expression: %(error)s"), params={"error": error}
            ) from None
        return pattern


@admin.register(CodeRule)
class CodeRuleAdmin(admin.ModelAdmin):
    form = CodeRuleAdminForm
    list_display = ["product", "pattern", "min_length", "max_length"]
    list_select_related = ["product"]
    search_fields = ["product__name"]
    autocomplete_fields = ["product"]


class BatchImportForm(forms.Form):
    supplier = forms.ModelChoiceField(label=_("supplier"), queryset=Supplier.objects.all())
    product = forms.ModelChoiceField(label=_("product"), queryset=Product.objects.order_by("name"))
    file_format = forms.ChoiceField(
        label=_("file format"), choices=CodeFileFormat.choices, initial=CodeFileFormat.TXT
    )
    file = forms.FileField(
        label=_("file"),
        help_text=_(
            "UTF-8 text. The codes are imported in the background and the batch starts "
            "quarantined; the file is deleted once imported."
        ),
    )


class BatchEventInline(admin.TabularInline):
    model = BatchEvent
    fields = ["created_at", "from_status", "to_status", "actor", "note"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Batch | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Batch | None = None) -> bool:
        return False


class _Echo:
    """A file-like object whose write returns the line, for streaming csv rows."""

    def write(self, value: str) -> str:
        return value


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "product",
        "supplier",
        "status",
        "progress",
        "codes_imported",
        "lines_rejected",
        "created_at",
    ]
    list_filter = ["status", "supplier"]
    list_select_related = ["product", "supplier"]
    search_fields = ["file_name", "product__name", "supplier__name"]
    fields = [
        "product",
        "supplier",
        "status",
        "progress",
        "file_name",
        "file_sha256",
        "imported_by",
        "lines_read",
        "codes_imported",
        "lines_rejected",
        "rejection_report",
        "failure",
        "codes_by_status",
        "created_at",
    ]
    readonly_fields = fields
    inlines = [BatchEventInline]
    actions = ["make_sellable", "suspend"]

    def has_change_permission(self, request: HttpRequest, obj: Batch | None = None) -> bool:
        # A batch's page is read-only (its status moves only through the actions),
        # while the change permission still grants the actions on the list.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Batch | None = None) -> bool:
        return False

    def get_urls(self):
        report = path(
            "<int:batch_id>/rejections.csv",
            self.admin_site.admin_view(self.rejection_report_view),
            name="fulfillment_batch_rejections",
        )
        return [report, *super().get_urls()]

    @admin.display(description=_("progress"))
    def progress(self, batch: Batch) -> str:
        if batch.status != BatchStatus.IMPORTING:
            return ""
        progress = batch_import_progress(batch_id=batch.pk)
        if progress is None:
            return gettext("waiting to start")
        return gettext("%(lines)s lines read (%(percent)d%%)") % {
            "lines": f"{progress.lines_read:,}",
            "percent": progress.percent,
        }

    @admin.display(description=_("codes"))
    def codes_by_status(self, batch: Batch) -> str:
        counts = batch_code_counts(batch_id=batch.pk)
        return format_html_join(
            "",
            "<div>{}: {}</div>",
            ((label, counts.get(value, 0)) for value, label in CodeStatus.choices),
        )

    @admin.display(description=_("rejection report"))
    def rejection_report(self, batch: Batch) -> str:
        if not batch.lines_rejected:
            return ""
        url = reverse("admin:fulfillment_batch_rejections", args=[batch.pk])
        return format_html('<a href="{}">{}</a>', url, gettext("Download (CSV)"))

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None):
        """The upload form: a batch exists only with the file it was created for."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = BatchImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                batch = batch_import_queue(
                    supplier=form.cleaned_data["supplier"],
                    product=form.cleaned_data["product"],
                    file=form.cleaned_data["file"],
                    file_format=form.cleaned_data["file_format"],
                    actor=request.user,
                )
            except KeyshopError as error:
                form.add_error("file", error.message)
            else:
                self.message_user(
                    request,
                    gettext("Batch #%(batch)d is being imported.") % {"batch": batch.pk},
                    messages.SUCCESS,
                )
                return redirect("admin:fulfillment_batch_change", batch.pk)
        return service_form_page(
            self,
            request,
            form,
            title=gettext("Import codes"),
            submit_label=gettext("Upload and import"),
            intro=gettext(
                "One code per line, or a CSV file whose first row names a “code” column. "
                "Lines that cannot be imported are listed in the batch's rejection report, "
                "by line number and reason."
            ),
        )

    def rejection_report_view(self, request: HttpRequest, batch_id: int) -> HttpResponse:
        batch = self.get_object(request, str(batch_id))
        if batch is None:
            raise Http404
        if not self.has_view_permission(request, batch):
            raise PermissionDenied
        header = (gettext("line"), gettext("reason"), gettext("message"))
        response = StreamingHttpResponse(
            _csv_lines(header, batch_rejection_report(batch_id=batch.pk)),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = (
            f'attachment; filename="batch-{batch.pk}-rejected-lines.csv"'
        )
        return response

    @admin.action(description=_("Make sellable"), permissions=["change"])
    def make_sellable(self, request: HttpRequest, queryset: QuerySet[Batch]) -> None:
        self._transition(request, queryset, BatchStatus.SELLABLE)

    @admin.action(description=_("Suspend"), permissions=["change"])
    def suspend(self, request: HttpRequest, queryset: QuerySet[Batch]) -> None:
        self._transition(request, queryset, BatchStatus.SUSPENDED)

    def _transition(self, request: HttpRequest, queryset: QuerySet[Batch], to_status: str) -> None:
        moved = 0
        # One transaction per batch: a refused batch does not hold back the others.
        for batch_id in queryset.order_by("pk").values_list("pk", flat=True):
            try:
                _batch, did_move = batch_transition(
                    batch_id=batch_id, to_status=to_status, actor=request.user
                )
            except KeyshopError as error:
                self.message_user(
                    request,
                    gettext("Batch #%(batch)d: %(error)s") % {"batch": batch_id, "error": error},
                    messages.ERROR,
                )
            else:
                moved += did_move
        if moved:
            self.message_user(
                request,
                gettext("%(count)d batches changed to %(status)s.")
                % {"count": moved, "status": BatchStatus(to_status).label},
                messages.SUCCESS,
            )


def _csv_lines(header: tuple[str, ...], rows: Iterable[tuple[object, ...]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow(row)


@admin.register(StockLevel)
class StockLevelAdmin(admin.ModelAdmin):
    list_display = ["product", "codes_available", "units_held", "sellable", "low_stock_threshold"]
    list_editable = ["low_stock_threshold"]
    list_select_related = ["product"]
    search_fields = ["product__name"]
    fields = ["product", "codes_available", "units_held", "sellable", "low_stock_threshold"]
    # The counters are kept by the vault and the orders, never by hand.
    readonly_fields = ["product", "codes_available", "units_held", "sellable"]

    @admin.display(description=_("sellable"))
    def sellable(self, stock_level: StockLevel) -> int:
        return stock_level.sellable

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: StockLevel | None = None) -> bool:
        return False


@admin.register(Code)
class CodeAdmin(admin.ModelAdmin):
    """Codes by status and order; never the code itself (no ciphertext, no plaintext)."""

    list_display = ["pk", "product", "batch", "status", "order_number", "delivered_at"]
    list_filter = ["status", "product"]
    list_select_related = ["product", "batch", "order_line__order"]
    search_fields = ["order_line__order__number"]
    fields = ["product", "batch", "status", "key_id", "order_number", "delivered_at"]
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description=_("order"), ordering="order_line__order__number")
    def order_number(self, code: Code) -> str:
        return code.order_line.order.number if code.order_line_id else ""

    @admin.action(description=_("Revoke selected codes"), permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[Code]):
        return action_with_note(
            self,
            request,
            queryset,
            action="revoke",
            title=gettext("Revoke codes"),
            question=gettext(
                "A delivered code stops being the buyer's; an unsold one leaves stock. "
                "Why are these codes revoked?"
            ),
            submit_label=gettext("Revoke"),
            apply=lambda code, note: code_revoke(code_id=code.pk, actor=request.user, reason=note),
        )


admin.site.unregister(Order)


@admin.register(Order)
class DeliveryOrderAdmin(OrderAdmin):
    """The shop's order admin, with the delivery actions only fulfillment can offer."""

    actions = [*OrderAdmin.actions, "deliver_again", "resend_delivery_email"]

    @admin.action(description=_("Run delivery again (delivers at most once)"), permissions=["view"])
    def deliver_again(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        for order_id in queryset.values_list("pk", flat=True):
            order_deliver_task.delay(order_id)
        self.message_user(
            request, _("Delivery queued for %(count)d orders.") % {"count": len(queryset)}
        )

    @admin.action(description=_("Send the delivery email again"), permissions=["view"])
    def resend_delivery_email(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        delivered = queryset.filter(status__in=ORDER_STATUSES_WITH_CODES, reseller__isnull=True)
        for order_id in delivered.values_list("pk", flat=True):
            order_email_link_task.delay(order_id, "delivered")
        self.message_user(
            request, _("Email queued for %(count)d orders.") % {"count": len(delivered)}
        )
