"""Account health rules on hand-built cases, flags' life cycle, the jobs and the digest."""

import datetime as dt
import io
import json
import time
from decimal import Decimal

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import IntegrityError
from django.utils import timezone

from config.celery import app
from health.digest import digest_send
from health.models import AccountFlag, AccountMetrics, FlagKind, HealthSettings, Segment
from health.services import flag_acknowledge, health_refresh_everything
from health.tasks import health_refresh_for_customers
from reports.dashboard import rep_table
from tests.factories import (
    CustomerFactory,
    InvoiceFactory,
    PlannedVisitFactory,
    SupportCaseFactory,
    UserFactory,
    VisitFactory,
)
from visits.services import visit_log

pytestmark = pytest.mark.django_db
AS_OF = dt.date(2026, 6, 30)


def noon(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(12)))


def days_before(n: int) -> dt.date:
    return AS_OF - dt.timedelta(days=n)


def metrics(customer) -> AccountMetrics:
    return AccountMetrics.objects.get(customer=customer)


def open_kinds(customer) -> set[str]:
    return set(customer.flags.filter(resolved_at__isnull=True).values_list("kind", flat=True))


@pytest.fixture
def rep(world):
    world.rep_north.hourly_cost = Decimal("60.00")
    world.rep_north.save()
    return world.rep_north


def customer(world, **fields):
    defaults = {
        "territory": world.north,
        "owner": world.rep_north,
        "tier": "B",
        "since": days_before(1000),
    }
    return CustomerFactory(**(defaults | fields))


# Neglected -------------------------------------------------------------------------------


def test_neglected_starts_the_day_after_the_cadence_runs_out(world, rep):
    on_the_day = customer(world, name="On the day")
    one_day_late = customer(world, name="One day late")
    VisitFactory(customer=on_the_day, salesperson=rep, visited_at=noon(days_before(30)))
    VisitFactory(customer=one_day_late, salesperson=rep, visited_at=noon(days_before(31)))
    health_refresh_everything(as_of=AS_OF)
    assert metrics(on_the_day).days_since_visit == 30 and not metrics(on_the_day).is_neglected
    assert metrics(one_day_late).is_neglected
    assert "neglected" in open_kinds(one_day_late) and "neglected" not in open_kinds(on_the_day)
    flag = one_day_late.flags.get(kind="neglected")
    assert flag.inputs == {
        "last_visit_on": days_before(31).isoformat(),
        "days_since_visit": "31.00",
        "cadence_days": "30.00",
        "tier": "B",
        "own_cadence": False,
    }


def test_emails_do_not_count_and_never_visited_counts_from_since(world, rep):
    emailed = customer(world, since=days_before(100))
    VisitFactory(customer=emailed, salesperson=rep, kind="email", visited_at=noon(days_before(1)))
    newcomer = customer(world, since=days_before(20))
    health_refresh_everything(as_of=AS_OF)
    assert metrics(emailed).last_visit_on is None and metrics(emailed).days_since_visit == 100
    assert metrics(emailed).is_neglected
    assert metrics(newcomer).days_since_visit == 20 and not metrics(newcomer).is_neglected


def test_own_cadence_overrides_the_tier_and_prospects_are_not_flagged(world, rep):
    weekly = customer(world, tier="D", cadence_days=7)
    VisitFactory(customer=weekly, salesperson=rep, visited_at=noon(days_before(8)))
    prospect = customer(world, status="prospect", since=days_before(500))
    SupportCaseFactory(customer=prospect, opened_on=days_before(5), minutes=600)
    health_refresh_everything(as_of=AS_OF)
    assert metrics(weekly).cadence_days == 7 and "neglected" in open_kinds(weekly)
    assert open_kinds(prospect) == set()
    assert metrics(prospect).profit < 0


# Profit ----------------------------------------------------------------------------------


def test_cost_to_serve_and_profit_follow_the_documented_formula(world, rep):
    account = customer(world)
    VisitFactory(
        customer=account,
        salesperson=rep,
        visited_at=noon(days_before(10)),
        duration_minutes=60,
        travel_minutes=30,
        distance_km=Decimal("10"),
        expenses=Decimal("7.50"),
    )
    VisitFactory(
        customer=account,
        salesperson=rep,
        status="cancelled",
        visited_at=None,
        scheduled_start=noon(days_before(5)),
        duration_minutes=0,
    )
    VisitFactory(
        customer=account, salesperson=rep, visited_at=noon(days_before(400)), duration_minutes=600
    )
    SupportCaseFactory(customer=account, opened_on=days_before(3), minutes=30)
    SupportCaseFactory(customer=account, opened_on=days_before(365), minutes=999)
    InvoiceFactory(
        customer=account,
        issued_on=days_before(130),
        due_on=days_before(100),
        paid_on=days_before(100) + dt.timedelta(days=73),
        amount=Decimal("1000"),
        cost_of_goods=Decimal("900"),
        discount=Decimal("50"),
    )
    InvoiceFactory(
        customer=account,
        issued_on=days_before(365),
        due_on=days_before(335),
        paid_on=days_before(335),
        amount=Decimal("5000"),
        cost_of_goods=Decimal("0"),
    )

    health_refresh_everything(as_of=AS_OF)

    m = metrics(account)
    assert (m.revenue, m.gross_margin, m.discount) == (
        Decimal("1000"),
        Decimal("100"),
        Decimal("50"),
    )
    assert m.visit_cost == Decimal("102.50")  # 1.5 h x 60 + 10 km x 0.50 + 7.50
    assert m.support_cost == Decimal("22.50")  # 30 min at 45 an hour
    assert m.late_payment_cost == Decimal("20.00")  # 1000 x 73 / 365 x 10%
    assert m.cost_to_serve == Decimal("145.00") and m.profit == Decimal("-45.00")
    assert (m.visits_done, m.visit_minutes, m.support_minutes) == (1, 90, 30)
    assert open_kinds(account) == {"unprofitable"}
    flag = account.flags.get()
    assert flag.inputs["profit"] == "-45.00" and flag.inputs["visit_cost"] == "102.50"


def test_no_invoices_and_no_costs_is_not_unprofitable_and_rates_are_data(world, rep):
    idle = customer(world, since=days_before(5))
    busy = customer(world, since=days_before(5))
    SupportCaseFactory(customer=busy, opened_on=days_before(1), minutes=60)
    HealthSettings.objects.create(support_hourly_cost=Decimal("100.00"))
    health_refresh_everything(as_of=AS_OF)
    assert metrics(idle).profit == 0 and not metrics(idle).is_unprofitable
    assert metrics(busy).support_cost == Decimal("100.00") and metrics(busy).is_unprofitable


# Late payer ------------------------------------------------------------------------------


def test_paid_on_the_due_date_is_not_late(world, rep):
    punctual = customer(world)
    InvoiceFactory(
        customer=punctual,
        issued_on=days_before(60),
        due_on=days_before(30),
        paid_on=days_before(30),
        cost_of_goods=Decimal("0"),
    )
    health_refresh_everything(as_of=AS_OF)
    assert metrics(punctual).average_days_late == 0
    assert metrics(punctual).late_payment_cost == 0
    assert "late_payer" not in open_kinds(punctual)


@pytest.mark.parametrize(("days_unpaid", "flagged"), [(60, False), (61, True)])
def test_one_unpaid_invoice_over_sixty_days_past_due(world, rep, days_unpaid, flagged):
    account = customer(world)
    InvoiceFactory(
        customer=account,
        issued_on=days_before(days_unpaid + 30),
        due_on=days_before(days_unpaid),
        paid_on=None,
        amount=Decimal("100"),
        cost_of_goods=Decimal("0"),
    )
    # A big invoice paid on time keeps the weighted average far below 30 days.
    InvoiceFactory(
        customer=account,
        issued_on=days_before(40),
        due_on=days_before(10),
        paid_on=days_before(10),
        amount=Decimal("10000"),
        cost_of_goods=Decimal("0"),
    )
    health_refresh_everything(as_of=AS_OF)
    assert metrics(account).oldest_unpaid_days_late == days_unpaid
    assert ("late_payer" in open_kinds(account)) is flagged


@pytest.mark.parametrize(("days_late", "flagged"), [(30, False), (31, True)])
def test_weighted_average_days_late_over_thirty(world, rep, days_late, flagged):
    account = customer(world)
    InvoiceFactory(
        customer=account,
        issued_on=days_before(120),
        due_on=days_before(90),
        paid_on=days_before(90) + dt.timedelta(days=days_late),
        amount=Decimal("3000"),
        cost_of_goods=Decimal("0"),
    )
    health_refresh_everything(as_of=AS_OF)
    assert metrics(account).average_days_late == days_late
    assert ("late_payer" in open_kinds(account)) is flagged


def test_an_invoice_not_yet_due_does_not_dilute_the_average_days_late(world, rep):
    """docs/account-health.md: the average is over invoices due in the window. 1,000 paid 40
    days late and 9,000 not due until next month: the average is 40, not 4."""
    account = customer(world)
    InvoiceFactory(
        customer=account,
        issued_on=days_before(100),
        due_on=days_before(70),
        paid_on=days_before(30),
        amount=Decimal("1000"),
        cost_of_goods=Decimal("0"),
    )
    InvoiceFactory(
        customer=account,
        issued_on=days_before(5),
        due_on=days_before(-25),
        paid_on=None,
        amount=Decimal("9000"),
        cost_of_goods=Decimal("0"),
    )
    health_refresh_everything(as_of=AS_OF)
    assert metrics(account).average_days_late == 40
    assert "late_payer" in open_kinds(account)


# Life cycle ------------------------------------------------------------------------------


def test_a_flag_resolves_when_the_condition_clears_and_is_kept(world, rep):
    account = customer(world, since=days_before(200))
    health_refresh_everything(as_of=AS_OF)
    flag = account.flags.get(kind="neglected")
    VisitFactory(
        customer=account,
        salesperson=rep,
        kind="phone",
        duration_minutes=0,
        visited_at=noon(days_before(2)),
    )
    # The factory writes no refresh request, as a service would: recompute whole.
    result = health_refresh_everything(as_of=AS_OF, full=True)
    flag.refresh_from_db()
    assert flag.resolved_at is not None and result.resolved["neglected"] >= 1
    assert open_kinds(account) == set()
    assert account.flags.count() == 1


def test_rerunning_the_same_day_changes_nothing(world, rep):
    customer(world, since=days_before(200))
    first = health_refresh_everything(as_of=AS_OF)
    snapshot = list(AccountFlag.objects.values_list("id", "kind", "inputs", "raised_at"))
    again = health_refresh_everything(as_of=AS_OF)
    assert first.customers > 0 and sum(first.opened.values()) > 0
    assert again.customers == 0 and not again.opened and not again.resolved
    assert list(AccountFlag.objects.values_list("id", "kind", "inputs", "raised_at")) == snapshot


def test_only_one_open_flag_per_customer_and_kind(world, rep):
    account = customer(world, since=days_before(200))
    health_refresh_everything(as_of=AS_OF)
    flag = account.flags.get(kind="neglected")
    with pytest.raises(IntegrityError):
        AccountFlag.objects.create(
            customer=account,
            kind=flag.kind,
            inputs={},
            as_of=AS_OF,
            opened_at=timezone.now(),
            raised_at=timezone.now(),
        )


def test_acknowledged_flag_is_not_raised_again_until_its_date(world, rep):
    account = customer(world, since=days_before(200))
    health_refresh_everything(as_of=AS_OF)
    flag = account.flags.get()
    until = timezone.localdate() + dt.timedelta(days=10)
    flag_acknowledge(
        flag=flag, user=world.north_manager, reason="Moving to inside sales", until=until
    )
    health_refresh_everything(as_of=until)
    flag.refresh_from_db()
    assert flag.acknowledged_until == until and flag.resolved_at is None
    health_refresh_everything(as_of=until + dt.timedelta(days=1))
    flag.refresh_from_db()
    assert flag.acknowledged_until is None and flag.resolved_at is None
    assert flag.raised_at > flag.opened_at


def test_an_acknowledgement_carries_over_if_the_condition_returns_before_its_date(world, rep):
    account = customer(world, since=days_before(200))
    health_refresh_everything(as_of=AS_OF)
    until = timezone.localdate() + dt.timedelta(days=30)
    flag_acknowledge(
        flag=account.flags.get(), user=world.north_manager, reason="Known", until=until
    )
    visit = VisitFactory(customer=account, salesperson=rep, visited_at=noon(days_before(1)))
    health_refresh_everything(as_of=AS_OF)
    visit.delete()
    health_refresh_everything(as_of=AS_OF)
    reopened = account.flags.get(resolved_at__isnull=True)
    assert reopened.acknowledged_until == until and reopened.acknowledged_reason == "Known"


def test_full_refresh_query_count_does_not_depend_on_customers(
    world, rep, django_assert_num_queries
):
    # The first rollup rebuild ever also creates its bookkeeping row: not what is measured.
    health_refresh_everything(as_of=AS_OF - dt.timedelta(days=1))
    for i in range(3):
        account = customer(world, since=days_before(100 + i))
        VisitFactory(customer=account, salesperson=rep, visited_at=noon(days_before(i)))
        InvoiceFactory(customer=account, issued_on=days_before(50), due_on=days_before(20))
    with django_assert_num_queries(41) as few:
        health_refresh_everything(as_of=AS_OF)
    for i in range(40):
        account = customer(world, since=days_before(100 + i))
        VisitFactory(customer=account, salesperson=rep, visited_at=noon(days_before(i)))
        InvoiceFactory(customer=account, issued_on=days_before(50), due_on=days_before(20))
        SupportCaseFactory(customer=account, opened_on=days_before(3))
    with django_assert_num_queries(len(few.captured_queries)):
        health_refresh_everything(as_of=AS_OF + dt.timedelta(days=1))


# Jobs, command, digest -------------------------------------------------------------------


@pytest.mark.worker
def test_logging_a_visit_clears_the_flag_through_a_real_worker(
    world, rep, celery_worker_queue, monkeypatch
):
    monkeypatch.setitem(app.conf, "task_default_queue", celery_worker_queue)
    account = customer(world, since=timezone.localdate() - dt.timedelta(days=300))
    InvoiceFactory(customer=account, amount=Decimal("1000"), cost_of_goods=Decimal("500"))
    health_refresh_everything(as_of=timezone.localdate())
    assert open_kinds(account) == {"neglected"}
    assert (
        health_refresh_for_customers.apply_async(
            args=[[account.pk]], queue=celery_worker_queue
        ).get(timeout=60)
        == 1
    )

    visit_log(
        user=rep, customer=account, kind="on_site", visited_at=timezone.now(), duration_minutes=30
    )

    deadline = time.monotonic() + 30
    while open_kinds(account) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert open_kinds(account) == set()
    assert metrics(account).last_visit_on == timezone.localdate()


def test_flag_accounts_json_and_list(world, rep):
    customer(world, code="NEG-1", since=days_before(200))
    out = io.StringIO()
    call_command("flag_accounts", "--as-of", AS_OF.isoformat(), "--json", stdout=out)
    summary = json.loads(out.getvalue())
    assert summary["as_of"] == "2026-06-30"
    assert (
        set(summary["opened"])
        == set(summary["resolved"])
        == set(summary["open"])
        == set(FlagKind.values)
    )
    assert summary["opened"]["neglected"] == summary["open"]["neglected"] >= 1
    out = io.StringIO()
    call_command("flag_accounts", "--as-of", AS_OF.isoformat(), "--list", stdout=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    neg = next(line for line in lines if line["customer"] == "NEG-1")
    assert neg["kind"] == "neglected" and neg["inputs"]["days_since_visit"] == "200.00"


def test_digest_emails_owners_and_managers_once(
    world, rep, settings, django_capture_on_commit_callbacks
):
    settings.CADENCE_SITE_URL = "http://testserver.example"
    world.north_manager.email = "boss@example.com"
    world.north_manager.save()
    rep.email = "rep@example.com"
    rep.save()
    account = customer(world, name="Forgotten Ltd", since=days_before(200))
    health_refresh_everything(as_of=AS_OF)

    with django_capture_on_commit_callbacks(execute=True):
        sent = digest_send()
        assert mail.outbox == [], "nothing is sent before the commit"
    assert sent == len(mail.outbox) >= 2
    to_rep = next(m for m in mail.outbox if m.to == ["rep@example.com"])
    to_boss = next(m for m in mail.outbox if m.to == ["boss@example.com"])
    assert "Forgotten Ltd" in to_rep.body and "last visited" not in to_rep.body
    assert "never visited in 200 days" in to_rep.body
    assert f"http://testserver.example/customers/{account.pk}/" in to_rep.body, "absolute link"
    assert "neglected" in to_boss.subject.lower() and "Forgotten Ltd" in to_boss.body
    assert "Southern" not in to_boss.body

    mail.outbox.clear()
    assert digest_send() == 0
    assert mail.outbox == []


def test_the_account_page_explains_each_flag(client, world, rep):
    account = customer(world, since=timezone.localdate() - dt.timedelta(days=47))
    health_refresh_everything(as_of=timezone.localdate())
    client.force_login(rep)
    page = client.get(account.get_absolute_url()).text
    assert "never visited in 47 days as a customer; tier B expects every 30 days" in page


def test_managers_acknowledge_from_the_account_page_and_reps_cannot(client, world, rep):
    account = customer(world, since=days_before(200))
    health_refresh_everything(as_of=AS_OF)
    flag = account.flags.get()
    url = f"/customers/{account.pk}/flags/{flag.pk}/acknowledge/"
    until = (timezone.localdate() + dt.timedelta(days=20)).isoformat()
    client.force_login(rep)
    assert client.post(url, {"reason": "x", "until": until}).status_code == 404
    client.force_login(world.north_manager)
    response = client.post(
        url, {"reason": "Seasonal business", "until": until}, headers={"HX-Request": "true"}
    )
    assert "Acknowledged by" in response.text and "Seasonal business" in response.text
    flag.refresh_from_db()
    assert flag.acknowledged_by == world.north_manager
    other = UserFactory(username="south-boss", role="manager")
    world.south.managers.add(other)
    client.force_login(other)
    assert client.post(url, {"reason": "x", "until": until}).status_code == 404


def test_follow_up_overdue_is_the_last_visits_date_with_nothing_since(world, rep):
    waiting = customer(world, name="Waiting")
    VisitFactory(
        customer=waiting,
        salesperson=rep,
        visited_at=noon(days_before(20)),
        follow_up_on=days_before(5),
    )
    planned = customer(world, name="Planned")
    VisitFactory(
        customer=planned,
        salesperson=rep,
        visited_at=noon(days_before(20)),
        follow_up_on=days_before(5),
    )
    PlannedVisitFactory(customer=planned, salesperson=rep, scheduled_start=noon(days_before(1)))
    superseded = customer(world, name="Superseded")
    VisitFactory(
        customer=superseded,
        salesperson=rep,
        visited_at=noon(days_before(20)),
        follow_up_on=days_before(5),
    )
    VisitFactory(customer=superseded, salesperson=rep, visited_at=noon(days_before(2)))
    health_refresh_everything(as_of=AS_OF)
    assert metrics(waiting).follow_up_overdue_on == days_before(5)
    assert metrics(planned).follow_up_overdue_on is None
    assert metrics(superseded).follow_up_overdue_on is None


def test_digest_queries_do_not_grow_with_managers(world, rep, django_assert_max_num_queries):
    for i in range(6):
        boss = UserFactory(username=f"boss-{i}", role="manager")
        world.north.managers.add(boss)
    customer(world, name="Forgotten Ltd", since=days_before(200))
    health_refresh_everything(as_of=AS_OF)
    # +2 since Dec 2026: the managers and their review cycles (reminders: tests/reports/
    # test_review_cycles.py).
    with django_assert_max_num_queries(10):
        assert digest_send() >= 7


def test_consistency_counts_gaps_within_cadence_and_follow_ups_kept(world, rep, client):
    """Tier B (30 days). Contacts 200, 180, 140, 130 and 60 days ago (an e-mail 100 days ago does
    not count): gaps of 20, 40, 10 and 70 days, two within cadence. Follow-ups: asked 140 days
    ago for 128 days ago, kept by the contact 130 days ago; asked 60 days ago for 50 days ago,
    nothing since; asked 130 days ago for 5 days ahead, not due yet."""
    account = customer(world)
    asked = {140: days_before(128), 60: days_before(50), 130: AS_OF + dt.timedelta(days=5)}
    for ago in (200, 180, 140, 130, 60):
        VisitFactory(
            customer=account,
            salesperson=rep,
            visited_at=noon(days_before(ago)),
            follow_up_on=asked.get(ago),
        )
    VisitFactory(customer=account, salesperson=rep, kind="email", visited_at=noon(days_before(100)))
    health_refresh_everything(as_of=AS_OF)
    m = metrics(account)
    assert (m.intervals, m.intervals_on_cadence) == (4, 2)
    assert (m.follow_ups_promised, m.follow_ups_kept) == (2, 1)
    client.force_login(world.north_manager)
    page = client.get(account.get_absolute_url()).text
    assert "2 of 4 gaps within cadence" in page and "1 of 2 on time" in page
    # Each rep's share on the dashboard, summed in the rollups.
    health_refresh_everything(as_of=AS_OF)
    (row,) = [r for r in rep_table(Segment.objects.all()) if r["owner_id"] == rep.pk]
    assert (row["consistency"], row["follow_ups_kept_share"]) == (50, 50)
