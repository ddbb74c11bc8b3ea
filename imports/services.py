"""Writes for imports before a run: upload, the file's inspection, the mapping, presets. A run's
life (queue, claim, reclaim, run) is imports.runs; undoing one is imports.reverts."""

import datetime as dt
import logging
import uuid
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Territory, User
from imports.engine import media_path
from imports.inspection import inspect_isolated
from imports.kinds import KINDS, missing_required, propose_mapping
from imports.models import (
    EDITABLE_STATUSES,
    DateOrder,
    ImportJob,
    ImportStatus,
    MappingPreset,
)
from imports.readers import ImportFileError, sniff_file
from imports.runs import INSPECT_TASK, send_or_give_up

logger = logging.getLogger(__name__)
ORPHAN_AFTER = dt.timedelta(days=1)
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
        lambda: send_or_give_up(
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
