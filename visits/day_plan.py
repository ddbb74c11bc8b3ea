"""A field rep's day as a route: the meetings already fixed, and the overdue accounts worth the
detour between them (docs/field.md, "The day plan").

Suggestions come from who-to-visit: field-served, located accounts of the rep's that are overdue
or due within two weeks and have nothing planned, worth (days overdue + 1) times the year's profit.
Accounts health flags unprofitable are never suggested (the review decides those); accounts with
no figures yet count as earning 1. Only accounts within reach of the day (half the detour budget's
driving from the start, the end or a meeting) are considered, the 20 worth most of them handed to
the solver.
"""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.utils import timezone

from accounts.models import User
from crm.models import Customer, ServiceModel
from crm.selectors import days_overdue
from visits.models import REMOTE_VISIT_KINDS, Visit, VisitStatus
from visits.routing import Job, Route, route_solve
from visits.selectors import who_to_visit
from visits.travel import Point, TravelMatrix, great_circle_km_matrix, travel_matrix

SUGGESTIONS_CONSIDERED = 20
WHO_TO_VISIT_READ = 500
DEFAULT_STOP_MINUTES = 45
# Google Maps takes this many waypoints between origin and destination in one link.
GOOGLE_MAPS_WAYPOINTS = 9


@dataclass(frozen=True)
class Place:
    label: str
    latitude: float
    longitude: float

    @property
    def point(self) -> Point:
        return (self.latitude, self.longitude)


@dataclass
class PlanStop:
    location: int  # index into the plan's travel matrix
    customer: Customer
    visit: Visit | None  # the fixed meeting; None for a suggestion
    arrival: dt.datetime
    starts: dt.datetime
    ends: dt.datetime
    leg_minutes: float
    leg_km: float
    days_overdue: int = 0
    profit: Decimal | None = None
    reachable: bool = True  # False: a meeting the route cannot reach at its time

    @property
    def suggested(self) -> bool:
        return self.visit is None

    @property
    def waiting_minutes(self) -> int:
        return round((self.starts - self.arrival).total_seconds() / 60)


@dataclass
class DayPlan:
    day: dt.date
    start: Place
    end: Place
    stops: list[PlanStop] = field(default_factory=list)
    leaves_at: dt.datetime | None = None
    back_at: dt.datetime | None = None
    last_leg_minutes: float = 0.0
    last_leg_km: float = 0.0
    travel_minutes: float = 0.0
    km: float = 0.0
    baseline_minutes: float = 0.0
    baseline_km: float = 0.0
    unreachable: list[Visit] = field(default_factory=list)
    not_located: list[Visit] = field(default_factory=list)
    calls: list[Visit] = field(default_factory=list)
    left_out: list[Customer] = field(default_factory=list)
    not_routed: int = 0  # meetings after the first CADENCE_ROUTE_MAX_MEETINGS of the day
    considered: int = 0
    travel_source: str = "estimate"
    travel_note: str = ""
    matrix: TravelMatrix | None = None

    @property
    def suggestions(self) -> list[PlanStop]:
        return [stop for stop in self.stops if stop.suggested]

    @property
    def routed_stops(self) -> list[PlanStop]:
        """The stops the route drives to, in order (the unreachable meetings are listed among
        the stops at their times, but no leg leads to them)."""
        return [stop for stop in self.stops if stop.reachable]

    @property
    def route_limit(self) -> int:
        return settings.CADENCE_ROUTE_MAX_MEETINGS

    @property
    def added_minutes(self) -> float:
        return self.travel_minutes - self.baseline_minutes

    @property
    def added_km(self) -> float:
        return self.km - self.baseline_km

    @property
    def google_maps_url(self) -> str:
        """Directions through the stops in order (Google's documented Maps URL); a day with
        more stops than one link takes ends at the last stop the link can hold."""
        points = [stop.customer for stop in self.routed_stops]
        waypoints = points[:GOOGLE_MAPS_WAYPOINTS]
        destination = self.end.point
        if len(points) > GOOGLE_MAPS_WAYPOINTS:
            destination = _point_of(points[GOOGLE_MAPS_WAYPOINTS])
        query = {
            "api": "1",
            "origin": _coordinates(self.start.point),
            "destination": _coordinates(destination),
            "travelmode": "driving",
        }
        if waypoints:
            query["waypoints"] = "|".join(_coordinates(_point_of(c)) for c in waypoints)
        return "https://www.google.com/maps/dir/?" + urlencode(query)

    @property
    def google_maps_partial(self) -> bool:
        return len(self.routed_stops) > GOOGLE_MAPS_WAYPOINTS

    def legs(self, kept: list[PlanStop]) -> list[tuple[float, float]]:
        """(minutes, km) to each of `kept` (stops of this plan, in its order) from the one
        before it among them: the travel of a day where the other stops are skipped."""
        legs, previous = [], 0
        for stop in kept:
            legs.append(
                (
                    float(self.matrix.minutes[previous, stop.location]),
                    float(self.matrix.km[previous, stop.location]),
                )
            )
            previous = stop.location
        return legs


def _point_of(customer: Customer) -> Point:
    return (customer.latitude, customer.longitude)


def _coordinates(point: Point) -> str:
    return f"{point[0]:.6f},{point[1]:.6f}"


def apple_maps_url(origin: Point, destination: Point) -> str:
    """Apple's documented map link takes one destination: one link per leg."""
    return "https://maps.apple.com/?" + urlencode(
        {"saddr": _coordinates(origin), "daddr": _coordinates(destination), "dirflg": "d"}
    )


def home_place(user: User) -> Place | None:
    if user.home_latitude is None or user.home_longitude is None:
        return None
    return Place(user.home_label or "Home base", user.home_latitude, user.home_longitude)


def office_place(user: User) -> Place | None:
    territory = (
        user.territories.filter(office_latitude__isnull=False, office_longitude__isnull=False)
        .order_by("name")
        .first()
    )
    if territory is None:
        return None
    label = territory.office_label or f"{territory.name} office"
    return Place(label, territory.office_latitude, territory.office_longitude)


def _midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _seconds_into(day: dt.date, moment: dt.datetime) -> int:
    return round((moment - _midnight(day)).total_seconds())


def _meetings(user: User, day: dt.date, *, now: dt.datetime) -> tuple[list[Visit], int]:
    """The rep's first planned meetings that day still ahead of them (at most the route's
    limit, so an overfull day costs no more than a full one), and how many more there are."""
    meetings = Visit.objects.filter(
        salesperson=user,
        status=VisitStatus.PLANNED,
        scheduled_start__gte=max(_midnight(day), now),
        scheduled_start__lt=_midnight(day + dt.timedelta(days=1)),
    )
    limit = settings.CADENCE_ROUTE_MAX_MEETINGS
    first = list(meetings.select_related("customer").order_by("scheduled_start", "id")[:limit])
    more = meetings.count() - limit if len(first) == limit else 0
    return first, more


def _suggestion_pool(user: User, day: dt.date, *, today: dt.date) -> list[Customer]:
    customers = (
        who_to_visit(user, today=today)
        .filter(
            service_model=ServiceModel.FIELD,
            latitude__isnull=False,
            longitude__isnull=False,
        )
        # Overdue as of the planned day (the one rule, evaluated on that day).
        .annotate(days_overdue_on_day=days_overdue(day))[:WHO_TO_VISIT_READ]
    )
    pool = []
    for customer in customers:
        # Health's rule, as of its last refresh (who_to_visit carries health's figures): the
        # review decides what to do with these.
        if customer.is_unprofitable:
            continue
        profit = customer.profit
        customer.days_overdue = customer.days_overdue_on_day
        customer.profit_at_stake = profit
        customer.worth = (customer.days_overdue + 1) * float(max(profit or 0, 1))
        pool.append(customer)
    return pool


def _reach_km(detour_minutes: int) -> float:
    """How far (straight line) an account may be from the day's places: half the budget out
    and half back."""
    speed = settings.CADENCE_ROUTE_SPEED_KMH
    return max(1.0, detour_minutes / 2 / 60 * speed / settings.CADENCE_ROUTE_ROAD_FACTOR)


def day_plan(
    user: User,
    *,
    day: dt.date,
    start: Place,
    end: Place,
    opens: dt.time,
    closes: dt.time,
    detour_minutes: int,
    stop_minutes: int = DEFAULT_STOP_MINUTES,
    now: dt.datetime | None = None,
) -> DayPlan:
    now = now or timezone.now()
    plan = DayPlan(day=day, start=start, end=end)
    meetings, plan.not_routed = _meetings(user, day, now=now)
    routed = []
    for meeting in meetings:
        if meeting.kind in REMOTE_VISIT_KINDS:
            plan.calls.append(meeting)
        elif meeting.customer.latitude is None or meeting.customer.longitude is None:
            plan.not_located.append(meeting)
        else:
            routed.append(meeting)
    anchors = [start.point, end.point, *(_point_of(m.customer) for m in routed)]
    reach = _reach_km(detour_minutes)
    met = {meeting.customer_id for meeting in meetings}
    unmet = [
        customer
        for customer in _suggestion_pool(user, day, today=timezone.localdate(now))
        if customer.pk not in met
    ]
    nearest_anchor_km = (
        great_circle_km_matrix([_point_of(c) for c in unmet], anchors).min(axis=1) if unmet else []
    )
    pool = [c for c, km in zip(unmet, nearest_anchor_km, strict=True) if km <= reach]
    pool.sort(key=lambda customer: (-customer.worth, customer.next_visit_due, customer.pk))
    candidates = pool[:SUGGESTIONS_CONSIDERED] if detour_minutes > 0 else []
    plan.considered = len(candidates)

    points = [start.point, end.point]
    points += [_point_of(m.customer) for m in routed]
    points += [_point_of(c) for c in candidates]
    matrix = travel_matrix(points)
    plan.travel_source, plan.travel_note, plan.matrix = matrix.source, matrix.note, matrix

    window_opens = _seconds_into(day, timezone.make_aware(dt.datetime.combine(day, opens)))
    if day == timezone.localdate(now):
        window_opens = max(window_opens, _seconds_into(day, now))
    window_closes = _seconds_into(day, timezone.make_aware(dt.datetime.combine(day, closes)))
    fixed = [
        Job(
            key=f"visit:{meeting.pk}",
            location=2 + index,
            service_minutes=_meeting_minutes(meeting),
            starts_at=_seconds_into(day, meeting.scheduled_start),
        )
        for index, meeting in enumerate(routed)
    ]
    optional = [
        Job(
            key=f"customer:{customer.pk}",
            location=2 + len(routed) + index,
            service_minutes=stop_minutes,
            value=customer.worth,
        )
        for index, customer in enumerate(candidates)
    ]
    route = route_solve(
        matrix,
        start=0,
        end=1,
        fixed=fixed,
        optional=optional,
        window=(window_opens, max(window_opens, window_closes)),
        detour_minutes=detour_minutes,
    )
    _read_route(plan, route, meetings=routed, candidates=candidates)
    return plan


def _meeting_minutes(meeting: Visit) -> int:
    end = meeting.scheduled_end or meeting.scheduled_start
    return max(1, round((end - meeting.scheduled_start).total_seconds() / 60))


def _read_route(
    plan: DayPlan, route: Route, *, meetings: list[Visit], candidates: list[Customer]
) -> None:
    visits = {f"visit:{meeting.pk}": meeting for meeting in meetings}
    customers = {f"customer:{customer.pk}": customer for customer in candidates}
    midnight = _midnight(plan.day)
    for step in route.steps:
        moment = midnight + dt.timedelta(seconds=step.arrival)
        if step.key is None:
            if step is route.steps[0]:
                plan.leaves_at = moment
            elif step is route.steps[-1]:
                plan.back_at = moment
                plan.last_leg_minutes, plan.last_leg_km = step.leg_minutes, step.leg_km
            continue
        meeting = visits.get(step.key)
        customer = meeting.customer if meeting else customers[step.key]
        starts = moment + dt.timedelta(seconds=step.waiting)
        plan.stops.append(
            PlanStop(
                location=step.location,
                customer=customer,
                visit=meeting,
                arrival=moment,
                starts=starts,
                ends=starts + dt.timedelta(seconds=step.service),
                leg_minutes=step.leg_minutes,
                leg_km=step.leg_km,
                days_overdue=getattr(customer, "days_overdue", 0),
                profit=getattr(customer, "profit_at_stake", None),
            )
        )
    if not route.steps:
        plan.last_leg_minutes, plan.last_leg_km = route.travel_minutes, route.km
    plan.travel_minutes, plan.km = route.travel_minutes, route.km
    plan.baseline_minutes, plan.baseline_km = route.baseline_minutes, route.baseline_km
    plan.unreachable = [visits[key] for key in route.unassigned if key in visits]
    plan.left_out = [customers[key] for key in route.unassigned if key in customers]
    # An unreachable meeting stays in the list and on the map at its own time, marked.
    locations = {f"visit:{meeting.pk}": 2 + index for index, meeting in enumerate(meetings)}
    for meeting in plan.unreachable:
        plan.stops.append(
            PlanStop(
                location=locations[f"visit:{meeting.pk}"],
                customer=meeting.customer,
                visit=meeting,
                arrival=meeting.scheduled_start,
                starts=meeting.scheduled_start,
                ends=meeting.scheduled_end or meeting.scheduled_start,
                leg_minutes=0.0,
                leg_km=0.0,
                reachable=False,
            )
        )
    plan.stops.sort(key=lambda stop: stop.starts)
