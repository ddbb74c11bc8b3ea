"""One bad row must not stop a set-based job for everyone.

The refresh statements work on thousands of customers at once. If the database refuses the
result for one of them (a value out of range, a constraint), the whole statement fails. Rather
than fail the batch, `run_isolating` halves it and tries again, down to the single customer at
fault, which is skipped and logged with its id; every other customer is refreshed. A clean batch
costs one savepoint; a batch with one bad customer costs about log2(batch) extra passes.

Connection failures (OperationalError) are not data faults: they propagate, so the task's own
retry handles them.
"""

import logging
from collections.abc import Callable

from django.db import DataError, IntegrityError, transaction

logger = logging.getLogger(__name__)

DATA_FAULTS = (DataError, IntegrityError)


def run_isolating[T](
    ids: list[int], run: Callable[[list[int]], T], *, what: str, unit: str = "customer"
) -> list[T]:
    """`run(part)` over parts of `ids` that the database accepts, each in a savepoint; returns
    their results. The ids it refuses alone are logged as errors and left out."""
    if not ids:
        return []
    try:
        with transaction.atomic():
            return [run(ids)]
    except DATA_FAULTS as error:
        if len(ids) == 1:
            logger.error("%s failed for %s %s and skipped: %s", what, unit, ids[0], error)
            return []
        middle = len(ids) // 2
        return run_isolating(ids[:middle], run, what=what, unit=unit) + run_isolating(
            ids[middle:], run, what=what, unit=unit
        )
