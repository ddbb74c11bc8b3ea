import datetime as dt
import hashlib
import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from api.models import AccessToken, IdempotentRequest, Webhook
from api.webhooks import webhooks_changed

TOKEN_PREFIX = "cad"
MAX_TOKENS_PER_USER = 20


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def access_token_create(
    *,
    user: User,
    name: str,
    read_only: bool = False,
    integration: bool = False,
    expires_at: dt.datetime | None = None,
) -> tuple[AccessToken, str]:
    """A new token for `user`; returns it and its text, which is shown once and never stored.
    Only admins make integration tokens (they push every customer's invoices)."""
    if integration and not user.is_cadence_admin:
        raise ValidationError({"integration": "Only an admin makes integration tokens."})
    if (
        AccessToken.objects.filter(user=user, revoked_at__isnull=True).count()
        >= MAX_TOKENS_PER_USER
    ):
        raise ValidationError(f"At most {MAX_TOKENS_PER_USER} tokens: revoke one first.")
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    prefix = secrets.token_hex(4)
    text = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    token = AccessToken(
        user=user,
        name=name.strip() or "Token",
        prefix=prefix,
        digest=token_digest(text),
        read_only=read_only,
        integration=integration,
        expires_at=expires_at,
    )
    token.full_clean(exclude=["user"])
    token.save()
    return token, text


def access_token_revoke(*, token: AccessToken) -> AccessToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


IDEMPOTENCY_KEPT = dt.timedelta(days=1)


def idempotent_requests_forget() -> int:
    """Forget the kept answers older than a day (a client retries within minutes, not days)."""
    cutoff = timezone.now() - IDEMPOTENCY_KEPT
    return IdempotentRequest.objects.filter(created_at__lt=cutoff).delete()[0]


@transaction.atomic
def webhook_save(*, webhook: Webhook) -> Webhook:
    webhook.full_clean()
    webhook.save()
    transaction.on_commit(webhooks_changed)
    return webhook


@transaction.atomic
def webhook_delete(*, webhook: Webhook) -> None:
    webhook.delete()
    transaction.on_commit(webhooks_changed)
