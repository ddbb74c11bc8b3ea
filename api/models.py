"""Personal access tokens and the answers kept for idempotent writes (docs/api.md)."""

import secrets

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import URLValidator
from django.db import models
from django.utils import timezone


class AccessToken(models.Model):
    """A personal access token: its owner acts through it with their own scope. Only the SHA-256
    of the token is stored (a random 256-bit secret needs no slow hash); the prefix finds it."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    read_only = models.BooleanField(default=False)
    # An admin's token for a system (the ERP, the helpdesk): it may only push invoices and
    # support cases and read customers, whatever else its owner may do.
    integration = models.BooleanField(default=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_usable(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class IdempotentRequest(models.Model):
    """The first answer to a write sent with an Idempotency-Key: the same key from the same user
    gets it again instead of a second write. Kept a day."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=100)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=300)
    # SHA-256 of the request's canonical body: the same key with another body is refused.
    body_hash = models.CharField(max_length=64, blank=True, db_default="")
    status_code = models.PositiveSmallIntegerField()
    body = models.JSONField(encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotent_request_unique")
        ]
        indexes = [models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.key})"


class WebhookEvent(models.TextChoices):
    FLAG_OPENED = "flag.opened", "Flag opened"
    FLAG_RESOLVED = "flag.resolved", "Flag resolved"
    VISIT_LOGGED = "visit.logged", "Visit logged"
    IMPORT_FINISHED = "import.finished", "Import finished"
    ASK_CREATED = "ask.created", "Ask recorded"
    ASK_ANSWERED = "ask.answered", "Ask answered"
    ASK_OVERDUE = "ask.overdue", "Ask overdue"


def webhook_secret() -> str:
    return secrets.token_hex(32)


def all_webhook_events() -> list[str]:
    return list(WebhookEvent.values)


class Webhook(models.Model):
    """An address an admin set up to be told of events, each POST signed with the secret
    (docs/api.md: Webhooks)."""

    url = models.URLField(
        max_length=500,
        validators=[URLValidator(schemes=["https", "http"])],
        help_text="Cadence POSTs events here.",
    )
    secret = models.CharField(
        max_length=64,
        default=webhook_secret,
        help_text="Signs every delivery (HMAC-SHA256): give it to the receiving system.",
    )
    events = ArrayField(
        models.CharField(max_length=32, choices=WebhookEvent.choices),
        default=all_webhook_events,
        help_text="The events sent here.",
    )
    is_active = models.BooleanField("active", default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["url"]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Given up"


class WebhookDelivery(models.Model):
    """One event for one webhook: recorded with the write that caused it, sent by a worker,
    retried with growing waits until the receiver answers 2xx or the attempts run out."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=32, choices=WebhookEvent.choices)
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status="pending"),
                name="webhook_delivery_due",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.webhook.url}"
