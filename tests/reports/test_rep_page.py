"""A salesperson's page for their manager (issue 28): consistency month by month over a year
against the target, the asks they answer, and the gaps ahead; a hand computation of each."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import CustomerFactory, PlannedVisitFactory, VisitFactory
from visits.ask_services import AskInput, ask_answer, asks_record
from visits.services import customer_cadence_refresh

pytestmark = pytest.mark.django_db


def _visit(customer, rep, days_ago: int):
    moment = timezone.make_aware(
        dt.datetime.combine(timezone.localdate() - dt.timedelta(days=days_ago), dt.time(10))
    )
    return VisitFactory(customer=customer, salesperson=rep, visited_at=moment)


def test_the_manager_reads_a_reps_year_against_the_target(client, world):
    rep, customer = world.rep_north, world.north_customer
    customer.cadence_days = 30
    customer.save()
    today = timezone.localdate()
    for days_ago in (122, 72, 52, 2):
        _visit(customer, rep, days_ago)
    rep.consistency_target = 70
    rep.save()
    (ask,) = asks_record(user=rep, customer=customer, asks=[AskInput(kind="price", text="Price")])
    ask_answer(user=rep, ask=ask, answer_kind="proposal", answer="Sent", value=None)
    due_soon = CustomerFactory(territory=customer.territory, owner=rep, cadence_days=30)
    _visit(due_soon, rep, 20)
    planned = CustomerFactory(territory=customer.territory, owner=rep, cadence_days=30)
    _visit(planned, rep, 20)
    PlannedVisitFactory(customer=planned, salesperson=rep)
    customer_cadence_refresh()

    client.force_login(world.north_manager)
    page = client.get(reverse("manage:rep", args=[rep.pk])).content.decode()
    # Gaps: 50 (missed), 20 (kept), 50 (missed): 1 of 3 kept.
    assert "33%</strong> of 3 gaps" in page
    assert "target <strong>70%</strong>" in page
    # Each gap counts in the month it ends: (gaps, kept) per month, computed by hand.
    by_month = {}
    for days_ago, gap in ((72, 50), (52, 20), (2, 50)):
        month = (today - dt.timedelta(days=days_ago)).strftime("%b %Y")
        gaps, kept = by_month.get(month, (0, 0))
        by_month[month] = (gaps + 1, kept + (gap <= 30))
    flat = "".join(page.split())
    for month, (gaps, kept) in by_month.items():
        row = f'<td>{month}</td><tdclass="num">{gaps}</td><tdclass="num">{kept}</td>'
        assert row.replace(" ", "") in flat, month
    assert "Asks received</dt><dd>1</dd>" in page
    assert "Answered</dt><dd>1</dd>" in page
    assert due_soon.name in page and planned.name not in page, "planned in time: no gap"
    assert customer.name in page, "last seen 2 days ago, due in 28, nothing planned"
    assert 'Gaps ahead <span class="muted">(2)</span>' in page

    client.force_login(world.south_manager)
    assert client.get(reverse("manage:rep", args=[rep.pk])).status_code == 404
    client.force_login(rep)
    assert client.get(reverse("manage:rep", args=[rep.pk])).status_code == 404, "managers only"


def test_the_reps_page_costs_the_same_for_a_larger_book(
    client, world, django_assert_max_num_queries
):
    rep = world.rep_north
    client.force_login(world.north_manager)
    url = reverse("manage:rep", args=[rep.pk])
    client.get(url)
    for _ in range(20):
        customer = CustomerFactory(territory=world.north_customer.territory, owner=rep)
        _visit(customer, rep, 10)
        _visit(customer, rep, 40)
    with django_assert_max_num_queries(12):
        assert client.get(url).status_code == 200
