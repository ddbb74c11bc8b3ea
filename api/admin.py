from django import forms
from django.contrib import admin

from api.models import AccessToken, IdempotentRequest, Webhook, WebhookDelivery, WebhookEvent
from api.services import access_token_revoke, webhook_delete, webhook_save
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
    list_filter = ("read_only", "integration")
    search_fields = ("name", "prefix", "user__username")
    actions = ["revoke"]

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        for token in queryset:
            access_token_revoke(token=token)


@admin.register(IdempotentRequest)
class IdempotentRequestAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "user", "method", "path", "status_code")


class WebhookForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        choices=WebhookEvent.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = Webhook
        fields = ["url", "events", "secret", "is_active"]


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    """Admins set webhooks up here: the URL, the events, and the secret to give the receiver."""

    form = WebhookForm
    list_display = ("url", "events", "is_active", "created_at")
    list_filter = ("is_active",)

    def save_model(self, request, obj, form, change):
        webhook_save(webhook=obj)

    def delete_model(self, request, obj):
        webhook_delete(webhook=obj)

    def delete_queryset(self, request, queryset):
        for webhook in queryset:
            webhook_delete(webhook=webhook)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "event", "webhook", "status", "attempts", "last_status_code")
    list_filter = ("status", "event")
