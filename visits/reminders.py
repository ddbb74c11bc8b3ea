"""Reminders that reach people (docs/user-guide.md, "Reminders"): the morning e-mail, sent once
a day after MORNING_AT in the user's own time zone, only when there is something to say.

A salesperson's: today's meetings with what each customer waits on, follow-ups due, asks due
today or overdue, and accounts that pass their cadence this week with nothing planned. A
manager's: the team's asks past their due date and the meetings of the day before that were
neither held nor cancelled. Each is claimed in the database before it goes out (ReminderSent),
so a second worker or a restart never sends it twice; a send that fails gives the claim back.
"""

import datetime as dt
import logging
import zoneinfo
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from accounts.models import Role, User
from core.bounds import single_line
from crm.models import Customer
from crm.selectors import customer_scope
from visits.ask_selectors import asks_due_for, open_asks_of
from visits.models import Ask, ReminderSent, Visit, VisitStatus
from visits.selectors import who_to_visit

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


def _salesperson_lines(user: User, day: dt.date, zone) -> list[str]:
    start, end = _day_bounds(day, zone)
    meetings = list(
        Visit.objects.filter(
            salesperson=user,
            status=VisitStatus.PLANNED,
            scheduled_start__gte=start,
            scheduled_start__lt=end,
        )
        .select_related("customer")
        .order_by("scheduled_start", "id")[: LISTED + 1]
    )
    waiting = open_asks_of([visit.customer_id for visit in meetings])
    meeting_lines = []
    for visit in meetings[:LISTED]:
        line = f"{visit.scheduled_start.astimezone(zone):%H:%M} {visit.customer.name}"
        if visit.purpose:
            line += f": {visit.purpose}"
        asks = waiting.get(visit.customer_id, [])
        if asks:
            line += f" (waiting on: {'; '.join(ask.text for ask in asks[:3])})"
        meeting_lines.append(line)
    later = Visit.objects.filter(
        customer=OuterRef("customer"), visited_at__gt=OuterRef("visited_at")
    )
    follow_ups = (
        Visit.objects.filter(
            salesperson=user,
            status=VisitStatus.DONE,
            follow_up_on__lte=day,
            follow_up_on__gte=day - FOLLOW_UPS_LOOK_BACK,
        )
        .filter(~Exists(later.filter(status=VisitStatus.DONE)))
        .select_related("customer")
        .order_by("follow_up_on", "id")
    )
    follow_up_rows = list(follow_ups[: LISTED + 1])
    asks = asks_due_for(user, today=day)
    ask_rows = list(asks[: LISTED + 1])
    passing = who_to_visit(user, today=day).filter(
        next_visit_due__gte=day, next_visit_due__lte=day + dt.timedelta(days=6)
    )
    passing_rows = list(passing[: LISTED + 1])
    return [
        *_listed("Today's meetings", meeting_lines, len(meetings)),
        *_listed(
            "Follow-ups due",
            [
                f"{visit.customer.name}, due {visit.follow_up_on:%d %b}: "
                f"{visit.next_step or 'follow up'}"
                for visit in follow_up_rows[:LISTED]
            ],
            len(follow_up_rows) if len(follow_up_rows) <= LISTED else follow_ups.count(),
        ),
        *_listed(
            "Asks due",
            [
                f"{ask.customer.name}: {ask.text} (due {ask.due_on:%d %b})"
                for ask in ask_rows[:LISTED]
            ],
            len(ask_rows) if len(ask_rows) <= LISTED else asks.count(),
        ),
        *_listed(
            "Passing their cadence this week, nothing planned",
            [
                f"{customer.name}, due {customer.next_visit_due:%d %b}"
                for customer in passing_rows[:LISTED]
            ],
            len(passing_rows) if len(passing_rows) <= LISTED else passing.count(),
        ),
    ]


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


def morning_email(user: User, *, day: dt.date) -> tuple[str, str] | None:
    """The subject and text of the user's morning e-mail for `day`, or None: nothing to say."""
    zone = _zone(user)
    if user.role == Role.MANAGER:
        lines = _manager_lines(user, day, zone)
    elif user.role in (Role.SALESPERSON, Role.INSIDE_SALES):
        lines = _salesperson_lines(user, day, zone)
    else:
        return None
    if not lines:
        return None
    body = "\n".join([f"Your day, {day:%A %d %B}.", "", *lines, _site("/visits/schedule/")])
    return f"Cadence: your day, {day:%a %d %b}", body


_CLAIM = """
INSERT INTO visits_remindersent (user_id, kind, key, sent_at, empty)
SELECT claimed.user_id, %(kind)s, claimed.key, %(now)s, false
FROM unnest(%(users)s::bigint[], %(keys)s::text[]) AS claimed (user_id, key)
ON CONFLICT (user_id, kind, key) DO NOTHING
RETURNING user_id
"""


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
        result.sent = sum(1 for user, day in due.values() if morning_email(user, day=day))
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
    for pk in claimed:
        user, day = due[pk]
        key = day.isoformat()
        try:
            message = morning_email(user, day=day)
            if message is None:
                ReminderSent.objects.filter(user=user, kind=MORNING, key=key).update(empty=True)
                result.empty += 1
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
    logger.info(
        "reminders_send due=%d sent=%d empty=%d failed=%d",
        result.due,
        result.sent,
        result.empty,
        result.failed,
    )
    return result
