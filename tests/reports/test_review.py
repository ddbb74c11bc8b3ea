import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import Customer
from crm.selectors import customers_visible_to
from health.models import AccountMetrics
from health.services import health_refresh_everything
from reports.models import ReviewAction
from reports.review import with_recommendation
from tests.factories import CustomerFactory, InvoiceFactory, SupportCaseFactory, VisitFactory

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate


def account(
    world, name, *, margin, revenue=Decimal("1000"), visit_minutes=0, support=0, visited_days_ago=1
):
    customer = CustomerFactory(name=name, territory=world.north, owner=world.rep_north, tier="B")
    InvoiceFactory(
        customer=customer,
        amount=revenue,
        cost_of_goods=revenue - margin,
        issued_on=TODAY() - dt.timedelta(days=20),
        due_on=TODAY() + dt.timedelta(days=10),
    )
    VisitFactory(
        customer=customer,
        salesperson=world.rep_north,
        duration_minutes=visit_minutes,
        visited_at=timezone.now() - dt.timedelta(days=visited_days_ago),
    )
    if support:
        SupportCaseFactory(customer=customer, opened_on=TODAY(), minutes=support)
    return customer


@pytest.fixture
def worklist(world):
    # hourly cost 60: 1 minute of visit = 1.00; support 45/h = 0.75 a minute.
    world.rep_north.hourly_cost = Decimal("60")
    world.rep_north.save()
    account(world, "Remote me", margin=Decimal("100"), visit_minutes=300)
    account(world, "Let go", margin=Decimal("10"), visit_minutes=5, support=400)
    account(world, "Overdue", margin=Decimal("300"), visited_days_ago=45)
    account(world, "Costly", margin=Decimal("200"), visit_minutes=120)
    account(world, "Star", margin=Decimal("500"), visit_minutes=20)
    account(world, "Plain", margin=Decimal("200"), visit_minutes=40)
    health_refresh_everything(as_of=TODAY())
    return world


def recommendations(world):
    return dict(
        with_recommendation(
            Customer.objects.filter(territory=world.north, invoices__isnull=False)
        ).values_list("name", "recommendation")
    )


def test_each_rule_on_hand_built_accounts(worklist):
    assert recommendations(worklist) == {
        "Remote me": "move_remote",
        "Let go": "hand_off",
        "Overdue": "visit_now",
        "Costly": "reprice",
        "Star": "grow",
        "Plain": "keep",
    }


def test_worklist_filters_by_recommendation_and_is_scoped(client, worklist):
    client.force_login(worklist.north_manager)
    page = client.get(reverse("manage:review"))
    counts = {key: n for key, _, n in page.context["recommendations"]}
    assert counts["grow"] == 1 and counts["hand_off"] == 1
    assert "Move to inside sales" in page.text and "Star" in page.text
    grow = client.get(
        reverse("manage:review"), {"recommendation": "grow"}, headers={"HX-Request": "true"}
    )
    assert grow.text.lstrip().startswith('<section id="worklist"')
    assert [c.name for c in grow.context["page"].object_list] == ["Star"]
    client.force_login(worklist.south_manager)
    assert "Remote me" not in client.get(reverse("manage:review")).text
    client.force_login(worklist.rep_north)
    assert client.get(reverse("manage:review")).status_code == 404


def test_actions_are_recorded_and_refresh_the_account(client, worklist):
    star = Customer.objects.get(name="Star")
    client.force_login(worklist.north_manager)
    url = reverse("manage:review_action", args=[star.pk])
    htmx = {"HX-Request": "true"}

    response = client.post(url, {"action": "tier", "tier": "A"}, headers=htmx)
    assert f'id="review-{star.pk}"' in response.text and "Star: done." in response.text
    assert AccountMetrics.objects.get(customer=star).cadence_days == 14

    client.post(url, {"action": "cadence", "cadence_days": "45"}, headers=htmx)
    refused = client.post(url, {"action": "remote", "remote_visits": "on"}, headers=htmx)
    assert "Select a valid choice" in refused.text
    client.post(url, {"action": "reassign", "owner": worklist.rep_coast.pk}, headers=htmx)
    star.refresh_from_db()
    assert (star.tier, star.cadence_days, star.owner) == ("A", 45, worklist.rep_coast)
    assert AccountMetrics.objects.get(customer=star).cadence_days == 45
    actions = list(
        ReviewAction.objects.filter(customer=star)
        .order_by("at", "id")
        .values_list("action", "user__username", "details")
    )
    assert actions == [
        ("tier", "north-manager", {"tier": "A"}),
        ("cadence", "north-manager", {"cadence_days": 45}),
        ("reassign", "north-manager", {"owner": "rep-coast"}),
    ]
    # Each action keeps the account's figures as they were when it was taken.
    first = ReviewAction.objects.filter(customer=star).order_by("at", "id").first()
    assert first.figures["gross_margin"] == "500.00" and first.figures["profit"] == "480.00"


def test_acknowledge_from_the_worklist_and_bad_input_is_explained(client, worklist):
    overdue = Customer.objects.get(name="Overdue")
    flag = overdue.flags.get(kind="neglected")
    client.force_login(worklist.north_manager)
    url = reverse("manage:review_action", args=[overdue.pk])
    missing = client.post(
        url, {"action": "acknowledge", "flag": flag.pk}, headers={"HX-Request": "true"}
    )
    assert "required for this action" in missing.text
    for hostile in (
        {"until": "9999-12-31", "reason": "Later"},
        {"until": (TODAY() + dt.timedelta(days=14)).isoformat(), "reason": "A\r\nB"},
        {"until": "2026-02-30", "reason": "Later", "flag": "99999999999999"},
    ):
        data = {"action": "acknowledge", "flag": flag.pk, **hostile}
        refused = client.post(url, data, headers={"HX-Request": "true"})
        assert refused.status_code == 200
        flag.refresh_from_db()
        assert flag.acknowledged_by is None, hostile
    until = (TODAY() + dt.timedelta(days=14)).isoformat()
    client.post(
        url,
        {"action": "acknowledge", "flag": flag.pk, "reason": "On holiday", "until": until},
        headers={"HX-Request": "true"},
    )
    flag.refresh_from_db()
    assert (
        flag.acknowledged_reason == "On holiday" and flag.acknowledged_by == worklist.north_manager
    )
    foreign_owner = client.post(
        url, {"action": "reassign", "owner": worklist.rep_south.pk}, headers={"HX-Request": "true"}
    )
    assert "Select a valid choice" in foreign_owner.text
    overdue.refresh_from_db()
    assert overdue.owner == worklist.rep_north
    client.force_login(worklist.south_manager)
    assert client.post(url, {"action": "tier", "tier": "A"}).status_code == 404


def test_worklist_query_count_does_not_grow(client, worklist, django_assert_num_queries):
    client.force_login(worklist.north_manager)
    # No COUNT over the accounts: the segments' rollups hold the counts and the pages' total.
    # +2 since Dec 2026: the manager's review cycle and how many accounts it holds.
    with django_assert_num_queries(12) as few:
        client.get(reverse("manage:review"))
    for i in range(15):
        account(worklist, f"Extra {i}", margin=Decimal(str(50 + i)), visit_minutes=i)
    health_refresh_everything(as_of=TODAY())
    with django_assert_num_queries(len(few.captured_queries)):
        client.get(reverse("manage:review"))


@pytest.mark.parametrize("chosen", ["", "visit_now", "grow", "keep"])
def test_the_counts_and_pages_from_the_rollups_match_the_accounts(client, worklist, chosen):
    for i in range(25):
        account(worklist, f"More {i}", margin=Decimal(str(40 + i)), visit_minutes=i)
    health_refresh_everything(as_of=TODAY())
    client.force_login(worklist.north_manager)
    response = client.get(reverse("manage:review"), {"recommendation": chosen})
    visible = AccountMetrics.objects.filter(
        customer__in=customers_visible_to(worklist.north_manager)
    )
    expected = {
        key: visible.filter(recommendation=key).count()
        for key, _label, _count in response.context["recommendations"]
    }
    shown = {key: count for key, _label, count in response.context["recommendations"]}
    assert shown == expected and sum(shown.values()) > 25
    page = response.context["page"]
    listed = visible.filter(recommendation=chosen) if chosen else visible
    assert page.paginator.count == listed.count()
    assert {c.recommendation for c in page.object_list} <= ({chosen} if chosen else set(shown))
