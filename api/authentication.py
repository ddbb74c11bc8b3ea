"""`Authorization: Bearer cad_<prefix>_<secret>`: the token's owner, with the token as
`request.auth` (its read-only flag is a permission, api.permissions)."""

import datetime as dt
import hmac

from django.conf import settings
from django.utils import timezone
from rest_framework import authentication, exceptions

from api.models import AccessToken
from api.services import TOKEN_PREFIX, token_digest
from core.ratelimit import client_ip, count_one, counted

# last_used_at is written at most this often per token (not on every request).
LAST_USED_EVERY = dt.timedelta(minutes=5)
# Wrong tokens are counted per address over this window; past the limit the address is
# answered 429 before any lookup until the window ends.
FAILED_WINDOW_SECONDS = 60


class AccessTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0] != self.keyword:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Send the token as: Authorization: Bearer <token>."
            )
        failures = f"api-auth-failed:{client_ip(request._request)}"
        if counted(failures) >= settings.CADENCE_API_FAILED_AUTH_PER_MINUTE:
            raise exceptions.Throttled(
                wait=FAILED_WINDOW_SECONDS,
                detail="Too many wrong tokens from this address: wait a minute.",
            )
        parts = header[1].split("_", 2)
        if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
            count_one(failures, window_seconds=FAILED_WINDOW_SECONDS)
            raise exceptions.AuthenticationFailed("That is not a Cadence token.")
        token = AccessToken.objects.select_related("user").filter(prefix=parts[1][:16]).first()
        if token is None or not hmac.compare_digest(token.digest, token_digest(header[1])):
            count_one(failures, window_seconds=FAILED_WINDOW_SECONDS)
            raise exceptions.AuthenticationFailed("Unknown token.")
        if not token.is_usable or not token.user.is_active:
            raise exceptions.AuthenticationFailed("This token is revoked or expired.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_EVERY:
            AccessToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return self.keyword
