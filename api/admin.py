from django.contrib import admin

from api.models import AccessToken, IdempotentRequest
from api.services import access_token_revoke
from core.admin import ReadOnlyAdmin


@admin.register(AccessToken)
class AccessTokenAdmin(ReadOnlyAdmin):
    """Tokens are made by their owners (the API tokens page); an admin may revoke one."""

    list_display = (
        "name",
        "user",
        "prefix",
        "read_only",
        "expires_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("read_only",)
    search_fields = ("name", "prefix", "user__username")
    actions = ["revoke"]

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        for token in queryset:
            access_token_revoke(token=token)


@admin.register(IdempotentRequest)
class IdempotentRequestAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "user", "method", "path", "status_code")
