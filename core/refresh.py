"""How the lower layers ask for an account's derived figures to be brought up to date.

Visits, invoices, support cases and accounts are written by crm and visits; the figures derived
from them (metrics, flags, monthly figures, rollups) belong to health, a layer above. The lower
layers never import health. Instead:

- `customers_refresh_request(ids)`, called inside the writing transaction, records the refresh
  as pending in that transaction (so no Redis outage can lose it) and, once it commits, queues
  health's one refresh entry point by its task name, for the customers still pending when it
  runs. health clears the pending rows it answers and sweeps the ones whose task never ran.
- `customers_deletion(ids)` wraps a deletion of customers: the follow-ups that health registers
  at start-up (`register_deletion_follow_up`) read what they need before the rows go (the
  rollup segments the customers were in) and act after.
"""

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.enqueue import enqueue
from core.models import PendingRefresh

# health.tasks registers this task; a name, not an import, keeps core below health.
REFRESH_TASK = "health.tasks.health_refresh_for_customers"

AfterDeletion = Callable[[], None]
DeletionFollowUp = Callable[[list[int]], AfterDeletion]
_deletion_follow_ups: list[DeletionFollowUp] = []


def customers_refresh_request(customer_ids: Iterable[int]) -> None:
    """Record these customers' refresh as pending and queue it once the transaction commits."""
    ids = sorted(set(customer_ids))
    if not ids:
        return
    now = timezone.now()
    PendingRefresh.objects.bulk_create(
        [PendingRefresh(customer_id=pk, requested_at=now) for pk in ids],
        update_conflicts=True,
        unique_fields=["customer"],
        update_fields=["requested_at"],
    )
    transaction.on_commit(lambda: _enqueue_in_batches(ids))


def _enqueue_in_batches(ids: list[int]) -> None:
    """One task per CADENCE_BATCH_SIZE customers, so a change that touches a whole tier or
    every account (a cadence policy, the health settings) is shared by the workers and each
    task stays well inside its time limit."""
    size = settings.CADENCE_BATCH_SIZE
    for start in range(0, len(ids), size):
        enqueue(REFRESH_TASK, [ids[start : start + size], True])


def register_deletion_follow_up(follow_up: DeletionFollowUp) -> None:
    """`follow_up(ids)` runs before customers are deleted and returns what to run after."""
    if follow_up not in _deletion_follow_ups:
        _deletion_follow_ups.append(follow_up)


@contextmanager
def customers_deletion(customer_ids: list[int]) -> Iterator[None]:
    afterwards = [follow_up(customer_ids) for follow_up in _deletion_follow_ups]
    yield
    for after in afterwards:
        after()
