"""The loop on unprofitable accounts, walked in a real browser on the demo data: manager1 picks
three accounts that lose money on visits, reads the what-if, hands them to inside sales; the
introductions are in both people's calendars; inside1 finds them on the call list and logs a
call; the Outcomes view shows the seeded hand-offs' before and after."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import User
from crm.models import Customer
from demo.generator import DEMO_PASSWORD, demo_data_seed
from reports.models import ReviewAction
from tests.conftest import browser_login
from visits.models import Visit, VisitStatus
from visits.selectors import feed_visits

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_manager_hands_smiths_to_inside_sales_and_inside_sales_calls(
    live_server, desktop_page, phone_page
):
    demo_data_seed(customers=600, seed=5)
    page = desktop_page
    browser_login(page, live_server, "manager1", DEMO_PASSWORD)
    page.goto(f"{live_server.url}/manage/review/")
    page.get_by_role("link", name=re.compile(r"^Move to inside sales")).click()
    expect(page).to_have_url(re.compile(r"recommendation=move_remote"))
    boxes = page.locator('input[name="ids"][form="selection"]')
    expect(boxes.nth(2)).to_be_visible()
    chosen = []
    for index in range(3):
        boxes.nth(index).check()
        chosen.append(int(boxes.nth(index).get_attribute("value")))
    previous_owners = {c.pk: c.owner for c in Customer.objects.filter(pk__in=chosen)}
    page.get_by_role("button", name=re.compile("Hand off or let go the ticked")).click()

    expect(page.get_by_role("heading", name="Hand off or let go")).to_be_visible()
    page.get_by_label("New owner", exact=True).select_option(label="Inside1 Inside-Sales")
    page.get_by_label("Contact every (days)").fill("30")
    page.get_by_label("Contact every (days)").blur()
    summary = page.locator(".what-if-summary")
    expect(summary).to_contain_text("If 3 accounts had been served by inside sales")
    expect(summary).to_contain_text("instead of")
    page.get_by_role("button", name="Hand off 3 accounts").click()
    expect(page.get_by_text(re.compile(r"Handed 3 accounts to inside sales"))).to_be_visible()

    inside = User.objects.get(username="inside1")
    assert set(Customer.objects.filter(pk__in=chosen).values_list("owner", flat=True)) == {
        inside.pk
    }
    introductions = Visit.objects.filter(
        customer__in=chosen, status=VisitStatus.PLANNED, purpose__startswith="Introduction"
    )
    assert introductions.count() == 3
    now = timezone.now()
    for visit in introductions:
        assert visit in feed_visits(inside, now=now)
        assert visit in feed_visits(previous_owners[visit.customer_id], now=now)

    # inside1, on a phone, lands on the call list and logs the first introduction as a call.
    phone = phone_page
    browser_login(phone, live_server, "inside1", DEMO_PASSWORD)
    expect(phone).to_have_url(f"{live_server.url}/visits/calls/")
    first = introductions.order_by("scheduled_start").first()
    phone.get_by_role("link", name=re.compile(re.escape(first.customer.name))).first.click()
    expect(phone.get_by_text("Account brief")).to_be_visible()
    phone.get_by_role("link", name="Mark done").click()
    kinds = phone.get_by_label("Kind").locator("option").all_inner_texts()
    assert "On site" not in kinds and "Phone" in kinds
    expect(phone.get_by_label("Travel (minutes)")).to_have_count(0)
    phone.get_by_label("What the customer said").fill("Happy to be called from now on")
    phone.get_by_role("button", name="Save visit").click()
    expect(phone.get_by_text(f"Visit to {first.customer.name} logged.")).to_be_visible()
    first.refresh_from_db()
    assert (first.status, first.kind, first.salesperson) == (VisitStatus.DONE, "phone", inside)

    # The Outcomes view: the demo's hand-offs, months old, before and after.
    assert ReviewAction.objects.filter(details__seeded=True).exists()
    page.goto(f"{live_server.url}/manage/outcomes/")
    expect(page.get_by_text(re.compile(r"Handed to .*: \d+ accounts?"))).not_to_have_count(0)
    expect(page.locator("svg.chart rect").first).to_be_visible()
