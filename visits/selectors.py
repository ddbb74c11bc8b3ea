"""Reads for visits, scoped to the user: the one place that says whose visits you may see."""

import datetime as dt
import functools
import hmac
import operator
from collections.abc import Iterable

from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    When,
    Window,
)
from django.db.models.functions import Coalesce, RowNumber, TruncDate
from django.utils import timezone

from accounts.models import User
from accounts.selectors import territory_ids_managed_by
from core.figures import with_account_figures
from crm.models import Contact, Customer, CustomerStatus
from crm.selectors import customers_visible_to, with_overdue
from visits.models import (
    ON_SITE_METRES,
    MeetingSeries,
    Rhythm,
    Visit,
    VisitAttendee,
    VisitKind,
    VisitStatus,
)

FEED_DAYS_BACK = 30
FEED_DAYS_AHEAD = 180
WHO_TO_VISIT_HORIZON_DAYS = 14
# Meetings a user attends without leading them (hand-off introductions) are few; the newest
# this many are enough for any schedule or calendar.
ATTENDED_KEPT = 500


def attended_visit_ids(user: User) -> list[int]:
    """Meetings `user` attends as a colleague, read once per request (kept on the user): as
    values, the schedule's query keeps using its indexes (an OR with a subquery did not)."""
    cached = getattr(user, "_attended_visit_ids", None)
    if cached is None:
        cached = list(
            VisitAttendee.objects.filter(user=user)
            .order_by("-visit_id")
            .values_list("visit_id", flat=True)[:ATTENDED_KEPT]
        )
        user._attended_visit_ids = cached
    return cached


def own_or_attended_q(user: User) -> Q:
    """The meetings on `user`'s schedule: those they lead and those they attend."""
    attended = attended_visit_ids(user)
    return Q(salesperson=user) | Q(pk__in=attended) if attended else Q(salesperson=user)


def _serving_scopes(user: User) -> list[Q]:
    """What a salesperson or inside seller sees, as alternatives: their own and attended
    meetings, and the whole visit history of the customers they own."""
    return [own_or_attended_q(user), Q(customer__owner=user)]


def visits_visible_to(user: User) -> QuerySet[Visit]:
    """Admins see every visit; managers the visits to customers of their territories;
    salespeople their own visits and the whole visit history of the customers they own."""
    visits = Visit.objects.select_related("customer", "salesperson")
    if not user.is_authenticated or not user.is_active:
        return visits.none()
    if user.is_cadence_admin:
        return visits
    if user.is_manager:
        return visits.filter(customer__territory_id__in=territory_ids_managed_by(user))
    return visits.filter(functools.reduce(operator.or_, _serving_scopes(user)))


def visits_visible_to_listed(user: User) -> QuerySet[Visit]:
    """The same visits as `visits_visible_to`, shaped for a list in an order of its own (the
    API's, by change): a salesperson's scope as the union of each alternative's ids, which
    each read an index, rather than one OR across the visit and its customer that reads every
    visit (2 s at 1.9 M visits; 0.1 s this way)."""
    if not (user.is_authenticated and user.is_active) or user.is_cadence_admin or user.is_manager:
        return visits_visible_to(user)
    alternatives = [Visit.objects.filter(scope).values("pk") for scope in _serving_scopes(user)]
    ids = alternatives[0].union(*alternatives[1:])
    return Visit.objects.select_related("customer", "salesperson").filter(pk__in=ids)


# A meeting lasts at most a day (visits.services.validate_meeting_times).
LONGEST_MEETING = dt.timedelta(hours=24)


def overlapping_q(salesperson, start, end) -> Q:
    """The one overlap rule: planned meetings of `salesperson` whose time span intersects
    [start, end). Arguments may be values or OuterRef expressions. Such a meeting started at
    most LONGEST_MEETING before `start`: saying so bounds the index range read, which is
    otherwise everything the person ever planned before `end` (70,000 calls of inside sales)."""
    return Q(
        salesperson_id=salesperson,
        status=VisitStatus.PLANNED,
        scheduled_start__lt=end,
        scheduled_start__gt=start - LONGEST_MEETING,
        scheduled_end__gt=start,
    )


def visits_editable_by(user: User) -> QuerySet[Visit]:
    """Salespeople change only their own meetings; managers and admins any they can see."""
    visits = visits_visible_to(user)
    if user.is_cadence_admin or user.is_manager:
        return visits
    return visits.filter(salesperson=user)


def schedule_visits(user: User, *, start: dt.datetime, end: dt.datetime) -> QuerySet[Visit]:
    """Every meeting on the user's schedule in [start, end) (led or attended), `moment` set."""
    return (
        visits_visible_to(user)
        .filter(own_or_attended_q(user))
        .annotate(moment=Coalesce("scheduled_start", "visited_at"))
        .filter(moment__gte=start, moment__lt=end)
    )


def agenda(user: User, *, start: dt.datetime, end: dt.datetime, per_day: int) -> QuerySet[Visit]:
    """The user's own meetings in [start, end) (planned, held and cancelled), at most
    `per_day` a day in the current time zone, so the page stays small for the busiest user."""
    visits = schedule_visits(user, start=start, end=end)
    others = Visit.objects.filter(
        overlapping_q(
            OuterRef("salesperson_id"), OuterRef("scheduled_start"), OuterRef("scheduled_end")
        )
    ).exclude(pk=OuterRef("pk"))
    visits = visits.annotate(
        overlaps=ExpressionWrapper(
            Q(status=VisitStatus.PLANNED, scheduled_end__isnull=False) & Exists(others),
            output_field=BooleanField(),
        )
    )
    return (
        with_account_figures(
            with_overdue(visits, today=timezone.localdate(), through="customer__"),
            through="customer__",
        )
        .annotate(
            rank=Window(
                RowNumber(), partition_by=[TruncDate("moment")], order_by=[F("moment").asc(), "id"]
            )
        )
        .filter(rank__lte=per_day)
        .select_related("customer__territory")
        .prefetch_related(Prefetch("contacts", queryset=Contact.objects.order_by("name")))
        .order_by("moment", "id")
    )


def agenda_day_counts(user: User, *, start: dt.datetime, end: dt.datetime) -> dict[dt.date, int]:
    """How many meetings each day of [start, end) holds, for "n more" links."""
    rows = (
        schedule_visits(user, start=start, end=end)
        .annotate(day=TruncDate("moment"))
        .values("day")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {row["day"]: row["n"] for row in rows}


def feed_user(user_id: int, token: str) -> User | None:
    """The active user whose calendar token this is, compared in constant time."""
    user = User.objects.filter(pk=user_id, is_active=True).exclude(calendar_token="").first()
    if user is None or not hmac.compare_digest(user.calendar_token, token):
        return None
    return user


def feed_visits(user: User, *, now: dt.datetime) -> QuerySet[Visit]:
    """Meetings for the user's calendar: planned ones from 30 days back to 180 days ahead."""
    return (
        Visit.objects.filter(
            own_or_attended_q(user),
            scheduled_start__gte=now - dt.timedelta(days=FEED_DAYS_BACK),
            scheduled_start__lte=now + dt.timedelta(days=FEED_DAYS_AHEAD),
        )
        .select_related("customer")
        .prefetch_related(Prefetch("contacts", queryset=Contact.objects.order_by("name")))
        .order_by("scheduled_start", "id")
    )


def customer_rhythm(customer: Customer) -> Rhythm | None:
    return Rhythm.objects.filter(customer=customer).select_related("agreed_by").first()


def customer_series(customer: Customer) -> list[MeetingSeries]:
    """The account's series still holding a meeting ahead, newest first, with their meetings."""
    return list(
        MeetingSeries.objects.filter(customer=customer, count__gt=0)
        .filter(visits__status=VisitStatus.PLANNED, visits__scheduled_start__gte=timezone.now())
        .distinct()
        .select_related("salesperson")
        .prefetch_related(
            Prefetch("visits", queryset=Visit.objects.order_by("occurrence_start", "pk"))
        )
        .order_by("-created_at", "-pk")[:10]
    )


def feed_series(visits: Iterable[Visit]) -> QuerySet[MeetingSeries]:
    """The booked series these meetings belong to, each with all its meetings (a series holds
    at most visits.rhythms.MAX_SERIES_MEETINGS, a few more after a split)."""
    return (
        MeetingSeries.objects.filter(
            pk__in={visit.series_id for visit in visits if visit.series_id}
        )
        .select_related("customer")
        .prefetch_related(
            Prefetch(
                "visits",
                queryset=Visit.objects.select_related("customer").prefetch_related(
                    Prefetch("contacts", queryset=Contact.objects.order_by("name"))
                ),
            )
        )
        .order_by("first_start", "pk")
    )


def feed_follow_ups(user: User, *, today: dt.date) -> QuerySet[Visit]:
    """The user's visits whose follow-up date is still ahead or passed at most a week ago."""
    return (
        Visit.objects.filter(
            salesperson=user,
            status=VisitStatus.DONE,
            follow_up_on__gte=today - dt.timedelta(days=7),
            follow_up_on__lte=today + dt.timedelta(days=FEED_DAYS_AHEAD),
        )
        .select_related("customer")
        .order_by("follow_up_on", "id")
    )


def team_week(
    user: User, *, salespeople: list[User], start: dt.datetime, end: dt.datetime, per_cell: int
) -> tuple[list[Visit], dict[tuple[int, dt.date], int]]:
    """Meetings of these salespeople in [start, end) that `user` may see: at most `per_cell`
    per person and day, and how many each person and day holds in all."""
    visits = (
        visits_visible_to(user)
        .filter(salesperson__in=salespeople)
        .annotate(moment=Coalesce("scheduled_start", "visited_at"))
        .filter(moment__gte=start, moment__lt=end)
    )
    shown = list(
        visits.annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("salesperson_id"), TruncDate("moment")],
                order_by=[F("moment").asc(), "id"],
            )
        )
        .filter(rank__lte=per_cell)
        .order_by("moment", "id")
    )
    counts = {
        (row["salesperson_id"], row["day"]): row["n"]
        for row in visits.annotate(day=TruncDate("moment"))
        .values("salesperson_id", "day")
        .annotate(n=Count("id"))
        .order_by()
    }
    return shown, counts


def owned_with_nothing_planned(
    customers: QuerySet[Customer], *, owner_ids: list[int], since: dt.datetime
) -> QuerySet[Customer]:
    """Of `customers`, the active accounts these people own with no meeting planned from
    `since` (the start of their today) on: who to visit (below) and the morning e-mail's
    "passing their cadence this week" narrow it by due date."""
    planned = Visit.objects.filter(
        customer=OuterRef("pk"), status=VisitStatus.PLANNED, scheduled_start__gte=since
    )
    return customers.filter(owner__in=owner_ids, status=CustomerStatus.ACTIVE).exclude(
        Exists(planned)
    )


def who_to_visit(user: User, *, today: dt.date) -> QuerySet[Customer]:
    """The user's active accounts overdue or due within two weeks that have no meeting planned
    from today on, most overdue first, then the most valuable tier."""
    start_of_today = timezone.make_aware(dt.datetime.combine(today, dt.time.min))
    mine = owned_with_nothing_planned(
        customers_visible_to(user), owner_ids=[user.pk], since=start_of_today
    )
    customers = with_account_figures(with_overdue(mine, today=today))
    return customers.filter(
        next_visit_due__lte=today + dt.timedelta(days=WHO_TO_VISIT_HORIZON_DAYS),
    ).order_by(
        "next_visit_due",
        "tier",
        F("revenue").desc(nulls_last=True),
        "name",
        "id",
    )


GAPS_AHEAD_DAYS = 30


def cadence_gaps_ahead(
    user: User, *, today: dt.date, owner: User | None = None
) -> QuerySet[Customer]:
    """The forecast of gaps: the active accounts `owner` (default: the user) owns that the
    user sees, whose next visit falls due in the next GAPS_AHEAD_DAYS days with no meeting
    planned between today and that day, soonest first - the gaps that will open given what
    is planned."""
    start_of_today = timezone.make_aware(dt.datetime.combine(today, dt.time.min))
    planned_in_time = Visit.objects.filter(
        customer=OuterRef("pk"),
        status=VisitStatus.PLANNED,
        scheduled_start__gte=start_of_today,
        # The local day of the meeting, by the due date's (a date in the local calendar).
        scheduled_start__date__lte=OuterRef("next_visit_due"),
    )
    return (
        customers_visible_to(user)
        .filter(
            owner=owner or user,
            status=CustomerStatus.ACTIVE,
            next_visit_due__gte=today,
            next_visit_due__lte=today + dt.timedelta(days=GAPS_AHEAD_DAYS),
        )
        .exclude(Exists(planned_in_time))
        .order_by("next_visit_due", "tier", "name", "id")
    )


def customer_timeline(user: User, customer: Customer, *, now: dt.datetime) -> QuerySet[Visit]:
    """Visits to the customer the user may see: the meetings still ahead first, soonest first,
    then the history, newest first (a visit by when it was held, else when it was planned)."""
    ahead = Q(status=VisitStatus.PLANNED, scheduled_start__gte=now)
    return (
        visits_visible_to(user)
        .filter(customer=customer)
        .prefetch_related("contacts")
        .annotate(
            ahead_at=Case(When(ahead, then=F("scheduled_start"))),
            moment=Coalesce("visited_at", "scheduled_start"),
        )
        .order_by(F("ahead_at").asc(nulls_last=True), F("moment").desc(nulls_last=True), "-id")
    )


def customer_upcoming(user: User, customer: Customer, *, now: dt.datetime) -> QuerySet[Visit]:
    return (
        visits_visible_to(user)
        .filter(customer=customer, status=VisitStatus.PLANNED, scheduled_start__gte=now)
        .order_by("scheduled_start")
    )


def checked_in_shares(salesperson_ids: list[int], *, since: dt.datetime) -> dict[int, int]:
    """Per salesperson, the share (%) of their done on-site visits since `since` that were
    checked in at the address (within ON_SITE_METRES); those with none are
    left out."""
    rows = (
        Visit.objects.filter(
            salesperson_id__in=salesperson_ids,
            status=VisitStatus.DONE,
            kind=VisitKind.ON_SITE,
            visited_at__gte=since,
        )
        .values("salesperson_id")
        .annotate(
            done=Count("id"),
            on_site=Count("id", filter=Q(check_in_distance_m__lte=ON_SITE_METRES)),
        )
        .order_by()
    )
    return {row["salesperson_id"]: round(100 * row["on_site"] / row["done"]) for row in rows}
