"""A worker running an import or a revert writes `heartbeat_at` every few seconds from a thread
of its own (its own connection, so the beat is visible while the import's transaction is still
open). When the beats stop, the worker died: the page gives the job up instead of showing
"Importing… 34%" for an hour, and a redelivered task may take the job over."""

import datetime as dt
import threading
from contextlib import contextmanager

from django.conf import settings
from django.db import connection
from django.utils import timezone

from imports.models import ImportJob

# A job whose last beat is this many intervals old has lost its worker.
STALE_AFTER_BEATS = 8


def heartbeat_stale_after() -> dt.timedelta:
    return dt.timedelta(seconds=settings.CADENCE_IMPORT_HEARTBEAT_SECONDS * STALE_AFTER_BEATS)


@contextmanager
def heartbeat(job_id: int):
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(settings.CADENCE_IMPORT_HEARTBEAT_SECONDS):
                ImportJob.objects.filter(pk=job_id).update(heartbeat_at=timezone.now())
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"import-{job_id}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
