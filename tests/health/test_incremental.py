"""The nightly run's shortcuts give the figures a full recomputation gives: closed months
brought forward from `months_as_of`, customers already refreshed for the day passed over."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from core.models import PendingRefresh
from crm.models import Customer
from health.figures.months import monthly_window_start
from health.models import AccountMetrics, AccountMonth, RollupRebuild, SegmentFigures
from health.services import health_refresh_everything
from health.tasks import rollup_rebuild_all
from tests.factories import CustomerFactory, InvoiceFactory, SupportCaseFactory, VisitFactory

pytestmark = pytest.mark.django_db
FIRST_NIGHT = dt.date(2026, 5, 20)


def noon(day):
    return timezone.make_aware(dt.datetime.combine(day, dt.time(12)))


def stored_months() -> dict:
    return {
        (row["customer_id"], row["month"]): row
        for row in AccountMonth.objects.values().order_by("customer_id", "month")
    }


@pytest.fixture
def ledger(world):
    """Rows that change with time alone: an invoice unpaid past its due date, one paid after
    the first night, rows dated after the first night (imported ahead), one falling due
    later, and old rows the 24-month window will drop."""
    customer = CustomerFactory(territory=world.north, owner=world.rep_north)
    quiet = CustomerFactory(territory=world.north, owner=world.rep_north)
    rep = world.rep_north
    rep.hourly_cost = Decimal("60")
    rep.save()
    for account in (customer, quiet):
        InvoiceFactory(
            customer=account,
            issued_on=dt.date(2024, 6, 3),
            due_on=dt.date(2024, 7, 3),
            paid_on=dt.date(2024, 7, 20),
            amount=Decimal("800"),
        )
        VisitFactory(customer=account, salesperson=rep, visited_at=noon(dt.date(2024, 6, 5)))
    InvoiceFactory(
        customer=customer,
        issued_on=dt.date(2026, 4, 1),
        due_on=dt.date(2026, 5, 1),
        paid_on=None,
        amount=Decimal("3650"),
    )
    InvoiceFactory(
        customer=customer,
        issued_on=dt.date(2026, 3, 1),
        due_on=dt.date(2026, 4, 1),
        paid_on=dt.date(2026, 6, 2),
        amount=Decimal("1200"),
    )
    InvoiceFactory(
        customer=customer,
        issued_on=dt.date(2026, 5, 28),
        due_on=dt.date(2026, 7, 15),
        paid_on=None,
        amount=Decimal("500"),
    )
    VisitFactory(
        customer=customer,
        salesperson=rep,
        visited_at=noon(dt.date(2026, 6, 3)),
        duration_minutes=45,
    )
    SupportCaseFactory(customer=customer, opened_on=dt.date(2026, 6, 10), minutes=30)
    return customer


@pytest.mark.parametrize(
    "nights",
    [
        [FIRST_NIGHT + dt.timedelta(days=1)],
        [FIRST_NIGHT + dt.timedelta(days=day) for day in (1, 2, 12, 13, 14)],
        [dt.date(2026, 6, 1), dt.date(2026, 7, 1), dt.date(2026, 7, 16)],
        [dt.date(2026, 8, 1)],
    ],
    ids=["next-night", "nights-across-month-ends", "first-of-months", "weeks-later"],
)
def test_the_nightly_run_brings_months_forward_as_a_full_recomputation_would(ledger, nights):
    health_refresh_everything(as_of=FIRST_NIGHT)
    for night in nights:
        health_refresh_everything(as_of=night)
        forward = stored_months()
        assert health_refresh_everything(as_of=night, full=True).months == 0, night
        assert stored_months() == forward, night
        assert set(AccountMetrics.objects.values_list("months_as_of", flat=True)) == {night}
    kept_from = monthly_window_start(nights[-1])
    assert not AccountMonth.objects.filter(month__lt=kept_from).exists()
    assert AccountMonth.objects.filter(month__gte=kept_from).exists()


def test_an_unpaid_invoice_costs_more_every_night_without_being_touched(ledger):
    health_refresh_everything(as_of=FIRST_NIGHT)
    may = AccountMonth.objects.get(customer=ledger, month=dt.date(2026, 5, 1))
    health_refresh_everything(as_of=FIRST_NIGHT + dt.timedelta(days=10))
    later = AccountMonth.objects.get(customer=ledger, month=dt.date(2026, 5, 1))
    # 3650 at 10 % a year: 1.00 a day, 19 days late then 29.
    assert (may.late_payment_cost, later.late_payment_cost) == (Decimal("19.00"), Decimal("29.00"))


def test_a_second_run_for_the_same_day_refreshes_no_one(ledger):
    first = health_refresh_everything(as_of=FIRST_NIGHT)
    assert first.customers == Customer.objects.count() > 2
    assert health_refresh_everything(as_of=FIRST_NIGHT).customers == 0


def test_a_customer_with_a_change_pending_is_refreshed_again_the_same_day(ledger, world):
    health_refresh_everything(as_of=FIRST_NIGHT)
    VisitFactory(
        customer=ledger,
        salesperson=world.rep_north,
        visited_at=noon(FIRST_NIGHT),
        duration_minutes=60,
    )
    assert health_refresh_everything(as_of=FIRST_NIGHT).customers == 0
    PendingRefresh.objects.create(customer=ledger, requested_at=timezone.now())
    assert health_refresh_everything(as_of=FIRST_NIGHT).customers == 1
    assert AccountMetrics.objects.get(customer=ledger).last_visit_on == FIRST_NIGHT


def test_a_new_hourly_cost_asks_for_a_refresh_of_the_accounts_the_rep_visited(
    ledger, world, client
):
    admin = User.objects.create_superuser("boss", "boss@example.com", "pw-boss-123")
    client.force_login(admin)
    rep = world.rep_north
    url = reverse("admin:accounts_user_change", args=[rep.pk])
    form = client.get(url).context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and name not in ("password", "groups", "user_permissions")
    }
    data.update(
        {
            "date_joined_0": rep.date_joined.date().isoformat(),
            "date_joined_1": "12:00:00",
            "last_login_0": "",
            "last_login_1": "",
        }
    )
    data["hourly_cost"] = "75.00"
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    visited = set(
        rep.visits.filter(visited_at__date__gte=dt.date(2025, 1, 1)).values_list(
            "customer_id", flat=True
        )
    )
    assert visited
    assert set(PendingRefresh.objects.values_list("customer_id", flat=True)) == visited


def test_a_re_run_that_wrote_nothing_leaves_the_rollups_alone(ledger):
    health_refresh_everything(as_of=FIRST_NIGHT)
    assert SegmentFigures.objects.exists()
    SegmentFigures.objects.all().delete()
    assert not health_refresh_everything(as_of=FIRST_NIGHT).changed
    assert not SegmentFigures.objects.exists()
    assert rollup_rebuild_all([{"changed": False}, {"changed": False}]) == 0
    assert not SegmentFigures.objects.exists()
    assert rollup_rebuild_all([{"changed": False}, {"changed": True}]) > 0
    assert SegmentFigures.objects.exists()


def test_a_re_run_after_a_run_that_never_rebuilt_rebuilds(ledger):
    """A worker killed mid-run: the run's other batches wrote metrics, its chord never
    finished; the next run's batches find nothing to change, and must rebuild all the same."""
    health_refresh_everything(as_of=FIRST_NIGHT)
    SegmentFigures.objects.all().delete()
    # The last rebuild before the metrics now stored (the killed run's was never reached).
    RollupRebuild.objects.update(started_at=timezone.now() - dt.timedelta(hours=1))
    assert rollup_rebuild_all([{"changed": False}]) > 0
    assert SegmentFigures.objects.exists()
    assert rollup_rebuild_all([{"changed": False}]) == 0, "now current: the re-run skips"
    assert health_refresh_everything(as_of=FIRST_NIGHT + dt.timedelta(days=1)).changed
