import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from health.models import AccountMonth
from health.services import health_refresh_everything
from reports.forms import DashboardFilterForm
from tests.factories import CustomerFactory, InvoiceFactory, SupportCaseFactory, VisitFactory

pytestmark = pytest.mark.django_db
AS_OF = dt.date(2026, 5, 20)


def noon(day):
    return timezone.make_aware(dt.datetime.combine(day, dt.time(12)))


@pytest.fixture
def months(world):
    customer = CustomerFactory(name="Monthly Ltd", territory=world.north, owner=world.rep_north)
    world.rep_north.hourly_cost = Decimal("60")
    world.rep_north.save()
    InvoiceFactory(
        customer=customer,
        issued_on=dt.date(2026, 3, 10),
        due_on=dt.date(2026, 4, 9),
        paid_on=dt.date(2026, 4, 9),
        amount=Decimal("1000"),
        cost_of_goods=Decimal("600"),
    )
    InvoiceFactory(
        customer=customer,
        issued_on=dt.date(2026, 5, 2),
        due_on=dt.date(2026, 5, 10),
        paid_on=None,
        amount=Decimal("3650"),
        cost_of_goods=Decimal("3000"),
    )
    VisitFactory(
        customer=customer,
        salesperson=world.rep_north,
        visited_at=noon(dt.date(2026, 3, 5)),
        duration_minutes=30,
        travel_minutes=30,
    )
    SupportCaseFactory(customer=customer, opened_on=dt.date(2026, 5, 1), minutes=60)
    InvoiceFactory(
        customer=customer,
        issued_on=dt.date(2023, 1, 1),
        due_on=dt.date(2023, 1, 31),
        paid_on=dt.date(2023, 1, 31),
        amount=Decimal("99999"),
    )
    return customer


def test_monthly_figures_by_month_and_idempotent(months):
    # March: issued and visited; April: due and paid on time (no cost); May: issued, due, case.
    assert health_refresh_everything(as_of=AS_OF).months == 3
    rows = {r.month: r for r in AccountMonth.objects.filter(customer=months)}
    assert set(rows) == {dt.date(2026, 3, 1), dt.date(2026, 4, 1), dt.date(2026, 5, 1)}
    assert rows[dt.date(2026, 4, 1)].late_payment_cost == 0
    march, may = rows[dt.date(2026, 3, 1)], rows[dt.date(2026, 5, 1)]
    assert (march.revenue, march.gross_margin, march.visit_cost, march.visits_done) == (
        1000,
        400,
        Decimal("60.00"),
        1,
    )
    # 3650 unpaid 10 days at 10 % a year = 10.00; an hour of support at 45.
    assert (may.revenue, may.late_payment_cost, may.support_cost) == (
        3650,
        Decimal("10.00"),
        Decimal("45.00"),
    )
    assert health_refresh_everything(as_of=AS_OF).months == 0
    months.invoices.filter(issued_on=dt.date(2026, 3, 10)).delete()
    months.visits.all().delete()
    # Deleted behind the services' back: only a full run sees it.
    health_refresh_everything(as_of=AS_OF, full=True)
    assert not AccountMonth.objects.filter(customer=months, month=dt.date(2026, 3, 1)).exists()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            {},
            (dt.date(2025, 5, 1), dt.date(2026, 4, 1), "May 2025 to Apr 2026, 12 whole months"),
        ),
        (
            {"period": "this_month"},
            (dt.date(2026, 5, 1), dt.date(2026, 5, 1), "May 2026, month to date"),
        ),
        ({"period": "last_quarter"}, (dt.date(2026, 1, 1), dt.date(2026, 3, 1), "last quarter")),
        (
            {"period": "custom", "start": "2026-02", "end": "2026-04"},
            (dt.date(2026, 2, 1), dt.date(2026, 4, 1), "Feb 2026 to Apr 2026"),
        ),
        (
            {"period": "custom", "start": "2026-04", "end": "2026-02"},
            (dt.date(2025, 5, 1), dt.date(2026, 4, 1), "May 2025 to Apr 2026, 12 whole months"),
        ),
    ],
)
def test_periods(world, query, expected):
    form = DashboardFilterForm(query, user=world.north_manager)
    assert form.period_bounds(AS_OF) == expected


def test_dashboard_period_tiles_and_trend_come_from_monthly_figures(client, months, world):
    today = timezone.localdate()
    InvoiceFactory(
        customer=months,
        amount=Decimal("1234.00"),
        issued_on=today,
        due_on=today + dt.timedelta(days=30),
    )
    health_refresh_everything(as_of=today)
    client.force_login(world.north_manager)
    this_month = client.get(reverse("manage:dashboard"), {"period": "this_month"})
    expected = AccountMonth.objects.filter(
        month=today.replace(day=1), customer__territory__in=[world.north, world.north_coast]
    )
    revenue = sum(m.revenue for m in expected)
    assert revenue >= Decimal("1234.00"), "this month has figures to compare"
    assert this_month.context["period"]["revenue"] == revenue
    trend = client.get(reverse("manage:profitability"), {"period": "ttm"})
    assert "Trend by month" in trend.text and "12 whole months" in trend.text
    assert "(to date)" not in trend.text, "the last 12 whole months hold no partial month"
    to_date = client.get(reverse("manage:profitability"), {"period": "this_month"})
    assert to_date.context["trend"] is not None
    assert "(to date)" in to_date.text and "bar revenue partial" in to_date.text
