from django.contrib import admin
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.models import StaffAlert


@admin.register(StaffAlert)
class StaffAlertAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "subject", "message", "resolved_at"]
    list_filter = ["kind", ("resolved_at", admin.EmptyFieldListFilter)]
    search_fields = ["subject"]
    readonly_fields = ["created_at", "updated_at", "kind", "subject", "message"]
    actions = ["mark_resolved"]

    @admin.action(description=_("Mark resolved"))
    def mark_resolved(self, request, queryset):
        queryset.filter(resolved_at=None).update(resolved_at=timezone.now())

    def has_add_permission(self, request) -> bool:
        return False
