import zoneinfo

from django.utils import timezone


class UserTimeZoneMiddleware:
    """Show and read times in the signed-in user's own time zone, for this request only (a zone
    left active on the thread would leak into whatever that thread runs next)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        zone = None
        if user is not None and user.is_authenticated and user.time_zone:
            zone = zoneinfo.ZoneInfo(user.time_zone)
        with timezone.override(zone):
            return self.get_response(request)
