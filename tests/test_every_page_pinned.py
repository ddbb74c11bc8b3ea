"""Every page and API list has its query count pinned, for every role that may open it: each is
requested, the book grown tenfold, requested again, and both counts must equal the pin below. A
page added later (tests/test_authorization.py's ROUTES must name it) that answers a GET with 200
and has no pin fails here, so no page can grow a query per row unnoticed (issue 29)."""

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.cache import all_schedules_changed
from health.services import health_refresh_everything
from tests.test_authorization import ADMIN, MANAGER, ROUTES, SALES
from tests.test_query_counts import accounts, queries

pytestmark = pytest.mark.django_db

ROLE_USERS = {SALES: "rep_north", MANAGER: "north_manager", ADMIN: "admin"}

# (URL name, role): queries. Answers other than 200 to a GET (an action's 405, a redirect) need
# no pin; the public pages (log-in, health, the feed) are pinned elsewhere or count nothing.
PINS: dict[tuple[str, str], int] = {
    ("accounts:admin_home", "admin"): 16,
    ("api:ask-detail", "admin"): 3,
    ("api:ask-detail", "manager"): 5,
    ("api:ask-detail", "salesperson"): 4,
    ("api:ask-list", "admin"): 3,
    ("api:ask-list", "manager"): 5,
    ("api:ask-list", "salesperson"): 4,
    ("api:contact-detail", "admin"): 3,
    ("api:contact-detail", "manager"): 5,
    ("api:contact-detail", "salesperson"): 4,
    ("api:contact-list", "admin"): 3,
    ("api:contact-list", "manager"): 5,
    ("api:contact-list", "salesperson"): 4,
    ("api:customer-detail", "admin"): 3,
    ("api:customer-detail", "manager"): 5,
    ("api:customer-detail", "salesperson"): 4,
    ("api:customer-list", "admin"): 3,
    ("api:customer-list", "manager"): 5,
    ("api:customer-list", "salesperson"): 4,
    ("api:field_pack", "admin"): 6,
    ("api:field_pack", "manager"): 8,
    ("api:field_pack", "salesperson"): 14,
    ("api:flag-detail", "admin"): 3,
    ("api:flag-detail", "manager"): 5,
    ("api:flag-detail", "salesperson"): 4,
    ("api:flag-list", "admin"): 3,
    ("api:flag-list", "manager"): 5,
    ("api:flag-list", "salesperson"): 4,
    ("api:invoice-detail", "admin"): 3,
    ("api:invoice-detail", "manager"): 5,
    ("api:invoice-detail", "salesperson"): 4,
    ("api:invoice-list", "admin"): 3,
    ("api:invoice-list", "manager"): 5,
    ("api:invoice-list", "salesperson"): 4,
    ("api:metrics-detail", "admin"): 3,
    ("api:metrics-detail", "manager"): 5,
    ("api:metrics-detail", "salesperson"): 4,
    ("api:metrics-list", "admin"): 3,
    ("api:metrics-list", "manager"): 5,
    ("api:metrics-list", "salesperson"): 4,
    ("api:schedule", "admin"): 4,
    ("api:schedule", "manager"): 6,
    ("api:schedule", "salesperson"): 5,
    ("api:support-case-detail", "admin"): 3,
    ("api:support-case-detail", "manager"): 5,
    ("api:support-case-detail", "salesperson"): 4,
    ("api:support-case-list", "admin"): 3,
    ("api:support-case-list", "manager"): 5,
    ("api:support-case-list", "salesperson"): 4,
    ("api:territory-detail", "admin"): 3,
    ("api:territory-detail", "manager"): 5,
    ("api:territory-detail", "salesperson"): 4,
    ("api:territory-list", "admin"): 3,
    ("api:territory-list", "manager"): 5,
    ("api:territory-list", "salesperson"): 4,
    ("api:user-detail", "admin"): 3,
    ("api:user-detail", "manager"): 5,
    ("api:user-detail", "salesperson"): 3,
    ("api:user-list", "admin"): 3,
    ("api:user-list", "manager"): 5,
    ("api:user-list", "salesperson"): 3,
    ("api:visit-detail", "admin"): 4,
    ("api:visit-detail", "manager"): 6,
    ("api:visit-detail", "salesperson"): 5,
    ("api:visit-list", "admin"): 4,
    ("api:visit-list", "manager"): 6,
    ("api:visit-list", "salesperson"): 5,
    ("api:who_to_visit", "admin"): 3,
    ("api:who_to_visit", "manager"): 5,
    ("api:who_to_visit", "salesperson"): 4,
    ("api_tokens", "admin"): 3,
    ("api_tokens", "manager"): 3,
    ("api_tokens", "salesperson"): 3,
    ("asks:answer", "admin"): 3,
    ("asks:answer", "manager"): 5,
    ("asks:answer", "salesperson"): 4,
    ("asks:list", "admin"): 3,
    ("asks:list", "manager"): 5,
    ("asks:list", "salesperson"): 5,
    ("asks:new", "admin"): 5,
    ("asks:new", "manager"): 7,
    ("asks:new", "salesperson"): 6,
    ("crm:contact_edit", "admin"): 4,
    ("crm:contact_edit", "manager"): 6,
    ("crm:contact_edit", "salesperson"): 5,
    ("crm:contact_new", "admin"): 3,
    ("crm:contact_new", "manager"): 5,
    ("crm:contact_new", "salesperson"): 4,
    ("crm:customer_detail", "admin"): 12,
    ("crm:customer_detail", "manager"): 14,
    ("crm:customer_detail", "salesperson"): 14,
    ("crm:customer_edit", "admin"): 5,
    ("crm:customer_edit", "manager"): 7,
    ("crm:customer_edit", "salesperson"): 5,
    ("crm:customer_list", "admin"): 4,
    ("crm:customer_list", "manager"): 6,
    ("crm:customer_list", "salesperson"): 5,
    ("crm:customer_map", "admin"): 2,
    ("crm:customer_map", "manager"): 2,
    ("crm:customer_map", "salesperson"): 2,
    ("crm:customer_map_data", "admin"): 4,
    ("crm:customer_map_data", "manager"): 6,
    ("crm:customer_map_data", "salesperson"): 5,
    ("crm:support_case_new", "admin"): 3,
    ("crm:support_case_new", "manager"): 5,
    ("crm:support_case_new", "salesperson"): 4,
    ("imports:detail", "admin"): 7,
    ("imports:list", "admin"): 3,
    ("imports:rejects", "admin"): 3,
    ("imports:revert", "admin"): 7,
    ("manage:account_list", "admin"): 5,
    ("manage:account_list", "manager"): 7,
    ("manage:competitors", "admin"): 4,
    ("manage:competitors", "manager"): 6,
    ("manage:dashboard", "admin"): 17,
    ("manage:dashboard", "manager"): 19,
    ("manage:hand_off", "admin"): 11,
    ("manage:hand_off", "manager"): 13,
    ("manage:listening", "admin"): 8,
    ("manage:listening", "manager"): 10,
    ("manage:outcomes", "admin"): 4,
    ("manage:outcomes", "manager"): 6,
    ("manage:profitability", "admin"): 9,
    ("manage:profitability", "manager"): 11,
    ("manage:rep", "admin"): 7,
    ("manage:rep", "manager"): 9,
    ("manage:review", "admin"): 10,
    ("manage:review", "manager"): 12,
    ("manage:team_schedule", "admin"): 8,
    ("manage:team_schedule", "manager"): 10,
    ("reminders", "admin"): 2,
    ("reminders", "manager"): 2,
    ("reminders", "salesperson"): 2,
    ("visits:calls", "admin"): 6,
    ("visits:calls", "manager"): 8,
    ("visits:calls", "salesperson"): 8,
    ("visits:cancel", "admin"): 3,
    ("visits:cancel", "manager"): 5,
    ("visits:cancel", "salesperson"): 4,
    ("visits:detail", "admin"): 8,
    ("visits:detail", "manager"): 10,
    ("visits:detail", "salesperson"): 9,
    ("visits:log", "admin"): 10,
    ("visits:log", "manager"): 12,
    ("visits:log", "salesperson"): 11,
    ("visits:log_ad_hoc", "admin"): 9,
    ("visits:log_ad_hoc", "manager"): 11,
    ("visits:log_ad_hoc", "salesperson"): 10,
    ("visits:near", "admin"): 2,
    ("visits:near", "manager"): 2,
    ("visits:near", "salesperson"): 2,
    ("visits:offline", "salesperson"): 2,
    ("visits:plan", "admin"): 5,
    ("visits:plan", "manager"): 7,
    ("visits:plan", "salesperson"): 6,
    ("visits:plan_contact_options", "admin"): 7,
    ("visits:plan_contact_options", "manager"): 9,
    ("visits:plan_contact_options", "salesperson"): 8,
    ("visits:plan_customer_options", "admin"): 2,
    ("visits:plan_customer_options", "manager"): 2,
    ("visits:plan_customer_options", "salesperson"): 2,
    ("visits:reschedule", "admin"): 3,
    ("visits:reschedule", "manager"): 5,
    ("visits:reschedule", "salesperson"): 4,
    ("visits:rhythm", "admin"): 6,
    ("visits:rhythm", "manager"): 8,
    ("visits:rhythm", "salesperson"): 7,
    ("visits:route", "salesperson"): 3,
    ("visits:schedule", "admin"): 2,
    ("visits:schedule", "manager"): 2,
    ("visits:schedule", "salesperson"): 2,
}


def page_url(name: str, side: dict) -> str:
    route = ROUTES[name]
    url = reverse(name, kwargs=route.kwargs(side) if route.kwargs else {})
    if route.query:
        url += "?" + "&".join(f"{key}={value}" for key, value in route.query(side).items())
    return url


def measured(world, sides) -> dict[tuple[str, str], int]:
    counts = {}
    for role, attribute in ROLE_USERS.items():
        client = Client()
        client.force_login(getattr(world, attribute))
        for name, route in sorted(ROUTES.items()):
            if route.public or role not in route.roles or name == "logout":
                continue
            url = page_url(name, sides["north"])
            client.get(url)  # caches of the user's own (time zone, active webhooks) warmed
            all_schedules_changed()
            answered = []
            count = queries(lambda: answered.append(client.get(url).status_code))  # noqa: B023
            if answered == [200]:
                counts[(name, role)] = count
    return counts


def grow(world, n: int) -> None:
    accounts(world, n)
    health_refresh_everything(as_of=timezone.localdate())


def test_every_page_and_api_list_has_its_query_count_pinned(world, sides):
    grow(world, 2)
    small = measured(world, sides)
    grow(world, 20)
    grown = measured(world, sides)
    report = "\n".join(
        f"    ({name!r}, {role!r}): {grown.get((name, role))},"
        for name, role in sorted(small.keys() | grown.keys())
    )
    assert small.keys() == grown.keys(), "a page answered differently once the book grew"
    unpinned = sorted(small.keys() - PINS.keys())
    assert not unpinned, f"pin these pages' query counts: {unpinned}\n{report}"
    changed = {
        key: (PINS[key], small[key], grown[key])
        for key in small
        if not PINS[key] == small[key] == grown[key]
    }
    assert not changed, f"(pinned, small, grown) differ: {changed}\n{report}"
    assert not PINS.keys() - small.keys(), "a pinned page no longer answers 200"
