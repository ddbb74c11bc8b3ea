"""The day's route, solved by VROOM (pyvroom): the fixed meetings at their times, then as many of
the optional stops, most valuable first, as fit in the day and in the extra driving allowed.

This module knows points and times, not customers: `visits.day_plan` turns a rep's day into
`Job`s over a travel matrix and reads the `Route` back. Times are seconds from the day's midnight.

How the budget works: the route of the fixed meetings alone is solved first; its travel time
plus the detour budget is the vehicle's `max_travel_time` in the second solve, with the optional
stops added. Fixed meetings get priority 100 and the optional ones share less than 100 between
them, so VROOM (which maximises the priority served before it minimises travel) never trades a
fixed meeting for suggestions.
"""

import datetime as dt
from dataclasses import dataclass, field

import numpy
from django.conf import settings

from visits.travel import TravelMatrix

FIXED_PRIORITY = 100
DAY_SECONDS = 24 * 3600
VEHICLE = 1


@dataclass(frozen=True)
class Job:
    key: str
    location: int  # index into the travel matrix
    service_minutes: int
    starts_at: int | None = None  # a fixed meeting: seconds from midnight
    value: float = 0.0  # an optional stop: how much it is worth (any positive scale)


@dataclass(frozen=True)
class RouteStep:
    key: str | None  # None for the start and the end
    location: int
    arrival: int  # seconds from midnight
    waiting: int  # seconds waited before the stop's window opens
    service: int  # seconds spent there
    leg_minutes: float  # travel from the previous step
    leg_km: float


@dataclass
class Route:
    steps: list[RouteStep] = field(default_factory=list)
    unassigned: list[str] = field(default_factory=list)
    travel_minutes: float = 0.0
    km: float = 0.0
    baseline_minutes: float = 0.0  # the fixed meetings' route alone
    baseline_km: float = 0.0

    @property
    def stop_keys(self) -> list[str]:
        return [step.key for step in self.steps if step.key is not None]


def _priorities(optional: list[Job]) -> dict[str, int]:
    """Integer priorities (VROOM's are 0 to 100) in proportion to value, summing to less than one
    fixed meeting's."""
    if not optional:
        return {}
    cap = max(1, (FIXED_PRIORITY - 1) // len(optional))
    top = max((job.value for job in optional), default=0.0) or 1.0
    return {job.key: 1 + round((cap - 1) * max(job.value, 0.0) / top) for job in optional}


def _seconds(minutes: float) -> int:
    return round(minutes * 60)


def _solve(
    matrix: TravelMatrix,
    *,
    start: int,
    end: int,
    jobs: list[Job],
    window: tuple[int, int],
    max_travel_seconds: int | None,
) -> Route:
    minutes, km = numpy.asarray(matrix.minutes, float), numpy.asarray(matrix.km, float)
    if not jobs:
        # Nothing to visit: the day is the drive from start to end.
        return Route(travel_minutes=float(minutes[start, end]), km=float(km[start, end]))
    # Imported here: pyvroom brings pandas, which only the route page needs.
    import vroom

    problem = vroom.Input()
    durations = numpy.rint(minutes * 60).astype(numpy.uint32)
    problem.set_durations_matrix(profile="car", matrix_input=durations)
    vehicle_options = {}
    if max_travel_seconds is not None:
        vehicle_options["max_travel_time"] = max_travel_seconds
    # The vehicle may leave and come back at any hour the fixed meetings need; the optional
    # stops' own windows keep them inside the working day.
    problem.add_vehicle(
        vroom.Vehicle(
            VEHICLE,
            start=start,
            end=end,
            time_window=vroom.TimeWindow(0, 2 * DAY_SECONDS),
            **vehicle_options,
        )
    )
    priorities = _priorities([job for job in jobs if job.starts_at is None])
    by_id = {}
    vroom_jobs = []
    for number, job in enumerate(jobs, start=1):
        by_id[number] = job
        service = _seconds(job.service_minutes)
        if job.starts_at is not None:
            windows = [vroom.TimeWindow(job.starts_at, job.starts_at)]
            priority = FIXED_PRIORITY
        else:
            windows = [vroom.TimeWindow(window[0], max(window[0], window[1] - service))]
            priority = priorities[job.key]
        vroom_jobs.append(
            vroom.Job(
                number,
                location=job.location,
                default_service=service,
                time_windows=windows,
                priority=priority,
            )
        )
    problem.add_job(vroom_jobs)
    # The budget bounds a pathological day; an ordinary one is solved long before it.
    answer = problem.solve(
        exploration_level=5,
        nb_threads=1,
        timeout=dt.timedelta(seconds=settings.CADENCE_ROUTE_SOLVE_SECONDS),
    ).to_dict()
    route = Route(unassigned=[by_id[row["id"]].key for row in answer.get("unassigned", [])])
    for vroom_route in answer.get("routes", []):
        previous = None
        for step in vroom_route["steps"]:
            location = step["location_index"]
            leg_minutes = float(minutes[previous, location]) if previous is not None else 0.0
            leg_km = float(km[previous, location]) if previous is not None else 0.0
            route.steps.append(
                RouteStep(
                    key=by_id[step["id"]].key if step["type"] == "job" else None,
                    location=location,
                    arrival=step["arrival"],
                    waiting=step.get("waiting_time", 0),
                    service=step.get("service", 0),
                    leg_minutes=leg_minutes,
                    leg_km=leg_km,
                )
            )
            route.travel_minutes += leg_minutes
            route.km += leg_km
            previous = location
    if not route.steps:
        route.travel_minutes, route.km = float(minutes[start, end]), float(km[start, end])
    return route


def route_solve(
    matrix: TravelMatrix,
    *,
    start: int,
    end: int,
    fixed: list[Job],
    optional: list[Job],
    window: tuple[int, int],
    detour_minutes: int,
) -> Route:
    """The day's route: every fixed meeting that can be reached at its time, and the optional
    stops worth most that fit in `window` and add at most `detour_minutes` of driving."""
    baseline = _solve(
        matrix, start=start, end=end, jobs=fixed, window=window, max_travel_seconds=None
    )
    if not optional:
        route = baseline
    else:
        route = _solve(
            matrix,
            start=start,
            end=end,
            jobs=[*fixed, *optional],
            window=window,
            max_travel_seconds=_seconds(baseline.travel_minutes + detour_minutes),
        )
        fixed_keys = {job.key for job in fixed}
        if len(fixed_keys - set(route.stop_keys)) > len(fixed_keys - set(baseline.stop_keys)):
            route = baseline  # a heuristic's slip: never lose a meeting for a suggestion
            route.unassigned = [*route.unassigned, *(job.key for job in optional)]
    route.baseline_minutes = baseline.travel_minutes
    route.baseline_km = baseline.km
    return route
