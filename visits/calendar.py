"""The iCalendar (RFC 5545) feed of a user's meetings."""

import datetime as dt
from collections.abc import Iterable

from django.conf import settings
from django.utils import timezone
from icalendar import Alarm, Calendar, Event, vRecur

from accounts.models import User
from visits.models import REMOTE_VISIT_KINDS, MeetingSeries, Visit, VisitStatus
from visits.rhythms import pattern_rrule, series_occurrences

PRODID = "-//Cadence//Meeting schedule//EN"


def visit_uid(visit: Visit) -> str:
    """Stable per meeting, so a calendar updates an edited meeting instead of duplicating it."""
    return f"visit-{visit.pk}@cadence"


def follow_up_uid(visit: Visit) -> str:
    return f"follow-up-{visit.pk}@cadence"


def series_uid(series: MeetingSeries) -> str:
    return f"series-{series.pk}@cadence"


def calendar_feed(
    user: User,
    visits: Iterable[Visit],
    follow_ups: Iterable[Visit] = (),
    series: Iterable[MeetingSeries] = (),
) -> bytes:
    """The meetings (with the user's alarm before each planned one) and, if the user wants
    them, the follow-up dates asked for at visits, as all-day items. A booked series is one
    event with its RRULE (`series`, their visits prefetched); its meetings are left out of
    `visits`' single events."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", f"Cadence: {user}")
    calendar.add("x-wr-timezone", user.time_zone or settings.TIME_ZONE)
    calendar.add("refresh-interval", dt.timedelta(hours=1), parameters={"VALUE": "DURATION"})
    in_series = set()
    for booked in series:
        for event in _series_events(booked, user):
            calendar.add_component(event)
        in_series |= {visit.pk for visit in booked.visits.all()}
    for visit in visits:
        if visit.pk in in_series:
            continue
        event = _event(visit)
        if user.alarm_minutes and visit.status == VisitStatus.PLANNED:
            event.add_component(_alarm(visit.customer.name, user.alarm_minutes))
        calendar.add_component(event)
    if user.calendar_follow_ups:
        for visit in follow_ups:
            calendar.add_component(_follow_up(visit))
    calendar.add_missing_timezones()
    return calendar.to_ical()


def _alarm(name: str, minutes: int) -> Alarm:
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("trigger", -dt.timedelta(minutes=minutes))
    alarm.add("description", f"{name} in {minutes} min")
    return alarm


def _series_events(series: MeetingSeries, user: User) -> list[Event]:
    """The series as RFC 5545 has it: one event with an RRULE in the series' time zone; an
    occurrence cancelled (or handed to someone else) an EXDATE; one moved, held or changed an
    exception with its RECURRENCE-ID. Meetings left after the series was cut short (cancelled
    or moved "with all following") are single events."""
    starts = series_occurrences(series) if series.count else []
    meetings = {visit.occurrence_start: visit for visit in series.visits.all()}
    length = dt.timedelta(minutes=series.duration_minutes)
    events = []
    if starts:
        zone = starts[0].tzinfo
        master = Event()
        master.add("uid", series_uid(series))
        master.add("dtstamp", series.updated_at or timezone.now())
        master.add("sequence", series.sequence)
        master.add("dtstart", starts[0])
        master.add("dtend", starts[0] + length)
        master.add("rrule", vRecur.from_ical(f"{pattern_rrule(series)};COUNT={series.count}"))
        customer = series.customer
        master.add("summary", f"{series.name}: {customer.name}")
        if customer.address and series.kind not in REMOTE_VISIT_KINDS:
            master.add("location", customer.address)
        first_planned = next(
            (
                meetings[start]
                for start in starts
                if start in meetings and meetings[start].is_planned
            ),
            None,
        )
        master.add(
            "description",
            "\n".join(filter(None, [series.name, first_planned.brief if first_planned else ""])),
        )
        master.add("status", "CONFIRMED")
        if user.alarm_minutes:
            master.add_component(_alarm(customer.name, user.alarm_minutes))
        gone = [
            start
            for start in starts
            if start not in meetings or meetings[start].status == VisitStatus.CANCELLED
        ]
        if gone:
            master.add("exdate", [start.astimezone(zone) for start in gone])
        events.append(master)
    for occurrence, visit in sorted(meetings.items()):
        if occurrence in starts:
            if visit.status == VisitStatus.CANCELLED or (
                visit.is_planned
                and visit.scheduled_start == occurrence
                and visit.scheduled_end == occurrence + length
            ):
                continue
            event = _event(visit, uid=series_uid(series))
            event.add("recurrence-id", occurrence.astimezone(zone))
        else:
            event = _event(visit)
        if user.alarm_minutes and visit.is_planned:
            event.add_component(_alarm(visit.customer.name, user.alarm_minutes))
        events.append(event)
    return events


def _follow_up(visit: Visit) -> Event:
    """A follow-up asked for at a visit, on its day (all day): what the next step was."""
    event = Event()
    event.add("uid", follow_up_uid(visit))
    event.add("dtstamp", visit.updated_at or timezone.now())
    event.add("dtstart", visit.follow_up_on)
    event.add("dtend", visit.follow_up_on + dt.timedelta(days=1))
    event.add("summary", f"Follow up: {visit.customer.name}")
    event.add("description", visit.next_step or "Follow-up asked for at the last visit.")
    event.add("transp", "TRANSPARENT")
    return event


def _event(visit: Visit, *, uid: str = "") -> Event:
    event = Event()
    event.add("uid", uid or visit_uid(visit))
    event.add("dtstamp", visit.updated_at or timezone.now())
    event.add("last-modified", visit.updated_at or timezone.now())
    event.add("sequence", visit.sequence)
    event.add("dtstart", visit.scheduled_start)
    event.add("dtend", visit.scheduled_end or visit.scheduled_start)
    customer = visit.customer
    lines = []
    if visit.purpose:
        lines.append(visit.purpose)
    if visit.kind in REMOTE_VISIT_KINDS:
        # A call happens where the caller is: the event says whom to call, not where to go.
        event.add(
            "summary", f"Call {customer.name}" + (f" {customer.phone}" if customer.phone else "")
        )
        if customer.phone:
            event.add("location", f"tel:{customer.phone}")
        lines.append(
            f"{visit.get_kind_display()} call" + (f": {customer.phone}" if customer.phone else "")
        )
    else:
        event.add("summary", customer.name)
        if customer.address:
            event.add("location", customer.address)
        lines.append(f"{visit.get_kind_display()} meeting")
        if visit.travel_minutes:
            # The drive there (from the day plan, or typed): Apple's calendars block the time
            # before the event and alert on it; others show the line in the description.
            event.add(
                "x-apple-travel-duration",
                dt.timedelta(minutes=visit.travel_minutes),
                parameters={"VALUE": "DURATION"},
            )
            lines.append(f"Travel: {visit.travel_minutes} min, {visit.distance_km} km")
    contacts = [
        f"{c.name}{' (' + c.title + ')' if c.title else ''}{' ' + c.phone if c.phone else ''}"
        for c in visit.contacts.all()
    ]
    if contacts:
        lines.append("Contacts: " + "; ".join(contacts))
    if visit.status == VisitStatus.CANCELLED and visit.cancel_reason:
        lines.append(f"Cancelled: {visit.cancel_reason}")
    event.add("description", "\n".join(lines))
    event.add("status", "CANCELLED" if visit.status == VisitStatus.CANCELLED else "CONFIRMED")
    return event
