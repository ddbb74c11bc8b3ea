"""bench/floor.py is an honest floor only if it computes what the nightly refresh computes: the
same per-customer figures from the same rows. Checked on demo data."""

import datetime as dt
from decimal import Decimal

import pytest

from bench.floor import floor_metrics, floor_months
from demo.generator import demo_data_seed
from health.models import AccountMetrics, AccountMonth

pytestmark = pytest.mark.django_db

METRIC_FIELDS = (
    "revenue",
    "gross_margin",
    "discount",
    "visit_cost",
    "support_cost",
    "late_payment_cost",
    "partner_cost",
    "visits_done",
    "visit_minutes",
    "support_minutes",
    "oldest_unpaid_days_late",
    "average_days_late",
    "complaints_overdue",
    "oldest_complaint_due_on",
    "is_cooling",
    "last_visit_on",
    "days_since_visit",
    "cadence_days",
    "follow_up_overdue_on",
    "intervals",
    "intervals_on_cadence",
    "follow_ups_promised",
    "follow_ups_kept",
)
MONTH_FIELDS = (
    "revenue",
    "gross_margin",
    "discount",
    "visit_cost",
    "support_cost",
    "late_payment_cost",
    "visits_done",
    "partner_cost",
)


def _same(value):
    return Decimal(value).quantize(Decimal("0.01")) if isinstance(value, Decimal | float) else value


def test_the_floor_yields_the_refreshs_figures_for_every_customer_and_month():
    today = dt.date(2026, 11, 18)
    demo_data_seed(customers=150, seed=4, today=today)
    as_of = today

    floor = {row["id"]: row for row in floor_metrics(as_of)}
    stored = {m.customer_id: m for m in AccountMetrics.objects.all()}
    assert set(floor) == set(stored) and len(floor) == 150
    # The demo has every service model, partner commissions among them.
    assert {m.customer.service_model for m in stored.values()} >= {"field", "partner", "remote"}
    assert any(m.partner_cost for m in stored.values())
    assert any(m.intervals_on_cadence for m in stored.values())
    assert any(m.follow_ups_kept for m in stored.values())
    assert any(m.complaints_overdue for m in stored.values())
    assert any(m.is_cooling for m in stored.values())
    for customer_id, row in floor.items():
        metrics = stored[customer_id]
        for name in METRIC_FIELDS:
            assert _same(row[name]) == _same(getattr(metrics, name)), (customer_id, name)
        profit = row["gross_margin"] - row["visit_cost"] - row["support_cost"]
        costs = row["late_payment_cost"] + row["partner_cost"]
        assert profit - costs == metrics.profit, customer_id

    months = {(row["customer_id"], row["month"]): row for row in floor_months(as_of)}
    stored_months = {(m.customer_id, m.month): m for m in AccountMonth.objects.all()}
    assert set(months) == set(stored_months) and len(months) > 150 * 6
    for key, row in months.items():
        for name in MONTH_FIELDS:
            assert _same(row[name]) == _same(getattr(stored_months[key], name)), (key, name)
    # The incremental floor is the same current month and nothing before it.
    current = {key: row for key, row in months.items() if key[1] == as_of.replace(day=1)}
    incremental = floor_months(as_of, incremental=True)
    assert current and {(r["customer_id"], r["month"]): r for r in incremental} == current
