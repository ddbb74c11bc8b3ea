"""Celery tasks for imports: thin wrappers around imports.services."""

import logging
import time

from celery import shared_task

from imports.models import ImportJob
from imports.services import (
    customers_refresh_after_import,
    import_customer_ids,
    import_run,
    queue_customers_refresh,
)

logger = logging.getLogger(__name__)


@shared_task(soft_time_limit=50 * 60, time_limit=55 * 60, acks_late=False)
def import_run_task(job_id: int, dry_run: bool) -> dict:
    """Not acknowledged late: an import killed half-way has rolled back, and the admin starts
    it again from its page rather than a redelivery running it twice."""
    job = ImportJob.objects.get(pk=job_id)
    result = import_run(job=job, dry_run=dry_run)
    if not dry_run:
        queue_customers_refresh(import_customer_ids(job))
    return result.as_dict(job.kind)


@shared_task(soft_time_limit=50 * 60, time_limit=55 * 60)
def customers_refresh_task(customer_ids: list[int]) -> int:
    """After an import or its revert: the affected customers' figures, in set-based batches."""
    started = time.monotonic()
    customers_refresh_after_import(customer_ids)
    logger.info(
        "import customers_refresh customers=%d seconds=%.1f",
        len(customer_ids),
        time.monotonic() - started,
    )
    return len(customer_ids)
