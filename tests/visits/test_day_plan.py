"""The day plan: the solver's wiring (fixed meetings keep their times, suggestions stay inside
the detour budget), the choice of suggestions, the travel matrix (estimate and a local OSRM
stand-in), and planning the chosen stops with their travel."""

import datetime as dt
import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from crm.models import ServiceModel
from health.services import health_refresh_everything
from tests.factories import CustomerFactory, InvoiceFactory, PlannedVisitFactory, VisitFactory
from visits.day_plan import Place, day_plan
from visits.models import Visit, VisitStatus
from visits.routing import Job, route_solve
from visits.travel import TravelMatrix, estimated_matrix, great_circle_km, travel_matrix

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 12, 2, 7, 0, tzinfo=dt.UTC)
DAY = dt.date(2026, 12, 3)
HOME = Place("Home", 53.80, -1.55)
NORTH = (53.85, -1.55)  # ~5.6 km north of home
EAST = (53.80, -1.40)  # ~10 km east of home


def at(hour: int, minute: int = 0) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(DAY, dt.time(hour, minute)))


def account(world, point, *, overdue_days=20, earns=True, **extra):
    customer = CustomerFactory(
        territory=world.north,
        owner=world.rep_north,
        latitude=point[0],
        longitude=point[1],
        **extra,
    )
    if earns:
        InvoiceFactory(customer=customer, amount=Decimal("20000"), cost_of_goods=Decimal("8000"))
    else:
        VisitFactory(customer=customer, salesperson=world.rep_north, travel_minutes=300)
    customer.next_visit_due = DAY - dt.timedelta(days=overdue_days)
    customer.save(update_fields=["next_visit_due"])
    return customer


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def meetings(world, frozen):
    north = account(world, NORTH, overdue_days=0)
    east = account(world, EAST, overdue_days=0)
    return [
        PlannedVisitFactory(
            customer=north,
            salesperson=world.rep_north,
            scheduled_start=at(10),
            scheduled_end=at(11),
        ),
        PlannedVisitFactory(
            customer=east,
            salesperson=world.rep_north,
            scheduled_start=at(14),
            scheduled_end=at(15),
        ),
    ]


def plan_for(world, **options):
    arguments = {
        "day": DAY,
        "start": HOME,
        "end": HOME,
        "opens": dt.time(8, 30),
        "closes": dt.time(17, 30),
        "detour_minutes": 60,
        **options,
    }
    return day_plan(world.rep_north, **arguments)


def refresh_figures():
    health_refresh_everything(as_of=NOW.date())


# The solver's wiring, on a hand-made line of points 10 minutes apart.
def line_matrix(size: int) -> TravelMatrix:
    minutes = [[abs(i - j) * 10.0 for j in range(size)] for i in range(size)]
    km = [[abs(i - j) * 8.0 for j in range(size)] for i in range(size)]
    return TravelMatrix(minutes=minutes, km=km, source="test")


def test_fixed_meetings_keep_their_windows_and_suggestions_fit_the_detour_budget():
    matrix = line_matrix(6)
    fixed = [
        Job("visit:1", location=2, service_minutes=60, starts_at=10 * 3600),
        Job("visit:2", location=4, service_minutes=60, starts_at=14 * 3600),
    ]
    optional = [
        Job("customer:near", location=3, service_minutes=45, value=10),  # on the way
        Job("customer:far", location=5, service_minutes=45, value=100),  # 20 minutes' detour
    ]
    common = {"start": 0, "end": 1, "fixed": fixed, "window": (8 * 3600, 18 * 3600)}

    tight = route_solve(matrix, optional=optional, detour_minutes=15, **common)
    assert tight.baseline_minutes == pytest.approx(70)  # 0 → 2 → 4 → 1
    arrivals = {step.key: step.arrival + step.waiting for step in tight.steps if step.key}
    assert arrivals["visit:1"] == 10 * 3600 and arrivals["visit:2"] == 14 * 3600
    assert "customer:near" in tight.stop_keys, "the stop on the way costs no detour"
    assert "customer:far" not in tight.stop_keys, "20 extra minutes is over a 15-minute budget"
    assert tight.travel_minutes == pytest.approx(70)

    roomy = route_solve(matrix, optional=optional, detour_minutes=25, **common)
    assert set(roomy.stop_keys) == {"visit:1", "visit:2", "customer:near", "customer:far"}
    assert roomy.travel_minutes == pytest.approx(90)

    none = route_solve(matrix, optional=optional, detour_minutes=0, **common)
    assert "customer:far" not in none.stop_keys


def test_a_meeting_that_cannot_be_reached_is_reported_not_moved():
    matrix = line_matrix(5)
    fixed = [
        Job("visit:1", location=2, service_minutes=60, starts_at=10 * 3600),
        # 20 minutes' drive away, starting the minute the first one ends.
        Job("visit:2", location=4, service_minutes=60, starts_at=11 * 3600),
    ]
    route = route_solve(
        matrix,
        start=0,
        end=1,
        fixed=fixed,
        optional=[Job("customer:x", location=3, service_minutes=30, value=5)],
        window=(8 * 3600, 18 * 3600),
        detour_minutes=60,
    )
    assert len(route.unassigned) >= 1 and set(route.unassigned) & {"visit:1", "visit:2"}
    for step in route.steps:
        if step.key in ("visit:1", "visit:2"):
            assert step.arrival + step.waiting == {"visit:1": 10, "visit:2": 11}[step.key] * 3600


def test_the_day_routes_the_meetings_and_suggests_the_overdue_accounts_worth_it(
    world, meetings, frozen
):
    on_the_way = account(world, (53.83, -1.50), overdue_days=30, name="On The Way Ltd")
    near_east = account(world, (53.81, -1.42), overdue_days=5, name="Near East Ltd")
    too_far = account(world, (54.60, -1.55), overdue_days=90, name="Far North Ltd")
    losing = account(world, (53.80, -1.53), overdue_days=60, earns=False, name="Loss Ltd")
    remote = account(
        world,
        (53.80, -1.54),
        overdue_days=60,
        name="Phone Only Ltd",
        service_model=ServiceModel.REMOTE,
    )
    someone_elses = CustomerFactory(
        territory=world.north, owner=world.rep_coast, latitude=53.80, longitude=-1.54
    )
    refresh_figures()
    for customer in (on_the_way, near_east, too_far, losing, remote, someone_elses):
        customer.next_visit_due = DAY - dt.timedelta(days=30)
        customer.save(update_fields=["next_visit_due"])
    losing.metrics.refresh_from_db()
    assert losing.metrics.profit < 0

    plan = plan_for(world)

    names = [stop.customer.name for stop in plan.stops]
    assert [stop.visit for stop in plan.stops if not stop.suggested] == meetings
    first, second = (stop for stop in plan.stops if not stop.suggested)
    assert (first.starts, second.starts) == (at(10), at(14))
    assert {s.customer.name for s in plan.suggestions} <= {"On The Way Ltd", "Near East Ltd"}
    assert "On The Way Ltd" in names
    for absent in ("Far North Ltd", "Loss Ltd", "Phone Only Ltd", someone_elses.name):
        assert absent not in names
    assert plan.added_minutes <= 60
    assert plan.leaves_at < at(10) and plan.back_at > at(15)
    # Legs add up to the totals, and each stop starts after the drive to it.
    assert plan.km == pytest.approx(sum(s.leg_km for s in plan.stops) + plan.last_leg_km)
    previous_end = plan.leaves_at
    for stop in plan.stops:
        assert stop.arrival >= previous_end + dt.timedelta(minutes=stop.leg_minutes) - dt.timedelta(
            seconds=1
        )
        assert stop.starts >= stop.arrival
        previous_end = stop.ends
    suggested = next(s for s in plan.suggestions if s.customer == on_the_way)
    assert suggested.days_overdue == 30 and suggested.profit > 0
    assert "waypoints=" in plan.google_maps_url and "53.830000%2C-1.500000" in plan.google_maps_url


def test_no_detour_budget_no_suggestions_and_past_hours_are_not_offered(world, meetings):
    account(world, (53.83, -1.50), overdue_days=30)
    with time_machine.travel(at(13), tick=False):
        plan = plan_for(world, detour_minutes=0)
        assert not plan.suggestions
        # At 13:00 the 10:00 meeting is behind the rep: the day routes what is left.
        assert [stop.visit for stop in plan.stops] == [meetings[1]]
        later = plan_for(world, day=DAY)
        assert all(stop.arrival >= at(13) for stop in later.stops)


def test_calls_and_unlocated_meetings_are_listed_not_routed(world, frozen):
    phoned = account(world, NORTH)
    unlocated = CustomerFactory(territory=world.north, owner=world.rep_north)
    call = PlannedVisitFactory(
        customer=phoned, salesperson=world.rep_north, kind="phone", scheduled_start=at(9)
    )
    nowhere = PlannedVisitFactory(
        customer=unlocated, salesperson=world.rep_north, scheduled_start=at(11)
    )
    plan = plan_for(world, detour_minutes=0)
    assert plan.calls == [call] and plan.not_located == [nowhere] and not plan.stops
    assert plan.km == pytest.approx(0)


def test_the_estimate_is_straight_line_times_the_road_factor_at_the_average_speed(settings):
    settings.CADENCE_ROUTE_ROAD_FACTOR = 1.5
    settings.CADENCE_ROUTE_SPEED_KMH = 60
    matrix = estimated_matrix([HOME.point, EAST])
    straight = great_circle_km(HOME.point, EAST)
    assert 9.5 < straight < 10.5
    assert matrix.km[0][1] == pytest.approx(straight * 1.5)
    assert matrix.minutes[0][1] == pytest.approx(straight * 1.5)  # 60 km/h: a km a minute
    assert matrix.km[0][0] == 0


class FakeOsrm(BaseHTTPRequestHandler):
    """Answers /table/v1/driving/... like OSRM: durations in seconds, distances in metres."""

    answers: list = []

    def do_GET(self):
        self.answers.append(self.path)
        coordinates = self.path.split("/table/v1/driving/", 1)[1].split("?", 1)[0].split(";")
        size = len(coordinates)
        body = {
            "code": "Ok",
            "durations": [[abs(i - j) * 600.0 for j in range(size)] for i in range(size)],
            "distances": [[abs(i - j) * 9000.0 for j in range(size)] for i in range(size)],
        }
        if "null" in self.server.mode:
            body["durations"][0][1] = None
        payload = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def osrm():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOsrm)
    server.mode = ""
    FakeOsrm.answers = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_an_osrm_server_gives_the_matrix_when_set(settings, osrm):
    settings.CADENCE_OSRM_URL = f"http://127.0.0.1:{osrm.server_port}/"
    matrix = travel_matrix([HOME.point, NORTH, EAST])
    assert matrix.source == "osrm" and not matrix.note
    assert matrix.minutes[0][2] == pytest.approx(20) and matrix.km[0][2] == pytest.approx(18)
    # Longitude first, as OSRM takes it.
    assert "-1.550000,53.800000;-1.550000,53.850000" in FakeOsrm.answers[0]
    osrm.mode = "null"
    patched = travel_matrix([HOME.point, NORTH])
    assert patched.minutes[0][1] == pytest.approx(
        estimated_matrix([HOME.point, NORTH]).minutes[0][1]
    )


def test_an_osrm_server_that_does_not_answer_falls_back_to_the_estimate(settings, osrm):
    port = osrm.server_port
    osrm.shutdown()
    osrm.server_close()
    settings.CADENCE_OSRM_URL = f"http://127.0.0.1:{port}"
    settings.CADENCE_OSRM_TIMEOUT = 0.5
    matrix = travel_matrix([HOME.point, EAST])
    assert matrix.source == "estimate" and "did not answer" in matrix.note


# The page and planning from it.
def route_query(**extra) -> dict:
    return {
        "day": DAY.isoformat(),
        "start": "here",
        "end": "here",
        "lat": "53.80",
        "lng": "-1.55",
        "detour": "60",
        **extra,
    }


def test_the_route_page_plans_the_ticked_stops_with_their_travel(client, world, meetings, frozen):
    on_the_way = account(world, (53.83, -1.50), overdue_days=30, name="On The Way Ltd")
    near_east = account(world, (53.81, -1.42), overdue_days=5, name="Near East Ltd")
    refresh_figures()
    client.force_login(world.rep_north)
    page = client.get(reverse("visits:route"), route_query())
    assert page.status_code == 200
    assert "On The Way Ltd" in page.text and "Near East Ltd" in page.text
    assert "Add the ticked stops to my schedule" in page.text
    key = page.text.split('name="submission" value="', 1)[1].split('"', 1)[0]

    answer = client.post(
        reverse("visits:route_schedule"),
        {**route_query(), "stop": [str(on_the_way.pk)], "submission": key},
        follow=True,
    )
    assert "1 stop added to your schedule" in answer.text
    planned = Visit.objects.get(customer=on_the_way, status=VisitStatus.PLANNED)
    assert planned.salesperson == world.rep_north and planned.kind == "on_site"
    assert planned.travel_minutes > 0 and planned.distance_km > 0
    assert at(8, 30) <= planned.scheduled_start < at(17, 30)
    assert not Visit.objects.filter(customer=near_east, status=VisitStatus.PLANNED).exists()
    # The meetings took the drive to them from the route (they had none).
    for meeting in meetings:
        meeting.refresh_from_db()
        assert meeting.travel_minutes > 0 and meeting.distance_km > 0
    # Sent twice (a double tap, Back and resend): planned once.
    again = client.post(
        reverse("visits:route_schedule"),
        {**route_query(), "stop": [str(on_the_way.pk)], "submission": key},
        follow=True,
    )
    assert "already on your schedule" in again.text
    assert Visit.objects.filter(customer=on_the_way, status=VisitStatus.PLANNED).count() == 1
    # The log form of a planned stop is prefilled with that travel.
    form = client.get(reverse("visits:log", args=[planned.pk])).text
    assert f'name="travel_minutes" value="{planned.travel_minutes}"' in form


def test_a_ticked_stop_that_no_longer_fits_is_not_planned(client, world, meetings, frozen):
    refresh_figures()
    stranger = CustomerFactory(territory=world.south, owner=world.rep_south)
    client.force_login(world.rep_north)
    answer = client.post(
        reverse("visits:route_schedule"),
        {**route_query(), "stop": [str(stranger.pk), "not-a-number"]},
        follow=True,
    )
    assert answer.status_code == 200 and "no longer fit the day" in answer.text
    assert not Visit.objects.filter(customer=stranger, status=VisitStatus.PLANNED).exists()
    assert stranger.name not in answer.text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"lat": "", "lng": ""}, "needs your position"),
        ({"start": "home", "lat": "", "lng": "", "end": "home"}, "no home base yet"),
        ({"start": "office"}, "no territory office yet"),
        ({"day": "2026-11-01"}, "not a day gone by"),
        ({"day": "2027-12-01"}, "at most 90 days ahead"),
        ({"detour": "999"}, "less than or equal to 240"),
        ({"lat": "91"}, "less than or equal to 90"),
        ({"opens": "18:00", "closes": "08:00"}, "must end after it starts"),
        ({"day": "yesterday"}, "Enter a valid date"),
    ],
)
def test_a_bad_question_gets_a_message_not_a_route(client, world, frozen, query, message):
    client.force_login(world.rep_north)
    page = client.get(reverse("visits:route"), route_query(**query))
    assert page.status_code == 200 and message in page.text
    assert "Stops in order" not in page.text


def test_home_base_and_office_start_the_day(client, world, meetings, frozen):
    client.force_login(world.rep_north)
    client.post(reverse("visits:route_home"), {"label": "My house", "lat": "53.79", "lng": "-1.56"})
    world.rep_north.refresh_from_db()
    assert (world.rep_north.home_latitude, world.rep_north.home_longitude) == (53.79, -1.56)
    world.north.office_label, world.north.office_latitude, world.north.office_longitude = (
        "Leeds office",
        53.7960,
        -1.5470,
    )
    world.north.save()
    page = client.get(
        reverse("visits:route"), {"day": DAY.isoformat(), "start": "home", "end": "office"}
    )
    assert "Leave My house at" in page.text and "back at Leeds office at" in page.text
    bad = client.post(reverse("visits:route_home"), {"lat": "abc", "lng": "-1.5"}, follow=True)
    assert "could not be saved" in bad.text


def test_near_me_and_the_plan_form_carry_the_drive_to_the_meeting(client, world, frozen):
    close_by = account(world, (53.83, -1.50), name="Close By Ltd")
    phoned = account(world, (53.81, -1.55), name="Phoned Ltd", service_model=ServiceModel.REMOTE)
    client.force_login(world.rep_north)
    near = client.get(reverse("visits:near"), {"lat": "53.80", "lng": "-1.55", "km": "20"})
    straight = great_circle_km((53.80, -1.55), (53.83, -1.50))  # about 4.7 km
    link = near.text.split(f"?customer={close_by.pk}&amp;travel_minutes=", 1)[1].split('"', 1)[0]
    minutes, km = link.split("&amp;distance_km=")
    assert float(km) == pytest.approx(straight * 1.3, abs=0.1)
    assert int(minutes) == pytest.approx(straight * 1.3 / 50 * 60, abs=1)
    assert f"≈ {minutes} min" in near.text
    form = client.get(f"{reverse('visits:plan')}?customer={close_by.pk}&travel_minutes={minutes}")
    assert f'name="travel_minutes" value="{minutes}"' in form.text
    answer = client.post(
        reverse("visits:plan"),
        {
            "customer": close_by.pk,
            "kind": "on_site",
            "start": "2026-12-03T09:00",
            "end": "2026-12-03T10:00",
            "travel_minutes": "7",
            "distance_km": "5.9",
        },
    )
    assert answer.status_code == 302
    planned = Visit.objects.get(customer=close_by)
    assert (planned.travel_minutes, planned.distance_km) == (7, Decimal("5.9"))
    # A call asks no travel, and keeps none whatever is sent.
    assert (
        'name="travel_minutes"'
        not in client.get(f"{reverse('visits:plan')}?customer={phoned.pk}").text
    )
    client.post(
        reverse("visits:plan"),
        {
            "customer": phoned.pk,
            "kind": "phone",
            "start": "2026-12-03T11:00",
            "end": "2026-12-03T11:30",
            "travel_minutes": "30",
        },
    )
    assert Visit.objects.get(customer=phoned).travel_minutes == 0
    bad = client.post(
        reverse("visits:plan"),
        {
            "customer": close_by.pk,
            "kind": "on_site",
            "start": "2026-12-04T09:00",
            "end": "2026-12-04T10:00",
            "travel_minutes": "-3",
            "distance_km": "lots",
        },
    )
    assert bad.status_code == 200 and "greater than or equal to 0" in bad.text
    assert "Enter a number" in bad.text
