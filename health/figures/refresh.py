"""Runs the figures' statements (health.figures.year, .flags, .months) for a batch of customers:
an id range for the nightly batches, a list of ids for the refresh that follows a change, the
same statements per batch whatever its size, in one transaction. Re-running with the same as-of
date changes nothing. health.services is the one caller (accounts_refresh, the nightly range)."""

import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.events import announce, flags_changed
from core.isolation import DATA_FAULTS, run_isolating
from crm.models import Customer
from health.figures.batch import BY_IDS, BY_RANGE, Scope
from health.figures.flags import flag_statements
from health.figures.months import month_statements, monthly_window_start
from health.figures.year import WINDOW_DAYS, metrics_statement
from health.selectors import health_settings

logger = logging.getLogger(__name__)


@dataclass
class RefreshResult:
    as_of: dt.date
    customers: int = 0
    opened: Counter = field(default_factory=Counter)
    resolved: Counter = field(default_factory=Counter)
    reraised: Counter = field(default_factory=Counter)
    months: int = 0

    @property
    def changed(self) -> bool:
        """Whether anything was written (a re-run for the same day writes nothing)."""
        return bool(self.customers or self.months or self.opened or self.resolved or self.reraised)

    def merge(self, other: "RefreshResult") -> None:
        self.customers += other.customers
        self.months += other.months
        self.opened.update(other.opened)
        self.resolved.update(other.resolved)
        self.reraised.update(other.reraised)


def _start_of(day: dt.date, tz) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=tz)


def _parameters(as_of: dt.date) -> dict:
    rates = health_settings()
    tz = timezone.get_default_timezone()
    window_start = as_of - dt.timedelta(days=WINDOW_DAYS - 1)
    months_start = monthly_window_start(as_of)
    return {
        "as_of": as_of,
        "tz": settings.TIME_ZONE,
        "now": timezone.now(),
        "window_start": window_start,
        "window_start_at": _start_of(window_start, tz),
        "window_end_at": _start_of(as_of + dt.timedelta(days=1), tz),
        "months_start": months_start,
        "months_start_at": _start_of(months_start, tz),
        "cost_per_km": rates.cost_per_km,
        "support_hourly_cost": rates.support_hourly_cost,
        "cost_of_capital": rates.annual_cost_of_capital,
        "late_unpaid_days": rates.late_unpaid_days,
        "late_average_days": rates.late_average_days,
        # The metrics' upsert records the day the months were brought to with its own rows.
        "months_as_of": as_of,
    }


def _run(scope: Scope, params: dict) -> RefreshResult:
    """Monthly figures, then the year's metrics and the flags, of a batch in one transaction (a
    batch the database refuses is split by run_isolating with all its parts together)."""
    result = RefreshResult(as_of=params["as_of"])
    months = month_statements(scope)
    flags = flag_statements(scope)
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in (months["full"], months["forward"]):
            cursor.execute(statement, params)
            result.months += cursor.rowcount
        cursor.execute(months["expired"], params)
        cursor.execute(metrics_statement(scope), params)
        result.customers = cursor.rowcount
        cursor.execute(flags["resolve"], params)
        resolved = cursor.fetchall()
        result.resolved.update(kind for kind, _ in resolved)
        cursor.execute(flags["reraise"], params)
        result.reraised.update(kind for (kind,) in cursor.fetchall())
        cursor.execute(flags["update_inputs"], params)
        cursor.execute(flags["open"], params)
        opened = cursor.fetchall()
        result.opened.update(kind for kind, _ in opened)
        if opened or resolved:
            announce(
                flags_changed,
                sender=RefreshResult,
                opened=[pk for _, pk in opened],
                resolved=[pk for _, pk in resolved],
            )
    return result


def _by_ids_isolating(*, ids: list[int], params: dict) -> list[RefreshResult]:
    """The batch statements over these customers, CADENCE_BATCH_SIZE at a time; a customer
    whose figures the database refuses is skipped and logged, the others are refreshed."""
    results = []
    size = settings.CADENCE_BATCH_SIZE
    for start in range(0, len(ids), size):
        results += run_isolating(
            ids[start : start + size],
            lambda part: _run(BY_IDS, params | {"ids": part}),
            what="figures refresh",
        )
    return results


def _by_range_isolating(*, low: int, high: int, params: dict) -> list[RefreshResult]:
    """The batch statements for the id range at once; if the database refuses them, again
    customer set by customer set so one bad account does not fail the batch."""
    try:
        return [_run(BY_RANGE, params | {"low": low, "high": high})]
    except DATA_FAULTS:
        logger.warning(
            "figures refresh ids=%d-%d refused; finding the customer at fault", low, high
        )
    ids = list(
        Customer.objects.filter(pk__range=(low, high)).order_by("pk").values_list("pk", flat=True)
    )
    return _by_ids_isolating(ids=ids, params=params)


def _merged(results: list[RefreshResult], as_of: dt.date) -> RefreshResult:
    total = RefreshResult(as_of=as_of)
    for result in results:
        total.merge(result)
    return total


def health_batches(batch_size: int | None = None) -> list[tuple[int, int]]:
    """Id ranges covering every customer, at most `batch_size` ids wide (default: the
    CADENCE_BATCH_SIZE setting, 10,000)."""
    batch_size = batch_size or settings.CADENCE_BATCH_SIZE
    with connection.cursor() as cursor:
        cursor.execute("SELECT MIN(id), MAX(id) FROM crm_customer")
        low, high = cursor.fetchone()
    if low is None:
        return []
    return [
        (start, min(high, start + batch_size - 1)) for start in range(low, high + 1, batch_size)
    ]


def figures_refresh_range(
    *, low: int, high: int, as_of: dt.date, full: bool = False
) -> RefreshResult:
    """Monthly figures, metrics and flags of customers low..high (the nightly batch): closed
    months brought forward and customers already refreshed for `as_of` passed over, unless
    `full` (data changed outside Cadence's services)."""
    results = _by_range_isolating(low=low, high=high, params=_parameters(as_of) | {"full": full})
    return _merged(results, as_of)


def figures_refresh_customers(*, customer_ids: list[int], as_of: dt.date) -> RefreshResult:
    """Everything these customers' figures are made of, recomputed whole: something changed."""
    results = _by_ids_isolating(
        ids=sorted(set(customer_ids)), params=_parameters(as_of) | {"full": True}
    )
    return _merged(results, as_of)
