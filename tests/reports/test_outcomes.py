"""The Outcomes view: an action's accounts, three whole months before against three after, on
hand-computed monthly figures."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from health.services import health_refresh_everything
from reports.models import ReviewAction
from reports.outcomes import outcomes, outcomes_measure
from tests.factories import CustomerFactory, InvoiceFactory, VisitFactory

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)


def noon(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(12)))


@pytest.fixture
def handed_off(world):
    """One account handed to inside sales on 10 July 2026: before (April-June) one visit of
    two hours a month at 60 an hour and 300 of margin a month; after (August-October) one call
    of 20 minutes a month at the same rate and 280 of margin a month. July itself and November
    are outside both windows."""
    world.rep_north.hourly_cost = Decimal("60")
    world.rep_north.save()
    account = CustomerFactory(territory=world.north, owner=world.rep_north)
    with time_machine.travel(NOW, tick=False):
        for month, minutes, margin in [
            (4, 120, 300),
            (5, 120, 300),
            (6, 120, 300),
            (7, 500, 999),
            (8, 20, 280),
            (9, 20, 280),
            (10, 20, 280),
            (11, 500, 999),
        ]:
            day = dt.date(2026, month, 12)
            VisitFactory(
                customer=account,
                salesperson=world.rep_north,
                visited_at=noon(day),
                duration_minutes=minutes,
            )
            InvoiceFactory(
                customer=account,
                issued_on=day,
                due_on=day,
                paid_on=day,
                amount=Decimal(margin),
                cost_of_goods=Decimal("0"),
            )
        health_refresh_everything(as_of=NOW.date(), full=True)
        action = ReviewAction.objects.create(
            customer=account,
            user=world.north_manager,
            action="hand_off",
            details={"to": "inside_sales"},
        )
        ReviewAction.objects.filter(pk=action.pk).update(at=noon(dt.date(2026, 7, 10)))
        # Too recent to judge: its three months after are not over.
        recent = ReviewAction.objects.create(
            customer=account, user=world.north_manager, action="tier", details={"tier": "A"}
        )
        ReviewAction.objects.filter(pk=recent.pk).update(at=noon(dt.date(2026, 9, 1)))
    return account


def test_an_action_is_judged_on_the_three_months_either_side(world, handed_off):
    with time_machine.travel(NOW, tick=False):
        by_kind, by_manager = outcomes(world.north_manager, today=NOW.date())
    (group,) = by_kind
    assert (group.label, group.accounts) == ("Handed to inside sales", 1)
    assert (group.revenue_before, group.revenue_after) == (Decimal("900"), Decimal("840"))
    assert (group.cost_before, group.cost_after) == (Decimal("360"), Decimal("60"))
    assert (group.profit_before, group.profit_after) == (Decimal("540"), Decimal("780"))
    assert (group.cost_change, group.revenue_change, group.profit_change) == (-83, -7, 44)
    assert group.per_month("cost", "after") == Decimal("20.00")
    assert [(g.manager, g.accounts) for g in by_manager] == [("north-manager", 1)]
    # Another territory's manager sees nothing of it.
    with time_machine.travel(NOW, tick=False):
        assert outcomes(world.south_manager, today=NOW.date()) == ([], [])


@pytest.mark.parametrize("measured", [False, True])
def test_the_stored_measure_gives_the_live_figures_and_follows_late_changes(
    world, handed_off, measured
):
    """Nightly, each measurable action's sums are stored (the page then sums stored rows in the
    database); an action not measured yet is summed live: the figures are the same either way.
    A month changed afterwards (an invoice imported late) is measured again; nothing else is."""
    with time_machine.travel(NOW, tick=False):
        if measured:
            assert outcomes_measure(today=NOW.date()) == 1, "the judged one, not the recent"
            assert outcomes_measure(today=NOW.date()) == 0, "nothing changed: nothing written"
        (group,) = outcomes(world.north_manager, today=NOW.date())[0]
        assert (group.accounts, group.revenue_before, group.revenue_after) == (
            1,
            Decimal("900"),
            Decimal("840"),
        )
        assert (group.cost_before, group.cost_after) == (Decimal("360"), Decimal("60"))
        if not measured:
            return
        InvoiceFactory(
            customer=handed_off,
            issued_on=dt.date(2026, 9, 20),
            due_on=dt.date(2026, 9, 20),
            paid_on=dt.date(2026, 9, 20),
            amount=Decimal("60"),
            cost_of_goods=Decimal("0"),
        )
        health_refresh_everything(as_of=NOW.date(), full=True)
        assert outcomes_measure(today=NOW.date()) == 1
        (group,) = outcomes(world.north_manager, today=NOW.date())[0]
        assert group.revenue_after == Decimal("900")
    stored = ReviewAction.objects.get(measured_on__isnull=False)
    assert (stored.visits_before, stored.visits_after) == (3, 3)


def test_the_page_says_it_in_words_with_a_chart_and_a_csv(client, world, handed_off):
    client.force_login(world.north_manager)
    with time_machine.travel(NOW, tick=False):
        page = client.get(reverse("manage:outcomes"))
        download = client.get(reverse("manage:outcomes"), {"format": "csv"})
    assert "Handed to inside sales: 1 account</strong>" in page.text
    assert "cost to serve -83%" in page.text and "profit +44%" in page.text
    assert "<svg" in page.text and 'class="bar cost"' in page.text
    rows = list(csv.DictReader(io.StringIO(download.content.decode())))
    assert rows == [
        {
            "manager": "north-manager",
            "action": "Handed to inside sales",
            "accounts": "1",
            "revenue_per_month_before": "300.00",
            "revenue_per_month_after": "280.00",
            "margin_per_month_before": "300.00",
            "margin_per_month_after": "280.00",
            "cost_per_month_before": "120.00",
            "cost_per_month_after": "20.00",
            "visits_per_month_before": "1.00",
            "visits_per_month_after": "1.00",
            "revenue_change_pct": "-7",
            "cost_change_pct": "-83",
            "profit_change_pct": "44",
            "visits_change_pct": "0",
        }
    ]
