"""The paths around the main loop, walked in a real browser as each role would: forms opened as
their own page, the Back button on htmx pages, and an error after a failed save brought into
view. Every page fixture fails the test on a console error, a CSP violation or a 5xx."""

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.conftest import browser_login
from tests.factories import CustomerFactory, PlannedVisitFactory, VisitFactory
from visits.models import Visit, VisitStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_planned_meeting_opened_as_its_own_page_can_be_marked_done(
    live_server, desktop_page, world
):
    meeting = PlannedVisitFactory(
        customer=world.north_customer,
        salesperson=world.rep_north,
        scheduled_start=timezone.now() - dt.timedelta(hours=3),
    )
    page = desktop_page
    browser_login(page, live_server, "rep-north")
    page.goto(f"{live_server.url}/visits/{meeting.pk}/")
    page.get_by_role("link", name="Mark done").click()
    expect(page).to_have_url(f"{live_server.url}/visits/{meeting.pk}/log/")
    page.get_by_role("button", name="Save visit").click()
    expect(page.get_by_text(f"Visit to {world.north_customer.name} logged.")).to_be_visible()
    meeting.refresh_from_db()
    assert meeting.status == VisitStatus.DONE


def test_move_and_plan_work_as_their_own_pages(live_server, desktop_page, world):
    meeting = PlannedVisitFactory(
        customer=world.north_customer,
        salesperson=world.rep_north,
        scheduled_start=timezone.now() + dt.timedelta(days=2),
    )
    page = desktop_page
    browser_login(page, live_server, "rep-north")
    page.goto(f"{live_server.url}/visits/{meeting.pk}/")
    page.get_by_role("link", name="Move").click()
    later = timezone.localtime(meeting.scheduled_start + dt.timedelta(days=1))
    page.get_by_label("Start").fill(later.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("End").fill((later + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Move meeting").click()
    expect(page.get_by_text("moved to")).to_be_visible()
    meeting.refresh_from_db()
    assert timezone.localtime(meeting.scheduled_start).date() == later.date()

    page.goto(f"{live_server.url}/visits/plan/?customer={world.north_customer.pk}")
    page.get_by_role("button", name="Plan meeting").click()
    expect(page.get_by_text("planned for")).to_be_visible()
    assert Visit.objects.filter(status=VisitStatus.PLANNED).count() == 2


def test_back_after_htmx_searches_restores_the_whole_accounts_page(
    live_server, desktop_page, world
):
    """Back between two htmx states of one page: htmx asks the server for the earlier state
    (it keeps no snapshots), which must answer with the whole page, not the results list."""
    page = desktop_page
    browser_login(page, live_server, "the-admin")
    page.goto(f"{live_server.url}/customers/")
    page.get_by_label("Search").fill("coast")
    expect(page.locator("#results")).to_contain_text("Coastal Fish")
    expect(page).to_have_url(re.compile(r"q=coast"))
    page.get_by_label("Search").fill("north")
    expect(page.locator("#results")).to_contain_text("Northern Mills")
    expect(page).to_have_url(re.compile(r"q=north"))

    page.go_back()
    expect(page).to_have_url(re.compile(r"q=coast"))
    expect(page.locator("#results")).to_contain_text("Coastal Fish")
    expect(page.get_by_label("Search")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    page.go_forward()
    expect(page.locator("#results")).to_contain_text("Northern Mills")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()


def test_back_on_the_managers_dashboard_restores_the_whole_page(live_server, desktop_page, world):
    page = desktop_page
    browser_login(page, live_server, "north-manager")
    page.goto(f"{live_server.url}/manage/")
    page.get_by_label("Tier").select_option("A")
    expect(page).to_have_url(re.compile(r"tier=A"))
    page.get_by_label("Tier").select_option("B")
    expect(page).to_have_url(re.compile(r"tier=B"))
    page.go_back()
    expect(page).to_have_url(re.compile(r"tier=A"))
    expect(page.get_by_role("heading", name="Territory dashboard")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    expect(page.get_by_label("Tier")).to_have_value("A")


def test_a_failed_save_on_a_phone_brings_the_error_into_view(live_server, phone_page, world):
    page = phone_page
    browser_login(page, live_server, "rep-north")
    page.goto(f"{live_server.url}/customers/{world.north_customer.pk}/")
    page.get_by_role("link", name="Log a visit").click()
    expect(page.get_by_label("What the customer said")).to_be_visible()
    expect(page.get_by_label("Duration (minutes)")).to_be_hidden()  # folded: costs come later
    page.get_by_text("When, time and costs").click()
    page.get_by_label("Duration (minutes)").fill("99999")
    page.get_by_role("button", name="Save visit").click()
    expect(page.get_by_text("A visit lasts at most 24 hours")).to_be_visible()
    # Opened again, scrolled to and focused: the error is where the user looks.
    expect(page.get_by_label("Duration (minutes)")).to_be_focused()
    expect(page.get_by_label("Duration (minutes)")).to_be_in_viewport()
    assert not Visit.objects.exists()


def test_the_visits_tab_shows_meetings_ahead_first_and_the_header_links_to_them(
    live_server, desktop_page, world
):
    from tests.factories import VisitFactory

    account = world.north_customer
    for days in range(1, 13):  # a long history: more than one page of the tab
        VisitFactory(
            customer=account,
            salesperson=world.rep_north,
            visited_at=timezone.now() - dt.timedelta(days=days * 7),
        )
    ahead = PlannedVisitFactory(
        customer=account,
        salesperson=world.rep_north,
        scheduled_start=timezone.now() + dt.timedelta(days=3),
        purpose="Quarterly review",
    )
    page = desktop_page
    browser_login(page, live_server, "rep-north")
    page.goto(f"{live_server.url}/customers/{account.pk}/")
    first = page.locator("#tab-content li").first
    expect(first).to_contain_text(timezone.localtime(ahead.scheduled_start).strftime("%Y-%m-%d"))
    page.locator("dt:has-text('Upcoming') + dd a").first.click()
    expect(page).to_have_url(f"{live_server.url}/visits/{ahead.pk}/")
    expect(page.get_by_text("Quarterly review")).to_be_visible()


def test_a_custom_range_that_ends_before_it_starts_says_so(live_server, desktop_page, world):
    page = desktop_page
    browser_login(page, live_server, "north-manager")
    page.goto(f"{live_server.url}/manage/")
    page.get_by_label("Period").select_option("custom")
    page.locator("#id_start").fill("2026-09")
    page.locator("#id_end").fill("2026-03")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("alert")).to_contain_text("The range ends before it starts.")
    expect(page.locator("#board")).to_contain_text("12 whole months")
    page.reload()
    expect(page.get_by_role("alert")).to_contain_text("The range ends before it starts.")


def test_a_refused_acknowledgement_keeps_the_reason_and_says_why_by_the_field(
    live_server, desktop_page, world
):
    from health.services import health_refresh_everything
    from tests.factories import CustomerFactory

    CustomerFactory(
        name="Forgotten Farm",
        territory=world.north,
        owner=world.rep_north,
        since=timezone.localdate() - dt.timedelta(days=300),
    )
    health_refresh_everything(as_of=timezone.localdate())
    page = desktop_page
    browser_login(page, live_server, "north-manager")
    page.goto(f"{live_server.url}/manage/review/")
    row = page.locator("li", has_text="Forgotten Farm").first
    row.get_by_text("Act").click()
    reason = row.get_by_label("Acknowledge neglected: reason")
    reason.fill("Owner on parental leave")
    row.get_by_label("until").first.fill((timezone.localdate() - dt.timedelta(days=1)).isoformat())
    row.get_by_role("button", name="Acknowledge").first.click()
    row = page.locator("li", has_text="Forgotten Farm").first
    expect(row.get_by_text("Until: Acknowledge until a future date.")).to_be_visible()
    expect(row.get_by_label("Acknowledge neglected: reason")).to_have_value(
        "Owner on parental leave"
    )


def test_on_a_phone_who_to_visit_is_one_tap_away(live_server, phone_page, world):
    page = phone_page
    browser_login(page, live_server, "rep-north")
    expect(page).to_have_url(f"{live_server.url}/visits/schedule/")
    page.get_by_role("link", name="Who to visit").click()
    expect(page.locator("#who-to-visit")).to_be_in_viewport()


def test_the_data_page_fits_a_phone(live_server, phone_page, world):
    page = phone_page
    browser_login(page, live_server, "the-admin")
    expect(page.get_by_role("heading", name="Territories")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375


def test_a_phone_gets_a_compact_week_that_opens_a_day_on_tap(live_server, phone_page, world):
    today = timezone.localdate()
    monday = today - dt.timedelta(days=today.weekday())
    other = monday if today != monday else monday + dt.timedelta(days=1)
    for hour in (9, 11, 14):
        PlannedVisitFactory(
            customer=world.north_customer,
            salesperson=world.rep_north,
            scheduled_start=timezone.make_aware(dt.datetime.combine(other, dt.time(hour))),
        )
    page = phone_page
    browser_login(page, live_server, "rep-north")
    page.goto(f"{live_server.url}/visits/schedule/?view=week")
    day = page.locator("details.day-meetings", has_text=other.strftime("%A"))
    expect(day.locator("summary")).to_contain_text("3 meetings")
    expect(day.get_by_role("link", name="Done").first).to_be_hidden()
    assert page.evaluate("document.documentElement.scrollHeight") < 2500
    day.locator("summary").click()
    expect(day.get_by_role("link", name="Done").first).to_be_visible()


@pytest.mark.parametrize(
    "path",
    [
        "/manage/",
        "/manage/competitors/",
        "/manage/profitability/",
        "/manage/review/",
        "/manage/outcomes/",
        "/manage/team/",
        "/manage/lists/overdue/",
    ],
)
def test_every_manager_page_fits_a_phone(live_server, phone_page, world, path):
    demo = CustomerFactory(name="Wide Table Traders", territory=world.north, owner=world.rep_north)
    VisitFactory(customer=demo, salesperson=world.rep_north, competitor="Acme Supplies Ltd")
    page = phone_page
    browser_login(page, live_server, "north-manager")
    page.goto(f"{live_server.url}{path}")
    expect(page.locator("h1")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"{path} is {width} px wide on a 375 px phone"


def test_the_managers_pages_use_a_desktops_width(live_server, desktop_page, world):
    """At 1280 px: the dashboard's salespeople table fits its card (no column cut off) and the
    charts take their card's width."""
    from health.services import health_refresh_everything
    from tests.factories import InvoiceFactory

    for n in range(6):
        account = CustomerFactory(territory=world.north, owner=world.rep_north, tier="ABCD"[n % 4])
        InvoiceFactory(customer=account, amount=1000 + 500 * n, cost_of_goods=600)
        VisitFactory(customer=account, salesperson=world.rep_north)
    health_refresh_everything(as_of=timezone.localdate())
    page = desktop_page
    browser_login(page, live_server, "north-manager")
    page.goto(f"{live_server.url}/manage/")
    table = page.locator("#salespeople")
    expect(table).to_be_visible()
    fits = table.evaluate("t => t.scrollWidth <= t.parentElement.clientWidth")
    assert fits, "the salespeople table runs past its card"
    page.goto(f"{live_server.url}/manage/profitability/")
    charts = page.locator(".chart svg")
    expect(charts.first).to_be_visible()
    for index in range(charts.count()):
        share = charts.nth(index).evaluate(
            "svg => svg.getBoundingClientRect().width / svg.closest('.card').clientWidth"
        )
        assert share > 0.85, f"chart {index} uses {share:.0%} of its card"
