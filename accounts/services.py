import secrets

from django.core.exceptions import PermissionDenied
from django.db import transaction

from accounts.models import User
from accounts.selectors import salespeople_visible_to
from accounts.signals import hourly_cost_changed

CALENDAR_TOKEN_BYTES = 32


def calendar_token_regenerate(*, user: User) -> str:
    """Give the user a new calendar-feed secret; the old feed URL stops working at once."""
    user.calendar_token = secrets.token_urlsafe(CALENDAR_TOKEN_BYTES)
    user.save(update_fields=["calendar_token"])
    return user.calendar_token


@transaction.atomic
def user_save(*, user: User, changed: set[str] | frozenset[str] = frozenset()) -> User:
    """Save a user as an admin edited them (`changed`: the fields they changed). A new hourly
    cost puts every figure costing that user's visits out of date: health hears of it in the
    same transaction and asks for their refresh."""
    existing = user.pk is not None
    user.save()
    if existing and "hourly_cost" in changed:
        hourly_cost_changed.send(sender=User, user=user)
    return user


def user_home_base_set(*, user: User, label: str, latitude: float, longitude: float) -> User:
    """Where the user's working day starts and ends by default (the day plan)."""
    user.home_label = label.strip() or "Home base"
    user.home_latitude, user.home_longitude = latitude, longitude
    user.full_clean(validate_unique=False, validate_constraints=False)
    user.save(update_fields=["home_label", "home_latitude", "home_longitude"])
    return user


REMINDER_FIELDS = ("alarm_minutes", "calendar_follow_ups", "morning_email", "push_reminders")


def user_reminders_set(
    *,
    user: User,
    alarm_minutes: int,
    calendar_follow_ups: bool,
    morning_email: bool,
    push_reminders: bool,
) -> User:
    """The user's own reminder switches (docs/user-guide.md, "Reminders")."""
    user.alarm_minutes = alarm_minutes
    user.calendar_follow_ups = calendar_follow_ups
    user.morning_email = morning_email
    user.push_reminders = push_reminders
    user.full_clean(validate_unique=False, validate_constraints=False)
    user.save(update_fields=list(REMINDER_FIELDS))
    return user


def consistency_target_set(*, manager: User, person: User, target: int | None) -> User:
    """A manager sets the consistency a salesperson they oversee aims for (None: the default)."""
    if not salespeople_visible_to(manager).filter(pk=person.pk).exists():
        raise PermissionDenied("You set targets for the salespeople of your territories only.")
    person.consistency_target = target
    person.full_clean(validate_unique=False, validate_constraints=False)
    person.save(update_fields=["consistency_target"])
    return person
