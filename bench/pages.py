"""Median server time and query count of every page and API list, for every role that may open
it, against the database in DATABASE_URL (seed it first: `manage.py seed_demo --customers
100000`), uncached and as production runs (DEBUG off): the schedules' cached fragments are
invalidated before every request, so each one is built from the database.

Two books compared in one run (ratios printed): `BENCH_DATABASES=2k=postgres://...,100k=postgres://...`.

The list is generated from the URL patterns (tests/test_authorization.py's ROUTES, which a test
keeps complete): every route a role may GET and that answers 200 is timed, so a new page cannot
be left out; a few filtered variants of the account list and search are added by hand.
Run by hand: `.venv/bin/python bench/pages.py [name-filter]`; compare a 2k and a 100k book."""

import json
import logging
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# As production runs: DEBUG off (no query log, cached templates), plain HTTP from the test client.
os.environ.update(
    DJANGO_DEBUG="false",
    DJANGO_SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY", "bench-only"),
    CADENCE_SITE_URL="https://bench.invalid",
    DJANGO_ALLOWED_HOSTS="testserver",
    DJANGO_SECURE_SSL_REDIRECT="false",
    DJANGO_STATIC_ROOT=str(Path(__file__).resolve().parent.parent / ".local" / "bench-static"),
)

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Q  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

from accounts.models import User  # noqa: E402
from api.models import AccessToken  # noqa: E402
from core.cache import all_schedules_changed  # noqa: E402
from crm.models import Contact, Customer, Invoice, SupportCase  # noqa: E402
from crm.selectors import customers_visible_to  # noqa: E402
from health.models import AccountFlag  # noqa: E402
from imports.models import ImportJob  # noqa: E402
from tests.test_authorization import ADMIN, MANAGER, ROUTES, SALES  # noqa: E402
from visits.models import Ask, Visit  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "9"))
USERS = {SALES: "sales1", MANAGER: "manager1", ADMIN: "admin"}
# Filtered variants the route list cannot know: (role, url).
VARIANTS = [
    (SALES, "/customers/?q=ash"),
    (SALES, "/customers/?overdue=on&sort=next_due"),
    (SALES, "/customers/?page=200"),
    (MANAGER, "/customers/?tier=A&status=active"),
    (MANAGER, "/customers/?q=ash"),
    (MANAGER, "/manage/review/?cycle=due"),
    (ADMIN, "/customers/?q=leeds"),
    # The map asked for its view: the whole country (clusters), a city (clusters or points).
    (MANAGER, "/customers/map.json?bbox=-6,49.5,2.5,56&zoom=6"),
    (MANAGER, "/customers/map.json?bbox=-1.7,53.7,-1.4,53.9&zoom=12"),
    (ADMIN, "/customers/map.json?bbox=-6,49.5,2.5,56&zoom=6"),
    (ADMIN, "/customers/map.json?bbox=-1.7,53.7,-1.4,53.9&zoom=12"),
    ("inside", "/visits/calls/"),
]


def side_of(user: User) -> dict:
    """The objects a route's URL names, the first of each the user may see (ROUTES' `side`)."""
    customers = customers_visible_to(user)
    customer = customers.filter(contacts__isnull=False).order_by("pk").first()
    in_scope = Q(customer__in=customers.values("pk"))
    return {
        "customer": customer,
        "contact": Contact.objects.filter(customer=customer).first(),
        "visit": Visit.objects.filter(in_scope).order_by("-pk").first(),
        "case": SupportCase.objects.filter(in_scope).order_by("-pk").first(),
        "invoice": Invoice.objects.filter(in_scope).order_by("-pk").first(),
        "ask": Ask.objects.filter(in_scope).order_by("-pk").first(),
        "flag": AccountFlag.objects.filter(in_scope).order_by("-pk").first(),
        "rep": User.objects.get(pk=customer.owner_id) if customer.owner_id else user,
        "job": ImportJob.objects.order_by("-pk").first(),
        "api_token": AccessToken.objects.filter(user=user).first(),
        "token": "",
    }


def route_urls(role: str, side: dict) -> list[str]:
    urls = []
    for name, route in sorted(ROUTES.items()):
        if route.public or role not in route.roles or name == "logout":
            continue
        try:
            url = reverse(name, kwargs=route.kwargs(side) if route.kwargs else {})
        except (AttributeError, TypeError):
            print(f"  (no {name}: the book has nothing it names)")
            continue
        if route.query:
            url += "?" + "&".join(f"{k}={v}" for k, v in route.query(side).items())
        urls.append(url)
    return urls


def timed(client: Client, url: str) -> tuple[float, int, int] | None:
    queries = []

    def count(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    all_schedules_changed()
    with connection.execute_wrapper(count):
        first = client.get(url)
        if first.status_code != 200:
            return None  # an action (405) or a redirect: not a page
    size = len(first.content) if not first.streaming else 0
    timings = []
    for _ in range(RUNS):
        all_schedules_changed()
        started = time.perf_counter()
        client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), len(queries), size


def measure(only: str) -> dict[tuple[str, str], tuple[float, int]]:
    call_command("collectstatic", interactive=False, verbosity=0)  # the manifest DEBUG off reads
    logging.getLogger("django.request").setLevel(logging.ERROR)  # the actions' 405s
    figures = {}
    for role, username in [*USERS.items(), ("inside", "inside1")]:
        user = User.objects.filter(username=username).first()
        if user is None:
            continue
        client = Client()
        client.force_login(user)
        urls = [] if role == "inside" else route_urls(role, side_of(user))
        urls += [url for variant_role, url in VARIANTS if variant_role == role]
        for url in urls:
            if only not in url:
                continue
            result = timed(client, url)
            if result is not None:
                figures[(username, url)] = result
    return figures


def generic(url: str) -> str:
    """The URL with its ids replaced, so the same page matches across two books."""
    return "/".join("<id>" if part.isdigit() else part for part in url.split("/")).split("?ids=")[0]


def compare(books: list[tuple[str, str]], only: str) -> None:
    """Each book measured in a process of its own (settings read DATABASE_URL once), then one
    table: the time at each size, the ratio and whether the page meets issue 29's target."""
    results = {}
    for label, url in books:
        child = subprocess.run(
            [sys.executable, __file__, only],
            env={
                **{k: v for k, v in os.environ.items() if k != "BENCH_DATABASES"},
                "DATABASE_URL": url,
                "BENCH_JSON": "1",
            },
            capture_output=True,
            text=True,
        )
        if child.returncode:
            sys.exit(f"the {label} book's run failed:\n{child.stderr[-3000:]}")
        out = child.stdout.splitlines()[-1]
        results[label] = {(u, generic(page)): v for u, page, *v in json.loads(out)}
    small, large = (results[label] for label, _ in books)
    print(f"median of {RUNS} runs, DEBUG off, uncached; target < 100 ms (reps < 50) and <= 1.5x")
    print(
        f"{'user':9} {'page':46} {books[0][0]:>9} {books[1][0]:>9}  ratio  queries"
        f"  {books[1][0] + ' kB':>8}  met"
    )
    for key in sorted(large):
        if key not in small:
            continue
        (ms_small, q_small, _), (ms_large, q_large, size) = small[key], large[key]
        limit = 50 if key[0] == "sales1" else 100
        ratio = ms_large / ms_small
        met = "yes" if ms_large < limit and ratio <= 1.5 else "NO"
        queries = f"{q_small}" if q_small == q_large else f"{q_small}/{q_large}"
        print(
            f"{key[0]:9} {key[1]:46} {ms_small:7.1f}ms {ms_large:7.1f}ms {ratio:5.2f}  "
            f"{queries:>7}  {size / 1000:8.1f}  {met}"
        )


if __name__ == "__main__":
    only = sys.argv[1] if len(sys.argv) > 1 else ""
    books = os.environ.get("BENCH_DATABASES", "")
    if books:
        compare([tuple(pair.split("=", 1)) for pair in books.split(",")], only)
    elif os.environ.get("BENCH_JSON"):
        print(json.dumps([[user, url, *value] for (user, url), value in measure(only).items()]))
    else:
        print(f"{Customer.objects.count():,} customers; median of {RUNS} runs, DEBUG off")
        for (user, url), (ms, queries, size) in measure(only).items():
            print(f"{user:9} {url:52} {ms:8.1f} ms {queries:4d} queries {size / 1000:8.1f} kB")
