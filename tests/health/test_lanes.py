"""The night's work runs on a lane of its own (config.celery.LANES), so the refresh after a visit
is logged never waits behind its batches: with the workers scripts/run and docker-compose start,
a visit logged while the night's tasks wait shows in the account's figures within 2 s."""

import datetime as dt
import time

import pytest
import redis
from celery import current_app
from django.conf import settings
from django.utils import timezone

from config.celery import route_task
from health.models import AccountMetrics, RollupRebuild
from health.tasks import health_refresh_nightly
from tests.conftest import start_worker, stop_worker
from tests.factories import CustomerFactory
from visits.models import Visit
from visits.services import visit_log

NIGHT = (
    "health.tasks.health_refresh_nightly",
    "health.tasks.accounts_refresh_batch",
    "health.tasks.rollup_rebuild_all",
    "visits.tasks.customers_refresh_cadence",
)


@pytest.mark.parametrize("task", NIGHT)
def test_the_nights_tasks_go_to_the_nightly_lane(task):
    queue = current_app.conf.task_default_queue
    assert route_task(task, (), {}, {}) == {"queue": f"{queue}.nightly"}


def test_a_per_change_refresh_stays_on_the_main_queue():
    assert route_task("health.tasks.health_refresh_for_customers", (), {}, {}) is None
    assert route_task("health.tasks.health_refresh_pending", (), {}, {}) is None


def log_today(world, customer):
    visit_log(
        user=world.rep_north,
        customer=customer,
        kind="on_site",
        visited_at=timezone.now() - dt.timedelta(hours=1),
        duration_minutes=30,
        notes="Signed the renewal",
    )


def refreshed_within(customer, seconds: float) -> float | None:
    """Seconds until the account's figures show its latest visit (by its local day: "an hour
    ago" just after midnight was yesterday), None if they never do."""
    visited = Visit.objects.filter(customer=customer).order_by("-visited_at").first().visited_at
    started = time.monotonic()
    while time.monotonic() < started + seconds:
        metrics = AccountMetrics.objects.filter(customer=customer).first()
        if metrics is not None and metrics.last_visit_on == timezone.localdate(visited):
            return time.monotonic() - started
        time.sleep(0.05)
    return None


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_visit_logged_while_the_night_waits_is_refreshed_at_once(world, monkeypatch):
    queue = f"test-night-{time.monotonic_ns()}"
    main = start_worker(
        queue, queues_args=("--exclude-queues", f"{queue}.webhooks,{queue}.nightly")
    )
    night = None
    monkeypatch.setitem(current_app.conf, "task_default_queue", queue)
    try:
        log_today(world, world.north_customer)  # the main worker is up once this is refreshed
        assert refreshed_within(world.north_customer, 30) is not None, "no main worker"

        health_refresh_nightly.delay()
        broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        assert broker.llen(f"{queue}.nightly") == 1, "the night waits on its own lane"
        customer = CustomerFactory(territory=world.north, owner=world.rep_north)
        log_today(world, customer)
        waited = refreshed_within(customer, 10)
        assert waited is not None and waited < 2, f"the refresh waited {waited} s"
        assert broker.llen(f"{queue}.nightly") == 1, "the main worker left the night alone"

        night = start_worker(queue, queues_args=("--queues", f"{queue}.nightly"))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not RollupRebuild.objects.exists():
            time.sleep(0.2)
        assert RollupRebuild.objects.exists(), "the nightly worker ran the night to its rollups"
    finally:
        stop_worker(main)
        if night is not None:
            stop_worker(night)
