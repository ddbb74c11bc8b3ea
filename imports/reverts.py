"""Undoing a finished import: what stops it, handing it to a worker, and the revert itself (the
rows it created removed, those it updated restored from what they were before)."""

import uuid

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from core.cache import all_schedules_changed
from core.locks import IMPORT_LOCK
from core.refresh import customers_refresh_request
from core.sql import compose, identifier, joined
from crm.models import Customer
from crm.services import customers_delete
from imports.kinds import KINDS
from imports.models import BUSY_STATUSES, ImportChange, ImportJob, ImportStatus
from imports.progress import progress_report
from imports.runs import REVERT_TASK, import_customer_ids, send_or_give_up


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
                compose(
                    """
                SELECT count(*) FROM imports_importchange c JOIN {table} t ON t.id = c.object_id
                WHERE c.job_id = %s AND t.updated_at > %s
                """,
                    table=identifier(table),
                ),
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
        lambda: send_or_give_up(
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
                compose(
                    """
                UPDATE {table} t SET ({columns}) = (
                    SELECT {restored}
                    FROM jsonb_populate_record(NULL::{table}, c.before) r)
                FROM imports_importchange c
                WHERE c.job_id = %s AND NOT c.created AND t.id = c.object_id
                """,
                    table=identifier(table),
                    columns=joined(identifier(column) for column in columns),
                    restored=joined(identifier("r", column) for column in columns),
                ),
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
