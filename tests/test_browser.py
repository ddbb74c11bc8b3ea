"""User journeys in a real browser (headless Chromium through Playwright)."""

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from demo.generator import demo_data_seed
from health.services import health_refresh_everything
from tests.conftest import browser_login
from tests.factories import CustomerFactory, InvoiceFactory
from visits.models import Visit, VisitStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_login_page_loads_and_rejects_a_wrong_password(live_server, phone_page, world):
    phone_page.goto(f"{live_server.url}/")
    expect(phone_page).to_have_url(f"{live_server.url}/login/?next=/")
    expect(phone_page.get_by_role("heading", name="Log in")).to_be_visible()
    browser_login(phone_page, live_server, "rep-north", "wrong-password")
    expect(phone_page.get_by_role("alert")).to_contain_text("correct username and password")


def test_account_search_swaps_results_without_reloading(live_server, phone_page, world):
    browser_login(phone_page, live_server, "the-admin")
    phone_page.goto(f"{live_server.url}/customers/")
    phone_page.evaluate("window.__marker = 'same page'")
    phone_page.get_by_label("Search").fill("coast")
    expect(phone_page.locator("#results")).to_contain_text("1 customer")
    expect(phone_page.locator("#results")).to_contain_text("Coastal Fish")
    expect(phone_page).to_have_url(f"{live_server.url}/customers/?q=coast&tier=&status=&sort=name")
    assert phone_page.evaluate("window.__marker") == "same page"


def local_input(value: dt.datetime) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M")


@pytest.mark.parametrize("page_fixture", ["desktop_page", "phone_page"])
def test_sales1_plans_a_meeting_logs_it_and_the_page_updates_in_place(
    live_server, request, page_fixture
):
    page = request.getfixturevalue(page_fixture)
    demo_data_seed(customers=200, seed=5)
    browser_login(page, live_server, "sales1", "cadence-demo")
    expect(page).to_have_url(f"{live_server.url}/visits/schedule/")
    page.evaluate("window.__marker = 'never reloaded'")
    if page_fixture == "phone_page":
        expect(page.locator(".agenda-nav .range")).not_to_contain_text("Week of")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375

    who = page.locator("#who-to-visit")
    # A field-served account (a remote-served one is planned as a call, logged without travel).
    first = who.locator("ol.who > li").filter(has=page.get_by_role("link", name="Plan", exact=True))
    first = first.first
    customer_name = first.locator("a").first.inner_text()
    first.get_by_role("link", name="Plan", exact=True).click()

    panel = page.locator("#panel")
    expect(panel.get_by_role("heading", name="Plan a meeting")).to_be_visible()
    expect(panel).to_contain_text(customer_name)
    start = max(
        timezone.now() - dt.timedelta(minutes=1),
        timezone.make_aware(dt.datetime.combine(timezone.localdate(), dt.time.min)),
    )
    panel.get_by_label("Start").fill(local_input(start))
    panel.get_by_label("End").fill(local_input(start + dt.timedelta(minutes=30)))
    panel.get_by_label("Purpose").fill("Browser test meeting")
    panel.get_by_role("button", name="Plan meeting").click()

    expect(panel).to_contain_text(f"Meeting with {customer_name} planned")
    agenda = page.locator("#agenda")
    entry = agenda.locator("article.meeting", has_text="Browser test meeting")
    expect(entry).to_be_visible()
    expect(who.locator("ol.who > li > div > a", has_text=customer_name)).to_have_count(0)

    entry.get_by_role("link", name="Done").click()
    expect(panel.get_by_role("heading", name=f"Log visit: {customer_name}")).to_be_visible()
    panel.get_by_text("When, time and costs").click()  # folded below what matters first
    panel.get_by_label("Duration (minutes)").fill("35")
    panel.get_by_label("What the customer said").fill("Wants samples of the new range")
    panel.get_by_label("Outcome").select_option("positive")
    panel.get_by_role("button", name="Save visit").click()

    expect(panel).to_contain_text(f"Visit to {customer_name} logged.")
    expect(agenda.locator("article.meeting", has_text="Browser test meeting")).to_contain_text(
        "Done"
    )
    expect(who.locator("ol.who > li > div > a", has_text=customer_name)).to_have_count(0)
    assert page.evaluate("window.__marker") == "never reloaded"
    visit = Visit.objects.get(purpose="Browser test meeting")
    assert visit.status == VisitStatus.DONE and visit.notes == "Wants samples of the new range"
    visit.customer.refresh_from_db()
    assert visit.customer.last_visit_at == visit.visited_at


def test_account_page_contacts_are_edited_inline(live_server, phone_page, world):
    browser_login(phone_page, live_server, "rep-north")
    phone_page.goto(f"{live_server.url}{world.north_customer.get_absolute_url()}")
    phone_page.evaluate("window.__marker = 'same page'")
    phone_page.get_by_role("link", name="Contacts").click()
    tab = phone_page.locator("#tab-content")
    expect(tab.get_by_role("heading", name="Contacts")).to_be_visible()
    tab.get_by_text("Add a contact").click()
    tab.get_by_label("Name").fill("Robin Buyer")
    tab.get_by_label("Email").fill("not-an-email")
    tab.get_by_role("button", name="Add contact").click()
    expect(tab).to_contain_text("Enter a valid email address.")
    expect(tab.get_by_label("Name")).to_have_value("Robin Buyer")
    tab.get_by_label("Email").fill("robin@example.com")
    tab.get_by_role("button", name="Add contact").click()
    expect(tab).to_contain_text("Contact Robin Buyer added.")
    tab.locator(".contact-row", has_text="Robin Buyer").get_by_role(
        "button", name="Make primary"
    ).click()
    expect(tab.locator(".contact-row", has_text="Robin Buyer").locator(".badge")).to_have_text(
        "primary"
    )
    expect(phone_page).to_have_url(
        f"{live_server.url}{world.north_customer.get_absolute_url()}?tab=contacts"
    )
    assert phone_page.evaluate("window.__marker") == "same page"
    assert world.north_customer.contacts.get(is_primary=True).name == "Robin Buyer"


def test_manager_acknowledges_a_flag_on_the_account_page(live_server, desktop_page, world):
    health_refresh_everything(as_of=timezone.localdate())
    browser_login(desktop_page, live_server, "north-manager")
    desktop_page.goto(f"{live_server.url}{world.north_customer.get_absolute_url()}")
    flag = desktop_page.locator(".flag-neglected")
    expect(flag).to_contain_text("tier B expects every 30 days")
    flag.get_by_text("Acknowledge").first.click()
    flag.get_by_label("Reason").fill("Customer closed for refurbishment")
    flag.get_by_label("Until").fill((timezone.localdate() + dt.timedelta(days=30)).isoformat())
    flag.get_by_role("button", name="Acknowledge").click()
    expect(desktop_page.locator(".flag-neglected")).to_contain_text(
        "Customer closed for refurbishment"
    )
    expect(desktop_page.locator(".messages")).to_contain_text("Neglected flag acknowledged.")


def test_manager_filters_the_dashboard_and_acts_from_the_worklist(live_server, phone_page, world):
    InvoiceFactory(
        customer=world.north_customer, amount=Decimal("900"), cost_of_goods=Decimal("300")
    )
    health_refresh_everything(as_of=timezone.localdate())
    page = phone_page
    browser_login(page, live_server, "north-manager")
    expect(page).to_have_url(f"{live_server.url}/manage/")
    page.evaluate("window.__marker = 'same page'")
    board = page.locator("#board")
    expect(board).to_contain_text("accounts")
    page.get_by_label("Territory").select_option(label="North-Coast")
    expect(page).to_have_url(
        f"{live_server.url}/manage/?territory={world.north_coast.pk}"
        "&salesperson=&tier=&status=&period=ttm&start=&end="
    )
    expect(board.locator(".tile").first).to_contain_text("1")
    assert page.evaluate("window.__marker") == "same page"
    page.goto(f"{live_server.url}/manage/profitability/")
    expect(page.locator("#charts")).to_contain_text("Whale curve")
    page.goto(f"{live_server.url}/manage/review/")
    page.evaluate("window.__marker = 'worklist'")
    row = page.locator(".review-row", has_text="Northern Mills")
    row.get_by_text("Act").click()
    row.locator("select[name=tier]").select_option("A")
    row.get_by_role("button", name="Change tier").click()
    expect(page.locator(".review-row", has_text="Northern Mills")).to_contain_text(
        "Northern Mills: done."
    )
    world.north_customer.refresh_from_db()
    assert world.north_customer.tier == "A"
    assert page.evaluate("window.__marker") == "worklist"


def test_the_plan_form_logs_no_console_error_or_csp_violation(live_server, desktop_page, world):
    """Searching for a customer before any is listed, then an end before the start: the page
    fixture fails on any console error or CSP violation."""
    CustomerFactory(name="Roundhay Rope Co", territory=world.north, owner=world.rep_north)
    page = desktop_page
    browser_login(page, live_server, "rep-north")
    page.goto(f"{live_server.url}/visits/plan/")
    page.get_by_label("Find a customer").fill("Roundhay")
    option = page.get_by_label(re.compile("Roundhay Rope Co"))
    expect(option).to_be_visible()
    option.check()
    start = timezone.localtime() + dt.timedelta(days=1)
    page.get_by_label("Start").fill(local_input(start))
    page.get_by_label("End").fill(local_input(start - dt.timedelta(hours=1)))
    page.get_by_role("button", name="Plan meeting").click()
    expect(page.get_by_text("The meeting must end after it starts.")).to_be_visible()
    page.wait_for_timeout(300)
    # The same in the schedule's panel (htmx swaps the form with its errors in place).
    page.goto(f"{live_server.url}/visits/schedule/")
    page.get_by_role("link", name="Plan a meeting").first.click()
    panel = page.locator("#panel")
    search = panel.get_by_label("Find a customer")
    # Typed only once htmx has bound the swapped-in field (else, on a busy machine, the typing
    # comes before the listener and no search is ever sent).
    page.wait_for_function(
        "element => element['htmx-internal-data'] !== undefined", arg=search.element_handle()
    )
    search.fill("Roundhay")
    panel.get_by_label(re.compile("Roundhay Rope Co")).check()
    panel.get_by_label("Start").fill(local_input(start))
    panel.get_by_label("End").fill(local_input(start - dt.timedelta(hours=1)))
    panel.get_by_role("button", name="Plan meeting").click()
    expect(panel.get_by_text("The meeting must end after it starts.")).to_be_visible()
    page.wait_for_timeout(300)


def test_the_api_docs_page_logs_no_csp_violation(live_server, desktop_page, world):
    page = desktop_page
    browser_login(page, live_server, "the-admin")
    page.goto(f"{live_server.url}/api/v1/docs/")
    expect(page.locator(".swagger-ui .info")).to_be_visible()
    expect(page.get_by_text("Cadence API")).to_be_visible()
    page.wait_for_timeout(500)
