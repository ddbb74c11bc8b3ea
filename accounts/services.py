import secrets

from accounts.models import User

CALENDAR_TOKEN_BYTES = 32


def calendar_token_regenerate(*, user: User) -> str:
    """Give the user a new calendar-feed secret; the old feed URL stops working at once."""
    user.calendar_token = secrets.token_urlsafe(CALENDAR_TOKEN_BYTES)
    user.save(update_fields=["calendar_token"])
    return user.calendar_token


def user_home_base_set(*, user: User, label: str, latitude: float, longitude: float) -> User:
    """Where the user's working day starts and ends by default (the day plan)."""
    user.home_label = label.strip() or "Home base"
    user.home_latitude, user.home_longitude = latitude, longitude
    user.full_clean(validate_unique=False, validate_constraints=False)
    user.save(update_fields=["home_label", "home_latitude", "home_longitude"])
    return user
