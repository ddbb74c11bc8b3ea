import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from health.services import health_refresh_everything
from reports.views import REP_PAGE_SIZE
from tests.factories import (
    CustomerFactory,
    InvoiceFactory,
    PlannedVisitFactory,
    UserFactory,
    VisitFactory,
)

pytestmark = pytest.mark.django_db


def noon(days_ago: int) -> dt.datetime:
    day = timezone.localdate() - dt.timedelta(days=days_ago)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(12)))


@pytest.fixture
def book(world):
    """North: one visited profitable account, one overdue account; South: one account."""
    fresh = CustomerFactory(name="Fresh Farm", territory=world.north, owner=world.rep_north)
    VisitFactory(
        customer=fresh, salesperson=world.rep_north, visited_at=noon(3), duration_minutes=60
    )
    InvoiceFactory(
        customer=fresh,
        amount=Decimal("1000"),
        cost_of_goods=Decimal("400"),
        issued_on=timezone.localdate() - dt.timedelta(days=10),
        due_on=timezone.localdate() + dt.timedelta(days=20),
    )
    PlannedVisitFactory(
        customer=fresh,
        salesperson=world.rep_north,
        scheduled_start=timezone.now() + dt.timedelta(hours=1),
    )
    health_refresh_everything(as_of=timezone.localdate())
    return world


def test_salespeople_get_404_on_manager_pages(client, book):
    client.force_login(book.rep_north)
    assert client.get(reverse("manage:dashboard")).status_code == 404
    assert client.get(reverse("manage:account_list", args=["overdue"])).status_code == 404


def test_dashboard_kpis_and_rep_table_for_a_managers_territories(client, book):
    client.force_login(book.north_manager)
    response = client.get(reverse("manage:dashboard"))
    kpis = response.context["kpis"]
    # North (with North-Coast): Northern Mills, Coastal Fish, Fresh Farm.
    assert kpis["accounts"] == 3 and kpis["active"] == 3
    assert kpis["covered"] == 1 and kpis["overdue"] == 2 and kpis["coverage"] == 33
    assert kpis["revenue"] == Decimal("1000.00") and kpis["gross_margin"] == Decimal("600.00")
    assert kpis["cost_to_serve"] == Decimal("60.00") and kpis["profit"] == Decimal("540.00")
    assert dict(kpis["flags"])["Neglected"] == 2
    assert kpis["week_planned"] >= 1
    reps = {row["owner__username"]: row for row in response.context["reps"]}
    assert set(reps) == {"rep-north", "rep-coast"}
    assert reps["rep-north"]["accounts"] == 2 and reps["rep-north"]["coverage"] == 50
    assert reps["rep-north"]["profit"] == Decimal("540.00")
    assert reps["rep-north"]["follow_ups_overdue"] == 0
    assert "Southern" not in response.text


def test_filters_swap_the_board_and_sorting_orders_reps(client, book):
    client.force_login(book.north_manager)
    partial = client.get(
        reverse("manage:dashboard"),
        {"territory": book.north_coast.pk},
        headers={"HX-Request": "true"},
    )
    assert partial.text.lstrip().startswith('<div id="board">')
    assert partial.context["kpis"]["accounts"] == 1
    by_profit = client.get(reverse("manage:dashboard"), {"sort": "-profit"}).context["reps"]
    assert [r["owner__username"] for r in by_profit] == ["rep-north", "rep-coast"]
    foreign = client.get(reverse("manage:dashboard"), {"territory": book.south.pk})
    assert foreign.status_code == 200 and foreign.context["kpis"]["accounts"] == 3


def test_lists_explain_each_row_paginate_and_export_csv(client, book):
    for i in range(25):
        CustomerFactory(
            name=f'=HYPERLINK("x") {i:02d}',
            territory=book.north,
            owner=book.rep_north,
            since=timezone.localdate() - dt.timedelta(days=200 + i),
        )
    health_refresh_everything(as_of=timezone.localdate())
    client.force_login(book.north_manager)
    url = reverse("manage:account_list", args=["overdue"])
    first = client.get(url, {"sort": "days"})
    assert first.context["page"].paginator.count == 27
    assert "tier B expects every 30 days" in first.text
    second = client.get(url, {"sort": "days", "page": 2}, headers={"HX-Request": "true"})
    assert second.text.lstrip().startswith('<section id="rows"')
    exported = b"".join(client.get(url, {"format": "csv"}).streaming_content).decode()
    rows = list(csv.reader(io.StringIO(exported)))
    assert rows[0][:2] == ["code", "name"] and len(rows) == 28
    names = [row[1] for row in rows[1:]]
    assert all(not name.startswith("=") for name in names)
    assert '\'=HYPERLINK("x") 00' in names
    assert not any("Southern" in name for name in names)


def test_dashboard_query_count_does_not_grow_with_customers(
    client, book, django_assert_num_queries
):
    client.force_login(book.north_manager)
    # +2 since Dec 2026: the manager's review cycle and how many accounts it holds; +1: the
    # reps' visits checked in on site.
    with django_assert_num_queries(17) as few:
        client.get(reverse("manage:dashboard"))
    for i in range(30):
        CustomerFactory(
            territory=book.north,
            owner=book.rep_north,
            since=timezone.localdate() - dt.timedelta(days=100 + i),
        )
    health_refresh_everything(as_of=timezone.localdate())
    with django_assert_num_queries(len(few.captured_queries)):
        client.get(reverse("manage:dashboard"))


# Early in a month, so the invoice of ten days ago falls in the last 12 whole months.
@time_machine.travel(dt.datetime(2026, 12, 1, 10, 30, tzinfo=dt.UTC), tick=True)
def test_discounts_given_show_beside_margin(client, world):
    account = CustomerFactory(name="Haggler Ltd", territory=world.north, owner=world.rep_north)
    InvoiceFactory(
        customer=account,
        amount=Decimal("900"),
        cost_of_goods=Decimal("300"),
        discount=Decimal("137"),
        issued_on=timezone.localdate() - dt.timedelta(days=10),
        due_on=timezone.localdate() + dt.timedelta(days=20),
    )
    health_refresh_everything(as_of=timezone.localdate())
    client.force_login(world.north_manager)
    page = client.get(reverse("manage:dashboard")).text
    assert "after 137 discounts given" in page
    assert "Discounts (12 mo., " in page and '<td class="num">137</td>' in page
    review = client.get(reverse("manage:review")).text
    assert "Haggler Ltd" in review and "after discounts of 137" in review


def test_a_large_team_pages_through_the_salespeople_table(client, book):
    for number in range(REP_PAGE_SIZE + 2):
        rep = UserFactory(username=f"z-rep-{number:02d}")
        book.north.members.add(rep)
        CustomerFactory(territory=book.north, owner=rep)
    health_refresh_everything(as_of=timezone.localdate())
    client.force_login(book.north_manager)
    first = client.get(reverse("manage:dashboard"))
    everyone = first.context["reps"].paginator.count
    assert everyone == REP_PAGE_SIZE + 4  # with rep-north and rep-coast
    assert len(first.context["reps"]) == REP_PAGE_SIZE
    assert f"of {everyone}" in first.text and "reps=2" in first.text
    last = client.get(reverse("manage:dashboard"), {"reps": 2})
    shown = [row["owner__username"] for row in first.context["reps"]]
    shown += [row["owner__username"] for row in last.context["reps"]]
    assert len(shown) == len(set(shown)) == everyone
