"""Reminders that reach people (docs/user-guide.md, "Reminders"): the morning e-mail, sent once
a day after MORNING_AT in the user's own time zone, only when there is something to say.

A salesperson's: today's meetings with what each customer waits on, follow-ups due, asks due
today or overdue, and accounts that pass their cadence this week with nothing planned. A
manager's: the team's asks past their due date and the meetings of the day before that were
neither held nor cancelled. Each is claimed in the database before it goes out (ReminderSent),
so a second worker or a restart never sends it twice; a send that fails gives the claim back.
"""

import datetime as dt
import functools
import logging
import operator
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, Window
from django.db.models.functions import RowNumber
from django.urls import reverse
from django.utils import timezone

from accounts.models import PushSubscription, Role, User
from accounts.push import Push, push_send_many
from core.bounds import single_line
from crm.models import Customer
from crm.selectors import customer_scope
from visits.ask_selectors import open_asks_of
from visits.models import Ask, ReminderSent, Visit, VisitStatus
from visits.selectors import owned_with_nothing_planned

logger = logging.getLogger(__name__)
MORNING_AT = dt.time(7, 0)
MORNING = "morning"
# Each list in the e-mail stops at this many lines ("and N more" after).
LISTED = 15
FOLLOW_UPS_LOOK_BACK = dt.timedelta(days=7)


@dataclass
class ReminderPass:
    due: int = 0
    claimed: int = 0
    sent: int = 0
    empty: int = 0
    failed: int = 0


def _zone(user: User) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(user.time_zone or settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def _site(path: str) -> str:
    return settings.CADENCE_SITE_URL.rstrip("/") + path


def _listed(title: str, lines: list[str], total: int) -> list[str]:
    if not lines:
        return []
    more = [f"  … and {total - len(lines)} more"] if total > len(lines) else []
    return [f"{title} ({total})", *(f"- {single_line(line)}" for line in lines), *more, ""]


def _day_bounds(day: dt.date, zone) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time.min, tzinfo=zone)
    return start, start + dt.timedelta(days=1)


def _by_person(rows, key: str) -> dict[int, list]:
    grouped: dict[int, list] = defaultdict(list)
    for row in rows:
        grouped[getattr(row, key)].append(row)
    return grouped


def _salespeople_lines(people: list[User], day: dt.date, zone) -> dict[int, list[str]]:
    """The morning e-mail's lines of several salespeople sharing a time zone and a day, in five
    queries whatever their number (the job runs for hundreds every morning)."""
    ids = [person.pk for person in people]
    start, end = _day_bounds(day, zone)
    meetings = _by_person(
        Visit.objects.filter(
            salesperson__in=ids,
            status=VisitStatus.PLANNED,
            scheduled_start__gte=start,
            scheduled_start__lt=end,
        )
        .select_related("customer")
        .only("salesperson_id", "scheduled_start", "purpose", "customer__name")
        .order_by("scheduled_start", "id"),
        "salesperson_id",
    )
    waiting = open_asks_of({visit.customer_id for rows in meetings.values() for visit in rows})
    later = Visit.objects.filter(
        customer=OuterRef("customer"),
        status=VisitStatus.DONE,
        visited_at__gt=OuterRef("visited_at"),
    )
    follow_ups = _by_person(
        Visit.objects.filter(
            salesperson__in=ids,
            status=VisitStatus.DONE,
            follow_up_on__lte=day,
            follow_up_on__gte=day - FOLLOW_UPS_LOOK_BACK,
        )
        .exclude(Exists(later))
        .select_related("customer")
        .only("salesperson_id", "follow_up_on", "next_step", "customer__name")
        .order_by("follow_up_on", "id"),
        "salesperson_id",
    )
    # Overdue asks pile up: each person's first LISTED, with how many there are in all.
    owner = {"partition_by": F("owner_id")}
    asks = _by_person(
        Ask.objects.filter(owner__in=ids, answered_at__isnull=True, due_on__lte=day)
        .select_related("customer")
        .only("owner_id", "text", "due_on", "customer__name")
        .annotate(
            rank=Window(RowNumber(), order_by=[F("due_on"), F("id")], **owner),
            total=Window(Count("id"), **owner),
        )
        .filter(rank__lte=LISTED)
        .order_by("due_on", "id"),
        "owner_id",
    )
    passing = _by_person(
        owned_with_nothing_planned(Customer.objects.all(), owner_ids=ids, since=start)
        .filter(next_visit_due__gte=day, next_visit_due__lte=day + dt.timedelta(days=6))
        .only("owner_id", "name", "next_visit_due")
        .order_by("next_visit_due", "tier", "name", "id"),
        "owner_id",
    )
    lines = {}
    for pk in ids:
        mine = meetings.get(pk, [])
        meeting_lines = []
        for visit in mine[:LISTED]:
            line = f"{visit.scheduled_start.astimezone(zone):%H:%M} {visit.customer.name}"
            if visit.purpose:
                line += f": {visit.purpose}"
            if waits := waiting.get(visit.customer_id, []):
                line += f" (waiting on: {'; '.join(ask.text for ask in waits[:3])})"
            meeting_lines.append(line)
        lines[pk] = [
            *_listed("Today's meetings", meeting_lines, len(mine)),
            *_listed(
                "Follow-ups due",
                [
                    f"{visit.customer.name}, due {visit.follow_up_on:%d %b}: "
                    f"{visit.next_step or 'follow up'}"
                    for visit in follow_ups.get(pk, [])[:LISTED]
                ],
                len(follow_ups.get(pk, [])),
            ),
            *_listed(
                "Asks due",
                [
                    f"{ask.customer.name}: {ask.text} (due {ask.due_on:%d %b})"
                    for ask in asks.get(pk, [])
                ],
                asks[pk][0].total if asks.get(pk) else 0,
            ),
            *_listed(
                "Passing their cadence this week, nothing planned",
                [
                    f"{customer.name}, due {customer.next_visit_due:%d %b}"
                    for customer in passing.get(pk, [])[:LISTED]
                ],
                len(passing.get(pk, [])),
            ),
        ]
    return lines


def _manager_lines(user: User, day: dt.date, zone) -> list[str]:
    scope = customer_scope(user)
    customers = Customer.objects.filter(scope) if scope is not None else Customer.objects.all()
    in_scope = Q(customer__in=customers.values("pk"))
    overdue = (
        Ask.objects.filter(in_scope, answered_at__isnull=True, due_on__lt=day)
        .select_related("customer", "owner")
        .order_by("due_on", "id")
    )
    overdue_rows = list(overdue[: LISTED + 1])
    start, end = _day_bounds(day - dt.timedelta(days=1), zone)
    missed = (
        Visit.objects.filter(
            in_scope,
            status=VisitStatus.PLANNED,
            scheduled_start__gte=start,
            scheduled_start__lt=end,
        )
        .select_related("customer", "salesperson")
        .order_by("scheduled_start", "id")
    )
    missed_rows = list(missed[: LISTED + 1])
    return [
        *_listed(
            "Team asks past their due date",
            [
                f"{ask.customer.name}: {ask.text} ({ask.owner}, due {ask.due_on:%d %b})"
                for ask in overdue_rows[:LISTED]
            ],
            len(overdue_rows) if len(overdue_rows) <= LISTED else overdue.count(),
        ),
        *_listed(
            "Yesterday's meetings neither logged nor cancelled",
            [
                f"{visit.scheduled_start.astimezone(zone):%H:%M} {visit.customer.name} "
                f"({visit.salesperson})"
                for visit in missed_rows[:LISTED]
            ],
            len(missed_rows) if len(missed_rows) <= LISTED else missed.count(),
        ),
    ]


def _lines_of(people: list[User], day: dt.date) -> dict[int, list[str]]:
    """Each person's morning lines for `day`: salespeople in batches by time zone, managers
    one by one (a few, each over their own territories)."""
    lines: dict[int, list[str]] = {}
    zones: dict[str, list[User]] = defaultdict(list)
    for person in people:
        if person.role == Role.MANAGER:
            lines[person.pk] = _manager_lines(person, day, _zone(person))
        elif person.role in (Role.SALESPERSON, Role.INSIDE_SALES):
            zones[str(_zone(person))].append(person)
    for group in zones.values():
        lines |= _salespeople_lines(group, day, _zone(group[0]))
    return lines


def _message(lines: list[str], day: dt.date) -> tuple[str, str] | None:
    if not lines:
        return None
    body = "\n".join([f"Your day, {day:%A %d %B}.", "", *lines, _site("/visits/schedule/")])
    return f"Cadence: your day, {day:%a %d %b}", body


def morning_email(user: User, *, day: dt.date) -> tuple[str, str] | None:
    """The subject and text of the user's morning e-mail for `day`, or None: nothing to say."""
    return _message(_lines_of([user], day).get(user.pk, []), day)


_CLAIM = """
INSERT INTO visits_remindersent (user_id, kind, key, sent_at, empty)
SELECT claimed.user_id, %(kind)s, claimed.key, %(now)s, false
FROM unnest(%(users)s::bigint[], %(keys)s::text[]) AS claimed (user_id, key)
ON CONFLICT (user_id, kind, key) DO NOTHING
RETURNING user_id
"""


def _lines_by_day(people_and_days) -> dict[int, list[str]]:
    by_day: dict[dt.date, list[User]] = defaultdict(list)
    for user, day in people_and_days:
        by_day[day].append(user)
    lines: dict[int, list[str]] = {}
    for day, people in by_day.items():
        lines |= _lines_of(people, day)
    return lines


def reminders_send(*, at: dt.datetime | None = None, dry_run: bool = False) -> ReminderPass:
    """One pass: the morning e-mail of every user whose morning (MORNING_AT, their time zone)
    has come and who has not had that day's yet. With `dry_run`, counts what would go out and
    claims nothing."""
    at = at or timezone.now()
    result = ReminderPass()
    users = User.objects.filter(
        is_active=True,
        morning_email=True,
        role__in=[Role.SALESPERSON, Role.INSIDE_SALES, Role.MANAGER],
    ).exclude(email="")
    days = {}
    for user in users:
        local = at.astimezone(_zone(user))
        if local.time() >= MORNING_AT:
            days[user.pk] = (user, local.date())
    done = set(
        ReminderSent.objects.filter(
            kind=MORNING,
            user_id__in=list(days),
            key__in={day.isoformat() for _, day in days.values()},
        ).values_list("user_id", "key")
    )
    due = {pk: pair for pk, pair in days.items() if (pk, pair[1].isoformat()) not in done}
    result.due = len(due)
    if dry_run:
        result.sent = sum(1 for lines in _lines_by_day(due.values()).values() if lines)
        return result
    with connection.cursor() as cursor:
        cursor.execute(
            _CLAIM,
            {
                "kind": MORNING,
                "now": timezone.now(),
                "users": list(due),
                "keys": [day.isoformat() for _, day in due.values()],
            },
        )
        claimed = [pk for (pk,) in cursor.fetchall()]
    result.claimed = len(claimed)
    try:
        lines = _lines_by_day(due[pk] for pk in claimed)
    except Exception:
        # Nothing went out: the claims are given back for the next pass.
        ReminderSent.objects.filter(user_id__in=claimed, kind=MORNING).filter(
            key__in={due[pk][1].isoformat() for pk in claimed}
        ).delete()
        raise
    empty = []
    for pk in claimed:
        user, day = due[pk]
        key = day.isoformat()
        try:
            message = _message(lines.get(pk, []), day)
            if message is None:
                empty.append(pk)
                continue
            send_mail(
                subject=message[0], message=message[1], from_email=None, recipient_list=[user.email]
            )
            result.sent += 1
        except Exception:
            # Given back: the next pass tries again.
            logger.exception("morning e-mail for user %s failed", user.pk)
            ReminderSent.objects.filter(user=user, kind=MORNING, key=key).delete()
            result.failed += 1
    result.empty = ReminderSent.objects.filter(
        user_id__in=empty, kind=MORNING, key__in={due[pk][1].isoformat() for pk in empty}
    ).update(empty=True)
    logger.info(
        "reminders_send due=%d sent=%d empty=%d failed=%d",
        result.due,
        result.sent,
        result.empty,
        result.failed,
    )
    return result


PUSH = "push"


@dataclass
class Notification:
    user_id: int
    key: str
    title: str
    body: str
    path: str


def _meeting_notifications(people: dict[int, User], at: dt.datetime) -> list[Notification]:
    """Meetings starting within each person's alarm minutes from `at` (not yet begun), with
    the first thing the customer waits on. The key carries the start, so a meeting moved later
    is announced again."""
    lead = max((person.alarm_minutes for person in people.values()), default=0)
    if not lead:
        return []
    meetings = [
        visit
        for visit in Visit.objects.filter(
            salesperson__in=list(people),
            status=VisitStatus.PLANNED,
            scheduled_start__gt=at,
            scheduled_start__lte=at + dt.timedelta(minutes=lead),
        )
        .select_related("customer")
        .only("salesperson_id", "scheduled_start", "purpose", "customer__name")
        .order_by("scheduled_start", "id")
        if visit.scheduled_start - at
        <= dt.timedelta(minutes=people[visit.salesperson_id].alarm_minutes)
    ]
    waiting = open_asks_of({visit.customer_id for visit in meetings}, per_customer=1)
    notifications = []
    for visit in meetings:
        person = people[visit.salesperson_id]
        minutes = round((visit.scheduled_start - at).total_seconds() / 60)
        lines = [f"{visit.scheduled_start.astimezone(_zone(person)):%H:%M}"]
        if visit.purpose:
            lines[0] += f" · {visit.purpose}"
        if asks := waiting.get(visit.customer_id):
            lines.append(f"Waiting on: {asks[0].text}")
        notifications.append(
            Notification(
                person.pk,
                f"meeting:{visit.pk}:{visit.scheduled_start:%Y%m%dT%H%M}",
                f"Meeting with {visit.customer.name} in {minutes} min",
                "\n".join(lines),
                reverse("visits:detail", args=[visit.pk]),
            )
        )
    return notifications


def _due_notifications(people: dict[int, User], at: dt.datetime) -> list[Notification]:
    """After each person's morning: follow-ups due today and asks due today or that fell due
    yesterday unanswered (overdue), each announced once; at most LISTED of a kind a day."""
    days = {
        pk: at.astimezone(_zone(person)).date()
        for pk, person in people.items()
        if at.astimezone(_zone(person)).time() >= MORNING_AT
    }
    if not days:
        return []
    earliest, latest = min(days.values()), max(days.values())
    notifications = []
    follow_ups = (
        Visit.objects.filter(
            salesperson__in=list(days),
            status=VisitStatus.DONE,
            follow_up_on__gte=earliest,
            follow_up_on__lte=latest,
        )
        .select_related("customer")
        .only("salesperson_id", "follow_up_on", "next_step", "customer_id", "customer__name")
        .order_by("follow_up_on", "id")
    )
    counted: dict[tuple[int, str], int] = defaultdict(int)

    def add(person_id: int, kind: str, notification: Notification) -> None:
        counted[person_id, kind] += 1
        if counted[person_id, kind] <= LISTED:
            notifications.append(notification)

    for visit in follow_ups:
        if visit.follow_up_on == days[visit.salesperson_id]:
            add(
                visit.salesperson_id,
                "follow-up",
                Notification(
                    visit.salesperson_id,
                    f"follow-up:{visit.pk}",
                    f"Follow-up due: {visit.customer.name}",
                    visit.next_step or "Follow-up asked for at the last visit.",
                    reverse("crm:customer_detail", args=[visit.customer_id]),
                ),
            )
    asks = (
        Ask.objects.filter(
            owner__in=list(days),
            answered_at__isnull=True,
            due_on__gte=earliest - dt.timedelta(days=1),
            due_on__lte=latest,
        )
        .select_related("customer")
        .only("owner_id", "text", "due_on", "customer_id", "customer__name")
        .order_by("due_on", "id")
    )
    for ask in asks:
        today = days[ask.owner_id]
        if ask.due_on == today:
            state, title = "due", f"Ask due today: {ask.customer.name}"
        elif ask.due_on == today - dt.timedelta(days=1):
            state, title = "overdue", f"Ask overdue: {ask.customer.name}"
        else:
            continue
        add(
            ask.owner_id,
            "ask",
            Notification(
                ask.owner_id,
                f"ask-{state}:{ask.pk}",
                title,
                ask.text,
                reverse("asks:answer", args=[ask.pk]),
            ),
        )
    return notifications


_CLAIM_KEYS = """
INSERT INTO visits_remindersent (user_id, kind, key, sent_at, empty)
SELECT claimed.user_id, %(kind)s, claimed.key, %(now)s, false
FROM unnest(%(users)s::bigint[], %(keys)s::text[]) AS claimed (user_id, key)
ON CONFLICT (user_id, kind, key) DO NOTHING
RETURNING user_id, key
"""


def pushes_send(*, at: dt.datetime | None = None, dry_run: bool = False) -> ReminderPass:
    """One pass of Web Push reminders to the devices of every user who has them on: a meeting
    within their alarm minutes, follow-ups and asks due. Each is claimed (ReminderSent) before
    it goes out, so it is never sent twice; one no device took is given back."""
    at = at or timezone.now()
    result = ReminderPass()
    if not settings.CADENCE_VAPID_PRIVATE_KEY:
        return result
    people = {
        person.pk: person
        for person in User.objects.filter(
            is_active=True, push_reminders=True, push_subscriptions__isnull=False
        ).distinct()
    }
    if not people:
        return result
    notifications = _meeting_notifications(people, at) + _due_notifications(people, at)
    done = set(
        ReminderSent.objects.filter(
            kind=PUSH,
            user_id__in={n.user_id for n in notifications},
            key__in={n.key for n in notifications},
        ).values_list("user_id", "key")
    )
    due = [n for n in notifications if (n.user_id, n.key) not in done]
    result.due = len(due)
    if dry_run or not due:
        result.sent = len(due) if dry_run else 0
        return result
    with connection.cursor() as cursor:
        cursor.execute(
            _CLAIM_KEYS,
            {
                "kind": PUSH,
                "now": timezone.now(),
                "users": [n.user_id for n in due],
                "keys": [n.key for n in due],
            },
        )
        claimed = set(cursor.fetchall())
    result.claimed = len(claimed)
    devices = _by_person(
        PushSubscription.objects.filter(user_id__in={user_id for user_id, _ in claimed}),
        "user_id",
    )
    sent = push_send_many(
        [
            (
                (n.user_id, n.key),
                devices.get(n.user_id, []),
                Push(n.title, n.body, n.path, n.key),
            )
            for n in due
            if (n.user_id, n.key) in claimed
        ]
    )
    given_back = []
    for (user_id, key), outcome in sent.items():
        if outcome.delivered:
            result.sent += 1
        else:
            result.failed += 1
            if outcome.failed:
                given_back.append(Q(user_id=user_id, key=key))
    if given_back:
        # No device took it and one may yet: the next pass tries again.
        ReminderSent.objects.filter(kind=PUSH).filter(
            functools.reduce(operator.or_, given_back)
        ).delete()
    logger.info("pushes_send due=%d sent=%d failed=%d", result.due, result.sent, result.failed)
    return result
