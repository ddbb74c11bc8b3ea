"""The whole nightly job against its honest floor, on the database in DATABASE_URL.

Run by hand after `manage.py seed_demo --customers N`: `.venv/bin/python bench/nightly.py`.
It rewrites the derived tables (a bench database only!). Prints, each over `--runs` runs:

- the floor: bench/floor.py's read-only queries (metrics and monthly figures, the same rows and
  rules as the refresh; tests/test_bench_floor.py proves they agree);
- the nightly job in one process, as the beat schedule runs it for a new day: the last-visit and
  due-date refresh, then metrics and flags, monthly figures and the rollups, batch after batch;
- the same with the batches shared by two worker processes (real processes, as two Celery
  workers), the rollups and due dates after them;
- an idempotent re-run for the same day (nothing to write);
and each as a ratio to the floor.
"""

import argparse
import datetime as dt
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.floor import floor_run  # noqa: E402
from crm.models import Customer  # noqa: E402
from health.figures.refresh import health_batches  # noqa: E402
from health.rollup import rollup_rebuild  # noqa: E402
from health.services import accounts_refresh_range, health_refresh_everything  # noqa: E402
from visits.services import customer_cadence_refresh  # noqa: E402


def _vacuumed() -> None:
    """What autovacuum does between two nights in production (this machine's PostgreSQL runs
    with autovacuum off): without it every night's rewrite of 100k metrics rows leaves dead rows
    behind and the next night reads a table twice as large, then three times..."""
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")


def _timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _floor(as_of: dt.date) -> None:
    floor_run(as_of)


def _serial(as_of: dt.date) -> None:
    customer_cadence_refresh()
    health_refresh_everything(as_of=as_of)


def _worker(batches: list[tuple[int, int]], as_of: dt.date, changed) -> None:
    django.setup()
    for low, high in batches:
        if accounts_refresh_range(low=low, high=high, as_of=as_of).changed:
            changed.value = True
    connection.close()


def _two_workers(as_of: dt.date) -> None:
    batches = health_batches()
    halves = [batches[0::2], batches[1::2]]
    spawn = multiprocessing.get_context("spawn")
    changed = spawn.Value("b", False)
    processes = [spawn.Process(target=_worker, args=(half, as_of, changed)) for half in halves]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
        if process.exitcode:
            raise SystemExit(f"a worker failed ({process.exitcode})")
    if changed.value:  # as health.tasks.rollup_rebuild_all decides from the batches' results
        rollup_rebuild()
    customer_cadence_refresh()


def _report(label: str, seconds: list[float], floor: float | None) -> float:
    median = statistics.median(seconds)
    spread = f"{min(seconds):.2f}-{max(seconds):.2f} s"
    ratio = f"  {median / floor:5.2f}x floor" if floor else ""
    print(f"{label:<34} median {median:7.2f} s ({spread}){ratio}", flush=True)
    return median


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
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    floor = _report(
        "floor (read-only, same rules)",
        [_timed(lambda: _floor(today)) for _ in range(args.runs)],
        None,
    )
    # The night before the first measured one, untimed: each measured night then follows a
    # night already done, as in production (closed months are brought forward from it).
    health_refresh_everything(as_of=today, full=True)
    serial, parallel, rerun = [], [], []
    for run in range(args.runs):
        # A new day each night: every per-customer figure is recomputed for it.
        night = today + dt.timedelta(days=2 * run + 1)
        _vacuumed()
        serial.append(_timed(lambda night=night: _serial(night)))
        rerun.append(_timed(lambda night=night: _serial(night)))
        next_night = night + dt.timedelta(days=1)
        _vacuumed()
        parallel.append(_timed(lambda night=next_night: _two_workers(night)))
    _report("nightly job, one process", serial, floor)
    _report("nightly job, two worker processes", parallel, floor)
    _report("idempotent re-run, one process", rerun, floor)
    # Leave the figures as of today.
    health_refresh_everything(as_of=today, full=True)


if __name__ == "__main__":
    main()
