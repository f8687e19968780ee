from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from core.alerts import staff_alert_resolve
from core.models import AuditEntry, StaffAlert


@admin.register(StaffAlert)
class StaffAlertAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "subject", "message", "resolved_at"]
    list_filter = ["kind", ("resolved_at", admin.EmptyFieldListFilter)]
    search_fields = ["subject"]
    readonly_fields = ["created_at", "updated_at", "kind", "subject", "message"]
    actions = ["mark_resolved"]

    @admin.action(description=_("Mark resolved"))
    def mark_resolved(self, request, queryset):
        for kind, subject in queryset.filter(resolved_at=None).values_list("kind", "subject"):
            staff_alert_resolve(kind=kind, subject=subject, actor=request.user)

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """The audit log, read-only for everyone: entries change only by being sealed."""

    list_display = ["seq", "created_at", "action", "obj_type", "obj_id", "actor", "reason"]
    list_filter = ["action", "obj_type"]
    list_select_related = ["actor"]
    search_fields = ["=obj_id"]
    show_full_result_count = False
    fields = [
        "seq",
        "created_at",
        "action",
        "obj_type",
        "obj_id",
        "actor",
        "reason",
        "data",
        "prev_hash",
        "hash",
    ]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
