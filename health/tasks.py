"""Celery tasks: thin wrappers that own retries and time limits; the work is in the services."""

import datetime as dt
import logging
import time

from celery import chord, group, shared_task
from django.db import OperationalError
from django.utils import timezone

from core.cache import all_schedules_changed
from health.digest import digest_send
from health.figures.refresh import health_batches
from health.rollup import rollup_rebuild, rollups_behind_metrics
from health.services import accounts_refresh_range, pending_refresh_run

logger = logging.getLogger(__name__)
RETRY = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "retry_backoff_max": 600,
    "max_retries": 5,
}


@shared_task(soft_time_limit=5 * 60, time_limit=6 * 60, expires=6 * 3600)
def health_refresh_nightly(as_of: str | None = None) -> int:
    """Nightly: fan the full health refresh out as one task per id range, so every worker
    shares it, then rebuild the managers' rollups once every batch is done. Returns the
    number of batches queued."""
    day = as_of or timezone.localdate().isoformat()
    batches = health_batches()
    chord(
        group([accounts_refresh_batch.s(low, high, day) for low, high in batches]),
        rollup_rebuild_all.s(),
    ).apply_async()
    logger.info("health_refresh_nightly as_of=%s batches=%d", day, len(batches))
    return len(batches)


@shared_task(soft_time_limit=10 * 60, time_limit=12 * 60, expires=12 * 3600, **RETRY)
def accounts_refresh_batch(low: int, high: int, as_of: str) -> dict:
    started = time.monotonic()
    result = accounts_refresh_range(low=low, high=high, as_of=dt.date.fromisoformat(as_of))
    logger.info(
        "accounts_refresh_batch ids=%d-%d changed=%d opened=%s resolved=%s seconds=%.1f",
        low,
        high,
        result.customers,
        dict(result.opened),
        dict(result.resolved),
        time.monotonic() - started,
    )
    return {
        "opened": dict(result.opened),
        "resolved": dict(result.resolved),
        "changed": result.changed,
    }


@shared_task(soft_time_limit=10 * 60, time_limit=12 * 60, expires=12 * 3600, **RETRY)
def rollup_rebuild_all(batch_results: list[dict] | None = None) -> int:
    """After the nightly refresh: every segment's rollup for the managers' pages, unless the
    batches (the chord's results) all report that they wrote nothing, as a re-run does, and no
    metrics were written since the last rebuild (by a run whose chord never finished)."""
    if (
        batch_results is not None
        and not any(result.get("changed", True) for result in batch_results)
        and not rollups_behind_metrics()
    ):
        logger.info("rollup_rebuild skipped: no batch changed anything")
        return 0
    started = time.monotonic()
    segments = rollup_rebuild()
    # Who-to-visit lists order accounts by their refreshed revenue.
    all_schedules_changed()
    logger.info("rollup_rebuild segments=%d seconds=%.1f", segments, time.monotonic() - started)
    return segments


@shared_task(soft_time_limit=60, time_limit=90, expires=3600, **RETRY)
def health_refresh_for_customers(customer_ids: list[int], only_pending: bool = False) -> int:
    """After a visit, invoice, support case or account changed: refresh those customers now
    and clear the pending requests this answers. core.refresh queues it with `only_pending`,
    so a request already answered (by a review action's own refresh) is not done twice."""
    return pending_refresh_run(customer_ids=customer_ids, only_pending=only_pending)


@shared_task(soft_time_limit=10 * 60, time_limit=12 * 60, expires=10 * 60)
def health_refresh_pending() -> int:
    """Every few minutes: refreshes that could not be queued while the broker was down."""
    started = time.monotonic()
    refreshed = pending_refresh_run()
    if refreshed:
        logger.info(
            "health_refresh_pending customers=%d seconds=%.1f",
            refreshed,
            time.monotonic() - started,
        )
    return refreshed


@shared_task(soft_time_limit=10 * 60, time_limit=12 * 60, expires=6 * 3600, **RETRY)
def health_send_digests() -> int:
    return digest_send()
