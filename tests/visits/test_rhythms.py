"""An agreed rhythm and the series booked from it (issue 28): the rhythm drives the account's
cadence, a series plans the next N meetings with an agenda, and the calendar feed carries it
as one recurring event whose exceptions follow each move and cancellation (RFC 5545)."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from dateutil import rrule
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from icalendar import Calendar

from accounts.services import calendar_token_regenerate
from crm.models import ServiceModel
from tests.factories import PlannedVisitFactory, VisitFactory
from visits.ask_services import AskInput, asks_record
from visits.models import MeetingSeries, Rhythm, RhythmFrequency, Visit, VisitStatus
from visits.rhythms import (
    occurrences,
    rhythm_remove,
    rhythm_set,
    series_book,
    series_cancel_following,
    series_move_following,
)
from visits.services import visit_cancel, visit_reassign, visit_reschedule

pytestmark = pytest.mark.django_db
LONDON = ZoneInfo("Europe/London")
# Booked from a fixed Monday, so every date below is known: the first Tuesdays of
# Feb, May, Aug and Nov 2027 (British summer time in May and August).
FROM = dt.datetime(2027, 1, 11, 9, 0, tzinfo=LONDON)
FIRST_TUESDAYS = [
    dt.date(2027, 2, 2),
    dt.date(2027, 5, 4),
    dt.date(2027, 8, 3),
    dt.date(2027, 11, 2),
]


def _quarterly() -> Rhythm:
    return Rhythm(
        name="Quarterly business review",
        frequency=RhythmFrequency.MONTHLY,
        interval=3,
        ordinal=1,
        weekday=1,
        start_time=dt.time(10, 0),
        duration_minutes=60,
    )


@pytest.fixture
def booked(world):
    rep, customer = world.rep_north, world.north_customer
    rep.time_zone = "Europe/London"
    rep.save()
    rhythm_set(user=rep, customer=customer, rhythm=_quarterly())
    series = series_book(user=rep, customer=customer, count=4, first=FROM)
    return rep, customer, series


def _feed(client, rep) -> Calendar:
    token = calendar_token_regenerate(user=rep)
    response = client.get(reverse("calendar_feed", args=[rep.pk, token]))
    assert response.status_code == 200
    return Calendar.from_ical(response.content)


def _events(calendar: Calendar) -> list:
    return list(calendar.walk("VEVENT"))


def test_the_rhythm_sets_the_cadence_and_gives_it_back(world):
    rep, customer = world.rep_north, world.north_customer
    assert customer.cadence_days is None
    rhythm_set(user=rep, customer=customer, rhythm=_quarterly())
    customer.refresh_from_db()
    assert customer.cadence_days == 91, "three months"
    assert customer.next_visit_due is not None
    weekly = _quarterly()
    weekly.frequency, weekly.interval = RhythmFrequency.WEEKLY, 2
    rhythm_set(user=rep, customer=customer, rhythm=weekly)
    customer.refresh_from_db()
    assert customer.cadence_days == 14 and Rhythm.objects.count() == 1
    assert rhythm_remove(user=rep, customer=customer)
    customer.refresh_from_db()
    assert customer.cadence_days is None, "the cadence it replaced"


def test_only_the_owner_or_their_manager_arranges_it(world):
    with pytest.raises(PermissionDenied):
        rhythm_set(user=world.rep_south, customer=world.north_customer, rhythm=_quarterly())
    rhythm_set(user=world.north_manager, customer=world.north_customer, rhythm=_quarterly())
    partner = world.coast_customer
    partner.service_model = ServiceModel.SELF_SERVICE
    partner.save()
    with pytest.raises(ValidationError, match="no visit cadence"):
        rhythm_set(user=world.admin, customer=partner, rhythm=_quarterly())


def test_occurrences_keep_the_wall_clock_across_daylight_saving():
    rhythm = _quarterly()
    rhythm.time_zone = "Europe/London"
    starts = occurrences(rhythm, first=FROM, count=4)
    assert [start.date() for start in starts] == FIRST_TUESDAYS
    assert {start.astimezone(LONDON).time() for start in starts} == {dt.time(10, 0)}
    assert [start.astimezone(dt.UTC).hour for start in starts] == [10, 9, 9, 10]


def test_a_series_plans_each_meeting_with_the_agenda(world):
    rep, customer = world.rep_north, world.north_customer
    rep.time_zone = "Europe/London"
    rep.save()
    asks_record(
        user=rep, customer=customer, asks=[AskInput(kind="price", text="Price for 500 crates")]
    )
    VisitFactory(
        customer=customer,
        salesperson=rep,
        next_step="Send the new catalogue",
        competitor="Acme",
        notes="Acme offered 5% off",
    )
    rhythm_set(user=rep, customer=customer, rhythm=_quarterly())
    series = series_book(user=rep, customer=customer, count=4, first=FROM)
    meetings = list(Visit.objects.filter(series=series).order_by("scheduled_start"))
    assert [m.scheduled_start.astimezone(LONDON).date() for m in meetings] == FIRST_TUESDAYS
    assert {m.status for m in meetings} == {VisitStatus.PLANNED}
    assert {m.purpose for m in meetings} == {"Quarterly business review"}
    assert all(m.scheduled_end - m.scheduled_start == dt.timedelta(hours=1) for m in meetings)
    brief = meetings[0].brief
    assert "- Answer: Price for 500 crates (price" in brief
    assert "Send the new catalogue" in brief and "Acme: Acme offered 5% off" in brief


def test_booking_is_all_or_none_and_bounded(world, settings):
    rep, customer = world.rep_north, world.north_customer
    with pytest.raises(ValidationError, match="Agree a rhythm"):
        series_book(user=rep, customer=customer, count=4, first=FROM)
    rhythm_set(user=rep, customer=customer, rhythm=_quarterly())
    with pytest.raises(ValidationError, match="between 1 and 24"):
        series_book(user=rep, customer=customer, count=25, first=FROM)
    settings.CADENCE_MAX_MEETINGS_PER_DAY = 1
    third = dt.datetime.combine(FIRST_TUESDAYS[2], dt.time(15), tzinfo=LONDON)
    PlannedVisitFactory(customer=customer, salesperson=rep, scheduled_start=third)
    with pytest.raises(ValidationError, match="Tue 03 Aug 2027 cannot be booked"):
        series_book(user=rep, customer=customer, count=4, first=FROM)
    assert not MeetingSeries.objects.exists()
    assert Visit.objects.filter(status=VisitStatus.PLANNED).count() == 1


def test_the_feed_carries_the_series_as_one_recurring_event(client, booked):
    rep, _customer, series = booked
    events = _events(_feed(client, rep))
    assert len(events) == 1, "no single events for the series' meetings"
    (master,) = events
    assert master["uid"] == f"series-{series.pk}@cadence"
    rule = master["rrule"].to_ical().decode()
    assert rule == "FREQ=MONTHLY;COUNT=4;INTERVAL=3;BYDAY=1TU"
    start = master.decoded("dtstart")
    assert start == dt.datetime(2027, 2, 2, 10, tzinfo=LONDON)
    assert str(master["dtstart"].params["TZID"]) == "Europe/London"
    expanded = list(rrule.rrulestr(rule, dtstart=start.replace(tzinfo=None)))
    booked_starts = sorted(v.scheduled_start for v in Visit.objects.filter(series=series))
    assert [moment.replace(tzinfo=LONDON) for moment in expanded] == booked_starts
    assert master.walk("VALARM"), "the user's alarm before each"


def test_moving_or_cancelling_one_meeting_is_an_exception(client, booked):
    rep, _, series = booked
    _first, second, third, _ = Visit.objects.filter(series=series).order_by("scheduled_start")
    moved = dt.datetime.combine(FIRST_TUESDAYS[1], dt.time(14), tzinfo=LONDON)
    visit_reschedule(visit=second, start=moved, end=moved + dt.timedelta(hours=1))
    visit_cancel(visit=third, reason="Customer closed for the summer")
    master, exception = _events(_feed(client, rep))
    assert [d.dt for d in master["exdate"].dts] == [
        dt.datetime.combine(FIRST_TUESDAYS[2], dt.time(10), tzinfo=LONDON)
    ]
    assert exception["uid"] == master["uid"]
    assert exception.decoded("recurrence-id") == dt.datetime.combine(
        FIRST_TUESDAYS[1], dt.time(10), tzinfo=LONDON
    )
    assert exception.decoded("dtstart") == moved
    second.refresh_from_db()
    assert second.series_id == series.pk, "moved alone, still of the series"


def test_moving_this_and_all_following_starts_a_new_series(client, booked):
    rep, _, series = booked
    meetings = list(Visit.objects.filter(series=series).order_by("scheduled_start"))
    wednesday = dt.datetime(2027, 5, 5, 11, tzinfo=LONDON)
    moved = series_move_following(visit=meetings[1], start=wednesday)
    series.refresh_from_db()
    assert series.count == 1 and moved.count == 3
    later = list(Visit.objects.filter(series=moved).order_by("scheduled_start"))
    assert [v.pk for v in later] == [m.pk for m in meetings[1:]]
    assert [v.scheduled_start for v in later] == [
        dt.datetime(2027, 5, 5, 11, tzinfo=LONDON),
        dt.datetime(2027, 8, 4, 11, tzinfo=LONDON),
        dt.datetime(2027, 11, 3, 11, tzinfo=LONDON),
    ], "first Wednesdays at 11:00 from now on"
    events = _events(_feed(client, rep))
    rules = {e["uid"]: e["rrule"].to_ical().decode() for e in events}
    assert rules == {
        f"series-{series.pk}@cadence": "FREQ=MONTHLY;COUNT=1;INTERVAL=3;BYDAY=1TU",
        f"series-{moved.pk}@cadence": "FREQ=MONTHLY;COUNT=3;INTERVAL=3;BYDAY=1WE",
    }


def test_cancelling_this_and_all_following_ends_the_series(client, booked):
    rep, _, series = booked
    meetings = list(Visit.objects.filter(series=series).order_by("scheduled_start"))
    assert series_cancel_following(visit=meetings[2], reason="Contract ends") == 2
    series.refresh_from_db()
    assert series.count == 2
    statuses = list(
        Visit.objects.filter(series=series)
        .order_by("scheduled_start")
        .values_list("status", flat=True)
    )
    assert statuses == ["planned", "planned", "cancelled", "cancelled"]
    events = _events(_feed(client, rep))
    master = next(e for e in events if "rrule" in e)
    assert "COUNT=2" in master["rrule"].to_ical().decode() and "exdate" not in master
    singles = [e for e in events if "rrule" not in e]
    assert {str(e["status"]) for e in singles} == {"CANCELLED"} and len(singles) == 2
    with pytest.raises(ValidationError, match="Only planned"):
        series_cancel_following(visit=meetings[2], reason="Again")


def test_a_meeting_handed_to_someone_else_leaves_the_series(client, booked, world):
    rep, _, series = booked
    first = Visit.objects.filter(series=series).order_by("scheduled_start").first()
    visit_reassign(visit=first, salesperson=world.rep_coast)
    first.refresh_from_db()
    assert first.series_id is None and first.occurrence_start is None
    (master,) = _events(_feed(client, rep))
    assert len(master["exdate"].dts) == 1


def test_the_rep_agrees_a_rhythm_and_books_from_the_pages(client, world):
    rep, customer = world.rep_north, world.north_customer
    client.force_login(rep)
    url = reverse("visits:rhythm", args=[customer.pk])
    assert "agree one" in client.get(customer.get_absolute_url()).content.decode()
    refused = client.post(url, {"name": "", "frequency": "monthly", "interval": "40"})
    assert refused.status_code == 200
    page = refused.content.decode()
    assert "This field is required." in page and "less than or equal to 12" in page
    agreed = client.post(
        url,
        {
            "name": "Quarterly business review",
            "frequency": "monthly",
            "interval": "3",
            "ordinal": "1",
            "weekday": "1",
            "start_time": "10:00",
            "duration_minutes": "60",
            "kind": "on_site",
        },
        follow=True,
    )
    assert "Rhythm agreed" in agreed.content.decode()
    assert "Every 3 months, first Tuesday, 10:00, 60 min, on site" in agreed.content.decode()
    book = reverse("visits:series_book", args=[customer.pk])
    assert "Book between 1 and 24 meetings." in client.post(book, {"count": "99"}).text
    booked = client.post(book, {"count": "3", "first": "2027-01-11"}, follow=True)
    assert "3 meetings booked from Tue 02 Feb 2027" in booked.content.decode()
    assert "(agreed rhythm)" in client.get(customer.get_absolute_url()).content.decode()
    meetings = list(Visit.objects.filter(series__isnull=False).order_by("scheduled_start"))
    assert len(meetings) == 3

    cancel = client.post(
        reverse("visits:cancel", args=[meetings[1].pk]),
        {"reason": "Contract ends", "scope": "following"},
        follow=True,
    )
    assert "2 meetings with Northern Mills cancelled." in cancel.content.decode()
    moved = client.post(
        reverse("visits:reschedule", args=[meetings[0].pk]),
        {"start": "2027-02-03T11:00", "end": "2027-02-03T12:00", "scope": "this"},
        follow=True,
    )
    assert moved.status_code == 200
    meetings[0].refresh_from_db()
    assert meetings[0].scheduled_start.astimezone(LONDON).hour == 11

    client.force_login(world.rep_south)
    assert client.get(url).status_code == 404, "not their territory: not even seen"
    client.force_login(world.north_manager)
    ended = client.post(reverse("visits:rhythm_end", args=[customer.pk]), follow=True)
    assert "Rhythm ended" in ended.content.decode()
    customer.refresh_from_db()
    assert customer.cadence_days is None
