"""The managers' pages and exports read from the replica when one is configured; writes, and the
pages that write, stay on the primary. scripts/test sets DATABASE_REPLICA_URL, so the "replica"
alias exists and mirrors the test database."""

import pytest
from django.conf import settings
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from health.services import health_refresh_everything

pytestmark = [
    pytest.mark.skipif("replica" not in settings.DATABASES, reason="no replica alias"),
    pytest.mark.django_db(transaction=True, databases=["default", "replica"]),
]


@pytest.fixture(autouse=True)
def replica_reads_on(settings):
    settings.CADENCE_REPLICA_READS = True


def _queries(client, method: str, url: str, data=None) -> tuple[int, int, object]:
    with (
        CaptureQueriesContext(connections["replica"]) as replica,
        CaptureQueriesContext(connections["default"]) as default,
    ):
        response = getattr(client, method)(url, data) if data else getattr(client, method)(url)
        if response.streaming:
            response.content_bytes = b"".join(response.streaming_content)
    return len(replica), len(default), response


def test_managers_pages_and_csv_read_from_the_replica(client, world):
    health_refresh_everything(as_of=timezone.localdate())
    client.force_login(world.north_manager)
    for url in (
        reverse("manage:dashboard"),
        reverse("manage:profitability"),
        reverse("manage:review"),
        reverse("manage:team_schedule"),
        reverse("manage:account_list", args=["overdue"]),
    ):
        on_replica, on_default, response = _queries(client, "get", url)
        assert response.status_code == 200, url
        assert on_replica >= 3, url
        assert on_default <= 2, f"{url}: only the session and the user from the primary"

    on_replica, _, export = _queries(
        client, "get", reverse("manage:account_list", args=["overdue"]) + "?format=csv"
    )
    assert export.content_bytes.startswith(b"code,name")
    assert on_replica >= 1, "the CSV's rows stream from the replica"


def test_writes_and_the_salespersons_pages_stay_on_the_primary(client, world):
    client.force_login(world.north_manager)
    on_replica, _, response = _queries(
        client,
        "post",
        reverse("manage:review_action", args=[world.north_customer.pk]),
        {"action": "tier", "tier": "A"},
    )
    assert response.status_code in (200, 302)
    assert on_replica == 0
    world.north_customer.refresh_from_db()
    assert world.north_customer.tier == "A"

    client.force_login(world.rep_north)
    on_replica, _, response = _queries(client, "get", reverse("visits:schedule"))
    assert response.status_code == 200 and on_replica == 0


def test_the_replica_can_be_switched_off(client, world, settings):
    settings.CADENCE_REPLICA_READS = False
    client.force_login(world.north_manager)
    on_replica, _, response = _queries(client, "get", reverse("manage:dashboard"))
    assert response.status_code == 200 and on_replica == 0
