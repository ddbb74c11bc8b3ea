from django.contrib import admin

from core.models import FormSubmission, PendingRefresh


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by jobs or recorded as history: viewable, never edited by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(PendingRefresh)
class PendingRefreshAdmin(ReadOnlyAdmin):
    list_display = ("customer", "requested_at")
    list_select_related = ("customer",)


@admin.register(FormSubmission)
class FormSubmissionAdmin(ReadOnlyAdmin):
    list_display = ("key", "user", "submitted_at")
    list_select_related = ("user",)
