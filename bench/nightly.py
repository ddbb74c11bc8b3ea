"""The whole nightly job against its floors, on the database in DATABASE_URL.

Run by hand after `manage.py seed_demo --customers N`: `.venv/bin/python bench/nightly.py`.
It rewrites the derived tables (a bench database only!). Each run is one simulated night (a new
day), and in each run, one after the other at the same load, it times:

- the full floor: bench/floor.py's read-only queries, every customer's 12-month figures and all
  24 months of monthly figures (tests/test_bench_floor.py proves they agree with the refresh);
- the incremental floor: the 12-month figures and the current month's monthly figures only,
  what a night that carries closed months forward must at least compute;
- the nightly job in one process: the due-date refresh, then metrics and flags, monthly figures
  and rollups, batch after batch; then the VACUUM its rewrite makes necessary (charged to it);
- an idempotent re-run for the same day (nothing to write);
- the night as production runs it: beat's two tasks (health_refresh_nightly, fanning the batches
  out as a chord ending in rollup_rebuild_all, and customers_refresh_cadence) sent through the
  Redis broker to a real Celery worker of two processes reading the nightly lane (as
  scripts/run and docker-compose start it), timed until the rollups and due dates are written;
  then its VACUUM, charged to it.

Each job is printed as a ratio to both floors, and which floor each ratio uses is named.
"""

import argparse
import datetime as dt
import os
import signal
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from celery import current_app  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.floor import floor_run  # noqa: E402
from bench.workers import start_worker  # noqa: E402
from crm.models import Customer  # noqa: E402
from health.figures.refresh import health_batches  # noqa: E402
from health.models import RollupRebuild  # noqa: E402
from health.services import health_refresh_everything  # noqa: E402
from health.tasks import health_refresh_nightly  # noqa: E402
from visits.services import customer_cadence_refresh  # noqa: E402
from visits.tasks import customers_refresh_cadence  # noqa: E402

# The tables a night rewrites: the vacuum these need is the one the night causes.
NIGHT_TABLES = (
    "crm_customer",
    "crm_accountmetrics",
    "crm_accountmonth",
    "crm_accountflag",
    "crm_segment",
    "crm_segmentmember",
    "crm_segmentfigures",
    "crm_segmentmonth",
    "crm_segmentweek",
    "crm_segmentband",
    "health_rolluprebuild",
)


def _vacuum() -> None:
    """What autovacuum does after a night in production (this machine's PostgreSQL runs with
    autovacuum off): without it every night's rewrite of the metrics leaves dead rows behind and
    the next night reads a table twice as large. Only the tables the night rewrote."""
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) " + ", ".join(NIGHT_TABLES))


def _timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _serial(as_of: dt.date) -> None:
    customer_cadence_refresh()
    health_refresh_everything(as_of=as_of)


def _through_celery(as_of: dt.date) -> None:
    """Beat's two nightly tasks through the broker; back when the chord's rollups and the due
    dates are written."""
    sent = timezone.now()
    health_refresh_nightly.delay(as_of.isoformat())
    cadence = customers_refresh_cadence.delay()
    cadence.get(timeout=3600)
    while not RollupRebuild.objects.filter(started_at__gte=sent).exists():
        time.sleep(0.1)


def _report(label: str, seconds: list[float], floors: dict[str, float]) -> None:
    median = statistics.median(seconds)
    spread = f"{min(seconds):.2f}-{max(seconds):.2f} s"
    ratios = "  ".join(f"{median / floor:5.2f}x {name}" for name, floor in floors.items())
    print(f"{label:<44} median {median:7.2f} s ({spread})  {ratios}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    today = timezone.localdate()
    print(
        f"{Customer.objects.count():,} customers, {len(health_batches())} batches, "
        f"{os.cpu_count()} cores",
        flush=True,
    )
    queue = f"bench-nightly-{os.getpid()}"
    current_app.conf.task_default_queue = queue
    worker = start_worker(queue, "--queues", f"{queue}.nightly")
    times: dict[str, list[float]] = {
        name: []
        for name in (
            "full",
            "incremental",
            "serial",
            "serial+vacuum",
            "rerun",
            "celery",
            "celery+vacuum",
        )
    }
    try:
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE)")
        # The night before the first measured one, untimed: each measured night then follows a
        # night already done, as in production (closed months are brought forward from it).
        health_refresh_everything(as_of=today, full=True)
        for run in range(args.runs):
            night = today + dt.timedelta(days=2 * run + 1)
            _vacuum()
            times["full"].append(_timed(lambda night=night: floor_run(night)))
            times["incremental"].append(
                _timed(lambda night=night: floor_run(night, incremental=True))
            )
            job = _timed(lambda night=night: _serial(night))
            times["serial"].append(job)
            times["serial+vacuum"].append(job + _timed(_vacuum))
            times["rerun"].append(_timed(lambda night=night: _serial(night)))
            next_night = night + dt.timedelta(days=1)
            job = _timed(lambda night=next_night: _through_celery(night))
            times["celery"].append(job)
            times["celery+vacuum"].append(job + _timed(_vacuum))
            print(
                f"  night {run + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items())
            )
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=120)
    floors = {
        "full floor": statistics.median(times["full"]),
        "incremental floor": statistics.median(times["incremental"]),
    }
    _report("floor: full (24 months)", times["full"], floors)
    _report("floor: incremental (current month)", times["incremental"], floors)
    _report("nightly job, one process", times["serial"], floors)
    _report("  with the vacuum it causes", times["serial+vacuum"], floors)
    _report("idempotent re-run, one process", times["rerun"], floors)
    _report("through Celery (broker, 2-process worker)", times["celery"], floors)
    _report("  with the vacuum it causes", times["celery+vacuum"], floors)
    # Leave the figures as of today.
    health_refresh_everything(as_of=today, full=True)


if __name__ == "__main__":
    main()
