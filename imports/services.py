"""Writes for imports: upload, configure, run (dry or for real), revert, presets."""

import datetime as dt
import logging
import uuid
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Territory, User
from core.cache import all_schedules_changed
from core.enqueue import enqueue
from core.events import announce, import_finished
from core.locks import IMPORT_LOCK
from core.refresh import customers_refresh_request
from crm.models import Customer
from crm.services import customers_delete
from health.services import accounts_refresh
from imports.engine import ImportResult, import_execute, media_path
from imports.heartbeat import heartbeat_stale_after
from imports.inspection import inspect_isolated
from imports.kinds import KINDS, missing_required, propose_mapping
from imports.models import (
    BUSY_STATUSES,
    DateOrder,
    ImportChange,
    ImportJob,
    ImportKind,
    ImportStatus,
    MappingPreset,
)
from imports.progress import progress_report
from imports.readers import ImportFileError, sniff_file

logger = logging.getLogger(__name__)
ORPHAN_AFTER = dt.timedelta(days=1)
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
EDITABLE_STATUSES = frozenset({ImportStatus.UPLOADED, ImportStatus.CHECKED, ImportStatus.FAILED})
ANALYZE_AFTER_CUSTOMERS = 5_000
ALLOWED_SUFFIXES = {".csv", ".txt", ".tsv", ".xlsx"}


def import_upload(
    *, user: User, kind: str, name: str, chunks, size: int, sheet: str = "", max_bytes: int
) -> ImportJob:
    """Store and read the file in this process (the command and scripts): the job comes back
    ready for its mapping, or ValidationError says why the file cannot be imported (and
    nothing is kept)."""
    job = import_store(
        user=user, kind=kind, name=name, chunks=chunks, size=size, sheet=sheet, max_bytes=max_bytes
    )
    job = import_inspect(job)
    if job.status == ImportStatus.FAILED:
        error = job.error
        job.delete()
        raise ValidationError({"file": error})
    return job


def import_store(
    *, user: User, kind: str, name: str, chunks, size: int, sheet: str = "", max_bytes: int
) -> ImportJob:
    """Store an uploaded file under a name Cadence makes, after only the checks that cost
    nothing (kind, extension, size, empty, binary, not a ZIP): reading it is the worker's job
    (`import_inspect`). The file's own name is kept for display only."""
    if kind not in KINDS:
        raise ValidationError({"kind": "Choose what the file contains."})
    suffix = Path(name).suffix.lower()
    if suffix not in ALLOWED_SUFFIXES:
        raise ValidationError({"file": "Upload a CSV (.csv, .txt, .tsv) or Excel (.xlsx) file."})
    if size > max_bytes:
        raise ValidationError(
            {"file": f"The file is {size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB."}
        )
    stored = f"{uuid.uuid4().hex}{'.xlsx' if suffix == '.xlsx' else '.csv'}"
    path = media_path(stored)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        for chunk in chunks:
            handle.write(chunk)
    try:
        file_format = sniff_file(path)
    except ImportFileError as exc:
        path.unlink(missing_ok=True)
        raise ValidationError({"file": str(exc)}) from exc
    return ImportJob.objects.create(
        kind=kind,
        original_name=Path(name).name[:255],
        stored_name=stored,
        size=size,
        file_format=file_format,
        sheet=sheet,
        status=ImportStatus.INSPECTING,
        run_token=uuid.uuid4().hex,
        queued_at=timezone.now(),
        uploaded_by=user,
    )


def import_inspect_queue(job: ImportJob) -> None:
    """After the upload's commit: a worker reads the file while the page polls."""
    transaction.on_commit(
        lambda: _send_or_give_up(
            job,
            INSPECT_TASK,
            [job.pk, job.run_token],
            status=ImportStatus.FAILED,
            error="The task queue (Redis) is not answering, so the file could not be read. "
            "Upload it again.",
        )
    )


def import_inspect(job: ImportJob) -> ImportJob:
    """Read the stored file's shape in a child process with memory and time limits; the job
    becomes ready for its mapping, or fails with the reason (and its file is deleted)."""
    path = media_path(job.stored_name)
    try:
        found = inspect_isolated(
            path,
            sheet=job.sheet,
            memory_mb=settings.CADENCE_IMPORT_INSPECT_MB,
            seconds=settings.CADENCE_IMPORT_INSPECT_SECONDS,
        )
    except ImportFileError as exc:
        path.unlink(missing_ok=True)
        ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.FAILED, error=str(exc))
        job.refresh_from_db()
        return job
    info = found.info
    ImportJob.objects.filter(pk=job.pk).update(
        file_format=info.file_format,
        encoding=info.encoding,
        delimiter=info.delimiter,
        sheet=info.sheet,
        headers=info.headers,
        sample=found.sample,
        mapping=propose_mapping(KINDS[job.kind], info.headers),
        date_order=found.date_order or DateOrder.DMY,
        dates_ambiguous=found.dates_ambiguous,
        status=ImportStatus.UPLOADED,
        error="",
    )
    job.refresh_from_db()
    return job


def import_files_clean() -> int:
    """Nightly: uploaded files and rejects files that no import refers to any more (an upload
    refused half-way, a job deleted), once a day old. Returns how many were removed."""
    folder = media_path("x").parent
    if not folder.is_dir():
        return 0
    known = set(ImportJob.objects.values_list("stored_name", flat=True)) | set(
        ImportJob.objects.values_list("rejects_name", flat=True)
    )
    cutoff = (timezone.now() - ORPHAN_AFTER).timestamp()
    removed = 0
    for path in folder.iterdir():
        if path.is_file() and path.name not in known and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def import_configure(
    *,
    job: ImportJob,
    mapping: dict[str, str],
    date_order: str,
    default_owner: User | None,
    default_territory: Territory | None,
) -> ImportJob:
    """Save the admin's mapping and options; refuse a mapping without a required field."""
    if job.status not in EDITABLE_STATUSES:
        raise ValidationError("This import is already running or done; it can no longer change.")
    kind = KINDS[job.kind]
    known = {f.name for f in kind.fields}
    mapping = {h: f for h, f in mapping.items() if h in job.headers and f in known}
    fields = list(mapping.values())
    twice = sorted({kind.field(f).label for f in fields if fields.count(f) > 1})
    if twice:
        raise ValidationError(f"Each field can take one column; more than one: {', '.join(twice)}.")
    missing = missing_required(
        kind,
        mapping,
        has_default_territory=default_territory is not None,
        has_default_owner=default_owner is not None,
    )
    if missing:
        raise ValidationError(f"Map a column to: {', '.join(missing)}.")
    if date_order not in DateOrder.values:
        raise ValidationError("Choose how the file writes dates.")
    # A conditional update, not save(): a second click must not put a job a first click has
    # just queued back to "uploaded" (and so run it twice).
    changed = ImportJob.objects.filter(pk=job.pk, status__in=EDITABLE_STATUSES).update(
        mapping=mapping,
        date_order=date_order,
        default_owner=default_owner,
        default_territory=default_territory,
        status=ImportStatus.UPLOADED,
        error="",
    )
    job.refresh_from_db()
    if not changed:
        raise ValidationError("This import is already running or done; it can no longer change.")
    return job


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
        lambda: _send_or_give_up(
            job,
            RUN_TASK,
            [job.pk, dry_run, token],
            status=ImportStatus.FAILED,
            error="The task queue (Redis) is not answering; nothing was imported. Try again.",
        )
    )
    return job


def _send_or_give_up(job: ImportJob, task: str, args: list, *, status: str, error: str) -> None:
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
    column = "t.id" if job.kind == "customers" else "t.customer_id"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT DISTINCT {column} FROM imports_importchange c
            JOIN {table} t ON t.id = c.object_id
            WHERE c.job_id = %s
            UNION
            SELECT DISTINCT (c.before ->> %s)::bigint FROM imports_importchange c
            WHERE c.job_id = %s AND c.before IS NOT NULL
            """,
            [job.pk, "id" if job.kind == "customers" else "customer_id", job.pk],
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


def import_revert_blockers(job: ImportJob) -> list[str]:
    """Why the import cannot be reverted: it is not finished, another import or revert is
    running (it could write the same rows), or something newer depends on what it wrote."""
    if job.status not in {ImportStatus.DONE, ImportStatus.REVERTING}:
        return ["Only a finished import can be reverted."]
    table = KINDS[job.kind].table
    reasons = []
    others_busy = (
        ImportJob.objects.filter(status__in=BUSY_STATUSES - {ImportStatus.CHECKING})
        .exclude(pk=job.pk)
        .exists()
    )
    if others_busy:
        reasons.append("Another import is running or being reverted; try when it has finished.")
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(DISTINCT c.object_id) FROM imports_importchange c
            JOIN imports_importchange later ON later.object_id = c.object_id
            JOIN imports_importjob j ON j.id = later.job_id
            WHERE c.job_id = %s AND later.job_id <> c.job_id AND j.kind = %s
              AND j.status = %s AND j.started_at > %s
            """,
            [job.pk, job.kind, ImportStatus.DONE, job.started_at],
        )
        if n := cursor.fetchone()[0]:
            reasons.append(f"{n} of its rows were changed again by a later import.")
        if table in {"crm_customer", "visits_visit"}:
            cursor.execute(
                f"""
                SELECT count(*) FROM imports_importchange c JOIN {table} t ON t.id = c.object_id
                WHERE c.job_id = %s AND t.updated_at > %s
                """,
                [job.pk, job.finished_at],
            )
            if n := cursor.fetchone()[0]:
                reasons.append(f"{n} of its rows were edited after the import.")
        if job.kind == "customers":
            cursor.execute(
                """
                SELECT count(DISTINCT c.object_id) FROM imports_importchange c
                WHERE c.job_id = %s AND c.created AND (
                    EXISTS (SELECT 1 FROM visits_visit v WHERE v.customer_id = c.object_id)
                    OR EXISTS (SELECT 1 FROM crm_invoice i WHERE i.customer_id = c.object_id)
                    OR EXISTS (SELECT 1 FROM crm_contact k WHERE k.customer_id = c.object_id)
                    OR EXISTS (SELECT 1 FROM crm_supportcase s WHERE s.customer_id = c.object_id))
                """,
                [job.pk],
            )
            if n := cursor.fetchone()[0]:
                reasons.append(
                    f"{n} customers it created now have contacts, visits, invoices or cases."
                )
    return reasons


def import_revert_queue(*, job: ImportJob, user: User) -> ImportJob:
    """Hand the revert to a worker (a large import's revert takes longer than a request may);
    the page polls it like an import."""
    blockers = import_revert_blockers(job)
    if blockers:
        raise ValidationError(" ".join(blockers))
    token = uuid.uuid4().hex
    queued = ImportJob.objects.filter(pk=job.pk, status=ImportStatus.DONE).update(
        status=ImportStatus.REVERTING,
        run_token=token,
        queued_at=timezone.now(),
        heartbeat_at=None,
        reverted_by=user,
        error="",
    )
    job.refresh_from_db()
    if not queued:
        raise ValidationError("This import is already being reverted.")
    progress_report(job.pk, phase="queued", rows=0, percent=0, per_second=0)
    transaction.on_commit(
        lambda: _send_or_give_up(
            job,
            REVERT_TASK,
            [job.pk, token],
            status=ImportStatus.DONE,
            error="The task queue (Redis) is not answering; nothing was reverted. Try again.",
        )
    )
    return job


def import_revert(*, job: ImportJob, user: User) -> list[int]:
    """Remove the rows the import created and restore the ones it updated, asking in the same
    transaction for the refresh of the customers that remain (those it created are gone with
    their figures). Returns the customers it touched. Holds the import lock, so no import runs
    in between and no two reverts interleave."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [IMPORT_LOCK])
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        blockers = import_revert_blockers(job)
        if blockers:
            raise ValidationError(" ".join(blockers))
        customer_ids = import_customer_ids(job)
        table = KINDS[job.kind].table
        # Created rows go first (through the ORM, so what hangs off them goes too): a restored
        # row may take back a unique value one of them holds, like a customer's primary contact.
        created = ImportChange.objects.filter(job=job, created=True).values("object_id")
        if KINDS[job.kind].model is Customer:
            customers_delete(customer_ids=[row["object_id"] for row in created])
        else:
            KINDS[job.kind].model.objects.filter(pk__in=created).delete()
        with connection.cursor() as cursor:
            columns = _column_list(cursor, table)
            cursor.execute(
                f"""
                UPDATE {table} t SET ({", ".join(columns)}) = (
                    SELECT {", ".join(f"r.{c}" for c in columns)}
                    FROM jsonb_populate_record(NULL::{table}, c.before) r)
                FROM imports_importchange c
                WHERE c.job_id = %s AND NOT c.created AND t.id = c.object_id
                """,
                [job.pk],
            )
        customers_refresh_request(
            Customer.objects.filter(pk__in=customer_ids).values_list("pk", flat=True)
        )
        all_schedules_changed()
        job.status = ImportStatus.REVERTED
        job.reverted_at = timezone.now()
        job.reverted_by = user
        job.save(update_fields=["status", "reverted_at", "reverted_by"])
    return customer_ids


def _column_list(cursor, table: str) -> list[str]:
    cursor.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = %s AND column_name <> 'id' ORDER BY ordinal_position",
        [table],
    )
    return [row[0] for row in cursor.fetchall()]


def preset_save(*, name: str, kind: str, mapping: dict[str, str], user: User) -> MappingPreset:
    name = name.strip()
    if not name:
        raise ValidationError({"preset_name": "Name the preset."})
    preset, _ = MappingPreset.objects.update_or_create(
        kind=kind, name=name, defaults={"mapping": mapping, "created_by": user}
    )
    return preset


def preset_apply(*, job: ImportJob, preset: MappingPreset) -> ImportJob:
    """Take the preset's mapping for the headers this file has."""
    job.mapping = {h: f for h, f in preset.mapping.items() if h in job.headers}
    job.save(update_fields=["mapping"])
    return job
