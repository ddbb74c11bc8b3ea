import datetime as dt
import math

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.selectors import salespeople_visible_to
from reports.views import TEAM_PAGE_SIZE
from tests.factories import CustomerFactory, PlannedVisitFactory, UserFactory, VisitFactory

pytestmark = pytest.mark.django_db


def monday_at(hour: int, minute: int = 0, days: int = 0) -> dt.datetime:
    today = timezone.localdate()
    monday = today - dt.timedelta(days=today.weekday())
    return timezone.make_aware(
        dt.datetime.combine(monday + dt.timedelta(days=days), dt.time(hour, minute))
    )


def test_team_week_shows_each_rep_with_gaps_and_links(client, world):
    for minute in range(0, 48, 8):
        PlannedVisitFactory(
            customer=world.north_customer,
            salesperson=world.rep_north,
            scheduled_start=monday_at(9, minute),
        )
    held = VisitFactory(
        customer=world.coast_customer,
        salesperson=world.rep_coast,
        visited_at=monday_at(11),
        scheduled_start=monday_at(11),
    )
    PlannedVisitFactory(
        customer=world.south_customer, salesperson=world.rep_south, scheduled_start=monday_at(10)
    )
    client.force_login(world.north_manager)
    response = client.get(reverse("manage:team_schedule"))
    rows = {row["person"].username: row for row in response.context["rows"]}
    assert set(rows) == {"rep-north", "rep-coast"}
    assert rows["rep-north"]["total"] == 6 and not rows["rep-north"]["gap"]
    assert rows["rep-coast"]["total"] == 1 and rows["rep-coast"]["gap"]
    assert "Southern Bakes" not in response.text
    assert f'href="{reverse("visits:detail", args=[held.pk])}"' in response.text
    assert "Coastal Fish" in response.text


def test_a_busy_day_is_capped_and_weeks_navigate_with_htmx(client, world):
    for minute in range(0, 60, 5):
        PlannedVisitFactory(
            customer=world.north_customer,
            salesperson=world.rep_north,
            scheduled_start=monday_at(8, minute, days=1),
        )
    client.force_login(world.north_manager)
    response = client.get(reverse("manage:team_schedule"))
    row = next(r for r in response.context["rows"] if r["person"] == world.rep_north)
    cell = row["cells"][1]
    assert len(cell["visits"]) == 6 and cell["more"] == 6
    more = f"?salesperson={world.rep_north.pk}&amp;date={cell['day']:%Y-%m-%d}"
    assert more in response.text, "+6 more leads to that salesperson's whole week"
    alone = client.get(reverse("manage:team_schedule"), {"salesperson": world.rep_north.pk})
    cell = alone.context["rows"][0]["cells"][1]
    assert len(cell["visits"]) == 12 and cell["more"] == 0
    next_week = (monday_at(0) + dt.timedelta(days=7)).date().isoformat()
    partial = client.get(
        reverse("manage:team_schedule"), {"date": next_week}, headers={"HX-Request": "true"}
    )
    assert partial.text.lstrip().startswith('<section id="week"')
    assert all(row["total"] == 0 for row in partial.context["rows"])


def test_team_schedule_is_for_managers_and_its_query_count_is_flat(
    client, world, django_assert_num_queries
):
    client.force_login(world.rep_north)
    assert client.get(reverse("manage:team_schedule")).status_code == 404
    client.force_login(world.north_manager)
    # 10: the page of people is counted (Paginator) besides the 9 the week needs.
    with django_assert_num_queries(10) as few:
        client.get(reverse("manage:team_schedule"))
    for day in range(5):
        customer = CustomerFactory(territory=world.north, owner=world.rep_north)
        for hour in (9, 11, 14):
            PlannedVisitFactory(
                customer=customer,
                salesperson=world.rep_north,
                scheduled_start=monday_at(hour, days=day),
            )
    with django_assert_num_queries(len(few.captured_queries)):
        client.get(reverse("manage:team_schedule"))


def test_a_large_team_is_shown_a_page_of_people_at_a_time(client, world):
    for number in range(30):
        world.north.members.add(UserFactory(username=f"z-rep-{number:02d}"))
    client.force_login(world.north_manager)
    first = client.get(reverse("manage:team_schedule"))
    people = list(salespeople_visible_to(world.north_manager).order_by("username"))
    assert len(people) > TEAM_PAGE_SIZE
    assert [row["person"] for row in first.context["rows"]] == people[:TEAM_PAGE_SIZE]
    assert f"Page 1 of {math.ceil(len(people) / TEAM_PAGE_SIZE)}" in first.text
    second = client.get(
        reverse("manage:team_schedule"), {"page": 2}, headers={"HX-Request": "true"}
    )
    assert [row["person"] for row in second.context["rows"]] == people[
        TEAM_PAGE_SIZE : 2 * TEAM_PAGE_SIZE
    ]
    assert 'href="?&page=1"' in second.text
