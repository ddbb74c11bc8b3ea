"""Full health refresh against the database in DATABASE_URL, compared with its floor: one raw
query aggregating the same visits, invoices and support cases per customer.
Run by hand after `manage.py seed_demo --customers N`: `.venv/bin/python bench/health_refresh.py`.
It EMPTIES the metrics and flags tables first (a bench database only!), then prints the floor,
the refresh from empty and its idempotent re-run, batch after batch in one process and with the
batches shared by as many threads as the machine has cores (as Celery workers share them), the
ratio to the floor, and the number of SQL statements (per batch and in all)."""

import datetime as dt
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from crm.models import Customer  # noqa: E402
from health.metrics import (  # noqa: E402
    WINDOW_DAYS,
    health_batches,
    health_refresh_all,
    health_refresh_range,
)

FLOOR_SQL = """
SELECT c.id,
       v.minutes, v.cost, v.last_visit_at, i.revenue, i.margin, i.amount_days, s.minutes
FROM crm_customer c
LEFT JOIN (
    SELECT customer_id, SUM(duration_minutes + travel_minutes) AS minutes,
           SUM(distance_km * 0.5 + expenses) AS cost, MAX(visited_at) AS last_visit_at
    FROM visits_visit WHERE status = 'done' AND visited_at >= %(start)s GROUP BY customer_id
) v ON v.customer_id = c.id
LEFT JOIN (
    SELECT customer_id, SUM(amount) AS revenue, SUM(amount - cost_of_goods) AS margin,
           SUM(amount * GREATEST(0, COALESCE(paid_on, %(as_of)s) - due_on)) AS amount_days
    FROM crm_invoice WHERE issued_on >= %(start_day)s GROUP BY customer_id
) i ON i.customer_id = c.id
LEFT JOIN (
    SELECT customer_id, SUM(minutes) AS minutes
    FROM crm_supportcase WHERE opened_on >= %(start_day)s GROUP BY customer_id
) s ON s.customer_id = c.id
"""


class Counter:
    def __init__(self):
        self.statements = 0

    def __call__(self, execute, sql, params, many, context):
        self.statements += 1
        return execute(sql, params, many, context)


def main() -> None:
    as_of = timezone.localdate()
    start_day = as_of - dt.timedelta(days=WINDOW_DAYS - 1)
    start = timezone.make_aware(dt.datetime.combine(start_day, dt.time.min))
    customers = Customer.objects.count()
    batches = len(health_batches())
    print(f"{customers:,} customers, {batches} batches")

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(FLOOR_SQL, {"start": start, "start_day": start_day, "as_of": as_of})
        rows = len(cursor.fetchall())
    floor = time.perf_counter() - started
    print(f"floor: one aggregate query over {rows:,} customers   {floor:7.2f} s")

    for label in ("serial, from empty ", "serial, re-run     "):
        if "empty" in label:
            empty()
        counter = Counter()
        started = time.perf_counter()
        with connection.execute_wrapper(counter):
            result = health_refresh_all(as_of=as_of)
        seconds = time.perf_counter() - started
        print(
            f"{label}: {seconds:7.2f} s  ratio {seconds / floor:4.2f}  "
            f"{counter.statements} statements ({counter.statements / max(batches, 1):.0f} per "
            f"batch)  changed {result.customers:,}  opened {dict(result.opened)}"
        )
    workers = os.cpu_count() or 2
    for label in (f"{workers} workers, from empty", f"{workers} workers, re-run    "):
        if "empty" in label:
            empty()
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(lambda r: refresh_range(r, as_of), health_batches()))
        seconds = time.perf_counter() - started
        changed = sum(r.customers for r in results)
        print(f"{label}: {seconds:7.2f} s  ratio {seconds / floor:4.2f}  changed {changed:,}")


def refresh_range(bounds, as_of):
    try:
        return health_refresh_range(low=bounds[0], high=bounds[1], as_of=as_of)
    finally:
        connection.close()


def empty() -> None:
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE crm_accountflag, crm_accountmetrics")


if __name__ == "__main__":
    main()
