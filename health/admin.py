from django.contrib import admin

from core.admin import ReadOnlyAdmin
from health.cycles import review_cycle_configure
from health.models import (
    AccountFlag,
    AccountMetrics,
    AccountMonth,
    DigestRun,
    HealthSettings,
    ReviewCycle,
    RollupRebuild,
    Segment,
    SegmentBand,
    SegmentFigures,
    SegmentMember,
    SegmentMonth,
    SegmentWeek,
)
from health.services import health_settings_save


@admin.register(HealthSettings)
class HealthSettingsAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "cost_per_km",
        "support_hourly_cost",
        "annual_cost_of_capital",
        "late_unpaid_days",
        "late_average_days",
    )

    def has_add_permission(self, request):
        return not HealthSettings.objects.exists()

    def save_model(self, request, obj, form, change):
        health_settings_save(health_settings=obj)

    def has_delete_permission(self, request, obj=None):
        # The one row is the settings; without it every figure would silently use defaults.
        return False


@admin.register(AccountFlag)
class AccountFlagAdmin(admin.ModelAdmin):
    list_display = ("customer", "kind", "as_of", "raised_at", "resolved_at", "acknowledged_until")
    list_select_related = ("customer",)
    list_filter = ("kind", ("resolved_at", admin.EmptyFieldListFilter))
    search_fields = ("customer__name", "customer__code")
    readonly_fields = [f.name for f in AccountFlag._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False


@admin.register(AccountMetrics)
class AccountMetricsAdmin(admin.ModelAdmin):
    list_display = (
        "customer",
        "as_of",
        "revenue",
        "gross_margin",
        "cost_to_serve",
        "profit",
        "days_overdue",
    )
    list_select_related = ("customer",)
    list_filter = ("is_neglected", "is_unprofitable", "is_late_payer")
    search_fields = ("customer__name", "customer__code")
    readonly_fields = [f.name for f in AccountMetrics._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False


@admin.register(AccountMonth)
class AccountMonthAdmin(ReadOnlyAdmin):
    list_display = (
        "customer",
        "month",
        "revenue",
        "gross_margin",
        "visit_cost",
        "support_cost",
        "late_payment_cost",
        "visits_done",
    )
    list_select_related = ("customer",)
    search_fields = ("customer__name", "customer__code")
    date_hierarchy = "month"
    show_full_result_count = False


@admin.register(DigestRun)
class DigestRunAdmin(ReadOnlyAdmin):
    list_display = ("up_to", "emails_sent")


@admin.register(RollupRebuild)
class RollupRebuildAdmin(ReadOnlyAdmin):
    list_display = ["started_at"]


@admin.register(Segment)
class SegmentAdmin(ReadOnlyAdmin):
    list_display = ("id", "territory", "owner", "tier", "status")
    list_filter = ("tier", "status")


@admin.register(SegmentMember)
class SegmentMemberAdmin(ReadOnlyAdmin):
    list_display = ("customer", "segment")
    list_select_related = ("customer", "segment")
    show_full_result_count = False


@admin.register(SegmentFigures)
class SegmentFiguresAdmin(ReadOnlyAdmin):
    list_display = ("segment", "accounts", "overdue", "unprofitable", "revenue", "profit")


@admin.register(SegmentMonth)
class SegmentMonthAdmin(ReadOnlyAdmin):
    list_display = ("segment", "month", "revenue", "gross_margin", "cost_to_serve")
    date_hierarchy = "month"


@admin.register(SegmentWeek)
class SegmentWeekAdmin(ReadOnlyAdmin):
    list_display = ("segment", "week", "planned", "done")


@admin.register(SegmentBand)
class SegmentBandAdmin(ReadOnlyAdmin):
    list_display = ("segment", "measure", "band", "accounts", "total")
    list_filter = ("measure",)


@admin.register(ReviewCycle)
class ReviewCycleAdmin(admin.ModelAdmin):
    """Managers' review cycles; managers set their own on the review page."""

    list_display = ("manager", "every_days", "started_on", "due_on")
    list_select_related = ("manager",)
    autocomplete_fields = ("manager",)

    def save_model(self, request, obj, form, change):
        review_cycle_configure(cycle=obj, every_days=obj.every_days)
