"""The field day in a real browser on a phone that shares its position."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from crm.services import customers_due_refresh
from tests.conftest import browser_login
from tests.factories import CustomerFactory, PlannedVisitFactory
from visits.models import Visit, VisitStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_near_me_on_a_phone_plans_the_nearest_overdue_account(live_server, phone_in_leeds, world):
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
    rows.first.get_by_role("link", name="Plan").click()
    page.get_by_role("button", name="Plan meeting").click()
    expect(page.get_by_text("Meeting with Headingley Hardware planned for")).to_be_visible()
    assert Visit.objects.filter(customer=nearest, status=VisitStatus.PLANNED).count() == 1


def test_a_manager_sees_the_territory_on_a_map_coloured_by_state_or_rep(
    live_server, desktop_page, world, settings
):
    # Tiles from the test server itself: nothing in the suite reaches the internet.
    settings.CADENCE_MAP_TILES = f"{live_server.url}/static/vendor/leaflet-1.9.4/images/layers.png"
    for n in range(30):
        CustomerFactory(
            territory=world.north,
            owner=world.rep_north if n % 2 else world.rep_coast,
            latitude=53.7 + n * 0.01,
            longitude=-1.6 + n * 0.01,
        )
    page = desktop_page
    browser_login(page, live_server, "north-manager")
    page.get_by_role("link", name="Map").click()
    expect(page.locator("#map-count")).to_have_text("30 accounts on the map")
    expect(page.locator(".leaflet-container")).to_be_visible()
    expect(page.locator(".marker-cluster").first).to_be_visible()
    page.get_by_label("Colour by").select_option("rep")
    expect(page.locator("#map-count")).to_have_text("30 accounts on the map")


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
    expect(page.get_by_text(re.compile(r"Checked in at \d\d:\d\d at the address"))).to_be_visible()
    page.get_by_role("button", name="Check out").click()
    expect(page.get_by_text(re.compile(r"Checked out at"))).to_be_visible()
    page.get_by_role("link", name="Mark done").click()
    page.get_by_role("button", name="Save visit").click()
    expect(page.get_by_text("Visit to City Centre Supplies logged.")).to_be_visible()
    meeting.refresh_from_db()
    assert meeting.status == VisitStatus.DONE and meeting.check_in_distance_m < 50
    assert meeting.duration_minutes == 1  # checked in and out within the minute
