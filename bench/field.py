"""The field day's server times against the database in DATABASE_URL (seed it first; the demo
places every account round its town): "near me" (the 20 nearest of a salesperson's accounts and
of an admin's whole book, in SQL), the map's data for a manager's territory and the offline
app's field pack (time and size, raw and gzip-compressed). Run by hand:
`.venv/bin/python bench/field.py`."""

import gzip
import json
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
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from accounts.models import User  # noqa: E402
from crm.models import Customer  # noqa: E402
from crm.selectors import customers_near  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "15"))
# Leeds, Bristol and Norwich city centres: where the demo's North, West and East books are.
POINTS = [(53.7997, -1.5492), (51.4545, -2.5879), (52.6309, 1.2974)]


def median_ms(call) -> float:
    call()
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def main() -> None:
    setup_test_environment()
    settings.ALLOWED_HOSTS = ["testserver"]
    located = Customer.objects.filter(latitude__isnull=False).count()
    print(f"{Customer.objects.count():,} customers, {located:,} located; median of {RUNS} runs")
    for username in ("sales1", "admin"):
        user = User.objects.get(username=username)
        for lat, lng in POINTS:
            ms = median_ms(
                lambda user=user, lat=lat, lng=lng: customers_near(
                    user, latitude=lat, longitude=lng, km=50
                )
            )
            print(f"near me, 20 nearest within 50 km  {username:8} ({lat}, {lng})  {ms:7.2f} ms")
    client = Client()
    client.force_login(User.objects.get(username="manager1"))
    url = "/customers/map.json"
    body = client.get(url).content
    ms = median_ms(lambda: client.get(url))
    print(
        f"map data, manager1's territory: {len(json.loads(body)['points']):,} points, {ms:.1f} ms, "
        f"{len(body) / 1e6:.2f} MB raw, {len(gzip.compress(body)) / 1e6:.2f} MB gzip"
    )

    # The offline app's field pack: the busiest of sales1-8 (most accounts in the pack).
    for username in ("sales1", "sales2", "sales3", "sales4"):
        client.force_login(User.objects.get(username=username))
        body = client.get("/api/v1/field-pack/").content
        pack = json.loads(body)
        ms = median_ms(lambda client=client: client.get("/api/v1/field-pack/"))
        print(
            f"field pack, {username}: {len(pack['meetings'])} meetings, "
            f"{len(pack['accounts'])} accounts, {ms:.1f} ms, {len(body) / 1e3:.0f} kB raw, "
            f"{len(gzip.compress(body)) / 1e3:.0f} kB gzip"
        )


if __name__ == "__main__":
    main()
