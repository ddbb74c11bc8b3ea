"""A run's life: queued for a worker, claimed under its token, watched by its heartbeat, sent
again when its worker stops, given up when no worker takes it; the run itself, in one
transaction with the refresh it requests (core.refresh, like every other writer)."""

import datetime as dt
import logging
import uuid

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from core.cache import all_schedules_changed
from core.enqueue import enqueue
from core.events import announce, import_finished
from core.locks import IMPORT_LOCK
from core.refresh import customers_refresh_request
from core.sql import compose, identifier
from health.services import accounts_refresh
from imports.engine import ImportResult, import_execute
from imports.heartbeat import heartbeat_stale_after
from imports.kinds import KINDS
from imports.models import BUSY_STATUSES, EDITABLE_STATUSES, ImportJob, ImportKind, ImportStatus
from imports.progress import progress_report

logger = logging.getLogger(__name__)
# A queued job no worker has picked up in this long is given up.
STALLED_AFTER = dt.timedelta(hours=1)
# The import tasks by name: imports.tasks calls these services, so they do not import it back.
INSPECT_TASK = "imports.tasks.import_inspect_task"
RUN_TASK = "imports.tasks.import_run_task"
REVERT_TASK = "imports.tasks.import_revert_task"
# After a run's heartbeats stop, how long a live worker has to take it over before the run is
# given up (the reclaim is sent every 30 seconds; a worker busy with another import may take
# a while to get to it).
RECLAIM_GRACE = dt.timedelta(minutes=5)
ANALYZE_AFTER_CUSTOMERS = 5_000


def import_queue(*, job: ImportJob, dry_run: bool) -> ImportJob:
    """Hand the dry run or the import to a worker; the page polls its progress. One run per
    job: of two clicks (or two admins) only the first queues anything."""
    token = uuid.uuid4().hex
    queued = ImportJob.objects.filter(pk=job.pk, status__in=EDITABLE_STATUSES).update(
        status=ImportStatus.CHECKING if dry_run else ImportStatus.RUNNING,
        dry_run=dry_run,
        rows_per_second=0,
        run_token=token,
        queued_at=timezone.now(),
        started_at=None,
        heartbeat_at=None,
        error="",
    )
    job.refresh_from_db()
    if not queued:
        if job.is_busy:
            raise ValidationError("This import is already running.")
        raise ValidationError("This file has already been imported.")
    progress_report(job.pk, phase="queued", rows=0, percent=0, per_second=0)
    transaction.on_commit(
        lambda: send_or_give_up(
            job,
            RUN_TASK,
            [job.pk, dry_run, token],
            status=ImportStatus.FAILED,
            error="The task queue (Redis) is not answering; nothing was imported. Try again.",
        )
    )
    return job


def send_or_give_up(job: ImportJob, task: str, args: list, *, status: str, error: str) -> None:
    """Queue the job's task; if Redis does not take it, the job leaves its busy state with
    `error` at once (never left "running" for nobody)."""
    if not enqueue(task, args):
        ImportJob.objects.filter(pk=job.pk, run_token=job.run_token).update(
            status=status, error=error
        )


def import_claim(*, job_id: int, token: str) -> ImportJob | None:
    """The worker takes the job it was sent, unless that run was superseded (another token),
    finished or given up, or another worker is on it now (its heartbeat is fresh). A task
    redelivered after its worker died finds a stale heartbeat and takes the job over."""
    now = timezone.now()
    claimed = (
        ImportJob.objects.filter(pk=job_id, run_token=token, status__in=BUSY_STATUSES)
        .filter(Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - heartbeat_stale_after()))
        .update(heartbeat_at=now, started_at=now)
    )
    return ImportJob.objects.get(pk=job_id) if claimed else None


def import_is_stalled(job: ImportJob, *, now: dt.datetime | None = None) -> bool:
    """A busy job whose worker stopped beating (killed, machine gone): a live worker takes it
    over (`imports_stalled_reclaim`), starting again, as its transaction rolled back."""
    now = now or timezone.now()
    return (
        job.is_busy
        and job.heartbeat_at is not None
        and job.heartbeat_at < now - heartbeat_stale_after()
    )


def _task_of(job: ImportJob) -> tuple[str, list]:
    """The task, with its arguments, that runs the job's current step."""
    if job.status == ImportStatus.INSPECTING:
        return INSPECT_TASK, [job.pk, job.run_token]
    if job.status == ImportStatus.REVERTING:
        return REVERT_TASK, [job.pk, job.run_token]
    return RUN_TASK, [job.pk, job.status == ImportStatus.CHECKING, job.run_token]


def imports_stalled_reclaim() -> int:
    """Send the task of every busy job whose heartbeats stopped again, under the same run
    token, so a live worker claims it (the claim wants a stale heartbeat) without waiting for
    the broker to redeliver the dead worker's message (CELERY_VISIBILITY_TIMEOUT, 30 minutes).
    Once per stale window per run: a reclaim still waiting in the queue is not sent twice."""
    now = timezone.now()
    stale = heartbeat_stale_after()
    jobs = ImportJob.objects.filter(
        status__in=BUSY_STATUSES, heartbeat_at__lt=now - stale
    ).order_by("pk")
    sent = 0
    for job in jobs:
        if not cache.add(f"import-reclaim:{job.pk}:{job.run_token}", 1, stale.total_seconds()):
            continue
        task, args = _task_of(job)
        if enqueue(task, args):
            sent += 1
            logger.warning("import %s: its worker stopped; sent again for a live worker", job.pk)
    return sent


def import_give_up_if_stalled(job: ImportJob) -> ImportJob:
    """A busy job whose worker stopped and that no live worker took over within
    RECLAIM_GRACE after it went stale (no worker is running) is given up: its transaction
    rolled back, so nothing was written; the admin starts it again. A job no worker ever
    picked up is given up after STALLED_AFTER."""
    if not job.is_busy:
        return job
    now = timezone.now()
    if job.heartbeat_at is not None:
        stalled = job.heartbeat_at < now - heartbeat_stale_after() - RECLAIM_GRACE
        why = "its worker stopped and no other worker took it over"
    else:
        stalled = (job.queued_at or job.uploaded_at) < now - STALLED_AFTER
        why = "no worker picked it up"
    if stalled and job.status == ImportStatus.INSPECTING:
        ImportJob.objects.filter(pk=job.pk, status=job.status).update(
            status=ImportStatus.FAILED,
            error=f"The file was not read ({why}). Upload it again.",
        )
        job.refresh_from_db()
    elif stalled:
        reverting = job.status == ImportStatus.REVERTING
        ImportJob.objects.filter(pk=job.pk, run_token=job.run_token, status=job.status).update(
            status=ImportStatus.DONE if reverting else ImportStatus.FAILED,
            error=(
                f"The revert stopped without finishing ({why}); nothing was changed. "
                "Revert it again."
                if reverting
                else f"The run stopped without finishing ({why}); nothing was written. "
                "Start it again."
            ),
        )
        job.refresh_from_db()
    return job


def import_summary(job: ImportJob) -> dict:
    """What a finished import did, as the webhook `import.finished` carries it."""
    return {
        "id": job.pk,
        "kind": job.kind,
        "file": job.original_name,
        "status": job.status,
        "rows": job.rows,
        "created": job.created,
        "updated": job.updated,
        "unchanged": job.unchanged,
        "rejected": job.rejected,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def import_run(*, job: ImportJob, dry_run: bool) -> ImportResult:
    """Run (or dry-run) now, in this process: the worker's task and the command call this."""
    started = timezone.now()
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.CHECKING if dry_run else ImportStatus.RUNNING,
        dry_run=dry_run,
        started_at=started,
        error="",
    )

    def progress(phase: str, rows: int, share: float) -> None:
        seconds = max((timezone.now() - started).total_seconds(), 0.001)
        progress_report(
            job.pk,
            phase=phase,
            rows=rows,
            percent=round(share * 100),
            per_second=round(rows / seconds),
        )

    try:
        with transaction.atomic():
            result = import_execute(job, write=not dry_run, progress=progress)
            if not dry_run:
                # In the import's transaction, like every other writer: the refresh is pending
                # from the moment the rows are, whatever happens to the worker after.
                customers_refresh_request(import_customer_ids(job))
    except Exception as exc:
        logger.exception("import %s failed", job.pk)
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportStatus.FAILED,
            error=f"The import stopped: {exc}"[:2000],
            finished_at=timezone.now(),
        )
        progress_report(job.pk, phase="failed", rows=0, percent=0, per_second=0)
        raise
    finished = timezone.now()
    seconds = max((finished - started).total_seconds(), 0.001)
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.CHECKED if dry_run else ImportStatus.DONE,
        rows=result.rows,
        created=result.created,
        updated=result.updated,
        unchanged=result.unchanged,
        rejected=result.rejected,
        rows_per_second=round(result.rows / seconds),
        preview=result.preview,
        reject_samples=result.reject_samples,
        rejects_name=result.rejects_path.name if result.rejects_path else "",
        rejects_encoding=result.rejects_encoding,
        finished_at=finished,
    )
    progress_report(
        job.pk, phase="done", rows=result.rows, percent=100, per_second=round(result.rows / seconds)
    )
    job.refresh_from_db()
    if not dry_run:
        statistics_refresh_after(result.created + result.updated)
        all_schedules_changed()
        announce(import_finished, sender=ImportJob, summary=import_summary(job))
    logger.info(
        "import %s kind=%s dry_run=%s rows=%d created=%d updated=%d unchanged=%d rejected=%d "
        "seconds=%.1f",
        job.pk,
        job.kind,
        dry_run,
        result.rows,
        result.created,
        result.updated,
        result.unchanged,
        result.rejected,
        seconds,
    )
    return result


def import_customer_ids(job: ImportJob) -> list[int]:
    """The customers whose figures the import's created and updated rows change (none for
    exchange rates: an invoice keeps the rate it was saved with)."""
    if job.kind == ImportKind.EXCHANGE_RATES:
        return []
    table = KINDS[job.kind].table
    column = "id" if job.kind == ImportKind.CUSTOMERS else "customer_id"
    with connection.cursor() as cursor:
        cursor.execute(
            compose(
                """
            SELECT DISTINCT {column} FROM imports_importchange c
            JOIN {table} t ON t.id = c.object_id
            WHERE c.job_id = %s
            UNION
            SELECT DISTINCT (c.before ->> %s)::bigint FROM imports_importchange c
            WHERE c.job_id = %s AND c.before IS NOT NULL
            """,
                column=identifier("t", column),
                table=identifier(table),
            ),
            [job.pk, column, job.pk],
        )
        return sorted(row[0] for row in cursor.fetchall() if row[0] is not None)


@transaction.atomic
def customers_refresh_after_import(customer_ids: list[int]) -> None:
    """Everything derived from the imported customers, through health's one refresh entry
    point (set-based, a batch at a time). Under the import
    lock: a revert deleting these customers waits for it (or it for the revert)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [IMPORT_LOCK])
    statistics_refresh_after(len(customer_ids))
    accounts_refresh(customer_ids=customer_ids, as_of=timezone.localdate())


def statistics_refresh_after(rows_changed: int) -> None:
    """After a big import the planner's statistics describe the tables before it; with them the
    refresh statements that follow take several times longer."""
    if rows_changed >= ANALYZE_AFTER_CUSTOMERS:
        with connection.cursor() as cursor:
            cursor.execute(
                "ANALYZE crm_customer, crm_contact, crm_invoice, visits_visit, crm_supportcase"
            )
