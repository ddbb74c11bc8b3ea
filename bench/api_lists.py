"""Median server time and query count of the API's lists (the first page of each, uncached)
for a salesperson, a manager and an admin, against the database in DATABASE_URL (seed it first:
`manage.py seed_demo --customers 100000`). Run by hand: `.venv/bin/python bench/api_lists.py`;
compare a 2k and a 100k database for flatness."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from accounts.models import User  # noqa: E402
from bench.pages import RUNS, median_ms_and_queries  # noqa: E402
from crm.models import Customer  # noqa: E402

LISTS = ("/api/v1/visits/", "/api/v1/customers/", "/api/v1/asks/", "/api/v1/invoices/")


def main() -> None:
    setup_test_environment()
    settings.ALLOWED_HOSTS = ["testserver"]
    print(f"{Customer.objects.count():,} customers; median of {RUNS} runs")
    for username in ("sales1", "manager1", "admin"):
        client = Client()
        client.force_login(User.objects.get(username=username))
        for url in LISTS:
            ms, queries = median_ms_and_queries(client, url)
            print(f"{username:9} {url:22} {ms:7.1f} ms  {queries} queries")


if __name__ == "__main__":
    main()
