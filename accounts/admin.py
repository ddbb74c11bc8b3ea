from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from accounts.models import PushSubscription, Territory, User
from accounts.services import user_save
from core.admin import ReadOnlyAdmin


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "get_full_name", "email", "role", "hourly_cost", "is_active")
    list_filter = ("role", "is_active", "is_staff")
    search_fields = ("username", "first_name", "last_name", "email")
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        ("Cadence", {"fields": ("role", "hourly_cost", "time_zone")}),
    )
    add_fieldsets = (
        *DjangoUserAdmin.add_fieldsets,
        ("Cadence", {"fields": ("role", "hourly_cost", "time_zone")}),
    )

    def save_model(self, request, obj, form, change):
        user_save(user=obj, changed=set(form.changed_data) if change else set())


@admin.register(Territory)
class TerritoryAdmin(admin.ModelAdmin):
    list_display = ("name", "parent")
    list_select_related = ("parent",)
    search_fields = ("name",)
    list_filter = ("parent",)
    filter_horizontal = ("managers", "members")


@admin.register(PushSubscription)
class PushSubscriptionAdmin(ReadOnlyAdmin):
    """Devices with notifications on: an admin may remove one (a lost phone), never add or
    edit one (only the device's browser can subscribe) nor read its keys."""

    list_display = ("user", "device", "created_at", "last_sent_at")
    list_select_related = ("user",)
    search_fields = ("user__username", "device")
    fields = ("user", "device", "created_at", "last_sent_at")
    readonly_fields = fields
