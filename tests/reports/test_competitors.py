"""Competitors: what is typed is matched to the admin's list, and the manager's report."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from crm.models import Competitor
from health.services import health_refresh_everything
from tests.factories import CustomerFactory, InvoiceFactory, VisitFactory
from visits.services import visit_log

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)


def noon(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(12)))


def test_typed_names_are_matched_to_known_competitors_or_tidied(world):
    Competitor.objects.create(name="Northwind", aliases="NW, North Wind")
    account = CustomerFactory(territory=world.north, owner=world.rep_north)
    typed = ["  north   wind ", "nw", "NORTHWIND", "Acme\tSupplies  Ltd", ""]
    stored = []
    for text in typed:
        result = visit_log(
            user=world.rep_north,
            customer=account,
            kind="phone",
            visited_at=timezone.now(),
            duration_minutes=10,
            competitor=text,
        )
        stored.append(result.visit.competitor)
    assert stored == ["Northwind", "Northwind", "Northwind", "Acme Supplies Ltd", ""]


def test_the_report_counts_mentions_and_finds_accounts_whose_margin_fell(client, world):
    falling = CustomerFactory(name="Falling Foods", territory=world.north, owner=world.rep_north)
    steady = CustomerFactory(name="Steady Stores", territory=world.north, owner=world.rep_north)
    south = CustomerFactory(name="Southern Secret", territory=world.south, owner=world.rep_south)
    with time_machine.travel(NOW, tick=False):
        # Margin: June-August 300 a month, September-November 100 (falling); steady 200 flat.
        for month in range(6, 12):
            day = dt.date(2026, month, 10)
            for customer, margin in ((falling, 300 if month < 9 else 100), (steady, 200)):
                InvoiceFactory(
                    customer=customer,
                    issued_on=day,
                    due_on=day,
                    paid_on=day,
                    amount=Decimal(margin),
                    cost_of_goods=Decimal(0),
                )
        for customer, day in (
            (falling, dt.date(2026, 10, 5)),
            (falling, dt.date(2026, 11, 5)),
            (steady, dt.date(2026, 11, 6)),
            (south, dt.date(2026, 11, 7)),
        ):
            VisitFactory(
                customer=customer,
                salesperson=customer.owner,
                visited_at=noon(day),
                competitor="Globex",
            )
        health_refresh_everything(as_of=NOW.date(), full=True)
        client.force_login(world.north_manager)
        page = client.get(reverse("manage:competitors")).text
    row = page.split("<td>Globex</td>")[1].split("</tr>")[0]
    # October 1, November 2 (the South's mention is not the North manager's).
    assert row.count('class="num">1<') == 1 and row.count('class="num">2<') == 1
    assert "<strong>3</strong>" in row
    at_risk = page.split("Named while margin fell")[1]
    assert "Falling Foods" in at_risk and "Steady Stores" not in at_risk
    assert "Southern Secret" not in page
    assert ">900<" in at_risk and ">300<" in at_risk
