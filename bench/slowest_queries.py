"""The slowest statements of one page, to see where its time goes: the page is requested
BENCH_RUNS times (uncached, as bench/pages.py does) and each statement's median time printed,
slowest first. Run by hand: `.venv/bin/python bench/slowest_queries.py manager1 /manage/`."""

import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from accounts.models import User  # noqa: E402
from core.cache import all_schedules_changed  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "5"))


def main(username: str, url: str) -> None:
    setup_test_environment()
    settings.ALLOWED_HOSTS = ["testserver"]
    client = Client()
    client.force_login(User.objects.get(username=username))
    timings: dict[int, list[float]] = defaultdict(list)
    statements: dict[int, str] = {}
    totals = []
    position = iter(())

    def timed(execute, sql, params, many, context):
        index = next(position)
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timings[index].append((time.perf_counter() - started) * 1000)
            statements[index] = sql

    for _ in range(RUNS + 1):
        position = iter(range(10_000))
        all_schedules_changed()
        started = time.perf_counter()
        with connection.execute_wrapper(timed):
            response = client.get(url)
        totals.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    print(f"{url} as {username}: median {statistics.median(totals[1:]):.1f} ms")
    ranked = sorted(timings, key=lambda i: -statistics.median(timings[i][1:]))
    for index in ranked[:8]:
        print(f"{statistics.median(timings[index][1:]):8.1f} ms  {statements[index][:400]}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
