"""Reads that may come from a read replica: the managers' pages and exports.

With `DATABASE_REPLICA_URL` set, the views wrapped in `reads_from_replica` read from the
"replica" database (a streaming CSV too, while it streams); everything else — writes, logins,
the salesperson's pages, jobs — uses "default". CADENCE_REPLICA_READS=false switches the
replica off without removing it (e.g. while it lags). A replica a few seconds behind is fine for
figures refreshed at night and after each change; a page that writes (a review action) stays on
"default" so it reads what it just wrote. Without the setting there is no "replica" alias and
nothing changes.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps

from django.conf import settings

REPLICA = "replica"
_replica_reads: ContextVar[bool] = ContextVar("replica_reads", default=False)


@contextmanager
def replica_reads() -> Iterator[None]:
    token = _replica_reads.set(True)
    try:
        yield
    finally:
        _replica_reads.reset(token)


def _streamed_from_replica(chunks) -> Iterator:
    with replica_reads():
        yield from chunks


def reads_from_replica(view: Callable) -> Callable:
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        with replica_reads():
            response = view(request, *args, **kwargs)
        if response.streaming:
            response.streaming_content = _streamed_from_replica(response.streaming_content)
        return response

    return wrapped


class ReplicaRouter:
    def db_for_read(self, model, **hints) -> str | None:
        if (
            _replica_reads.get()
            and settings.CADENCE_REPLICA_READS
            and REPLICA in settings.DATABASES
        ):
            return REPLICA
        return None

    def db_for_write(self, model, **hints) -> str | None:
        return "default"

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        # The replica holds the same rows: an object read there may point at one from default.
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints) -> bool:
        return db == "default"
