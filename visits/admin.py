from django.contrib import admin

from visits.models import Visit


@admin.register(Visit)
class VisitAdmin(admin.ModelAdmin):
    list_display = (
        "customer",
        "salesperson",
        "kind",
        "status",
        "scheduled_start",
        "visited_at",
        "duration_minutes",
        "outcome",
    )
    list_select_related = ("customer", "salesperson")
    list_filter = ("status", "kind", "outcome", "salesperson")
    search_fields = ("customer__name", "customer__code", "notes", "competitor")
    date_hierarchy = "visited_at"
    autocomplete_fields = ("customer", "salesperson", "contacts")
    show_full_result_count = False
