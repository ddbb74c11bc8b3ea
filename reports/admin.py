from django.contrib import admin

from core.admin import ReadOnlyAdmin
from reports.models import ReviewAction


@admin.register(ReviewAction)
class ReviewActionAdmin(ReadOnlyAdmin):
    list_display = ("customer", "action", "user", "at", "details")
    list_select_related = ("customer", "user")
    list_filter = ("action",)
    search_fields = ("customer__name", "customer__code", "user__username")
