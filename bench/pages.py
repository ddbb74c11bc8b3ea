"""Median server time of the main pages against the database in DATABASE_URL (seed it first:
`manage.py seed_demo --customers 100000`). Run by hand: `.venv/bin/python bench/pages.py`."""

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from accounts.models import User  # noqa: E402
from crm.models import Customer  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "15"))


def median_ms(client: Client, url: str) -> float:
    client.get(url)
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(timings)


def main() -> None:
    setup_test_environment()
    settings.ALLOWED_HOSTS = ["testserver"]
    print(f"{Customer.objects.count():,} customers; median of {RUNS} runs")
    for username, urls in {
        "sales1": ["/visits/week/", "/customers/", "/customers/?q=ash", "/customers/?page=200"],
        "manager1": ["/customers/", "/customers/?tier=A&status=active"],
        "admin": ["/data/", "/customers/?q=leeds"],
    }.items():
        client = Client()
        client.force_login(User.objects.get(username=username))
        customer = Customer.objects.filter(owner__username="sales1").first()
        if username == "sales1" and customer:
            urls = [*urls, customer.get_absolute_url()]
        for url in urls:
            print(f"{username:10} {url:40} {median_ms(client, url):8.1f} ms")


if __name__ == "__main__":
    main()
