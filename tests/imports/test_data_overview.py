"""The admin's /data/ page: exact where cheap, estimates (said so) for the long histories."""

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

import core.counting
from core.counting import table_count
from crm.models import Customer
from health.services import health_refresh_everything
from tests.factories import CustomerFactory, VisitFactory
from visits.models import Visit

pytestmark = pytest.mark.django_db


def test_a_table_never_analyzed_or_small_is_counted_exactly(world):
    VisitFactory.create_batch(3, customer=world.north_customer, salesperson=world.rep_north)
    assert table_count(Visit) == (Visit.objects.count(), True)


def test_a_large_table_is_estimated_from_the_statistics_and_shown_as_such(
    client, world, monkeypatch
):
    VisitFactory.create_batch(7, customer=world.north_customer, salesperson=world.rep_north)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE visits_visit")
    monkeypatch.setattr(core.counting, "EXACT_COUNT_BELOW", 1)
    assert table_count(Visit) == (7, False)
    client.force_login(world.admin)
    page = client.get(reverse("accounts:admin_home"))
    visits = next(row for row in page.context["overview"]["counts"] if row[0] == "Visits")
    assert visits[1:3] == (7, False)
    assert "≈ 7" in page.text


def test_customers_by_territory_and_status_add_up_to_the_customers(client, world):
    for status in ("prospect", "dormant"):
        CustomerFactory(territory=world.north_coast, owner=world.rep_coast, status=status)
    health_refresh_everything(as_of=timezone.localdate())
    client.force_login(world.admin)
    overview = client.get(reverse("accounts:admin_home")).context["overview"]
    by_territory = {t.name: t.customer_count for t in overview["territories"]}
    for territory in (world.north, world.north_coast, world.south):
        assert by_territory[territory.name] == Customer.objects.filter(territory=territory).count()
    statuses = dict(overview["status_counts"])
    assert sum(statuses.values()) == Customer.objects.count() == overview["counts"][0][1]
    assert statuses["Prospect"] == Customer.objects.filter(status="prospect").count() >= 1
