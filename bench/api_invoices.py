"""An ERP pushing its invoices through the API (by hand, loopback only): gunicorn as in
production, one client sending `--invoices` (10,000) invoices in batches of `--batch` (1,000) to
POST /api/v1/invoices/upsert/ with an integration token, one batch after another as an ERP's
nightly export does, then the same invoices again (every row an update: "paid" dates arrive).

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/cadence_bench \\
        .venv/bin/python bench/api_invoices.py [--invoices 10000] [--batch 1000]

The database in BENCH_DATABASE_URL (default .../cadence_bench) is created, migrated and seeded
with `--customers` (100,000) if empty; the bench's invoices (numbers BENCH-...) are removed at
the end (the refreshes they asked for stay pending, as after any import). Prints invoices/s
through HTTP for the inserts and the updates, the server time per batch, and the same upserts
called in-process (crm.upserts: no HTTP, no JSON) as the floor the API adds its cost to.
Target: >= 2,000 invoices/s through the API.
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load import free_port, prepare

ROOT = Path(__file__).resolve().parent.parent
QUEUE = "cadence-api-bench"


def django_env() -> dict:
    return {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DATABASE_URL": os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/cadence_bench"
        ),
        "DJANGO_DEBUG": "false",
        "CADENCE_SITE_URL": "https://cadence.example.com",
        "DJANGO_SECRET_KEY": "api-bench-" + "x" * 40,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_STATIC_ROOT": tempfile.mkdtemp(prefix="cadence-api-bench-static-"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        # The refreshes the invoices ask for go to a queue nobody reads; emptied at the end.
        "CELERY_QUEUE": QUEUE,
        # One client pushing batches back to back: the rate limit is not the subject.
        "CADENCE_API_REQUESTS_PER_MINUTE": "100000",
    }


def invoices(codes: list[str], count: int, run: str, *, paid: bool) -> list[dict]:
    rows = []
    for index in range(count):
        issued = f"2026-{1 + index % 11:02d}-{1 + index % 28:02d}"
        row = {
            "number": f"BENCH-{run}-{index:06d}",
            "customer_code": codes[index % len(codes)],
            "issued_on": issued,
            "due_on": f"2026-{1 + index % 11:02d}-28",
            "amount": f"{100 + index % 5000}.{index % 100:02d}",
            "cost_of_goods": f"{60 + index % 3000}.00",
            "discount": "0",
        }
        if paid:
            row["paid_on"] = "2026-12-01"
        rows.append(row)
    return rows


def push(base: str, token: str, rows: list[dict], batch: int) -> tuple[float, list[float], dict]:
    totals = {"created": 0, "updated": 0, "errors": 0}
    times = []
    started = time.perf_counter()
    for at in range(0, len(rows), batch):
        body = json.dumps({"invoices": rows[at : at + batch]}).encode()
        request = urllib.request.Request(
            f"{base}/api/v1/invoices/upsert/",
            data=body,
            method="POST",
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Host": "127.0.0.1",
                "X-Forwarded-Proto": "https",
            },
        )
        sent = time.perf_counter()
        with urllib.request.urlopen(request, timeout=120) as answer:
            result = json.loads(answer.read())
        times.append(time.perf_counter() - sent)
        totals["created"] += result["created"]
        totals["updated"] += result["updated"]
        totals["errors"] += len(result["errors"])
    return time.perf_counter() - started, times, totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--customers", type=int, default=100_000, help="seed size if empty")
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()
    env = django_env()
    prepare(env, args.customers)
    os.environ.update(env)
    import django

    django.setup()
    from accounts.models import Role, User
    from api.services import access_token_create
    from crm.models import Customer, Invoice
    from crm.upserts import invoices_upsert

    erp, _ = User.objects.get_or_create(
        username="bench-erp", defaults={"role": Role.ADMIN, "is_active": True}
    )
    token = access_token_create(user=erp, name="bench", integration=True)[1]
    codes = list(Customer.objects.order_by("?").values_list("code", flat=True)[:5000])
    random.seed(1)
    run = str(int(time.time()))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", str(args.workers), "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        # Warm every worker (imports, connections) with a batch of one, not timed.
        for index in range(args.workers * 2):
            push(base, token, invoices(codes, 1, f"{run}w{index}", paid=False), 1)
        print(f"{args.invoices:,} invoices in batches of {args.batch:,}, gunicorn {args.workers} "
              f"workers, {Customer.objects.count():,} customers")  # fmt: skip
        for label, paid in (("new (inserted)", False), ("again, paid (updated)", True)):
            rows = invoices(codes, args.invoices, run, paid=paid)
            seconds, times, totals = push(base, token, rows, args.batch)
            print(
                f"{label:24} {args.invoices / seconds:8,.0f} invoices/s  {seconds:6.2f} s  "
                f"batch median {statistics.median(times) * 1000:6.0f} ms  "
                f"created {totals['created']:,} updated {totals['updated']:,} "
                f"errors {totals['errors']}"
            )
        rows = invoices(codes, args.invoices, run + "p", paid=False)
        started = time.perf_counter()
        for at in range(0, len(rows), args.batch):
            invoices_upsert(rows[at : at + args.batch])
        seconds = time.perf_counter() - started
        print(f"{'floor: in-process upsert':24} {args.invoices / seconds:8,.0f} invoices/s  "
              f"{seconds:6.2f} s  (crm.upserts, no HTTP or JSON)")  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)
        Invoice.objects.filter(number__startswith="BENCH-").delete()
        subprocess.run(
            [sys.executable, "-m", "celery", "-A", "config", "purge", "-f", "-Q", QUEUE],
            cwd=ROOT, env=env, capture_output=True,
        )  # fmt: skip


if __name__ == "__main__":
    main()
