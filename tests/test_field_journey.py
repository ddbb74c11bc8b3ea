"""The field day in a real browser on a phone that shares its position."""

import datetime as dt
import re
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import expect

from crm.services import customers_due_refresh
from health.services import health_refresh_everything
from tests.conftest import browser_login
from tests.factories import CustomerFactory, InvoiceFactory, PlannedVisitFactory, VisitFactory
from visits.models import Visit, VisitStatus
from visits.services import customer_cadence_refresh

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_near_me_on_a_phone_plans_the_nearest_overdue_account(
    live_server, phone_in_leeds, world, settings
):
    settings.CADENCE_MAP_TILES = f"{live_server.url}/static/vendor/leaflet-1.9.4/images/layers.png"
    nearest = CustomerFactory(
        name="Headingley Hardware",
        territory=world.north,
        owner=world.rep_north,
        latitude=53.8194,
        longitude=-1.5816,
    )
    CustomerFactory(
        name="Wakefield Wholesale",
        territory=world.north,
        owner=world.rep_north,
        latitude=53.6833,
        longitude=-1.4977,
    )
    customers_due_refresh(customer_ids=[nearest.pk])
    page = phone_in_leeds
    browser_login(page, live_server, "rep-north")
    page.get_by_role("link", name="Near me").click()
    page.get_by_role("button", name="Use my location").click()
    expect(page).to_have_url(re.compile(r"/visits/near/\?lat=53\.7997\d*&lng=-1\.5492\d*&km=10"))
    rows = page.locator("ol.near > li")
    expect(rows).to_have_count(1)  # Wakefield is 13 km away, past the default 10 km
    expect(rows.first).to_contain_text("Headingley Hardware")
    expect(rows.first).to_contain_text("3.1 km")
    expect(rows.first).to_contain_text("overdue")
    # The accounts found are on a map too (markers on a canvas, around where the rep stands).
    expect(page.locator("#near-map.leaflet-container canvas")).to_be_attached()
    rows.first.get_by_role("link", name="Plan").click()
    page.get_by_role("button", name="Plan meeting").click()
    expect(page.get_by_text("Meeting with Headingley Hardware planned for")).to_be_visible()
    assert Visit.objects.filter(customer=nearest, status=VisitStatus.PLANNED).count() == 1


def test_a_manager_sees_the_territory_on_a_map_coloured_by_state_or_rep(
    live_server, desktop_page, world, settings
):
    # Tiles from the test server itself: nothing in the suite reaches the internet.
    settings.CADENCE_MAP_TILES = f"{live_server.url}/static/vendor/leaflet-1.9.4/images/layers.png"
    accounts = [
        CustomerFactory(
            territory=world.north,
            owner=world.rep_north if n % 2 else world.rep_coast,
            latitude=53.7 + n * 0.01,
            longitude=-1.6 + n * 0.01,
        )
        for n in range(30)
    ]
    # A third visited yesterday (one of them checked in at the door, one 3 km away): the rest
    # are overdue.
    for n, account in enumerate(accounts[::3]):
        VisitFactory(
            customer=account,
            salesperson=world.rep_north,
            visited_at=timezone.now() - dt.timedelta(days=1),
            check_in_distance_m=(20, 3000)[n % 2] if n < 2 else None,
        )
    customer_cadence_refresh(customer_ids=[account.pk for account in accounts])
    health_refresh_everything(as_of=timezone.localdate())
    page = desktop_page
    browser_login(page, live_server, "north-manager")
    page.get_by_role("link", name="Map").click()
    expect(page.locator("#map-count")).to_have_text("30 accounts on the map")
    expect(page.locator(".leaflet-container")).to_be_visible()
    # Clusters wear the legend's state colours: these hold overdue accounts, so none is green.
    expect(page.locator(".map-cluster").first).to_be_visible()
    assert page.locator(".map-cluster.state-3").count() == 0
    assert page.locator(".map-cluster.state-1, .map-cluster.state-0").count() >= 1
    assert page.locator(".marker-cluster-small, .marker-cluster-medium").count() == 0
    expect(page.get_by_label("Tier")).to_be_visible()
    expect(page.get_by_label("Status")).to_be_visible()
    page.get_by_label("Colour by").select_option("rep")
    expect(page.locator("#map-count")).to_have_text("30 accounts on the map")
    page.get_by_label("Overdue only").check()
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#map-count")).to_have_text("20 accounts on the map")
    page.get_by_role("link", name="Dashboard").click()
    reps = page.locator("#board tbody tr")
    # rep-north: 10 on-site visits this year, 1 checked in at the address (as the phone said).
    expect(reps.filter(has_text=str(world.rep_north))).to_contain_text("10%")
    expect(page.locator("#board thead")).to_contain_text("Reported at the address")


def test_a_large_book_on_the_map_comes_in_clusters_from_the_server_and_zooms_in(
    live_server, desktop_page, world, settings, monkeypatch
):
    """Past MAP_MAX_POINTS the map asks the server for each view: clusters of a grid (coloured
    by their worst account) and single accounts; a click on a cluster zooms into it."""
    monkeypatch.setattr("crm.selectors.MAP_MAX_POINTS", 10)
    settings.CADENCE_MAP_TILES = f"{live_server.url}/static/vendor/leaflet-1.9.4/images/layers.png"
    leeds = [
        CustomerFactory(
            territory=world.north,
            owner=world.rep_north,
            latitude=53.70 + (n % 6) * 0.002,
            longitude=-1.60 + (n // 6) * 0.002,
        )
        for n in range(24)
    ]
    CustomerFactory(
        name="Aberdeen Chandlers",
        territory=world.north,
        owner=world.rep_north,
        latitude=57.15,
        longitude=-2.1,
    )
    customer_cadence_refresh(customer_ids=[account.pk for account in leeds])
    health_refresh_everything(as_of=timezone.localdate())
    page = desktop_page
    browser_login(page, live_server, "north-manager")
    page.get_by_role("link", name="Map").click()
    count = page.locator("#map-count")
    expect(count).to_have_text(re.compile(r"^25 accounts on the map, 25 in view$"))
    cluster = page.locator(".map-cluster")
    expect(cluster.first).to_be_visible()
    assert page.locator(".map-cluster.state-3").count() == 0, "overdue accounts: never green"
    assert page.locator(".marker-cluster-small, .marker-cluster-medium").count() == 0
    expect(page.locator(".leaflet-overlay-pane canvas")).to_be_attached()  # Aberdeen, alone
    page.locator(".map-cluster", has_text="24").click()
    # Zoomed into Leeds: Aberdeen is out of view.
    expect(count).to_have_text(re.compile(r"^25 accounts on the map, 24 in view$"))


def test_checking_in_at_a_meeting_with_the_phones_position_then_logging_it(
    live_server, phone_in_leeds, world
):
    account = CustomerFactory(
        name="City Centre Supplies",
        territory=world.north,
        owner=world.rep_north,
        latitude=53.7999,
        longitude=-1.5490,
    )
    meeting = PlannedVisitFactory(
        customer=account, salesperson=world.rep_north, scheduled_start=timezone.now()
    )
    page = phone_in_leeds
    browser_login(page, live_server, "rep-north")
    page.goto(f"{live_server.url}/visits/{meeting.pk}/")
    page.get_by_role("button", name="Check in").click()
    expect(
        page.get_by_text(
            re.compile(r"Checked in at \d\d:\d\d at the address, by the phone's position")
        )
    ).to_be_visible()
    page.get_by_role("button", name="Check out").click()
    expect(page.get_by_text(re.compile(r"Checked out at"))).to_be_visible()
    page.get_by_role("link", name="Mark done").click()
    page.get_by_role("button", name="Save visit").click()
    expect(page.get_by_text("Visit to City Centre Supplies logged.")).to_be_visible()
    meeting.refresh_from_db()
    assert meeting.status == VisitStatus.DONE and meeting.check_in_distance_m < 50
    assert meeting.duration_minutes == 1  # checked in and out within the minute


def test_a_field_day_near_me_then_the_route_then_a_check_in_and_the_log(
    live_server, phone_in_leeds, world, settings
):
    """sales1's day: plan the nearest overdue account from Near me, build today's route round
    the meeting already fixed, add two suggested stops, check in at the meeting (the phone
    standing at the account) and log it with the duration and the drive prefilled."""
    settings.CADENCE_MAP_TILES = f"{live_server.url}/static/vendor/leaflet-1.9.4/images/layers.png"
    morning = timezone.make_aware(dt.datetime.combine(timezone.localdate(), dt.time(9, 0)))
    places = {
        "Headingley Hardware": (53.8194, -1.5816),
        "Kirkstall Kitchens": (53.8150, -1.6000),
        "Chapel Allerton Cafe": (53.8260, -1.5350),
        "Roundhay Retail": (53.8350, -1.5000),
    }
    accounts = {}
    for name, (latitude, longitude) in places.items():
        accounts[name] = CustomerFactory(
            name=name,
            territory=world.north,
            owner=world.rep_north,
            latitude=latitude,
            longitude=longitude,
        )
        InvoiceFactory(customer=accounts[name], amount=Decimal("30000"))
    roundhay = accounts["Roundhay Retail"]
    with time_machine.travel(morning, tick=True):
        meeting = PlannedVisitFactory(
            customer=roundhay,
            salesperson=world.rep_north,
            scheduled_start=morning + dt.timedelta(hours=5),
            scheduled_end=morning + dt.timedelta(hours=6),
        )
        customers_due_refresh(customer_ids=[c.pk for c in accounts.values()])
        health_refresh_everything(as_of=timezone.localdate())
        page = phone_in_leeds
        browser_login(page, live_server, "rep-north")

        page.get_by_role("link", name="Near me").click()
        page.get_by_role("button", name="Use my location").click()
        rows = page.locator("ol.near > li")
        expect(rows.first).to_contain_text("Headingley Hardware")
        expect(rows.first).to_contain_text("overdue")
        rows.first.get_by_role("link", name="Plan").click()
        expect(page.get_by_label("Travel (minutes)")).not_to_have_value("")
        page.get_by_role("button", name="Plan meeting").click()
        expect(page.get_by_text("Meeting with Headingley Hardware planned for")).to_be_visible()

        page.get_by_role("link", name="Route").click()
        page.get_by_role("button", name="Build the route").click()
        stops = page.get_by_role("list", name="Stops in order").locator("li.route-stop")
        expect(stops).to_have_count(3)
        expect(page.locator("li.route-stop.suggested")).to_have_count(2)
        expect(page.locator("li.route-stop:not(.suggested)")).to_contain_text("Roundhay Retail")
        # The stops drawn on the map (a canvas: markers and the line between them).
        expect(page.locator("#route-map.leaflet-container canvas")).to_be_attached()
        expect(page.get_by_role("link", name="Open in Google Maps")).to_have_attribute(
            "href", re.compile(r"^https://www\.google\.com/maps/dir/\?api=1&origin=53\.7997")
        )
        # Suggestions are offered, not pre-ticked: the rep ticks the ones to add.
        ticks = page.locator("li.route-stop.suggested input[name=stop]")
        for index in range(2):
            expect(ticks.nth(index)).not_to_be_checked()
            ticks.nth(index).check()
        page.get_by_role("button", name="Add the ticked stops to my schedule").click()
        expect(
            page.get_by_text(re.compile(r"2 stops added to your schedule on .*Kirkstall Kitchens"))
        ).to_be_visible()
        suggested = Visit.objects.filter(
            customer__name__in=["Kirkstall Kitchens", "Chapel Allerton Cafe"],
            status=VisitStatus.PLANNED,
        )
        assert suggested.count() == 2 and all(v.travel_minutes > 0 for v in suggested)

        page.context.set_geolocation({"latitude": 53.8351, "longitude": -1.5001})
        page.goto(f"{live_server.url}/visits/{meeting.pk}/")
        page.get_by_role("button", name="Check in").click()
        expect(
            page.get_by_text(
                re.compile(r"Checked in at \d\d:\d\d at the address, by the phone's position")
            )
        ).to_be_visible()
        page.get_by_role("button", name="Check out").click()
        page.get_by_role("link", name="Mark done").click()
        meeting.refresh_from_db()
        assert meeting.travel_minutes > 0, "the route gave the meeting its drive"
        expect(page.get_by_label("Travel (minutes)")).to_have_value(str(meeting.travel_minutes))
        expect(page.get_by_label("Duration (minutes)")).to_have_value("1")
        page.get_by_role("button", name="Save visit").click()
        expect(page.get_by_text("Visit to Roundhay Retail logged.")).to_be_visible()
    meeting.refresh_from_db()
    assert meeting.status == VisitStatus.DONE and meeting.check_in_distance_m < 50
    assert meeting.travel_minutes > 0 and meeting.distance_km > 0
