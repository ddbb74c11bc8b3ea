"""Celery tasks for imports: thin wrappers around imports.services.

Each run carries its job's token and is acknowledged late: if its worker dies, the task is
redelivered (the import's transaction rolled back, so running it again is safe) and takes the
job over once the dead worker's heartbeat is stale; a task whose run was superseded does
nothing."""

import logging

from celery import shared_task
from django.core.exceptions import ValidationError

from imports.heartbeat import heartbeat
from imports.models import ImportJob, ImportStatus
from imports.progress import progress_report
from imports.reverts import import_revert
from imports.runs import (
    import_claim,
    import_run,
    imports_stalled_reclaim,
)
from imports.services import (
    import_files_clean,
    import_inspect,
)

logger = logging.getLogger(__name__)


@shared_task(soft_time_limit=5 * 60, time_limit=6 * 60)
def import_inspect_task(job_id: int, token: str) -> str | None:
    """Read an uploaded file's header and first rows (in a limited child process)."""
    job = import_claim(job_id=job_id, token=token)
    if job is None:
        return None
    with heartbeat(job.pk):
        return import_inspect(job).status


@shared_task(soft_time_limit=60, time_limit=90, expires=25)
def imports_stalled_reclaim_task() -> int:
    """Imports whose worker stopped: sent again for a live worker (every 30 seconds)."""
    return imports_stalled_reclaim()


@shared_task(soft_time_limit=10 * 60, time_limit=12 * 60, expires=6 * 3600)
def import_files_clean_task() -> int:
    return import_files_clean()


@shared_task(soft_time_limit=20 * 60, time_limit=25 * 60)
def import_run_task(job_id: int, dry_run: bool, token: str) -> dict | None:
    job = import_claim(job_id=job_id, token=token)
    if job is None:
        logger.info("import %s: run %s superseded or taken; nothing to do", job_id, token)
        return None
    with heartbeat(job.pk):
        result = import_run(job=job, dry_run=dry_run)
    return result.as_dict(job.kind)


@shared_task(soft_time_limit=20 * 60, time_limit=25 * 60)
def import_revert_task(job_id: int, token: str) -> int | None:
    """Revert; the refresh of the customers it touched is requested in its transaction."""
    job = import_claim(job_id=job_id, token=token)
    if job is None:
        logger.info("revert of import %s: run %s superseded or taken", job_id, token)
        return None
    with heartbeat(job.pk):
        progress_report(job.pk, phase="reverting", rows=0, percent=10, per_second=0)
        try:
            customer_ids = import_revert(job=job, user=job.reverted_by)
        except ValidationError as exc:
            _revert_refused(job, "Cannot revert: " + " ".join(exc.messages))
            return None
        except Exception as exc:
            _revert_refused(job, f"The revert stopped: {exc}"[:2000])
            raise
        progress_report(job.pk, phase="done", rows=0, percent=100, per_second=0)
    return len(customer_ids)


def _revert_refused(job: ImportJob, error: str) -> None:
    ImportJob.objects.filter(pk=job.pk, status=ImportStatus.REVERTING).update(
        status=ImportStatus.DONE, error=error
    )
