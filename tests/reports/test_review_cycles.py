"""Review cycles (health.cycles): the review list, marking it done, the dashboard line and the
digest's reminder."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from health.cycles import review_cycle_for, review_list
from health.digest import digest_send
from health.models import AccountFlag, ReviewCycle
from health.services import flag_acknowledge, health_refresh_everything
from tests.factories import CustomerFactory, InvoiceFactory, UserFactory, VisitFactory

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 12, 28, 9, 0, tzinfo=dt.UTC)
TODAY = NOW.date()


@pytest.fixture
def territory(world):
    """North, seen on 28 Dec 2026, its calendar-quarter review due on the 31st:
    - "Neglected Now": never visited in 200 days, flagged today (a new flag);
    - "Acknowledged": neglected, acknowledged until 30 Dec (runs out before the review);
    - "Long Acknowledged": neglected, acknowledged until next year (nothing to decide);
    - "Fine": visited last week, profitable (nothing to decide)."""
    world.north_manager.email = "boss@example.com"
    world.north_manager.save()
    with time_machine.travel(NOW, tick=False):
        names = ["Neglected Now", "Acknowledged", "Long Acknowledged", "Fine"]
        accounts = {
            name: CustomerFactory(
                name=name,
                territory=world.north,
                owner=world.rep_north,
                since=TODAY - dt.timedelta(days=200),
            )
            for name in names
        }
        VisitFactory(
            customer=accounts["Fine"],
            salesperson=world.rep_north,
            visited_at=timezone.now() - dt.timedelta(days=7),
        )
        InvoiceFactory(customer=accounts["Fine"], paid_on=TODAY - dt.timedelta(days=5))
        health_refresh_everything(as_of=TODAY)
        for name, until in (("Acknowledged", 30), ("Long Acknowledged", 60)):
            flag = AccountFlag.objects.get(customer=accounts[name], kind="neglected")
            flag_acknowledge(
                flag=flag,
                user=world.north_manager,
                reason="Seasonal",
                until=TODAY + dt.timedelta(days=until - 28),
            )
        # Those two were raised before this quarter's review began.
        AccountFlag.objects.filter(customer__name__contains="Acknowledged").update(
            raised_at=timezone.now() - dt.timedelta(days=100)
        )
    return accounts


def test_the_review_list_holds_what_needs_a_decision(world, territory):
    with time_machine.travel(NOW, tick=False):
        cycle = review_cycle_for(world.north_manager, today=TODAY)
        assert (cycle.started_on, cycle.due_on, cycle.pk) == (
            dt.date(2026, 10, 1),
            dt.date(2026, 12, 31),
            None,
        )
        listed = review_list(world.north.customers.all(), cycle, today=TODAY).values_list(
            "name", flat=True
        )
        # (Northern Mills, of the shared world, was never visited: flagged today too.)
        assert sorted(listed) == ["Acknowledged", "Neglected Now", "Northern Mills"]


def test_dashboard_review_page_and_marking_it_done(client, world, territory):
    with time_machine.travel(NOW, tick=False):
        client.force_login(world.north_manager)
        dashboard = client.get(reverse("manage:dashboard")).text
        # North-Coast's never-visited Coastal Fish too: the dashboard covers sub-territories.
        assert "Review due in 3 days · 4 accounts" in dashboard
        review = client.get(reverse("manage:review"), {"cycle": "due"}).text
        assert "Neglected Now" in review and "Acknowledged" in review and "Fine" not in review
        client.post(reverse("manage:review_cycle"), {"every_days": "30"})
        cycle = ReviewCycle.objects.get(manager=world.north_manager)
        assert (cycle.every_days, cycle.due_on) == (30, dt.date(2026, 10, 31))
        refused = client.post(reverse("manage:review_cycle"), {"every_days": "5000"}, follow=True)
        assert "Review every 7 to 366 days." in refused.text
        client.post(reverse("manage:review_cycle"), {"done": "1"})
        cycle.refresh_from_db()
        assert (cycle.started_on, cycle.due_on) == (TODAY, TODAY + dt.timedelta(days=30))
        # A new cycle: nothing raised since today; one acknowledgement still runs out in it.
        assert "Review due in 30 days · 1 account<" in client.get(reverse("manage:dashboard")).text


def test_the_digest_reminds_in_the_last_week_in_one_query_for_all_managers(
    world, territory, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    for i in range(5):
        boss = UserFactory(username=f"boss-{i}", role="manager", email=f"boss{i}@example.com")
        world.north.managers.add(boss)
    # Seven managers reminded: a query per manager would be 7 more than this.
    with (
        time_machine.travel(NOW, tick=False),
        django_capture_on_commit_callbacks(execute=True),
        django_assert_max_num_queries(13),
    ):
        digest_send()
    reminders = [m for m in mail.outbox if "account review is due" in m.subject]
    assert len(reminders) == 7  # the five, north-manager and south-manager
    mine = next(m for m in reminders if m.to == ["boss@example.com"])
    assert "is due on 31 Dec 2026: 4 accounts need a decision" in mine.body
    mail.outbox.clear()
    with (
        time_machine.travel(NOW - dt.timedelta(days=20), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        digest_send()
    assert not [m for m in mail.outbox if "account review" in m.subject]


def test_a_changed_recommendation_comes_back_for_review(world):
    """A first recommendation is not a change; a later different one is, from that day."""
    world.rep_north.hourly_cost = Decimal("60")
    world.rep_north.save()
    account = CustomerFactory(territory=world.north, owner=world.rep_north)
    InvoiceFactory(
        customer=account,
        issued_on=TODAY - dt.timedelta(days=30),
        paid_on=TODAY - dt.timedelta(days=10),
        amount=Decimal("1000"),
        cost_of_goods=Decimal("500"),
    )
    VisitFactory(
        customer=account, salesperson=world.rep_north, visited_at=NOW - dt.timedelta(days=3)
    )
    with time_machine.travel(NOW - dt.timedelta(days=10), tick=False):
        health_refresh_everything(as_of=TODAY - dt.timedelta(days=10))
    assert account.metrics.recommendation_since is None
    VisitFactory(
        customer=account,
        salesperson=world.rep_north,
        visited_at=NOW - dt.timedelta(days=2),
        duration_minutes=900,
    )
    with time_machine.travel(NOW, tick=False):
        health_refresh_everything(as_of=TODAY)
    account.metrics.refresh_from_db()
    assert account.metrics.recommendation == "move_remote"
    assert account.metrics.recommendation_since == TODAY
