"""Median server time and query count of every main page against the database in DATABASE_URL
(seed it first: `manage.py seed_demo --customers 100000`), uncached: the schedules' cached
fragments are invalidated before every request, so each one is built from the database.
Run by hand: `.venv/bin/python bench/pages.py`; compare a 2k and a 100k database for flatness."""

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
from accounts.selectors import territory_ids_managed_by  # noqa: E402
from core.cache import all_schedules_changed  # noqa: E402
from crm.models import Customer  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "15"))


def median_ms_and_queries(client: Client, url: str) -> tuple[float, int]:
    queries = []

    def count(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    all_schedules_changed()
    with connection.execute_wrapper(count):
        client.get(url)
    timings = []
    for _ in range(RUNS):
        all_schedules_changed()
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(timings), len(queries)


def main() -> None:
    setup_test_environment()
    settings.ALLOWED_HOSTS = ["testserver"]
    print(f"{Customer.objects.count():,} customers; median of {RUNS} runs")
    manager_territories = territory_ids_managed_by(User.objects.get(username="manager1"))
    for username, urls in {
        "sales1": [
            "/visits/schedule/",
            "/customers/",
            "/customers/?q=ash",
            "/customers/?overdue=on&sort=next_due",
            "/customers/?page=200",
        ],
        "manager1": [
            "/customers/",
            "/customers/?tier=A&status=active",
            "/customers/?q=ash",
            "/manage/",
            "/manage/profitability/",
            "/manage/review/",
            "/manage/team/",
            "/manage/lists/overdue/",
            "/manage/review/?cycle=due",
            "/manage/outcomes/",
            "/manage/competitors/",
        ],
        "inside1": ["/visits/calls/", "/customers/"],
        "admin": ["/data/", "/data/imports/", "/customers/?q=leeds", "/manage/"],
    }.items():
        client = Client()
        client.force_login(User.objects.get(username=username))
        customer = Customer.objects.filter(owner__username="sales1").first()
        if username == "sales1" and customer:
            urls = [*urls, customer.get_absolute_url()]
        if username == "manager1":
            # The what-if of a worklist page's worth of accounts (20) handed to inside sales.
            worst = Customer.objects.filter(
                territory__in=manager_territories, metrics__recommendation="move_remote"
            ).order_by("metrics__profit")[:20]
            inside = User.objects.filter(username="inside1").first()
            ids = ",".join(str(pk) for pk in worst.values_list("pk", flat=True))
            if ids and inside:
                urls = [*urls, f"/manage/hand-off/?ids={ids}&owner={inside.pk}&cadence_days=30"]
        for url in urls:
            ms, queries = median_ms_and_queries(client, url)
            print(f"{username:10} {url:40} {ms:8.1f} ms {queries:4d} queries")


if __name__ == "__main__":
    main()
