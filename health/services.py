"""Writes of account health. `accounts_refresh` is the one way derived figures are brought up to
date: the per-change task, the review actions, the import and the nightly run all call it (the
nightly run a batch at a time through `accounts_refresh_range`)."""

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from core.models import PendingRefresh
from core.refresh import AfterDeletion, customers_refresh_request
from crm.models import Customer
from health.figures.months import monthly_window_start
from health.figures.refresh import (
    RefreshResult,
    figures_refresh_customers,
    figures_refresh_range,
    health_batches,
)
from health.models import AccountFlag, HealthSettings
from health.rollup import (
    rollup_rebuild,
    rollup_refresh_customers,
    rollup_refresh_segments,
    rollup_segments_of,
)
from visits.models import Visit
from visits.services import customer_cadence_refresh


def accounts_refresh(*, customer_ids: list[int], as_of: dt.date) -> RefreshResult:
    """Everything derived from these accounts, in batches of CADENCE_BATCH_SIZE: last visit and
    due date, metrics and flags, monthly figures, then the rollups of their segments (all
    segments once, when there is more than one batch: many customers touch most of them)."""
    ids = sorted(set(customer_ids))
    size = settings.CADENCE_BATCH_SIZE
    result = RefreshResult(as_of=as_of)
    for start in range(0, len(ids), size):
        batch = ids[start : start + size]
        customer_cadence_refresh(customer_ids=batch)
        result.merge(figures_refresh_customers(customer_ids=batch, as_of=as_of))
    if len(ids) > size:
        rollup_rebuild()
    elif ids:
        rollup_refresh_customers(customer_ids=ids)
    return result


def accounts_refresh_range(
    *, low: int, high: int, as_of: dt.date, full: bool = False
) -> RefreshResult:
    """One batch of the nightly run: the same refresh for customers low..high, except the
    rollups, rebuilt once when every batch is done, and the due dates, which the visits'
    own nightly job recomputes for everyone (the figures read the visits themselves).
    Customers already refreshed for `as_of` are passed over and closed months are brought
    forward rather than recomputed, unless `full`."""
    return figures_refresh_range(low=low, high=high, as_of=as_of, full=full)


def health_refresh_everything(*, as_of: dt.date, full: bool = False) -> RefreshResult:
    """The nightly run in this process, batch after batch (commands, the demo seed); the beat
    schedule fans the same batches out to the workers instead. The rollups are rebuilt when
    any batch wrote something."""
    total = RefreshResult(as_of=as_of)
    for low, high in health_batches():
        total.merge(accounts_refresh_range(low=low, high=high, as_of=as_of, full=full))
    if total.changed or full:
        rollup_rebuild()
    return total


# A request younger than this probably has its task on the queue already.
PENDING_GRACE = dt.timedelta(minutes=2)

_FORGET_ANSWERED_SQL = """
DELETE FROM crm_pendingrefresh p
USING unnest(%s::integer[], %s::timestamptz[]) AS answered (customer_id, requested_at)
WHERE p.customer_id = answered.customer_id AND p.requested_at = answered.requested_at
"""


def pending_refresh_run(
    *, customer_ids: list[int] | None = None, only_pending: bool = False
) -> int:
    """Refresh these customers (default: the longest-pending ones), then forget the pending
    requests this refresh answered: exactly the rows read before it began, so a request made
    while it ran stays pending. With `only_pending`, customers whose request was answered
    meanwhile (a review action refreshes at once) are skipped rather than refreshed twice.
    Returns how many customers were refreshed."""
    pending = PendingRefresh.objects.all()
    if customer_ids is None:
        pending = pending.filter(requested_at__lte=timezone.now() - PENDING_GRACE).order_by(
            "requested_at"
        )[: settings.CADENCE_BATCH_SIZE]
    else:
        pending = pending.filter(customer_id__in=customer_ids)
    answered = list(pending.values_list("customer_id", "requested_at"))
    if customer_ids is None or only_pending:
        ids = sorted({pk for pk, _ in answered})
    else:
        ids = sorted(set(customer_ids))
    if not ids:
        return 0
    accounts_refresh(customer_ids=ids, as_of=timezone.localdate())
    if answered:
        with connection.cursor() as cursor:
            customers, times = zip(*answered, strict=True)
            cursor.execute(_FORGET_ANSWERED_SQL, [list(customers), list(times)])
    return len(ids)


@transaction.atomic
def flag_acknowledge(*, flag: AccountFlag, user, reason: str, until: dt.date) -> AccountFlag:
    """A manager accepts a flag for now: it stays open but is not raised again before `until`."""
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why the flag is acknowledged."})
    if until <= timezone.localdate():
        raise ValidationError({"until": "Acknowledge until a future date."})
    if flag.resolved_at is not None:
        raise ValidationError("This flag is already resolved.")
    flag.acknowledged_by = user
    flag.acknowledged_at = timezone.now()
    flag.acknowledged_reason = reason
    flag.acknowledged_until = until
    flag.save(
        update_fields=[
            "acknowledged_by",
            "acknowledged_at",
            "acknowledged_reason",
            "acknowledged_until",
        ]
    )
    return flag


@transaction.atomic
def health_settings_save(*, health_settings: HealthSettings) -> HealthSettings:
    """New rates or thresholds change every account's figures: refresh them all (pending, so a
    worker does it; the nightly run would otherwise pick it up only the next night)."""
    health_settings.full_clean()
    health_settings.save()
    customers_refresh_request(Customer.objects.values_list("pk", flat=True))
    return health_settings


def hourly_cost_refresh_request(*, user, **_signal) -> None:
    """A salesperson's hourly cost prices their visits: the accounts they visited within the
    months kept are refreshed whole (their closed months too, which the nightly run does not
    recompute)."""
    first_month = monthly_window_start(timezone.localdate())
    customers_refresh_request(
        Visit.objects.filter(salesperson=user, visited_at__date__gte=first_month)
        .values_list("customer_id", flat=True)
        .distinct()
    )


def rollups_after_deletion(customer_ids: list[int]) -> AfterDeletion:
    """Registered with core.refresh: the segments deleted customers were rolled into, read
    before the delete, are rewritten after it."""
    segments = rollup_segments_of(customer_ids=customer_ids)
    return lambda: rollup_refresh_segments(segment_ids=segments)
