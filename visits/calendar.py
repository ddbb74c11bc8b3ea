"""The iCalendar (RFC 5545) feed of a user's meetings."""

import datetime as dt
from collections.abc import Iterable

from django.conf import settings
from django.utils import timezone
from icalendar import Alarm, Calendar, Event

from accounts.models import User
from visits.models import REMOTE_VISIT_KINDS, Visit, VisitStatus

PRODID = "-//Cadence//Meeting schedule//EN"


def visit_uid(visit: Visit) -> str:
    """Stable per meeting, so a calendar updates an edited meeting instead of duplicating it."""
    return f"visit-{visit.pk}@cadence"


def follow_up_uid(visit: Visit) -> str:
    return f"follow-up-{visit.pk}@cadence"


def calendar_feed(user: User, visits: Iterable[Visit], follow_ups: Iterable[Visit] = ()) -> bytes:
    """The meetings (with the user's alarm before each planned one) and, if the user wants
    them, the follow-up dates asked for at visits, as all-day items."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", f"Cadence: {user}")
    calendar.add("x-wr-timezone", user.time_zone or settings.TIME_ZONE)
    calendar.add("refresh-interval", dt.timedelta(hours=1), parameters={"VALUE": "DURATION"})
    for visit in visits:
        event = _event(visit)
        if user.alarm_minutes and visit.status == VisitStatus.PLANNED:
            event.add_component(_alarm(visit, user.alarm_minutes))
        calendar.add_component(event)
    if user.calendar_follow_ups:
        for visit in follow_ups:
            calendar.add_component(_follow_up(visit))
    return calendar.to_ical()


def _alarm(visit: Visit, minutes: int) -> Alarm:
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("trigger", -dt.timedelta(minutes=minutes))
    alarm.add("description", f"{visit.customer.name} in {minutes} min")
    return alarm


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


def _event(visit: Visit) -> Event:
    event = Event()
    event.add("uid", visit_uid(visit))
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
