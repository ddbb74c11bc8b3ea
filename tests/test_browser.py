"""User journeys in a real browser (headless Chromium through Playwright)."""

import pytest
from playwright.sync_api import expect

from tests.conftest import browser_login
from tests.factories import ContactFactory, PlannedVisitFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_login_page_loads_and_rejects_a_wrong_password(live_server, phone_page, world):
    phone_page.goto(f"{live_server.url}/")
    expect(phone_page).to_have_url(f"{live_server.url}/login/?next=/")
    expect(phone_page.get_by_role("heading", name="Log in")).to_be_visible()
    browser_login(phone_page, live_server, "rep-north", "wrong-password")
    expect(phone_page.get_by_role("alert")).to_contain_text("correct username and password")


def test_salesperson_lands_on_their_week_with_meetings_and_accounts(live_server, phone_page, world):
    contact = ContactFactory(customer=world.north_customer, name="Dana Miller")
    visit = PlannedVisitFactory(customer=world.north_customer, salesperson=world.rep_north)
    visit.contacts.add(contact)

    browser_login(phone_page, live_server, "rep-north")

    expect(phone_page).to_have_url(f"{live_server.url}/visits/week/")
    agenda = phone_page.get_by_label("Planned meetings")
    expect(agenda).to_contain_text("Northern Mills")
    expect(agenda).to_contain_text("Dana Miller")
    expect(phone_page.get_by_label("My accounts")).to_contain_text("Southern Outpost")
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 375
    assert phone_page.evaluate("typeof window.htmx") == "object"


def test_account_search_swaps_results_without_reloading(live_server, phone_page, world):
    browser_login(phone_page, live_server, "the-admin")
    phone_page.goto(f"{live_server.url}/customers/")
    phone_page.evaluate("window.__marker = 'same page'")
    phone_page.get_by_label("Search").fill("coast")
    expect(phone_page.locator("#results")).to_contain_text("1 customer")
    expect(phone_page.locator("#results")).to_contain_text("Coastal Fish")
    expect(phone_page).to_have_url(f"{live_server.url}/customers/?q=coast&tier=&status=")
    assert phone_page.evaluate("window.__marker") == "same page"
