"""Median server time and query count of the managers' pages (dashboard, profitability with
the whale curve, quadrant and trend) against the database in DATABASE_URL, as `admin` (every
customer) and `manager1` (one territory). Run by hand after seed_demo, on databases of
1k, 10k and 100k customers: `.venv/bin/python bench/manager_pages.py`."""

import os
import statistics
import sys
import time
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
from crm.models import Customer  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "15"))
PAGES = [
    "/manage/",
    "/manage/?period=last_quarter",
    "/manage/profitability/",
    "/manage/review/",
    "/manage/team/",
]


def measure(client: Client, url: str) -> tuple[float, int]:
    statements = []

    def count(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        assert client.get(url).status_code == 200
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), len(statements)


def main() -> None:
    setup_test_environment()
    settings.ALLOWED_HOSTS = ["testserver"]
    print(f"{Customer.objects.count():,} customers; median of {RUNS} runs")
    for username in ("admin", "manager1"):
        client = Client()
        client.force_login(User.objects.get(username=username))
        for url in PAGES:
            ms, queries = measure(client, url)
            print(f"{username:9} {url:32} {ms:8.1f} ms {queries:4d} queries")


if __name__ == "__main__":
    main()
