"""One rule for "overdue": health's SQL (neglected, days overdue) and the pages' ORM (overdue,
days_overdue) agree on random customers — the cadence counts from crm.cadence in both."""

import datetime as dt

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.sql import compose, fragment, identifier
from crm.cadence import days_overdue_sql
from crm.models import Customer, CustomerStatus
from crm.selectors import with_overdue
from health.models import AccountMetrics
from health.services import accounts_refresh
from tests.factories import CustomerFactory, VisitFactory
from visits.services import customer_cadence_refresh

pytestmark = pytest.mark.django_db
AS_OF = dt.date(2026, 6, 30)

accounts = st.lists(
    st.tuples(
        st.sampled_from("ABCD"),
        st.sampled_from([CustomerStatus.ACTIVE, CustomerStatus.DORMANT]),
        st.integers(min_value=0, max_value=900),  # customer since, days before AS_OF
        st.one_of(st.none(), st.integers(min_value=0, max_value=400)),  # last visit, days before
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(rows=accounts, today_offset=st.integers(min_value=-30, max_value=30))
def test_health_and_the_pages_agree_on_overdue(world, rows, today_offset):
    # Both as of the same day (the nightly run's as-of is today, as the pages' is): nothing
    # visited after it.
    as_of = AS_OF + dt.timedelta(days=today_offset)
    made = []
    for tier, status, since_days, visit_days in rows:
        customer = CustomerFactory(
            territory=world.north,
            owner=world.rep_north,
            tier=tier,
            status=status,
            since=as_of - dt.timedelta(days=since_days),
        )
        if visit_days is not None:
            VisitFactory(
                customer=customer,
                salesperson=world.rep_north,
                visited_at=dt.datetime.combine(
                    as_of - dt.timedelta(days=visit_days), dt.time(12), tzinfo=dt.UTC
                ),
            )
        made.append(customer.pk)
    customer_cadence_refresh(customer_ids=made)
    accounts_refresh(customer_ids=made, as_of=as_of)
    try:
        pages = {c.pk: c for c in with_overdue(Customer.objects.filter(pk__in=made), today=as_of)}
        health = {m.customer_id: m for m in AccountMetrics.objects.filter(customer_id__in=made)}
        with connection.cursor() as cursor:
            cursor.execute(
                compose(
                    "SELECT id, {days} FROM crm_customer WHERE id = ANY(%s)",
                    days=days_overdue_sql(identifier("next_visit_due"), fragment("%s::date")),
                ),
                [as_of, made],
            )
            sql = dict(cursor.fetchall())
        for pk in made:
            page, metrics = pages[pk], health[pk]
            assert page.next_visit_due == metrics.next_due_on, pk
            assert page.is_overdue == metrics.is_neglected, pk
            assert page.days_overdue == sql[pk] == max(0, metrics.days_overdue), pk
    finally:
        Customer.objects.filter(pk__in=made).delete()
