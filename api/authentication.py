"""`Authorization: Bearer cad_<prefix>_<secret>`: the token's owner, with the token as
`request.auth` (its read-only flag is a permission, api.permissions)."""

import datetime as dt
import hmac

from django.utils import timezone
from rest_framework import authentication, exceptions

from api.models import AccessToken
from api.services import TOKEN_PREFIX, token_digest

# last_used_at is written at most this often per token (not on every request).
LAST_USED_EVERY = dt.timedelta(minutes=5)


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
        parts = header[1].split("_", 2)
        if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
            raise exceptions.AuthenticationFailed("That is not a Cadence token.")
        token = AccessToken.objects.select_related("user").filter(prefix=parts[1][:16]).first()
        if token is None or not hmac.compare_digest(token.digest, token_digest(header[1])):
            raise exceptions.AuthenticationFailed("Unknown token.")
        if not token.is_usable or not token.user.is_active:
            raise exceptions.AuthenticationFailed("This token is revoked or expired.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_EVERY:
            AccessToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return self.keyword
