import secrets

from accounts.models import User

CALENDAR_TOKEN_BYTES = 32


def calendar_token_regenerate(*, user: User) -> str:
    """Give the user a new calendar-feed secret; the old feed URL stops working at once."""
    user.calendar_token = secrets.token_urlsafe(CALENDAR_TOKEN_BYTES)
    user.save(update_fields=["calendar_token"])
    return user.calendar_token
