from django.contrib import admin

from core.admin import ReadOnlyAdmin
from visits.models import (
    Ask,
    AskPolicy,
    MeetingSeries,
    ReminderSent,
    Rhythm,
    Visit,
    VisitAttendee,
)
from visits.services import visit_admin_save, visits_delete


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

    def save_model(self, request, obj, form, change):
        visit_admin_save(visit=obj)

    def delete_model(self, request, obj):
        visits_delete(visit_ids=[obj.pk])

    def delete_queryset(self, request, queryset):
        visits_delete(visit_ids=list(queryset.values_list("pk", flat=True)))


@admin.register(VisitAttendee)
class VisitAttendeeAdmin(admin.ModelAdmin):
    """Colleagues attending a meeting (hand-off introductions); read here, set by the
    hand-off (reports.handoff)."""

    list_display = ("visit", "user")
    list_select_related = ("visit__customer", "user")
    search_fields = ("user__username", "visit__customer__name")
    autocomplete_fields = ("visit", "user")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AskPolicy)
class AskPolicyAdmin(admin.ModelAdmin):
    """Days to answer an ask of each kind (new asks take them; asks already made keep theirs)."""

    list_display = ("kind", "due_days")


@admin.register(Ask)
class AskAdmin(admin.ModelAdmin):
    """Read here; asks are recorded and answered on the pages and the API, whose services keep
    the account's health (an overdue complaint's flag) in step."""

    list_display = ("customer", "kind", "text", "owner", "due_on", "answered_at", "outcome")
    list_select_related = ("customer", "owner")
    list_filter = ("kind", "outcome")
    search_fields = ("customer__name", "text", "answer")
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ReminderSent)
class ReminderSentAdmin(admin.ModelAdmin):
    """Which reminders went out (read only): a row is written before its e-mail is sent."""

    list_display = ("user", "kind", "key", "sent_at", "empty")
    list_filter = ("kind", "empty")
    search_fields = ("user__username", "key")
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Rhythm)
class RhythmAdmin(ReadOnlyAdmin):
    """The rhythms agreed with customers (read only here: the rhythm page sets and gives back
    the account's cadence with them, which a save or delete here would not)."""

    list_display = ("customer", "name", "frequency", "interval", "agreed_by", "agreed_on")
    list_select_related = ("customer", "agreed_by")
    search_fields = ("customer__name", "name")
    show_full_result_count = False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(MeetingSeries)
class MeetingSeriesAdmin(ReadOnlyAdmin):
    """Booked series (read only: their meetings are moved and cancelled on their pages)."""

    list_display = ("customer", "salesperson", "name", "first_start", "count")
    list_select_related = ("customer", "salesperson")
    search_fields = ("customer__name", "name")
    show_full_result_count = False
