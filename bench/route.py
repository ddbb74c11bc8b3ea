"""The day plan against the database in DATABASE_URL (seed it first; the demo gives every rep a
home base and places every account round its town). Run by hand: `.venv/bin/python bench/route.py`.

1. The solver: a day of 8 fixed meetings and 20 candidate stops, for each of sales1-8 (their
   accounts nearest their home base; the meetings an hour apart from 9:00), travel matrix and
   both solves (fixed alone, then with the candidates), median of BENCH_RUNS runs.
2. The whole day plan as the route page builds it (meetings from the database, suggestions
   from who-to-visit, detour 60 minutes) for sales1-8 on their busiest day of the next two weeks.
3. Kilometres on the seed's own days: each rep's planned on-site meetings of a day (3 or more)
   visited from home and back, in the order of their times, in nearest-neighbour order, and in
   the solver's order (the meetings as stops without fixed times).
4. An overfull day: 2,000 planned meetings on one of sales1's days (written straight to the
   table, as data from before the day's limit could be; rolled back after), the whole day plan
   as the route page builds it: the route takes the first CADENCE_ROUTE_MAX_MEETINGS.
"""

import datetime as dt
import itertools
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.db import transaction  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.db.models.functions import TruncDate  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import User  # noqa: E402
from crm.models import Customer  # noqa: E402
from visits.day_plan import day_plan, home_place  # noqa: E402
from visits.models import Visit, VisitKind, VisitStatus  # noqa: E402
from visits.routing import Job, route_solve  # noqa: E402
from visits.travel import estimated_matrix, great_circle_km  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "15"))
REPS = [f"sales{n}" for n in range(1, 9)]
HOUR = 3600


def median_ms(call) -> float:
    call()
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def nearest_accounts(rep: User, home, count: int) -> list[tuple[float, float]]:
    located = Customer.objects.filter(owner=rep, latitude__isnull=False).values_list(
        "latitude", "longitude"
    )
    return sorted(located, key=lambda point: great_circle_km(point, home))[:count]


def solver_day(rep: User):
    home = home_place(rep).point
    points = nearest_accounts(rep, home, 28)
    fixed_points, candidate_points = points[::3][:8], [p for p in points if p not in points[::3]]
    everything = [home, home, *fixed_points, *candidate_points[:20]]

    def solve():
        matrix = estimated_matrix(everything)
        fixed = [
            Job(f"visit:{n}", location=2 + n, service_minutes=30, starts_at=(9 + n) * HOUR)
            for n in range(len(fixed_points))
        ]
        optional = [
            Job(f"customer:{n}", location=2 + len(fixed) + n, service_minutes=20, value=n + 1)
            for n in range(len(everything) - 2 - len(fixed))
        ]
        return route_solve(
            matrix,
            start=0,
            end=1,
            fixed=fixed,
            optional=optional,
            window=(8 * HOUR, 18 * HOUR),
            detour_minutes=60,
        )

    return solve


def km_of(order: list[int], matrix) -> float:
    return sum(matrix.km[a][b] for a, b in itertools.pairwise(order))


def nearest_neighbour(stops: list[int], matrix) -> list[int]:
    order, left = [0], list(stops)
    while left:
        following = min(left, key=lambda stop: matrix.km[order[-1]][stop])
        order.append(following)
        left.remove(following)
    return [*order, 1]


def km_comparison(rep: User, today: dt.date) -> list[tuple[float, float, float]]:
    home = home_place(rep).point
    meetings = (
        Visit.objects.filter(
            salesperson=rep,
            status=VisitStatus.PLANNED,
            kind=VisitKind.ON_SITE,
            customer__latitude__isnull=False,
            scheduled_start__date__gte=today,
        )
        .select_related("customer")
        .order_by("scheduled_start")
    )
    by_day: dict[dt.date, list[Visit]] = {}
    for meeting in meetings:
        by_day.setdefault(timezone.localtime(meeting.scheduled_start).date(), []).append(meeting)
    days = []
    for day_meetings in by_day.values():
        if len(day_meetings) < 3:
            continue
        points = [home, home, *((m.customer.latitude, m.customer.longitude) for m in day_meetings)]
        matrix = estimated_matrix(points)
        stops = list(range(2, len(points)))
        by_time = km_of([0, *stops, 1], matrix)
        greedy = km_of(nearest_neighbour(stops, matrix), matrix)
        jobs = [Job(f"stop:{n}", location=n, service_minutes=45, value=1) for n in stops]
        solved = route_solve(
            matrix,
            start=0,
            end=1,
            fixed=[],
            optional=jobs,
            window=(0, 24 * HOUR),
            detour_minutes=24 * 60,
        )
        assert not solved.unassigned, "every meeting fits a whole day"
        days.append((by_time, greedy, solved.km))
    return days


def plan_of(rep: User, day: dt.date):
    """The day plan as the route page builds it (start and end at home, detour 60 minutes)."""
    home = home_place(rep)

    def plan():
        return day_plan(
            rep,
            day=day,
            start=home,
            end=home,
            opens=dt.time(8, 30),
            closes=dt.time(17, 30),
            detour_minutes=60,
        )

    return plan


def busiest_day(rep: User, today: dt.date) -> dt.date:
    row = (
        Visit.objects.filter(
            salesperson=rep,
            status=VisitStatus.PLANNED,
            scheduled_start__date__gte=today,
            scheduled_start__date__lt=today + dt.timedelta(days=14),
        )
        .annotate(day=TruncDate("scheduled_start"))
        .values("day")
        .annotate(n=Count("id"))
        .order_by("-n", "day")
        .first()
    )
    return row["day"] if row else today + dt.timedelta(days=1)


def main() -> None:
    today = timezone.localdate()
    print(f"{Customer.objects.count():,} customers; median of {RUNS} runs")
    print("1. solver: 8 fixed meetings + 20 candidates (matrix + both solves)")
    for username in REPS:
        rep = User.objects.get(username=username)
        solve = solver_day(rep)
        route = solve()
        suggested = sum(1 for key in route.stop_keys if key.startswith("customer:"))
        print(
            f"   {username:7} {median_ms(solve):7.1f} ms  "
            f"{len(route.stop_keys) - suggested} meetings + {suggested} suggested, "
            f"{route.km:6.1f} km ({route.km - route.baseline_km:+.1f} for the suggestions)"
        )
    print("2. whole day plan (database reads + solve), detour 60 min, start/end home")
    for username in REPS:
        rep = User.objects.get(username=username)
        day = busiest_day(rep, today)
        plan = plan_of(rep, day)
        result = plan()
        print(
            f"   {username:7} {day} {median_ms(plan):7.1f} ms  {len(result.stops)} stops "
            f"({len(result.suggestions)} suggested of {result.considered} considered), "
            f"{result.km:6.1f} km"
        )
    print("3. km of the seed's meeting days (3+ on-site meetings), from home and back")
    totals = [0.0, 0.0, 0.0]
    count = 0
    for username in REPS:
        for by_time, greedy, solved in km_comparison(User.objects.get(username=username), today):
            totals = [totals[0] + by_time, totals[1] + greedy, totals[2] + solved]
            count += 1
    by_time, greedy, solved = totals
    if count:
        print(
            f"   {count} days: time order {by_time:,.0f} km, nearest neighbour {greedy:,.0f} km, "
            f"solver {solved:,.0f} km — saves {100 * (1 - solved / by_time):.1f}% on time order, "
            f"{100 * (1 - solved / greedy):.1f}% on nearest neighbour"
        )
    else:
        print("   no day with 3 or more planned on-site meetings")


def overfull_day(rep: User, today: dt.date) -> None:
    day = today + dt.timedelta(days=1)
    accounts = list(Customer.objects.filter(owner=rep, latitude__isnull=False)[:200])
    with transaction.atomic():
        Visit.objects.bulk_create(
            Visit(
                customer=accounts[n % len(accounts)],
                salesperson=rep,
                kind=VisitKind.ON_SITE,
                status=VisitStatus.PLANNED,
                scheduled_start=timezone.make_aware(
                    dt.datetime.combine(day, dt.time(8)) + dt.timedelta(minutes=n % 600)
                ),
                scheduled_end=timezone.make_aware(
                    dt.datetime.combine(day, dt.time(8)) + dt.timedelta(minutes=n % 600 + 30)
                ),
            )
            for n in range(2000)
        )
        plan = plan_of(rep, day)
        result = plan()
        print(
            f"   {rep.username} {day}: {median_ms(plan):7.1f} ms; {len(result.stops)} stops "
            f"listed, {result.not_routed:,} meetings past the route's limit"
        )
        transaction.set_rollback(True)


if __name__ == "__main__":
    main()
    print("4. an overfull day: 2,000 planned meetings")
    overfull_day(User.objects.get(username="sales1"), timezone.localdate())
