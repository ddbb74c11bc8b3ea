"""The cadence rule has one home (crm/cadence.py): its SQL and Python forms agree, and every
path that changes a cadence (account edit, tier policy, admin) moves the due dates."""

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from core.models import PendingRefresh
from core.sql import compose, identifier
from crm.cadence import cadence_days_for, cadence_days_sql, cadence_sql_params, next_due_sql
from crm.models import CadencePolicy, Customer, Tier
from crm.services import cadence_policy_delete, cadence_policy_save
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def _sql_rule() -> dict[int, tuple[int, dt.date]]:
    with connection.cursor() as cursor:
        cursor.execute(
            compose(
                "SELECT c.id, {days}, {due} FROM crm_customer c",
                days=cadence_days_sql("c"),
                due=next_due_sql("c", identifier("c", "last_visit_at")),
            ),
            cadence_sql_params(),
        )
        return {pk: (days, due) for pk, days, due in cursor.fetchall()}


def test_sql_and_python_agree_on_own_policy_and_built_in_cadences(world):
    CadencePolicy.objects.update_or_create(tier=Tier.A, defaults={"days": 7})
    CadencePolicy.objects.filter(tier=Tier.C).delete()
    since = dt.date(2026, 1, 10)
    own = CustomerFactory(territory=world.north, tier=Tier.B, cadence_days=45, since=since)
    by_policy = CustomerFactory(territory=world.north, tier=Tier.A, since=since)
    built_in = CustomerFactory(territory=world.north, tier=Tier.C, since=since)
    visited = timezone.make_aware(dt.datetime(2026, 3, 1, 23, 30))
    Customer.objects.filter(pk=by_policy.pk).update(last_visit_at=visited)

    rule = _sql_rule()

    assert rule[own.pk] == (45, since + dt.timedelta(days=45))
    assert rule[by_policy.pk] == (7, dt.date(2026, 3, 8))
    assert rule[built_in.pk] == (60, since + dt.timedelta(days=60))
    for account in (own, by_policy, built_in):
        assert cadence_days_for(account) == rule[account.pk][0]


def test_a_tier_policy_change_moves_due_dates_and_asks_for_a_health_refresh(world):
    since = timezone.localdate() - dt.timedelta(days=20)
    account = CustomerFactory(territory=world.north, tier=Tier.B, since=since)
    other_tier = CustomerFactory(territory=world.north, tier=Tier.A, since=since)
    policy, _ = CadencePolicy.objects.get_or_create(tier=Tier.B, defaults={"days": 30})
    other_due = Customer.objects.get(pk=other_tier.pk).next_visit_due

    policy.days = 10
    cadence_policy_save(policy=policy)

    account.refresh_from_db()
    assert account.next_visit_due == since + dt.timedelta(days=10)
    assert Customer.objects.get(pk=other_tier.pk).next_visit_due == other_due
    pending = set(PendingRefresh.objects.values_list("customer_id", flat=True))
    assert account.pk in pending and other_tier.pk not in pending
    assert pending == set(Customer.objects.filter(tier=Tier.B).values_list("pk", flat=True))

    cadence_policy_delete(policy=policy)
    account.refresh_from_db()
    assert account.next_visit_due == since + dt.timedelta(days=30), "built-in default for B"


def test_the_admin_edits_a_tier_policy_through_the_service(client, world):
    since = timezone.localdate() - dt.timedelta(days=20)
    account = CustomerFactory(territory=world.north, tier=Tier.D, since=since)
    policy, _ = CadencePolicy.objects.get_or_create(tier=Tier.D, defaults={"days": 90})
    client.force_login(world.admin)

    response = client.post(
        f"/admin/crm/cadencepolicy/{policy.pk}/change/", {"tier": "D", "days": "5"}
    )

    assert response.status_code == 302
    account.refresh_from_db()
    assert account.next_visit_due == since + dt.timedelta(days=5)
    assert PendingRefresh.objects.filter(customer=account).exists()
