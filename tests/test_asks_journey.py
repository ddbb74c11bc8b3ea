"""The asks, reminders and listening pages walked in a browser as their users would, at 375 px
and on the desktop: empty and nonsense submissions keep what was typed and show the first
error, htmx swaps survive Back, Forward and reload, and the console stays clean (the page
fixtures fail on any console error, CSP violation or 5xx)."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.push import vapid_key_new
from health.services import health_refresh_everything
from tests.conftest import browser_login
from visits.ask_services import AskInput, asks_record

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("viewport", ["phone_page", "desktop_page"])
def test_a_rep_records_filters_and_answers_asks(live_server, world, viewport, request):
    page = request.getfixturevalue(viewport)
    (ask,) = asks_record(
        user=world.rep_north,
        customer=world.north_customer,
        asks=[AskInput(kind="complaint", text="Crates arrived wet")],
    )
    browser_login(page, live_server, "rep-north")

    page.goto(f"{live_server.url}/asks/new/?customer={world.north_customer.pk}")
    page.get_by_role("button", name="Record ask").click()
    expect(page.get_by_text("Say what the customer asked for.")).to_be_in_viewport()
    page.get_by_label("What they asked for").fill("A price for 40 pallets")
    page.get_by_label("Value (a quote)").fill("-5")
    page.get_by_role("button", name="Record ask").click()
    expect(page.get_by_label("What they asked for")).to_have_value("A price for 40 pallets")
    expect(page.locator(".has-error").first).to_be_in_viewport()
    page.get_by_label("Kind").select_option("price")
    page.get_by_label("Value (a quote)").fill("1200")
    page.get_by_role("button", name="Record ask").click()
    expect(page.locator("#tab-content, main").first).to_contain_text("A price for 40 pallets")

    page.goto(f"{live_server.url}/asks/")
    page.locator("select[name=kind]").select_option("complaint")
    expect(page.locator("#results")).to_contain_text("Crates arrived wet")
    expect(page.locator("#results")).not_to_contain_text("A price for 40 pallets")
    page.go_back()
    expect(page.locator("#results")).to_contain_text("A price for 40 pallets")
    page.go_forward()
    expect(page.locator("#results")).not_to_contain_text("A price for 40 pallets")
    page.reload()
    expect(page.locator("#results")).to_contain_text("Crates arrived wet")

    page.goto(f"{live_server.url}/asks/{ask.pk}/")
    page.get_by_role("button", name="Save answer").click()
    expect(page.locator(".has-error").first).to_be_in_viewport()
    page.get_by_label("What was done").select_option("case")
    page.get_by_label("Details").fill("Case opened with the carrier")
    page.get_by_role("button", name="Save answer").click()
    expect(page.get_by_text("Answered: Crates arrived wet")).to_be_visible()

    page.goto(f"{live_server.url}/account/reminders/")
    page.get_by_label("calendar alarm (minutes before a meeting)").fill("-3")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".has-error").first).to_be_in_viewport()
    page.get_by_label("calendar alarm (minutes before a meeting)").fill("15")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Reminders saved.")).to_be_visible()


@pytest.mark.parametrize("viewport", ["phone_page", "desktop_page"])
def test_a_manager_reads_the_listening_page(live_server, world, viewport, request):
    page = request.getfixturevalue(viewport)
    asks_record(
        user=world.rep_north,
        customer=world.north_customer,
        asks=[AskInput(kind="product", text="Samples")],
    )
    browser_login(page, live_server, "north-manager")
    page.goto(f"{live_server.url}/manage/listening/?period=this_month")
    expect(page.locator("#figures")).to_contain_text("Product or quote")
    page.locator("select[name=period]").select_option("custom")
    page.locator("input[name=start]").fill("nonsense")
    page.get_by_role("button", name="Filter").click()
    # Every swap has happened (and pushed its address) before Back is pressed: a push landing
    # after Back would drop the entry Forward goes to.
    expect(page).to_have_url(re.compile(r"period=custom&start="))
    page.wait_for_load_state("networkidle")
    expect(page.locator("#figures")).to_be_visible()
    page.go_back()
    expect(page.get_by_role("heading", name="What customers ask for")).to_be_visible()
    page.go_forward()
    page.reload()
    expect(page.get_by_role("heading", name="What customers ask for")).to_be_visible()


def test_a_rep_turns_notifications_on_where_the_browser_allows(
    live_server, world, desktop_page, settings
):
    """The page finds the worker and the push manager, asks for permission and says what
    happened. Headless Chromium has no push service to reach, so subscribing fails there: the
    page must say so in words, keep the button, and log no error."""
    settings.CADENCE_VAPID_PRIVATE_KEY = vapid_key_new()
    page = desktop_page
    page.context.grant_permissions(["notifications"], origin=live_server.url)
    browser_login(page, live_server, "rep-north")
    page.goto(f"{live_server.url}/account/reminders/")
    status = page.locator("[data-push-status]")
    expect(status).to_have_text("Notifications are off for this device.")
    page.get_by_role("button", name="Turn on notifications here").click()
    expect(status).to_contain_text("Notifications could not be turned on:")
    expect(page.get_by_role("button", name="Turn on notifications here")).to_be_enabled()


@pytest.mark.parametrize("viewport", ["phone_page", "desktop_page"])
def test_a_rep_agrees_a_rhythm_books_a_series_and_moves_all_following(
    live_server, world, viewport, request
):
    page = request.getfixturevalue(viewport)
    customer = world.north_customer
    browser_login(page, live_server, "rep-north")
    page.goto(f"{live_server.url}{customer.get_absolute_url()}")
    page.get_by_role("link", name="agree one").click()
    page.get_by_label("What the meeting is").fill("Quarterly business review")
    page.get_by_label("Every").fill("40")
    page.get_by_role("button", name="Agree rhythm").click()
    expect(page.locator(".has-error").first).to_be_in_viewport()
    expect(page.get_by_label("What the meeting is")).to_have_value("Quarterly business review")
    page.get_by_label("Every").fill("3")
    page.get_by_label("Time").fill("10:00")
    page.get_by_role("button", name="Agree rhythm").click()
    expect(page.get_by_text("Rhythm agreed:")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Every 3 months, first Tuesday, 10:00")
    page.get_by_label("Meetings to book").fill("3")
    page.get_by_label("From").fill("2027-01-11")
    page.get_by_role("button", name="Book meetings").click()
    expect(page.get_by_text("3 meetings booked from Tue 02 Feb 2027")).to_be_visible()
    if viewport == "phone_page":
        assert page.evaluate("document.documentElement.scrollWidth") <= 375

    page.get_by_role("link", name="Tue 2 Feb 2027 10:00").click()
    expect(page.locator("main")).to_contain_text("One of a booked series")
    page.get_by_role("link", name="Move").first.click()
    page.get_by_label("Start").fill("2027-02-03T11:00")
    page.get_by_label("End").fill("2027-02-03T12:00")
    page.get_by_label("This and all following").check()
    page.get_by_role("button", name="Move meeting").click()
    expect(page.get_by_text("3 meetings with Northern Mills moved")).to_be_visible()
    page.goto(f"{live_server.url}/visits/rhythm/{customer.pk}/")
    expect(page.locator("main")).to_contain_text("Wed 4 Aug 2027 11:00")

    health_refresh_everything(as_of=timezone.localdate())
    page.context.clear_cookies()
    browser_login(page, live_server, "north-manager")
    page.goto(f"{live_server.url}/manage/")
    page.get_by_role("link", name="rep-north").click()
    expect(page.get_by_role("heading", name="Consistency, 12 months")).to_be_visible()
    expect(page.get_by_role("heading", name="Gaps ahead")).to_be_visible()
    if viewport == "phone_page":
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
