from django.conf import settings
from rest_framework.throttling import BaseThrottle

from api.models import AccessToken
from core.ratelimit import over_limit

WINDOW_SECONDS = 60


class PerTokenThrottle(BaseThrottle):
    """CADENCE_API_REQUESTS_PER_MINUTE per token (per user for the browser's session), counted
    in Redis; with Redis down the API answers unthrottled (core.ratelimit fails open)."""

    def allow_request(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return True
        who = (
            f"token:{request.auth.pk}"
            if isinstance(request.auth, AccessToken)
            else f"user:{request.user.pk}"
        )
        return not over_limit(
            f"api:{who}",
            limit=settings.CADENCE_API_REQUESTS_PER_MINUTE,
            window_seconds=WINDOW_SECONDS,
        )

    def wait(self) -> float:
        return WINDOW_SECONDS
