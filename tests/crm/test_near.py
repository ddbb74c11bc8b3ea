"""'Near me': the nearest visible accounts, by the GiST index on their point on the earth."""

import math

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from crm.selectors import customers_near
from crm.services import customers_due_refresh
from health.services import health_refresh_everything
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db
LEEDS = (53.7997, -1.5492)


def great_circle_km(a, b) -> float:
    """Haversine on earthdistance's sphere (radius 6,378,168 m)."""
    lat1, lng1, lat2, lng2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    )
    return 2 * 6378.168 * math.asin(math.sqrt(h))


def test_nearest_first_within_the_radius_and_only_what_the_user_may_see(world):
    places = {
        "Headingley": (53.8194, -1.5816),  # about 3 km
        "Wakefield": (53.6833, -1.4977),  # about 13 km
        "York": (53.9600, -1.0873),  # about 35 km: outside 20 km
    }
    for name, (lat, lng) in places.items():
        CustomerFactory(
            name=name, territory=world.north, owner=world.rep_north, latitude=lat, longitude=lng
        )
    CustomerFactory(name="Unplaced", territory=world.north, owner=world.rep_north)
    CustomerFactory(
        name="Not mine",
        territory=world.south,
        owner=world.rep_south,
        latitude=53.80,
        longitude=-1.55,
    )
    found = customers_near(world.rep_north, latitude=LEEDS[0], longitude=LEEDS[1], km=20)
    assert [c.name for c in found] == ["Headingley", "Wakefield"]
    for customer in found:
        expected = great_circle_km(LEEDS, places[customer.name])
        assert customer.distance_km == pytest.approx(expected, rel=0.01)
    wider = customers_near(world.rep_north, latitude=LEEDS[0], longitude=LEEDS[1], km=50)
    assert [c.name for c in wider] == ["Headingley", "Wakefield", "York"]
    with pytest.raises(ValueError):
        customers_near(world.rep_north, latitude=123, longitude=0, km=5)


def test_the_search_reads_the_earth_point_index(world):
    for n in range(300):
        CustomerFactory(
            territory=world.north,
            owner=world.rep_north,
            latitude=50 + (n % 30) * 0.1,
            longitude=-3 + (n // 30) * 0.1,
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE crm_customer")
        cursor.execute("SET LOCAL enable_seqscan = off")
    captured = []

    def keep(customers):
        captured.append(customers)
        return customers

    customers_near(world.admin, latitude=51.0, longitude=-2.5, km=10, prepare=keep)
    plan = captured[0][:20].explain()
    # Read in the index's distance order (KNN), not sorted after a scan.
    assert "customer_earth_point" in plan and "Order By" in plan


def test_the_near_me_page_lists_with_badges_and_refuses_nonsense(client, world):
    overdue = CustomerFactory(
        name="Headingley Hardware",
        territory=world.north,
        owner=world.rep_north,
        latitude=53.8194,
        longitude=-1.5816,
    )
    customers_due_refresh(customer_ids=[overdue.pk])
    client.force_login(world.rep_north)
    page = client.get(reverse("visits:near"), {"lat": LEEDS[0], "lng": LEEDS[1], "km": 5}).text
    listed = page.split('<ol class="plain who near">', 1)[1]
    row = listed.split("Headingley Hardware")[1].split("</li>")[0]
    assert "3.1 km" in row and ">overdue<" in row
    # Plan carries the estimated drive from here (3.1 km times 1.3 at 50 km/h).
    assert (
        f'href="/visits/plan/?customer={overdue.pk}&amp;travel_minutes=5&amp;distance_km=4.0"'
        in row
    )
    assert 'href="geo:53.819400,-1.581600"' in row
    for bad in (
        {"lat": "91", "lng": "0"},
        {"lat": "abc", "lng": "1"},
        {"lat": "1", "lng": "1", "km": "9999"},
    ):
        answer = client.get(reverse("visits:near"), bad)
        assert answer.status_code == 200 and 'class="error"' in answer.text
    assert "Use my location" in client.get(reverse("visits:near")).text


def test_every_address_has_directions(client, world):
    placed = CustomerFactory(
        territory=world.north, owner=world.rep_north, latitude=53.8, longitude=-1.55
    )
    unplaced = CustomerFactory(
        territory=world.north, owner=world.rep_north, address_line1="1 Park Row", city="Leeds"
    )
    client.force_login(world.rep_north)
    assert 'href="geo:53.800000,-1.550000"' in client.get(placed.get_absolute_url()).text
    page = client.get(unplaced.get_absolute_url()).text
    assert "google.com/maps/search/?api=1&amp;query=1%20Park%20Row%2C%20Leeds" in page


def test_the_map_data_is_scoped_filtered_and_compact(client, world):
    place = {"territory": world.north, "owner": world.rep_north}
    neglected = CustomerFactory(name="Neglected", tier="A", latitude=53.8, longitude=-1.5, **place)
    fine = CustomerFactory(
        name="Fine", tier="B", latitude=53.9, longitude=-1.4, since=timezone.localdate(), **place
    )
    CustomerFactory(name="Unplaced", **place)
    CustomerFactory(
        name="South", territory=world.south, owner=world.rep_south, latitude=50.8, longitude=-0.1
    )
    customers_due_refresh(customer_ids=[neglected.pk, fine.pk])
    health_refresh_everything(as_of=timezone.localdate())
    client.force_login(world.rep_north)
    data = client.get(reverse("crm:customer_map_data")).json()
    assert data["states"] == ["neglected", "overdue", "unprofitable", "fine"]
    points = {p[5]: p for p in data["points"]}
    assert set(points) == {"Neglected", "Fine"}
    assert points["Neglected"][1:5] == [53.8, -1.5, 0, world.rep_north.pk]
    assert points["Fine"][3] == 3
    assert data["owners"] == {str(world.rep_north.pk): "rep-north"}
    only_a = client.get(reverse("crm:customer_map_data"), {"tier": "A"}).json()
    assert [p[5] for p in only_a["points"]] == ["Neglected"]
    page = client.get(reverse("crm:customer_map"), {"tier": "A"}).text
    assert 'data-points="/customers/map.json?tier=A"' in page
    assert "vendor/leaflet-1.9.4/leaflet.js" in page and 'id="colour-by"' not in page
    client.force_login(world.north_manager)
    assert 'id="colour-by"' in client.get(reverse("crm:customer_map")).text


def test_a_large_book_is_answered_by_view_in_clusters_of_a_grid(client, world, monkeypatch):
    monkeypatch.setattr("crm.selectors.MAP_MAX_POINTS", 3)
    place = {"territory": world.north, "owner": world.rep_north}
    leeds = [
        CustomerFactory(name=f"Leeds {n}", latitude=53.80 + n * 0.001, longitude=-1.55, **place)
        for n in range(4)
    ]
    CustomerFactory(name="York", latitude=53.96, longitude=-1.08, **place)
    CustomerFactory(name="Far away", latitude=57.1, longitude=-2.1, **place)
    customers_due_refresh(customer_ids=[c.pk for c in leeds])
    health_refresh_everything(as_of=timezone.localdate())
    client.force_login(world.north_manager)
    url = reverse("crm:customer_map_data")

    whole = client.get(url).json()
    assert whole["total"] == 6 and whole["points"] == [], "too many to send whole"
    assert whole["extent"] == {"south": 53.8, "west": -2.1, "north": 57.1, "east": -1.08}

    # Yorkshire at zoom 8: Leeds's four share a cell, York is alone, Aberdeen is out of view.
    view = {"bbox": "-3.0,53.0,0.0,54.5", "zoom": 8}
    data = client.get(url, view).json()
    assert data["total"] == 5
    [cluster] = data["clusters"]
    assert cluster[2] == 4 and abs(cluster[0] - 53.8015) < 0.001 and abs(cluster[1] + 1.55) < 1e-6
    monkeypatch.setattr("crm.selectors.MAP_MAX_POINTS", 100)
    every_point = client.get(url, view).json()["points"]
    monkeypatch.setattr("crm.selectors.MAP_MAX_POINTS", 3)
    assert cluster[3] == min(p[3] for p in every_point if p[5].startswith("Leeds"))
    assert [p[5] for p in data["points"]] == ["York"]

    # Zoomed in on Leeds: few enough in view to send them as points.
    close = client.get(url, {"bbox": "-1.6,53.79,-1.5,53.8025", "zoom": 14}).json()
    assert close["clusters"] == [] and sorted(p[5] for p in close["points"]) == [
        f"Leeds {n}" for n in range(3)
    ]
    # The filters apply to the view as to the list.
    assert client.get(url, {**view, "q": "York"}).json()["total"] == 1
    # A salesperson of another territory sees none of it.
    client.force_login(world.rep_south)
    assert client.get(url, view).json()["total"] == 0


@pytest.mark.parametrize(
    "query, message",
    [
        ({"bbox": "a,b,c,d", "zoom": 5}, "west,south,east,north"),
        ({"bbox": "1,2,3", "zoom": 5}, "west,south,east,north"),
        ({"bbox": "0,nan,1,2", "zoom": 5}, "west,south,east,north"),
        ({"bbox": "0,60,1,50", "zoom": 5}, "south is above its north"),
        ({"bbox": "0,50,1,60"}, "zoom"),
        ({"bbox": "0,50,1,60", "zoom": 99}, "less than or equal to 22"),
        ({"bbox": "-180,-85,180,85", "zoom": 22}, "larger than a screen at this zoom"),
    ],
)
def test_a_malformed_view_is_refused_with_a_message(client, world, query, message):
    client.force_login(world.rep_north)
    response = client.get(reverse("crm:customer_map_data"), query)
    assert response.status_code == 400 and message in response.text


def test_a_view_panned_round_the_world_is_the_whole_width(client, world):
    CustomerFactory(territory=world.north, owner=world.rep_north, latitude=53.8, longitude=-1.5)
    client.force_login(world.rep_north)
    data = client.get(reverse("crm:customer_map_data"), {"bbox": "170,50,400,60", "zoom": 1})
    assert data.json()["total"] == 1
