"""What one day can hold and route: a rep who plans 2,000 meetings on one day is stopped at the
day's limit with a message, and a day overfull anyway (rows written before the limit, or by the
admin) routes its first stops, says so, and answers quickly."""

import datetime as dt
import time

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.api_client import Api
from tests.factories import CustomerFactory, PlannedVisitFactory
from visits.models import Visit, VisitStatus

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 12, 2, 7, 0, tzinfo=dt.UTC)
DAY = dt.date(2026, 12, 3)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def home_based(world):
    world.rep_north.home_latitude, world.rep_north.home_longitude = 53.80, -1.55
    world.rep_north.save(update_fields=["home_latitude", "home_longitude"])
    return world


def _at(minute: int) -> dt.datetime:
    start = dt.datetime.combine(DAY, dt.time(8, 0)) + dt.timedelta(minutes=minute % 600)
    return timezone.make_aware(start)


def _located_accounts(world, count: int) -> list:
    return [
        CustomerFactory(
            territory=world.north,
            owner=world.rep_north,
            latitude=53.6 + (n % 40) * 0.01,
            longitude=-1.8 + (n // 40) * 0.01,
        )
        for n in range(count)
    ]


def test_planning_2000_meetings_on_one_day_stops_at_the_limit(home_based, frozen, settings):
    world = home_based
    settings.CADENCE_API_REQUESTS_PER_MINUTE = 10_000  # the day's limit is the point here
    accounts = _located_accounts(world, 40)
    rep = Api(world.rep_north)
    answers = []
    for n in range(2000):
        start = _at(n)
        answers.append(
            rep.post(
                "/api/v1/visits/",
                {
                    "customer": accounts[n % len(accounts)].pk,
                    "kind": "on_site",
                    "start": start.isoformat(),
                    "end": (start + dt.timedelta(minutes=30)).isoformat(),
                },
            )
        )
    limit = settings.CADENCE_MAX_MEETINGS_PER_DAY
    assert [a.status_code for a in answers[:limit]] == [201] * limit
    refused = answers[limit:]
    assert {a.status_code for a in refused} == {400}
    assert "the most one day can hold is" in str(refused[0].json())
    planned = Visit.objects.filter(salesperson=world.rep_north, status=VisitStatus.PLANNED)
    assert planned.count() == limit

    client = Client()
    client.force_login(world.rep_north)
    started = time.perf_counter()
    page = client.get(
        reverse("visits:route"), {"day": DAY.isoformat(), "start": "home", "end": "home"}
    )
    elapsed = time.perf_counter() - started
    assert page.status_code == 200
    assert elapsed < 2, f"the route of a full day took {elapsed:.2f} s"
    limit_routed = settings.CADENCE_ROUTE_MAX_MEETINGS
    text = page.content.decode()
    assert f"Routing takes the first {limit_routed} stops of a day" in text
    assert f"{limit - limit_routed} later meetings" in text


def test_an_overfull_day_routes_its_first_stops_quickly(home_based, frozen, settings):
    """2,000 meetings already on one day (written before the limit existed): the route page and
    planning from it answer in well under 2 s, taking the first stops only."""
    world = home_based
    accounts = _located_accounts(world, 200)
    Visit.objects.bulk_create(
        Visit(
            customer=accounts[n % len(accounts)],
            salesperson=world.rep_north,
            kind="on_site",
            status=VisitStatus.PLANNED,
            scheduled_start=_at(n),
            scheduled_end=_at(n) + dt.timedelta(minutes=30),
        )
        for n in range(2000)
    )
    client = Client()
    client.force_login(world.rep_north)
    question = {"day": DAY.isoformat(), "start": "home", "end": "home", "detour": "60"}
    for url, send in (
        (reverse("visits:route"), client.get),
        (reverse("visits:route_schedule"), client.post),
    ):
        started = time.perf_counter()
        answer = send(url, question)
        elapsed = time.perf_counter() - started
        assert answer.status_code in (200, 302), url
        assert elapsed < 2, f"{url} took {elapsed:.2f} s on an overfull day"
    page = client.get(reverse("visits:route"), question)
    assert b"1,975 later meetings" in page.content
    assert page.context["plan"].stops, "the first stops are routed"
    assert len(page.context["plan"].stops) <= settings.CADENCE_ROUTE_MAX_MEETINGS + 20


def test_a_meeting_moved_or_handed_into_a_full_day_is_refused(world, frozen, settings):
    from visits.services import visit_reassign, visit_reschedule

    settings.CADENCE_MAX_MEETINGS_PER_DAY = 2
    for minute in (0, 60):
        PlannedVisitFactory(
            customer=world.north_customer,
            salesperson=world.rep_coast,
            scheduled_start=_at(minute),
            scheduled_end=_at(minute + 30),
        )
    elsewhere = PlannedVisitFactory(
        customer=world.north_customer,
        salesperson=world.rep_north,
        scheduled_start=_at(120),
        scheduled_end=_at(150),
    )
    with pytest.raises(Exception, match="the most one day can hold is 2"):
        visit_reassign(visit=elsewhere, salesperson=world.rep_coast)
    theirs = PlannedVisitFactory(
        customer=world.north_customer,
        salesperson=world.rep_coast,
        scheduled_start=_at(0) + dt.timedelta(days=1),
        scheduled_end=_at(30) + dt.timedelta(days=1),
    )
    with pytest.raises(Exception, match="the most one day can hold is 2"):
        visit_reschedule(visit=theirs, start=_at(200), end=_at(230))
    # Moving within its own day is always allowed.
    moved = visit_reschedule(
        visit=theirs,
        start=_at(60) + dt.timedelta(days=1),
        end=_at(90) + dt.timedelta(days=1),
    )
    assert moved.visit.scheduled_start == _at(60) + dt.timedelta(days=1)


def test_each_solve_stops_at_its_time_budget(settings):
    """400 candidate stops take VROOM about 44 s to search through (measured 2026-12-07); the
    budget stops it early with a route that keeps every fixed meeting."""
    import random

    from visits.routing import Job, route_solve
    from visits.travel import estimated_matrix

    settings.CADENCE_ROUTE_SOLVE_SECONDS = 0.2
    rng = random.Random(1)
    points = [(53.8, -1.55), (53.8, -1.55)] + [
        (53.5 + rng.random() * 0.6, -1.9 + rng.random() * 0.8) for _ in range(402)
    ]
    fixed = [
        Job("visit:1", location=2, service_minutes=30, starts_at=10 * 3600),
        Job("visit:2", location=3, service_minutes=30, starts_at=15 * 3600),
    ]
    optional = [
        Job(f"customer:{n}", location=4 + n, service_minutes=5, value=rng.random() * 100)
        for n in range(400)
    ]
    started = time.perf_counter()
    route = route_solve(
        estimated_matrix(points),
        start=0,
        end=1,
        fixed=fixed,
        optional=optional,
        window=(8 * 3600, 18 * 3600),
        detour_minutes=240,
    )
    elapsed = time.perf_counter() - started
    assert elapsed < 6, f"the solve ran {elapsed:.1f} s past a 0.2 s budget"
    assert {"visit:1", "visit:2"} <= set(route.stop_keys)
