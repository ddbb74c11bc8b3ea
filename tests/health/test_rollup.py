"""The per-segment rollups the managers' pages read: they agree with the per-account metrics,
follow an account that moves, and the nightly job rebuilds them after every batch."""

import datetime as dt
import time
from decimal import Decimal

import hypothesis
import pytest
from django.db import connection, transaction
from django.db.models import Count, Sum
from django.utils import timezone
from hypothesis import strategies as st

from core.models import PendingRefresh
from core.refresh import customers_refresh_request as health_refresh_request
from crm.models import Customer, CustomerStatus
from crm.services import customer_update, customers_delete
from health.models import (
    AccountMetrics,
    Segment,
    SegmentBand,
    SegmentFigures,
    SegmentMonth,
    SegmentWeek,
)
from health.rollup import rollup_rebuild
from health.selectors import segments_visible_to
from health.services import health_refresh_everything
from health.tasks import health_refresh_for_customers, health_refresh_nightly
from reports.charts import whale_curve
from reports.dashboard import dashboard_kpis, rep_table
from tests.factories import (
    CustomerFactory,
    InvoiceFactory,
    PlannedVisitFactory,
    VisitFactory,
)

pytestmark = pytest.mark.django_db


def book_of(world, count: int) -> list[Customer]:
    """Accounts over several owners, tiers and statuses, with margins from -99 to +900 and
    some visit cost, so profits spread on both sides of zero."""
    owners = [world.rep_north, world.rep_coast, world.rep_south, None]
    territories = [world.north, world.north_coast, world.south, world.north]
    statuses = [CustomerStatus.ACTIVE, CustomerStatus.ACTIVE, CustomerStatus.DORMANT]
    accounts = []
    for i in range(count):
        customer = CustomerFactory(
            territory=territories[i % 4],
            owner=owners[i % 4],
            tier="ABCD"[i % 4 - 1 if i % 7 else 0],
            status=statuses[i % 3],
            since=timezone.localdate() - dt.timedelta(days=30 + 7 * i),
        )
        InvoiceFactory(
            customer=customer,
            amount=Decimal("1000"),
            cost_of_goods=Decimal(100 + (37 * i) % 1000),
            issued_on=timezone.localdate() - dt.timedelta(days=5 + i % 200),
        )
        if i % 5 == 0:
            VisitFactory(
                customer=customer,
                salesperson=world.rep_north,
                duration_minutes=60 + 10 * i,
                visited_at=timezone.now() - dt.timedelta(days=1 + i % 40),
            )
        accounts.append(customer)
    return accounts


def snapshot() -> dict:
    """Every rollup row, keyed by its segment's filter values rather than by ids."""

    def key(row):
        s = row.segment
        return (s.territory_id, s.owner_id or 0, s.tier, s.status)

    def rows(model, *fields):
        return sorted(
            (key(row), *(getattr(row, f) for f in fields))
            for row in model.objects.select_related("segment")
        )

    return {
        "figures": rows(
            SegmentFigures,
            "accounts",
            "overdue",
            "revenue",
            "profit",
            "open_neglected",
            "open_unprofitable",
        ),
        "months": rows(SegmentMonth, "month", "revenue", "cost_to_serve"),
        "weeks": rows(SegmentWeek, "week", "planned", "done"),
        "bands": rows(SegmentBand, "measure", "band", "accounts", "total"),
    }


def test_rollup_totals_match_the_accounts(world):
    book_of(world, 40)
    health_refresh_everything(as_of=timezone.localdate())

    kpis = dashboard_kpis(segments_visible_to(world.admin), today=timezone.localdate())
    exact = AccountMetrics.objects.aggregate(revenue=Sum("revenue"), profit=Sum("profit"))
    assert kpis["accounts"] == Customer.objects.count()
    assert (kpis["revenue"], kpis["profit"]) == (exact["revenue"], exact["profit"])
    assert (
        kpis["overdue"]
        == AccountMetrics.objects.filter(
            customer__status=CustomerStatus.ACTIVE, days_overdue__gt=0
        ).count()
    )

    by_owner = dict(
        Customer.objects.filter(owner__isnull=False)
        .values_list("owner__username")
        .annotate(n=Count("id"))
    )
    table = rep_table(segments_visible_to(world.admin))
    assert {row["owner__username"]: row["accounts"] for row in table} == by_owner


def test_whale_curve_peak_from_the_histogram_is_exact(world):
    book_of(world, 60)
    health_refresh_everything(as_of=timezone.localdate())
    profits = sorted(AccountMetrics.objects.values_list("profit", flat=True), reverse=True)
    positives = [p for p in profits if p > 0]
    assert positives and len(positives) < len(profits), "the book must straddle zero"

    curve = whale_curve(segments_visible_to(world.admin))

    assert curve["accounts"] == len(profits) and curve["total"] == sum(profits)
    assert curve["top_share"] == round(len(positives) / len(profits) * 100)
    assert curve["peak_share"] == round(sum(positives) / sum(profits) * 100)


def test_a_reassigned_account_leaves_its_old_row_and_matches_a_full_rebuild(world):
    accounts = book_of(world, 12)
    health_refresh_everything(as_of=timezone.localdate())
    moved = next(c for c in accounts if c.owner == world.rep_north)
    before = {
        r["owner__username"]: r["accounts"] for r in rep_table(segments_visible_to(world.admin))
    }

    customer_update(customer=moved, user=world.admin, changes={"owner": world.rep_south})
    health_refresh_for_customers([moved.pk])

    after = {
        r["owner__username"]: r["accounts"] for r in rep_table(segments_visible_to(world.admin))
    }
    assert after["rep-north"] == before["rep-north"] - 1
    assert after["rep-south"] == before["rep-south"] + 1
    partial = snapshot()
    rollup_rebuild()
    assert snapshot() == partial


def test_meetings_this_week_are_counted(world):
    today = timezone.localdate()
    monday = today - dt.timedelta(days=today.weekday())
    noon = timezone.make_aware(dt.datetime.combine(monday, dt.time(12)))
    PlannedVisitFactory(
        customer=world.north_customer, salesperson=world.rep_north, scheduled_start=noon
    )
    VisitFactory(
        customer=world.north_customer,
        salesperson=world.rep_north,
        scheduled_start=noon,
        visited_at=noon,
    )
    PlannedVisitFactory(
        customer=world.south_customer,
        salesperson=world.rep_south,
        scheduled_start=noon + dt.timedelta(days=7),
    )
    health_refresh_everything(as_of=today)

    north = dashboard_kpis(segments_visible_to(world.north_manager), today=today)
    everyone = dashboard_kpis(segments_visible_to(world.admin), today=today)

    assert (north["week_planned"], north["week_done"]) == (2, 1)
    assert (everyone["week_planned"], everyone["week_done"]) == (2, 1)


def test_nightly_job_rebuilds_the_rollups_after_every_batch(world, celery_worker_queue):
    book_of(world, 8)
    assert not SegmentFigures.objects.exists()

    batches = health_refresh_nightly.apply_async(queue=celery_worker_queue).get(timeout=60)

    assert batches >= 1
    deadline = time.monotonic() + 60
    while not SegmentFigures.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    totals = SegmentFigures.objects.aggregate(accounts=Sum("accounts"), profit=Sum("profit"))
    assert totals["accounts"] == Customer.objects.count()
    assert totals["profit"] == AccountMetrics.objects.aggregate(p=Sum("profit"))["p"]
    assert SegmentMonth.objects.exists()


def test_the_rebuild_drops_a_segment_left_empty(world):
    """An account deleted outright (raw SQL, or before customers_delete existed) leaves its
    one-account segment empty; the nightly rebuild must drop it with its rollups."""
    lonely = CustomerFactory(territory=world.south, owner=world.rep_south, tier="D")
    InvoiceFactory(customer=lonely, amount=Decimal("500"), cost_of_goods=Decimal("100"))
    health_refresh_everything(as_of=timezone.localdate())
    assert SegmentFigures.objects.filter(segment__owner=world.rep_south, segment__tier="D")

    Customer.objects.filter(pk=lonely.pk).delete()
    rollup_rebuild()
    with connection.cursor() as cursor:  # the foreign keys are checked at commit
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")

    assert not SegmentFigures.objects.filter(segment__owner=world.rep_south, segment__tier="D")
    assert not Segment.objects.filter(owner=world.rep_south, tier="D").exists()
    health_refresh_everything(as_of=timezone.localdate())  # and the night after, too


class RollupMachine:
    """Drives accounts through the services a user's clicks call, refreshing what the worker
    would refresh after each, for the property test below."""

    def __init__(self, world):
        self.world = world
        self.owners = [world.rep_north, world.rep_coast, world.rep_south, None]
        self.territories = [world.north, world.north_coast, world.south]

    def create(self, owner: int, territory: int, tier: str, margin: int) -> None:
        customer = CustomerFactory(
            owner=self.owners[owner], territory=self.territories[territory], tier=tier
        )
        InvoiceFactory(
            customer=customer, amount=Decimal("1000"), cost_of_goods=Decimal(1000 - margin)
        )
        health_refresh_request([customer.pk])
        self.work()

    def reassign(self, index: int, owner: int, territory: int) -> None:
        if customer := self.pick(index):
            changes = {"owner": self.owners[owner], "territory": self.territories[territory]}
            customer_update(customer=customer, user=self.world.admin, changes=changes)
            self.work()

    def restatus(self, index: int, status: str, tier: str) -> None:
        if customer := self.pick(index):
            changes = {"status": status, "tier": tier}
            customer_update(customer=customer, user=self.world.admin, changes=changes)
            self.work()

    def delete(self, index: int) -> None:
        if customer := self.pick(index):
            customers_delete(customer_ids=[customer.pk])

    def pick(self, index: int) -> Customer | None:
        customers = list(Customer.objects.order_by("pk"))
        return customers[index % len(customers)] if customers else None

    @staticmethod
    def work() -> None:
        """What the worker does with the refreshes the services asked for."""
        pending = list(PendingRefresh.objects.values_list("customer_id", flat=True))
        health_refresh_for_customers(pending)


OPERATIONS = st.one_of(
    st.tuples(
        st.just("create"),
        st.integers(0, 3),
        st.integers(0, 2),
        st.sampled_from("ABCD"),
        st.integers(-300, 900),
    ),
    st.tuples(st.just("reassign"), st.integers(0, 50), st.integers(0, 3), st.integers(0, 2)),
    st.tuples(
        st.just("restatus"),
        st.integers(0, 50),
        st.sampled_from(CustomerStatus.values),
        st.sampled_from("ABCD"),
    ),
    st.tuples(st.just("delete"), st.integers(0, 50)),
)


@hypothesis.settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)
@hypothesis.given(steps=st.lists(OPERATIONS, min_size=1, max_size=12))
def test_any_sequence_of_changes_leaves_the_rollups_equal_to_a_rebuild(world, steps):
    machine = RollupMachine(world)
    with transaction.atomic():
        health_refresh_everything(as_of=timezone.localdate())
        for name, *arguments in steps:
            getattr(machine, name)(*arguments)
        incremental = snapshot()
        rollup_rebuild()
        assert snapshot() == incremental
        health_refresh_everything(as_of=timezone.localdate())
        assert snapshot() == incremental, "the nightly job agrees and does not fail"
        transaction.set_rollback(True)
