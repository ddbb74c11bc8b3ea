"""An agreed meeting rhythm and the series booked from it (docs/user-guide.md, "An agreed
rhythm").

A rhythm is agreed with the customer and sets the account's own cadence, the first source of
the cadence rule (crm.cadence), so the tier's no longer applies. Booking a series plans its
next N meetings in one step; each gets an agenda of what is open with the customer. Occurrences
follow the rule in the owner's wall-clock time (10:00 stays 10:00 across daylight saving).
"""

import datetime as dt
import zoneinfo

from dateutil import rrule
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from core.bounds import excerpt, single_line
from core.cache import schedules_changed
from core.refresh import customers_refresh_request
from crm.models import Customer
from crm.selectors import customers_visible_to
from crm.services import customers_due_refresh
from visits.ask_selectors import open_asks_of
from visits.models import (
    MeetingPattern,
    MeetingSeries,
    Rhythm,
    RhythmFrequency,
    Visit,
    VisitStatus,
)
from visits.services import visit_cancel, visit_reschedule, visit_schedule

# The most meetings one booking plans (two years of a monthly rhythm).
MAX_SERIES_MEETINGS = 24
DAYS_IN_MONTH = 365.25 / 12
AGENDA_ASKS = 5
AGENDA_COMPETITOR_NOTES = 3
AGENDA_NOTE_CHARS = 160
PATTERN_FIELDS = (
    "frequency",
    "interval",
    "ordinal",
    "weekday",
    "start_time",
    "duration_minutes",
    "kind",
    "time_zone",
)


def rhythm_cadence_days(pattern: MeetingPattern) -> int:
    """The cadence a rhythm sets: its interval in days."""
    if pattern.frequency == RhythmFrequency.WEEKLY:
        return 7 * pattern.interval
    return round(pattern.interval * DAYS_IN_MONTH)


WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def pattern_rrule(pattern: MeetingPattern, *, interval: int | None = None) -> str:
    """The pattern as an iCalendar RRULE value, without its start or count."""
    day = WEEKDAY_CODES[pattern.weekday]
    every = pattern.interval if interval is None else interval
    if pattern.frequency == RhythmFrequency.WEEKLY:
        return f"FREQ=WEEKLY;INTERVAL={every};BYDAY={day}"
    return f"FREQ=MONTHLY;INTERVAL={every};BYDAY={pattern.ordinal}{day}"


def _zone(pattern: MeetingPattern) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(pattern.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def pattern_describe(pattern: MeetingPattern) -> str:
    """ "Every 3 months, first Tuesday, 10:00, 60 min, on site"."""
    unit = pattern.get_frequency_display().lower()
    every = f"every {unit}" if pattern.interval == 1 else f"every {pattern.interval} {unit}s"
    day = pattern.get_weekday_display()
    if pattern.frequency == RhythmFrequency.MONTHLY:
        day = f"{pattern.get_ordinal_display().lower()} {day}"
    return (
        f"{every.capitalize()}, {day}, {pattern.start_time:%H:%M}, "
        f"{pattern.duration_minutes} min, {pattern.get_kind_display().lower()}"
    )


def occurrences(pattern: MeetingPattern, *, first: dt.datetime, count: int) -> list[dt.datetime]:
    """The first `count` starts of the pattern from `first` (aware): the first matching day
    on or after it, then every interval from there."""
    zone = _zone(pattern)
    local = first.astimezone(zone).replace(tzinfo=None)
    start = dt.datetime.combine(local.date(), pattern.start_time)
    if start < local:
        start += dt.timedelta(days=1)
    (opening,) = rrule.rrulestr(f"{pattern_rrule(pattern, interval=1)};COUNT=1", dtstart=start)
    rule = rrule.rrulestr(f"{pattern_rrule(pattern)};COUNT={count}", dtstart=opening)
    return [moment.replace(tzinfo=zone) for moment in rule]


def series_occurrences(series: MeetingSeries) -> list[dt.datetime]:
    """Every start the series' rule puts, in order (at most MAX_SERIES_MEETINGS)."""
    return occurrences(series, first=series.first_start, count=series.count)


def rhythm_may_arrange(user: User, customer: Customer) -> bool:
    """The account's owner, or a manager or admin who sees the account, agrees its rhythm and
    books its meetings; nobody else."""
    return (
        user.is_manager or user.is_cadence_admin or customer.owner_id == user.pk
    ) and customers_visible_to(user).filter(pk=customer.pk).exists()


def _may_arrange(user: User, customer: Customer) -> None:
    if not rhythm_may_arrange(user, customer):
        raise PermissionDenied("Only the account's owner or their manager arranges its rhythm.")


def _cadence_changed(customer: Customer) -> None:
    customers_due_refresh(customer_ids=[customer.pk])
    customers_refresh_request([customer.pk])
    schedules_changed([customer.owner_id])


@transaction.atomic
def rhythm_set(*, user: User, customer: Customer, rhythm: Rhythm) -> Rhythm:
    """Agree (or change) the account's rhythm; the account's cadence becomes its interval."""
    _may_arrange(user, customer)
    stored = Customer.objects.select_for_update().get(pk=customer.pk)
    if not stored.has_cadence:
        raise ValidationError("Partner and self-service accounts have no visit cadence.")
    existing = Rhythm.objects.filter(customer=stored).first()
    if existing is not None:
        for field in (*PATTERN_FIELDS, "name"):
            setattr(existing, field, getattr(rhythm, field))
        rhythm = existing
    else:
        rhythm.customer = stored
        rhythm.replaced_cadence_days = stored.cadence_days
    rhythm.agreed_by = user
    rhythm.agreed_on = timezone.localdate()
    rhythm.time_zone = (stored.owner.time_zone if stored.owner else "") or settings.TIME_ZONE
    rhythm.full_clean(exclude=["customer"])
    rhythm.save()
    stored.cadence_days = rhythm_cadence_days(rhythm)
    stored.save(update_fields=["cadence_days", "updated_at"])
    _cadence_changed(stored)
    return rhythm


@transaction.atomic
def rhythm_remove(*, user: User, customer: Customer) -> bool:
    """End the agreement: the cadence it replaced applies again. Meetings booked stay."""
    _may_arrange(user, customer)
    rhythm = Rhythm.objects.select_for_update().filter(customer=customer).first()
    if rhythm is None:
        return False
    Customer.objects.filter(pk=customer.pk).update(
        cadence_days=rhythm.replaced_cadence_days, updated_at=timezone.now()
    )
    rhythm.delete()
    _cadence_changed(customer)
    return True


def agenda_for(customer: Customer) -> str:
    """An occurrence's agenda: the open asks, the last next step and the competitor notes."""
    lines = [f"Agenda ({timezone.localdate():%d %b %Y}):"]
    asks = open_asks_of([customer.pk], per_customer=AGENDA_ASKS).get(customer.pk, [])
    for ask in asks:
        lines.append(
            f"- Answer: {ask.text} ({ask.get_kind_display().lower()}, due {ask.due_on:%d %b})"
        )
    done = Visit.objects.filter(customer=customer, status=VisitStatus.DONE).order_by("-visited_at")
    last_step = done.exclude(next_step="").values_list("next_step", "visited_at").first()
    if last_step:
        lines.append(f"- Last next step ({last_step[1]:%d %b}): {last_step[0]}")
    for competitor, notes, visited_at in done.exclude(competitor="").values_list(
        "competitor", "notes", "visited_at"
    )[:AGENDA_COMPETITOR_NOTES]:
        note, _ = excerpt(single_line(notes), AGENDA_NOTE_CHARS)
        lines.append(
            f"- Competition ({visited_at:%d %b}): {competitor}" + (f": {note}" if note else "")
        )
    if len(lines) == 1:
        lines.append("- Nothing open: review the account and ask what comes next.")
    return "\n".join(lines)


@transaction.atomic
def series_book(
    *, user: User, customer: Customer, count: int, first: dt.datetime | None = None
) -> MeetingSeries:
    """Plan the next `count` meetings of the account's rhythm for its owner, from `first`
    (default: tomorrow), each with the agenda. All or none: a full day names itself."""
    _may_arrange(user, customer)
    rhythm = Rhythm.objects.filter(customer=customer).first()
    if rhythm is None:
        raise ValidationError("Agree a rhythm with the customer first.")
    if not 1 <= count <= MAX_SERIES_MEETINGS:
        raise ValidationError(f"Book between 1 and {MAX_SERIES_MEETINGS} meetings at a time.")
    owner = customer.owner
    if owner is None or not owner.serves_accounts:
        raise ValidationError("The account has no owner to meet the customer.")
    first = first or timezone.now() + dt.timedelta(days=1)
    starts = occurrences(rhythm, first=first, count=count)
    series = MeetingSeries(
        customer=customer,
        salesperson=owner,
        name=rhythm.name,
        first_start=starts[0],
        count=len(starts),
        **{field: getattr(rhythm, field) for field in PATTERN_FIELDS},
    )
    series.full_clean()
    series.save()
    agenda = agenda_for(customer)
    length = dt.timedelta(minutes=rhythm.duration_minutes)
    for start in starts:
        try:
            result = visit_schedule(
                user=owner,
                customer=customer,
                kind=rhythm.kind,
                start=start,
                end=start + length,
                purpose=rhythm.name,
                brief=agenda,
            )
        except ValidationError as error:
            raise ValidationError(
                f"The meeting of {start:%a %d %b %Y} cannot be booked: " + " ".join(error.messages)
            ) from error
        Visit.objects.filter(pk=result.visit.pk).update(series=series, occurrence_start=start)
    return series


def _following(visit: Visit) -> list[Visit]:
    return list(
        Visit.objects.select_for_update()
        .filter(series=visit.series_id, occurrence_start__gte=visit.occurrence_start)
        .select_related("customer")
        .order_by("occurrence_start")
    )


def _end_series_before(series: MeetingSeries, occurrence: dt.datetime) -> None:
    """The series keeps only the occurrences before `occurrence` (its RRULE's COUNT; 0: none
    left, and the feed leaves it out)."""
    series.count = sum(1 for start in series_occurrences(series) if start < occurrence)
    series.sequence += 1
    series.save(update_fields=["count", "sequence", "updated_at"])


@transaction.atomic
def series_move_following(*, visit: Visit, start: dt.datetime) -> MeetingSeries:
    """Move this meeting and every later planned one of its series to a new rhythm starting
    at `start` (same length): a new series from here; the old one ends before it."""
    series = MeetingSeries.objects.select_for_update().get(pk=visit.series_id)
    following = [v for v in _following(visit) if v.status == VisitStatus.PLANNED]
    if not following or following[0].pk != visit.pk:
        raise ValidationError("Only planned meetings can be moved.")
    local = start.astimezone(_zone(series))
    week_of_month = (local.day - 1) // 7 + 1
    moved = MeetingSeries(
        customer=series.customer,
        salesperson=series.salesperson,
        name=series.name,
        first_start=start,
        count=len(following),
        **{field: getattr(series, field) for field in PATTERN_FIELDS},
    )
    moved.ordinal = -1 if week_of_month > 4 else week_of_month
    moved.weekday = local.weekday()
    moved.start_time = local.time().replace(second=0, microsecond=0)
    moved.full_clean()
    moved.save()
    _end_series_before(series, visit.occurrence_start)
    length = dt.timedelta(minutes=series.duration_minutes)
    for meeting, new_start in zip(following, series_occurrences(moved), strict=True):
        visit_reschedule(visit=meeting, start=new_start, end=new_start + length)
        Visit.objects.filter(pk=meeting.pk).update(series=moved, occurrence_start=new_start)
    return moved


@transaction.atomic
def series_cancel_following(*, visit: Visit, reason: str) -> int:
    """Cancel this meeting and every later planned one of its series; the series ends before
    it. Returns how many were cancelled."""
    series = MeetingSeries.objects.select_for_update().get(pk=visit.series_id)
    following = [v for v in _following(visit) if v.status == VisitStatus.PLANNED]
    if not following or following[0].pk != visit.pk:
        raise ValidationError("Only planned meetings can be cancelled.")
    for meeting in following:
        visit_cancel(visit=meeting, reason=reason)
    _end_series_before(series, visit.occurrence_start)
    return len(following)
