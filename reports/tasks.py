"""Celery tasks of reports: thin wrappers that own time limits; the work is in the reports."""

import logging
import time

from celery import shared_task
from django.utils import timezone

from reports.outcomes import outcomes_measure

logger = logging.getLogger(__name__)


@shared_task(soft_time_limit=10 * 60, time_limit=12 * 60, expires=6 * 3600)
def outcomes_measure_task() -> int:
    """Nightly, after the monthly figures: every measurable review action's before and after
    sums, stored for the Outcomes page (written only where they changed)."""
    started = time.monotonic()
    written = outcomes_measure(today=timezone.localdate())
    logger.info("outcomes_measure written=%d seconds=%.1f", written, time.monotonic() - started)
    return written
