import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import Customer
from health.models import Segment
from health.services import health_refresh_everything
from reports.charts import quadrant, whale_curve
from tests.factories import CustomerFactory, InvoiceFactory, TerritoryFactory, VisitFactory

pytestmark = pytest.mark.django_db


def account(world, name, margin, visit_minutes=0, tier="B"):
    customer = CustomerFactory(name=name, territory=world.bay, owner=world.rep_north, tier=tier)
    InvoiceFactory(
        customer=customer,
        amount=Decimal("1000"),
        cost_of_goods=1000 - margin,
        issued_on=timezone.localdate() - dt.timedelta(days=20),
        due_on=timezone.localdate() + dt.timedelta(days=10),
    )
    if visit_minutes:
        VisitFactory(
            customer=customer,
            salesperson=world.rep_north,
            duration_minutes=visit_minutes,
            visited_at=timezone.now() - dt.timedelta(days=2),
        )
    return customer


@pytest.fixture
def whales(world):
    world.bay = TerritoryFactory(name="Whale Bay", parent=world.north)
    # Profits: 600, 300, 100, -200 (margin 100, visits cost 300) -> total 800, peak 1000.
    account(world, "Whale", Decimal("600"), tier="A")
    account(world, "Good", Decimal("300"))
    account(world, "Fair", Decimal("100"))
    account(world, "Drain", Decimal("100"), visit_minutes=300, tier="D")
    health_refresh_everything(as_of=timezone.localdate())
    return world


def test_whale_curve_marks_the_peak(whales):
    curve = whale_curve(Segment.objects.filter(territory=whales.bay))
    assert curve["accounts"] == 4 and curve["total"] == Decimal("800.00")
    assert (curve["top_share"], curve["peak_share"], curve["given_back"]) == (75, 125, 25)
    assert curve["svg"]["path"].count(",") == 5  # origin + 4 accounts


def test_quadrant_puts_accounts_in_the_four_segments(whales):
    chart = quadrant(
        Segment.objects.filter(territory=whales.bay), Customer.objects.filter(territory=whales.bay)
    )
    segments = {p["name"]: p["segment"] for p in chart["points"]}
    assert chart["count"] == 4
    assert segments["Whale"] in {"passive", "carriage trade"}
    assert segments["Drain"] == "aggressive"
    assert {p["margin_percent"] for p in chart["points"]} == {60, 30, 10}
    # The axes carry values: net margin from -50 % to 100 %, cost to serve from 0.
    assert [label for _, label in chart["y_ticks"]] == ["-50%", "0%", "50%", "100%"]
    assert chart["x_ticks"][0][1] == "0" and len(chart["x_ticks"]) >= 2


def test_the_quadrant_has_all_four_segments(world):
    world.bay = TerritoryFactory(name="Quad Bay", parent=world.north)
    account(world, "Rich and cheap", Decimal("700"))
    account(world, "Rich and costly", Decimal("700"), visit_minutes=600)
    account(world, "Mid", Decimal("400"), visit_minutes=100)
    account(world, "Thin and cheap", Decimal("100"))
    account(world, "Thin and costly", Decimal("100"), visit_minutes=600)
    health_refresh_everything(as_of=timezone.localdate())
    chart = quadrant(
        Segment.objects.filter(territory=world.bay), Customer.objects.filter(territory=world.bay)
    )
    segments = {p["name"]: p["segment"] for p in chart["points"]}
    # Split at the medians (40 % margin, 100 of cost to serve): each corner has its account.
    assert (chart["median_margin_percent"], chart["median_cost"]) == (40, 100)
    assert segments == {
        "Rich and cheap": "passive",
        "Rich and costly": "carriage trade",
        "Mid": "carriage trade",
        "Thin and cheap": "bargain basement",
        "Thin and costly": "aggressive",
    }


def test_accounts_beyond_the_quadrants_axes_are_drawn_as_outliers_not_stacked(
    client, world, settings
):
    world.bay = TerritoryFactory(name="Outlier Bay", parent=world.north)
    for n in range(20):
        account(world, f"Ordinary {n}", Decimal("300"), visit_minutes=60 + n)
    costly = account(world, "Very costly", Decimal("300"), visit_minutes=1400)
    for _ in range(5):
        VisitFactory(customer=costly, salesperson=world.rep_north, duration_minutes=1400)
    account(world, "Giveaway", Decimal("-900"))  # net margin -90 %: below the axis
    health_refresh_everything(as_of=timezone.localdate())
    chart = quadrant(
        Segment.objects.filter(territory=world.bay), Customer.objects.filter(territory=world.bay)
    )
    by_name = {p["name"]: p for p in chart["points"]}
    assert by_name["Very costly"]["outlier"] and by_name["Giveaway"]["outlier"]
    assert not by_name["Ordinary 3"]["outlier"]
    assert chart["outliers"] == sum(1 for p in chart["points"] if p["outlier"]) >= 2
    assert 'class="dot tier-B outlier"' in chart["dots"]
    assert "beyond the axis, drawn at its edge" in by_name["Very costly"]["label"]
    client.force_login(world.north_manager)
    page = client.get(reverse("manage:profitability"), {"territory": world.bay.pk}).text
    assert (
        "a ring: beyond the axes" in page
        and f"Money figures in {settings.CADENCE_CURRENCY}" in page
    )


def test_profitability_page_full_and_htmx_and_scoped(client, whales):
    client.force_login(whales.north_manager)
    page = client.get(reverse("manage:profitability"))
    assert page.status_code == 200 and "<svg" in page.text and "give back" in page.text
    assert "Whale (tier A)" in page.text
    partial = client.get(
        reverse("manage:profitability"), {"tier": "D"}, headers={"HX-Request": "true"}
    )
    assert partial.text.lstrip().startswith('<div id="charts">')
    assert "Whale (tier A)" not in partial.text
    client.force_login(whales.south_manager)
    assert "Whale (tier A)" not in client.get(reverse("manage:profitability")).text
    client.force_login(whales.rep_north)
    assert client.get(reverse("manage:profitability")).status_code == 404


def test_profitability_query_count_does_not_grow(client, whales, django_assert_num_queries):
    client.force_login(whales.north_manager)
    with django_assert_num_queries(11) as few:
        client.get(reverse("manage:profitability"))
    for i in range(20):
        account(whales, f"More {i}", Decimal(str(10 * i)))
    health_refresh_everything(as_of=timezone.localdate())
    with django_assert_num_queries(len(few.captured_queries)):
        client.get(reverse("manage:profitability"))
