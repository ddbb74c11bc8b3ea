"""The iCalendar (RFC 5545) feed of a user's meetings."""

import datetime as dt
from collections.abc import Iterable

from django.conf import settings
from django.utils import timezone
from icalendar import Calendar, Event

from accounts.models import User
from visits.models import REMOTE_VISIT_KINDS, Visit, VisitStatus

PRODID = "-//Cadence//Meeting schedule//EN"


def visit_uid(visit: Visit) -> str:
    """Stable per meeting, so a calendar updates an edited meeting instead of duplicating it."""
    return f"visit-{visit.pk}@cadence"


def calendar_feed(user: User, visits: Iterable[Visit]) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", f"Cadence: {user}")
    calendar.add("x-wr-timezone", user.time_zone or settings.TIME_ZONE)
    calendar.add("refresh-interval", dt.timedelta(hours=1), parameters={"VALUE": "DURATION"})
    for visit in visits:
        calendar.add_component(_event(visit))
    return calendar.to_ical()


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
