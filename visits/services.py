"""Writes for visits: planning, rescheduling, cancelling and logging meetings.

Every change to a done visit refreshes the customer's last-visit date and next due date in the
same transaction, so the schedule, the "who to visit" list and the account page agree at once.
"""

import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import User
from core.bounds import validate_single_line
from core.cache import all_schedules_changed, schedules_changed
from core.events import announce, visit_logged
from core.locks import keyed_lock_id
from core.refresh import customers_refresh_request
from core.sql import Composable, Composed, compose, fragment, identifier
from crm.cadence import cadence_sql_params, next_due_sql, remote_kind_for
from crm.models import Contact, Customer, LocationSource, ServiceModel
from crm.services import competitor_normalise, validate_contacts_belong_to
from visits.ask_services import AskInput, asks_record
from visits.models import (
    CADENCE_VISIT_KINDS,
    ON_SITE_METRES,
    REMOTE_VISIT_KINDS,
    Outcome,
    Visit,
    VisitAttendee,
    VisitKind,
    VisitStatus,
)
from visits.selectors import LONGEST_MEETING, overlapping_q

if TYPE_CHECKING:
    from visits.day_plan import DayPlan

FOLLOW_UP_MEETING_MINUTES = 60


@dataclass
class ScheduleResult:
    visit: Visit
    overlaps: list[Visit] = field(default_factory=list)


@dataclass
class LogResult:
    visit: Visit
    follow_up: Visit | None = None


def overlapping_meetings(visit: Visit) -> list[Visit]:
    """The salesperson's other planned meetings that overlap this one in time (the rule is
    `overlapping_q`, which the schedule's overlap badges read too)."""
    return list(
        Visit.objects.filter(
            overlapping_q(
                visit.salesperson_id,
                visit.scheduled_start,
                visit.scheduled_end or visit.scheduled_start,
            )
        )
        .exclude(pk=visit.pk)
        .select_related("customer")
        .order_by("scheduled_start")
    )


def _validate_kind(user: User, kind: str) -> None:
    """Inside sales serve by phone, video and e-mail; an on-site visit is the field team's."""
    if user.is_inside_sales and kind not in REMOTE_VISIT_KINDS:
        raise ValidationError(
            {"kind": "Inside sales call or meet by video; on-site visits are the field team's."}
        )


def validate_meeting_times(start: dt.datetime, end: dt.datetime) -> None:
    """A meeting ends after it starts and lasts at most a day (the plan and move forms ask
    this too, for the message by the field)."""
    if end <= start:
        raise ValidationError({"scheduled_end": "The meeting must end after it starts."})
    if end - start > LONGEST_MEETING:
        raise ValidationError({"scheduled_end": "A meeting cannot last more than 24 hours."})


def _validate_day_room(salesperson_id: int, start: dt.datetime, *, adding: int = 1) -> None:
    """A day holds at most CADENCE_MAX_MEETINGS_PER_DAY planned meetings per person. The day's
    lock (held to the end of the transaction) makes two plans at once count each other."""
    day = timezone.localdate(start)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s)", [keyed_lock_id("day", salesperson_id, day)]
        )
    midnight = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
    limit = settings.CADENCE_MAX_MEETINGS_PER_DAY
    held = Visit.objects.filter(
        salesperson_id=salesperson_id,
        status=VisitStatus.PLANNED,
        scheduled_start__gte=midnight,
        scheduled_start__lt=midnight + dt.timedelta(days=1),
    )[:limit].count()
    if held + adding > limit:
        raise ValidationError(
            {
                "scheduled_start": f"{day:%a %d %b} already holds {held} planned meetings, "
                f"the most one day can hold is {limit}: choose another day."
            },
            code="day_full",
        )


def _meeting_changed(*, customer: Customer, salesperson_id: int) -> None:
    """After the commit: refresh the account's health (follow-ups and this week's meetings
    depend on planned ones too) and mark the schedules that show the meeting as stale."""
    customers_refresh_request([customer.pk])
    schedules_changed([salesperson_id, customer.owner_id])


@transaction.atomic
def visit_schedule(
    *,
    user: User,
    customer: Customer,
    kind: str,
    start: dt.datetime,
    end: dt.datetime,
    contacts: list[Contact] | tuple = (),
    purpose: str = "",
    brief: str = "",
    attendees: list[User] | tuple = (),
    travel_minutes: int = 0,
    distance_km: Decimal = Decimal("0"),
    client_uuid: uuid.UUID | None = None,
) -> ScheduleResult:
    """Plan a meeting for `user` (with colleagues `attendees`, on their schedules too).
    Overlaps are allowed; they come back so the user is warned."""
    _validate_kind(user, kind)
    validate_meeting_times(start, end)
    validate_contacts_belong_to(customer, contacts)
    _validate_day_room(user.pk, start)
    visit = Visit(
        customer=customer,
        salesperson=user,
        kind=kind,
        status=VisitStatus.PLANNED,
        scheduled_start=start,
        scheduled_end=end,
        purpose=purpose,
        brief=brief,
        travel_minutes=travel_minutes,
        distance_km=distance_km,
        client_uuid=client_uuid,
    )
    visit.full_clean()
    visit.save()
    visit.contacts.set(contacts)
    colleagues = {person.pk for person in attendees} - {user.pk}
    VisitAttendee.objects.bulk_create(
        VisitAttendee(visit=visit, user_id=person_id) for person_id in sorted(colleagues)
    )
    schedules_changed(colleagues)
    _meeting_changed(customer=customer, salesperson_id=user.pk)
    return ScheduleResult(visit=visit, overlaps=overlapping_meetings(visit))


class ClientUUIDTaken(ValidationError):
    """The client_uuid names another person's visit (the API answers 409)."""


@transaction.atomic
def visit_once[Made](
    *, user: User, client_uuid: uuid.UUID, make: Callable[[], Made]
) -> tuple[Visit | None, Made | None]:
    """The offline app sends a visit again until it hears back; its `client_uuid` makes the
    visit once. Under the UUID's lock (two sendings at once wait for each other): the visit
    already made with it, and nothing made; or None and what `make` returns (it writes the
    visit with this UUID, through visit_schedule or visit_log)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s)", [keyed_lock_id("client_uuid", client_uuid)]
        )
    existing = Visit.objects.filter(client_uuid=client_uuid).first()
    if existing is not None:
        if existing.salesperson_id != user.pk:
            raise ClientUUIDTaken(
                "This client_uuid belongs to someone else's visit.", code="client_uuid_taken"
            )
        return existing, None
    return None, make()


class NotPlanned(ValidationError):
    """The meeting is no longer planned (held or cancelled meanwhile): `visit_id` names it, so
    a caller can show it as it is now (the API answers 409 with it)."""

    def __init__(self, message: str, *, visit_id: int):
        super().__init__(message, code="not_planned")
        self.visit_id = visit_id


def _require_planned(visit: Visit, action: str) -> None:
    if visit.status != VisitStatus.PLANNED:
        state = visit.get_status_display().lower()
        raise NotPlanned(
            f"Only planned meetings can be {action}; this one is {state}.", visit_id=visit.pk
        )


@transaction.atomic
def visit_reschedule(*, visit: Visit, start: dt.datetime, end: dt.datetime) -> ScheduleResult:
    visit.status = (
        Visit.objects.select_for_update().values_list("status", flat=True).get(pk=visit.pk)
    )
    _require_planned(visit, "rescheduled")
    validate_meeting_times(start, end)
    if timezone.localdate(start) != timezone.localdate(visit.scheduled_start):
        _validate_day_room(visit.salesperson_id, start)
    visit.scheduled_start, visit.scheduled_end = start, end
    visit.sequence += 1
    visit.save(update_fields=["scheduled_start", "scheduled_end", "sequence", "updated_at"])
    _meeting_changed(customer=visit.customer, salesperson_id=visit.salesperson_id)
    return ScheduleResult(visit=visit, overlaps=overlapping_meetings(visit))


def meeting_is_remote(customer: Customer | None, user: User) -> bool:
    """Nobody travels to it: a remote-served account's, or an inside seller's meeting."""
    return (customer is not None and customer.is_remote) or user.is_inside_sales


def default_meeting_kind(customer: Customer | None, user: User) -> str:
    """What a meeting with `customer` led by `user` is by default: its service model's contact
    kind (phone, or video where an admin set it) for a remote-served account or an inside
    seller, else on site. The plan and log forms propose it; a hand-off converts to it."""
    if meeting_is_remote(customer, user):
        return remote_kind_for(customer.service_model if customer else ServiceModel.INSIDE_SALES)
    return VisitKind.ON_SITE


@transaction.atomic
def visit_reassign(*, visit: Visit, salesperson: User) -> Visit:
    """Give a planned meeting to another person (a hand-off); a remote-served account's or an
    inside-sales person's meeting becomes a call."""
    visit.status = (
        Visit.objects.select_for_update().values_list("status", flat=True).get(pk=visit.pk)
    )
    _require_planned(visit, "re-assigned")
    before = visit.salesperson_id
    if salesperson.pk != before:
        _validate_day_room(salesperson.pk, visit.scheduled_start)
        # Someone else's meeting now: no longer one of the series booked for the owner.
        visit.series, visit.occurrence_start = None, None
    visit.salesperson = salesperson
    if visit.kind == VisitKind.ON_SITE and (
        visit.customer.is_remote or salesperson.is_inside_sales
    ):
        visit.kind = default_meeting_kind(visit.customer, salesperson)
    visit.sequence += 1
    visit.save(
        update_fields=[
            "salesperson",
            "kind",
            "series",
            "occurrence_start",
            "sequence",
            "updated_at",
        ]
    )
    schedules_changed([before])
    _meeting_changed(customer=visit.customer, salesperson_id=salesperson.pk)
    return visit


@transaction.atomic
def visit_cancel(*, visit: Visit, reason: str) -> Visit:
    visit.status = (
        Visit.objects.select_for_update().values_list("status", flat=True).get(pk=visit.pk)
    )
    _require_planned(visit, "cancelled")
    reason = reason.strip()
    if not reason:
        raise ValidationError({"cancel_reason": "Say why the meeting is cancelled."})
    try:
        validate_single_line(reason)
    except ValidationError as error:
        raise ValidationError({"cancel_reason": error.messages}) from error
    visit.status = VisitStatus.CANCELLED
    visit.cancel_reason = reason
    visit.sequence += 1
    visit.save(update_fields=["status", "cancel_reason", "sequence", "updated_at"])
    _meeting_changed(customer=visit.customer, salesperson_id=visit.salesperson_id)
    return visit


@transaction.atomic
def visit_admin_save(*, visit: Visit) -> Visit:
    """A save from the Django admin (any field, by an admin): the customers' last visit and due
    dates, their health and the schedules that show the visit follow, like any other change."""
    before = Visit.objects.filter(pk=visit.pk).values("customer_id", "salesperson_id").first()
    visit.full_clean()
    visit.save()
    customer_ids = {visit.customer_id} | ({before["customer_id"]} if before else set())
    customer_cadence_refresh(customer_ids=customer_ids)
    customers_refresh_request(customer_ids)
    all_schedules_changed()
    return visit


@transaction.atomic
def visits_delete(*, visit_ids: list[int]) -> int:
    """Delete visits (admin) and bring their customers' dates and health up to date."""
    visits = Visit.objects.filter(pk__in=visit_ids)
    customer_ids = set(visits.values_list("customer_id", flat=True))
    deleted = visits.delete()[1].get("visits.Visit", 0)
    customer_cadence_refresh(customer_ids=customer_ids)
    customers_refresh_request(customer_ids)
    all_schedules_changed()
    return deleted


@transaction.atomic
def visit_log(
    *,
    user: User,
    customer: Customer,
    visit: Visit | None = None,
    kind: str,
    visited_at: dt.datetime,
    duration_minutes: int,
    travel_minutes: int = 0,
    distance_km: Decimal = Decimal("0"),
    expenses: Decimal = Decimal("0"),
    contacts: list[Contact] | tuple = (),
    notes: str = "",
    outcome: str = "",
    next_step: str = "",
    follow_up_on: dt.date | None = None,
    competitor: str = "",
    plan_follow_up_at: dt.datetime | None = None,
    client_uuid: uuid.UUID | None = None,
    asks: list[AskInput] | tuple = (),
) -> LogResult:
    """Record a visit that happened: closes a planned meeting (`visit`) or logs one ad hoc.

    With `plan_follow_up_at`, the follow-up meeting is planned in the same step; `asks` (what
    the customer asked for) are recorded with the visit.
    """
    if visit is not None:
        # Locked: a second "Done" sent at the same moment waits, then finds it done.
        visit.status = (
            Visit.objects.select_for_update().values_list("status", flat=True).get(pk=visit.pk)
        )
        _require_planned(visit, "logged")
        customer = visit.customer
    else:
        visit = Visit(customer=customer, salesperson=user, client_uuid=client_uuid)
    if visited_at > timezone.now() + dt.timedelta(minutes=5):
        raise ValidationError({"visited_at": "A visit cannot be logged in the future; plan it."})
    if outcome and outcome not in Outcome.values:
        raise ValidationError({"outcome": "Unknown outcome."})
    _validate_kind(user, kind)
    validate_contacts_belong_to(customer, contacts)
    visit.kind = kind
    visit.status = VisitStatus.DONE
    visit.visited_at = visited_at
    visit.duration_minutes = duration_minutes
    visit.travel_minutes = travel_minutes
    visit.distance_km = distance_km
    visit.expenses = expenses
    visit.notes = notes
    visit.outcome = outcome
    visit.next_step = next_step
    visit.follow_up_on = follow_up_on
    visit.competitor = competitor_normalise(competitor)
    visit.full_clean()
    visit.save()
    visit.contacts.set(contacts)
    follow_up = None
    if plan_follow_up_at is not None:
        if plan_follow_up_at <= timezone.now():
            raise ValidationError({"follow_up_on": "The follow-up meeting must be in the future."})
        follow_up = visit_schedule(
            user=visit.salesperson,
            customer=customer,
            kind=kind
            if kind != VisitKind.EMAIL
            else default_meeting_kind(customer, visit.salesperson),
            start=plan_follow_up_at,
            end=plan_follow_up_at + dt.timedelta(minutes=FOLLOW_UP_MEETING_MINUTES),
            contacts=contacts,
            purpose=next_step or "Follow-up",
        ).visit
    if asks:
        asks_record(
            user=user,
            customer=customer,
            asks=list(asks),
            visit=visit,
            asked_on=timezone.localdate(visit.visited_at),
        )
    customer_cadence_refresh(customer_ids=[customer.pk])
    _meeting_changed(customer=customer, salesperson_id=visit.salesperson_id)
    announce(visit_logged, sender=Visit, visit_id=visit.pk)
    return LogResult(visit=visit, follow_up=follow_up)


_CADENCE_REFRESH = """
WITH target AS (
    SELECT c.id, last_visit.at AS last_at, {due} AS due
    FROM crm_customer c
    LEFT JOIN LATERAL (
        SELECT MAX(v.visited_at) AS at
        FROM visits_visit v
        WHERE v.customer_id = c.id
          AND v.status = {done}
          AND v.kind IN ({cadence_kinds})
    ) last_visit ON true
    WHERE {where}
)
UPDATE crm_customer c
SET last_visit_at = target.last_at, next_visit_due = target.due
FROM target
WHERE c.id = target.id
  AND (c.last_visit_at IS DISTINCT FROM target.last_at
       OR c.next_visit_due IS DISTINCT FROM target.due)
"""


def _cadence_refresh(where: Composable) -> Composed:
    return compose(
        _CADENCE_REFRESH,
        due=next_due_sql("c", identifier("last_visit", "at")),
        done=VisitStatus.DONE,
        cadence_kinds=list(CADENCE_VISIT_KINDS),
        where=where,
    )


def customer_cadence_refresh(*, customer_ids: Iterable[int] | None = None) -> int:
    """Recompute last visit and next visit due for some customers (or all, in id-range batches
    of CADENCE_BATCH_SIZE).

    The last visit is the latest done on-site, phone or video visit (emails do not keep the
    cadence); the due date follows crm.cadence. Returns how many rows changed; running it
    again changes nothing.
    """
    params = cadence_sql_params()
    size = settings.CADENCE_BATCH_SIZE
    changed = 0
    with connection.cursor() as cursor:
        if customer_ids is not None:
            ids = sorted(set(customer_ids))
            sql = _cadence_refresh(fragment("c.id = ANY(%(ids)s)"))
            for start in range(0, len(ids), size):
                cursor.execute(sql, {**params, "ids": ids[start : start + size]})
                changed += cursor.rowcount
            return changed
        cursor.execute("SELECT COALESCE(MIN(id), 0), COALESCE(MAX(id), -1) FROM crm_customer")
        low, high = cursor.fetchone()
        sql = _cadence_refresh(fragment("c.id BETWEEN %(low)s AND %(high)s"))
        for start in range(low, high + 1, size):
            cursor.execute(sql, {**params, "low": start, "high": start + size - 1})
            changed += cursor.rowcount
    all_schedules_changed()
    return changed


_DISTANCE_SQL = """
SELECT ROUND(earth_distance(ll_to_earth(c.latitude, c.longitude), ll_to_earth(%s, %s)))
FROM crm_customer c WHERE c.id = %s AND c.latitude IS NOT NULL
"""


def _valid_position(latitude: float | None, longitude: float | None) -> bool:
    if latitude is None or longitude is None:
        return False
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise ValidationError("That position is not on the earth.")
    return True


# A reported accuracy beyond this (metres) is no position worth keeping an accuracy for.
MAX_ACCURACY_METRES = 100_000
# An offline check-in reaches the server later; the phone's clock may be a little ahead.
CHECK_IN_LATE_DAYS = 7
SKEW = dt.timedelta(minutes=5)


@transaction.atomic
def visit_check_in(
    *,
    visit: Visit,
    latitude: float | None = None,
    longitude: float | None = None,
    accuracy: float | None = None,
    at: dt.datetime | None = None,
) -> Visit:
    """The rep arrives: the time, and (if the phone gave it) the position, the phone's own
    estimate of its accuracy and the distance from the account's location. The phone reports
    the position: it is the rep's word, not proof of where they were. Once: a second tap keeps
    the first check-in. `at` is when it happened, for a check-in made offline and sent later
    (within CHECK_IN_LATE_DAYS)."""
    now = timezone.now()
    if at is not None and not now - dt.timedelta(days=CHECK_IN_LATE_DAYS) <= at <= now + SKEW:
        raise ValidationError(
            {"at": f"A check-in is sent within {CHECK_IN_LATE_DAYS} days, not from the future."}
        )
    visit = Visit.objects.select_for_update().select_related("customer").get(pk=visit.pk)
    _require_planned(visit, "checked in")
    if visit.checked_in_at is not None:
        return visit
    visit.checked_in_at = at or now
    if _valid_position(latitude, longitude):
        visit.check_in_latitude, visit.check_in_longitude = latitude, longitude
        with connection.cursor() as cursor:
            cursor.execute(_DISTANCE_SQL, [latitude, longitude, visit.customer_id])
            row = cursor.fetchone()
        visit.check_in_distance_m = int(row[0]) if row else None
        if accuracy is not None and 0 <= accuracy <= MAX_ACCURACY_METRES:
            visit.check_in_accuracy_m = round(accuracy)
    visit.save(
        update_fields=[
            "checked_in_at",
            "check_in_latitude",
            "check_in_longitude",
            "check_in_distance_m",
            "check_in_accuracy_m",
            "updated_at",
        ]
    )
    schedules_changed([visit.salesperson_id])
    return visit


@transaction.atomic
def visit_check_out(*, visit: Visit) -> Visit:
    """The rep leaves: the time (the log form's duration is prefilled from it)."""
    visit = Visit.objects.select_for_update().get(pk=visit.pk)
    if visit.checked_in_at is None:
        raise ValidationError("Check in first.")
    if visit.checked_out_at is None:
        visit.checked_out_at = timezone.now()
        visit.save(update_fields=["checked_out_at", "updated_at"])
    return visit


def check_in_may_locate(visit: Visit) -> bool:
    """Whether the visit's check-in position may become its account's location: the account
    has none or only a town centre, and the rep checked in with a position away from it."""
    customer = visit.customer
    unsure = customer.latitude is None or customer.location_source == LocationSource.APPROXIMATE
    away = visit.check_in_distance_m is None or visit.check_in_distance_m > ON_SITE_METRES
    return visit.check_in_latitude is not None and unsure and away


@transaction.atomic
def customer_locate_from_check_in(*, visit: Visit) -> Customer:
    """The rep confirms the account is where they checked in: its location becomes that
    position (source "check-in"). Only over a missing or approximate location."""
    visit = Visit.objects.select_related("customer").get(pk=visit.pk)
    if not check_in_may_locate(visit):
        raise ValidationError("This account's location is not a town centre to correct.")
    customer = visit.customer
    moved = Customer.objects.filter(
        Q(latitude__isnull=True) | Q(location_source=LocationSource.APPROXIMATE), pk=customer.pk
    ).update(
        latitude=round(visit.check_in_latitude, 6),
        longitude=round(visit.check_in_longitude, 6),
        location_source=LocationSource.CHECK_IN,
        located_at=timezone.now(),
    )
    if moved:
        Visit.objects.filter(pk=visit.pk).update(check_in_distance_m=0)
    customer.refresh_from_db()
    return customer


@dataclass
class RoutePlanned:
    planned: list[Visit] = field(default_factory=list)
    travel_set: int = 0  # fixed meetings that took their travel from the plan


@transaction.atomic
def day_plan_schedule(*, user: User, plan: "DayPlan", chosen: set[int]) -> RoutePlanned:
    """Plan the chosen suggested stops (customer ids) at the plan's times, and give every
    meeting of the day that has no travel yet the drive to it. Travel is the leg from the stop
    before among those kept, so a skipped suggestion does not count."""
    kept = [stop for stop in plan.routed_stops if not stop.suggested or stop.customer.pk in chosen]
    result = RoutePlanned()
    adding = sum(1 for stop in kept if stop.suggested)
    if adding:
        _validate_day_room(user.pk, kept[0].starts, adding=adding)
    for stop, (minutes, km) in zip(kept, plan.legs(kept), strict=True):
        travel = {"travel_minutes": round(minutes), "distance_km": Decimal(f"{km:.1f}")}
        if stop.suggested:
            visit = Visit(
                customer=stop.customer,
                salesperson=user,
                kind=VisitKind.ON_SITE,
                status=VisitStatus.PLANNED,
                scheduled_start=stop.starts,
                scheduled_end=stop.ends,
                purpose="From the day plan",
                **travel,
            )
            # The customer and the rep are the plan's own objects, and the table's check
            # constraints hold on insert: one query per stop, not a dozen.
            visit.full_clean(
                exclude=["customer", "salesperson"],
                validate_unique=False,
                validate_constraints=False,
            )
            result.planned.append(visit)
        elif stop.visit.travel_minutes == 0 and stop.visit.distance_km == 0:
            result.travel_set += Visit.objects.filter(
                pk=stop.visit.pk, status=VisitStatus.PLANNED, travel_minutes=0, distance_km=0
            ).update(**travel, updated_at=timezone.now(), sequence=F("sequence") + 1)
    Visit.objects.bulk_create(result.planned)
    if result.planned:
        customers_refresh_request([visit.customer_id for visit in result.planned])
    if result.planned or result.travel_set:
        schedules_changed([user.pk])
    return result
