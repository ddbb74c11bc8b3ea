"""Reminders that reach the rep: the morning e-mail (once, in the user's time zone, only with
something to say), the calendar feed's alarms and follow-ups (issue 28)."""

import datetime as dt
import io
import threading
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar

from accounts.models import User
from accounts.services import calendar_token_regenerate
from tests.factories import CustomerFactory, PlannedVisitFactory, UserFactory, VisitFactory
from visits import reminders
from visits.ask_services import AskInput, asks_record
from visits.models import ReminderSent, VisitStatus
from visits.reminders import morning_email, reminders_send

pytestmark = pytest.mark.django_db
LONDON = ZoneInfo("Europe/London")


def _only(*users) -> None:
    """Only these users want the morning e-mail (the world's others have addresses too)."""
    User.objects.exclude(pk__in=[user.pk for user in users]).update(morning_email=False)


def _at(day: dt.date, hour: int, minute: int = 0, zone=LONDON) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=zone)


@pytest.fixture
def rep_day(world):
    rep = world.rep_north
    rep.email, rep.time_zone = "rep@example.com", "Europe/London"
    rep.save()
    _only(rep)
    day = timezone.localdate() + dt.timedelta(days=1)
    meeting = PlannedVisitFactory(
        customer=world.north_customer,
        salesperson=rep,
        scheduled_start=_at(day, 10),
        scheduled_end=_at(day, 11),
        purpose="Quarterly review",
    )
    asks_record(
        user=rep,
        customer=world.north_customer,
        asks=[AskInput(kind="price", text="Price for 500 crates", due_on=day)],
    )
    VisitFactory(
        customer=world.coast_customer,
        salesperson=rep,
        visited_at=_at(day - dt.timedelta(days=3), 9),
        follow_up_on=day,
        next_step="Send the catalogue",
    )
    return rep, day, meeting


def test_the_morning_email_lists_the_day_and_what_customers_wait_on(rep_day):
    rep, day, _ = rep_day
    subject, body = morning_email(rep, day=day)
    assert subject == f"Cadence: your day, {day:%a %d %b}"
    assert "10:00 Northern Mills: Quarterly review (waiting on: Price for 500 crates)" in body
    assert "Asks due (1)" in body and "Price for 500 crates (due" in body
    assert "Follow-ups due (1)" in body and "Send the catalogue" in body


def test_it_goes_once_after_seven_in_the_users_time_zone(rep_day):
    rep, day, _ = rep_day
    assert reminders_send(at=_at(day, 6, 55)).due == 0, "not yet 07:00 in London"
    first = reminders_send(at=_at(day, 7, 5))
    assert (first.due, first.sent) == (1, 1)
    assert [message.to for message in mail.outbox] == [["rep@example.com"]]
    again = reminders_send(at=_at(day, 9, 0))
    assert (again.due, again.sent) == (0, 0), "never twice the same day"
    rep.time_zone = "America/New_York"
    rep.save()
    # 07:05 in London is 02:05 in New York: that day's morning there has not come.
    assert reminders_send(at=_at(day + dt.timedelta(days=1), 7, 5)).due == 0


def test_nothing_to_say_sends_nothing_and_is_not_retried(world):
    rep = world.rep_coast
    rep.email = "coast@example.com"
    rep.save()
    _only(rep)
    day = timezone.localdate()
    result = reminders_send(at=_at(day, 8))
    assert (result.sent, result.empty) == (0, 1) and mail.outbox == []
    assert reminders_send(at=_at(day, 9)).due == 0


def test_a_switched_off_morning_email_is_not_sent(rep_day):
    rep, day, _ = rep_day
    rep.morning_email = False
    rep.save()
    assert reminders_send(at=_at(day, 8)).due == 0


def test_a_failed_send_is_given_back_for_the_next_pass(rep_day, monkeypatch):
    _, day, _ = rep_day

    def refused(**_):
        raise OSError("SMTP server refused")

    with monkeypatch.context() as patched:
        patched.setattr(reminders, "send_mail", refused)
        failed = reminders_send(at=_at(day, 8))
    assert failed.failed == 1 and not ReminderSent.objects.exists()
    assert reminders_send(at=_at(day, 8, 5)).sent == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_send_one_email(world):
    rep = world.rep_north
    rep.email = "rep@example.com"
    rep.save()
    _only(rep)
    day = timezone.localdate() + dt.timedelta(days=1)
    PlannedVisitFactory(
        customer=world.north_customer, salesperson=rep, scheduled_start=_at(day, 10)
    )
    results, start = [], threading.Barrier(2)

    def worker():
        start.wait()
        try:
            results.append(reminders_send(at=_at(day, 7, 30)))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(result.sent for result in results) == [0, 1]
    assert len(mail.outbox) == 1


def test_the_managers_morning_email(world):
    manager = world.north_manager
    manager.email = "boss@example.com"
    manager.save()
    today = timezone.localdate()
    (ask,) = asks_record(
        user=world.rep_north,
        customer=world.north_customer,
        asks=[AskInput(kind="complaint", text="Crushed boxes")],
    )
    type(ask).objects.filter(pk=ask.pk).update(
        asked_on=today - dt.timedelta(days=5), due_on=today - dt.timedelta(days=2)
    )
    yesterday = today - dt.timedelta(days=1)
    PlannedVisitFactory(
        customer=world.north_customer,
        salesperson=world.rep_north,
        scheduled_start=timezone.make_aware(dt.datetime.combine(yesterday, dt.time(14))),
    )
    PlannedVisitFactory(
        customer=world.south_customer,
        salesperson=world.rep_south,
        scheduled_start=timezone.make_aware(dt.datetime.combine(yesterday, dt.time(15))),
    )
    _, body = morning_email(manager, day=today)
    assert "Team asks past their due date (1)" in body and "Crushed boxes" in body
    assert "Yesterday's meetings neither logged nor cancelled (1)" in body
    assert "Southern Bakes" not in body


def test_the_command_runs_one_pass_and_refuses_a_bad_moment(rep_day):
    _, day, _ = rep_day
    out = io.StringIO()
    call_command("send_reminders", "--at", f"{day}T08:00+00:00", "--dry-run", stdout=out)
    assert out.getvalue().splitlines() == [
        "Morning e-mails: 1 due, would send 1",
        "Notifications: 0 due, would send 0",
    ]
    assert mail.outbox == [] and not ReminderSent.objects.exists()
    call_command("send_reminders", "--at", f"{day}T08:00+00:00", stdout=out)
    assert len(mail.outbox) == 1
    with pytest.raises(CommandError, match="--at must be"):
        call_command("send_reminders", "--at", "tomorrow morning")
    with pytest.raises(CommandError, match="--at must be"):
        call_command("send_reminders", "--at", "2026-13-45T99:00")


def test_the_calendar_feed_carries_alarms_and_follow_ups_as_the_user_chose(client, rep_day):
    rep, day, meeting = rep_day
    token = calendar_token_regenerate(user=rep)
    url = reverse("calendar_feed", args=[rep.pk, token])

    def feed():
        return Calendar.from_ical(client.get(url).content)

    events = {str(event["uid"]): event for event in feed().walk("VEVENT")}
    alarm = events[f"visit-{meeting.pk}@cadence"].walk("VALARM")[0]
    assert alarm.decoded("trigger") == -dt.timedelta(minutes=30)
    follow_up = next(event for uid, event in events.items() if uid.startswith("follow-up-"))
    assert follow_up.decoded("dtstart") == day and "Send the catalogue" in follow_up["description"]
    rep.alarm_minutes, rep.calendar_follow_ups = 0, False
    rep.save()
    client.cookies.clear()
    events = list(feed().walk("VEVENT"))
    assert [str(event["uid"]) for event in events] == [f"visit-{meeting.pk}@cadence"]
    assert events[0].walk("VALARM") == []


def test_a_cancelled_meeting_has_no_alarm(client, rep_day):
    rep, _, meeting = rep_day
    meeting.status = VisitStatus.CANCELLED
    meeting.save()
    token = calendar_token_regenerate(user=rep)
    body = Calendar.from_ical(client.get(reverse("calendar_feed", args=[rep.pk, token])).content)
    assert all(event.walk("VALARM") == [] for event in body.walk("VEVENT"))


def test_an_account_owned_elsewhere_never_reaches_the_email(world, rep_day):
    rep, day, _ = rep_day
    stranger = CustomerFactory(name="Far Away Ltd", territory=world.south, owner=world.rep_south)
    PlannedVisitFactory(customer=stranger, salesperson=world.rep_south, scheduled_start=_at(day, 9))
    _, body = morning_email(rep, day=day)
    assert "Far Away" not in body


def test_each_user_sets_their_own_reminders(client, world):
    client.force_login(world.rep_north)
    assert "Reminders" in client.get(reverse("reminders")).text
    response = client.post(reverse("reminders"), {"alarm_minutes": "15", "morning_email": "on"})
    assert response.status_code == 302
    world.rep_north.refresh_from_db()
    assert (
        world.rep_north.alarm_minutes,
        world.rep_north.morning_email,
        world.rep_north.calendar_follow_ups,
    ) == (15, True, False)
    refused = client.post(reverse("reminders"), {"alarm_minutes": "-5"})
    assert refused.status_code == 200 and "greater than or equal to 0" in refused.text
    assert client.post(reverse("reminders"), {"alarm_minutes": "99999"}).status_code == 200
    world.rep_north.refresh_from_db()
    assert world.rep_north.alarm_minutes == 15


def test_a_pass_costs_the_same_queries_for_two_salespeople_or_twelve(
    world, django_assert_num_queries
):
    day = timezone.localdate() + dt.timedelta(days=1)

    def reps(count: int) -> None:
        for n in range(count):
            rep = UserFactory(username=f"rep-{day}-{count}-{n}", email=f"r{n}@example.com")
            world.north.members.add(rep)
            customer = CustomerFactory(territory=world.north, owner=rep)
            PlannedVisitFactory(customer=customer, salesperson=rep, scheduled_start=_at(day, 9))
            asks_record(user=rep, customer=customer, asks=[AskInput(kind="price", text="p")])

    User.objects.update(morning_email=False)
    reps(2)
    # The users, the claims already made, the claiming, then five reads for every salesperson
    # at once (one more marks the claims with nothing to say, when there are some).
    with django_assert_num_queries(8) as few:
        assert reminders_send(at=_at(day, 8)).sent == 2
    reps(12)
    User.objects.filter(username__startswith=f"rep-{day}-2-").update(morning_email=False)
    with django_assert_num_queries(len(few.captured_queries)):
        assert reminders_send(at=_at(day, 8)).sent == 12


def test_the_email_lists_the_first_asks_due_and_counts_them_all(rep_day):
    rep, day, _ = rep_day
    for n in range(20):
        asks_record(
            user=rep,
            customer=rep_day[2].customer,
            asks=[AskInput(kind="other", text=f"old ask {n:02}", due_on=day)],
        )
    _, body = morning_email(rep, day=day)
    assert "Asks due (21)" in body and "  … and 6 more" in body
    assert body.count("(due ") == 15
