"""Import speed against a plain COPY and django-import-export (run by hand, not in CI).

Against the (scratch!) database in DATABASE_URL, best a seeded book so the import lands beside
100,000 customers and 1.9 M visits as it would in production (its own rows, codes "BENCH-",
are deleted again at the end; `--empty` imports into an emptied customer table instead):
    createdb cadence_bench && export DATABASE_URL=postgres://postgres@127.0.0.1/cadence_bench
    .venv/bin/python manage.py migrate && .venv/bin/python manage.py seed_demo --customers 100000
    uv run --group bench python bench/imports.py [--rows 100000] [--iie-rows N]
        [--memory-rows 1000000]

Prints, for a generated customers CSV (Salesforce-style headers, owners by username, territories
by name, a few rows with errors): Cadence's import of new rows and the re-import of the same file,
each from the upload on (storing and inspecting the file, mapping, validation, staging, upsert and
rejects file included), then the metrics refresh that follows, done by a real Celery worker (two
processes, as deployed) and timed until no imported customer's refresh is pending; each import
against its floor, which reads and parses the same file:
`COPY FROM STDIN` of the raw CSV into a text staging table, then the rows inserted with their
territory and owner resolved (new rows), or compared with the table column by column, writing
nothing (the re-import). Then django-import-export 4.4.3 (ForeignKeyWidget for territory and
owner, bulk mode) once on the same file (at 100,000 rows it takes about an hour for both passes;
`--iie-rows 0` skips it). With --memory-rows, the peak memory of a dry run over a file that many
rows long, next to the same for --rows, in a child process each. Every file it writes lives in
one temporary folder, removed at the end.
"""

import argparse
import csv
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from celery import current_app  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from accounts.models import Role, Territory, User  # noqa: E402
from bench.workers import start_worker  # noqa: E402
from core.models import PendingRefresh  # noqa: E402
from crm.models import Customer  # noqa: E402
from imports.models import ImportChange, ImportJob  # noqa: E402
from imports.runs import import_customer_ids, import_run  # noqa: E402
from imports.services import import_configure, import_upload  # noqa: E402

HEADERS = [
    "Account Name",
    "Account Number",
    "Billing Street",
    "Billing City",
    "Billing Zip/Postal Code",
    "Billing Country",
    "Account Owner",
    "Territory",
    "Industry",
    "Phone",
    "Tier",
    "Customer Since",
]
TERRITORIES = ["North", "South", "East", "West"]
OWNERS = [f"sales{i}" for i in range(1, 9)]


def ensure_people() -> None:
    """The territories and owners the generated file names, and the admin who imports it."""
    for name in TERRITORIES:
        Territory.objects.get_or_create(name=name)
    for username in OWNERS:
        User.objects.get_or_create(
            username=username, defaults={"role": Role.SALESPERSON, "email": f"{username}@x.test"}
        )
    User.objects.get_or_create(username="bench-admin", defaults={"role": Role.ADMIN})


def generate(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADERS)
        for i in range(rows):
            territory = TERRITORIES[i % 4] if i % 1000 != 999 else "Atlantis"
            writer.writerow(
                [
                    f"Customer {i} {rng.choice(['Ltd', 'GmbH', 'SARL', 'plc'])}",
                    f"BENCH-{i:07d}",
                    f"{rng.randint(1, 300)} High Street",
                    rng.choice(["Leeds", "York", "Köln", "Lyon", "Hull"]),
                    f"{rng.randint(10000, 99999)}",
                    rng.choice(["UK", "DE", "FR"]),
                    OWNERS[i % 8],
                    territory,
                    rng.choice(["Retail", "Food", "Hotels"]),
                    f"+44 113 {rng.randint(100000, 999999)}",
                    "ABCD"[i % 4],
                    f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/20{rng.randint(10, 25)}",
                ]
            )


EMPTY = False


def empty_customers() -> None:
    """The bench's own customers removed (all customers with --empty), the table vacuumed."""
    with connection.cursor() as cursor:
        if EMPTY:
            cursor.execute("TRUNCATE crm_customer, imports_importchange CASCADE")
        else:
            ImportChange.objects.filter(job__uploaded_by__username="bench-admin").delete()
            ImportJob.objects.filter(uploaded_by__username="bench-admin").delete()
            Customer.objects.filter(code__startswith="BENCH-").delete()
        cursor.execute("VACUUM ANALYZE crm_customer")


def cadence_import(path: Path, *, dry_run: bool = False):
    """From the upload (store, inspect) through mapping to the import's commit."""
    admin = User.objects.get(username="bench-admin")
    started = time.perf_counter()
    with path.open("rb") as handle:
        job = import_upload(
            user=admin,
            kind="customers",
            name=path.name,
            chunks=iter(lambda: handle.read(1 << 20), b""),
            size=path.stat().st_size,
            max_bytes=1 << 34,
        )
    job = import_configure(
        job=job, mapping=job.mapping, date_order="dmy", default_owner=None, default_territory=None
    )
    result = import_run(job=job, dry_run=dry_run)
    return time.perf_counter() - started, result, job


def refreshed_on_worker(customer_ids: list[int]) -> float:
    """Seconds from now until the worker has refreshed every one of these customers (the
    import queued their refresh when it committed)."""
    started = time.perf_counter()
    while PendingRefresh.objects.filter(customer_id__in=customer_ids).exists():
        time.sleep(0.2)
    return time.perf_counter() - started


CUSTOMER_DEFAULTS = (
    "'' AS address_line2, '' AS region, '' AS website, '' AS notes, 'active' AS status, "
    "now() AS created_at, now() AS updated_at"
)
# The file's rows as they would land: territory and owner resolved by name, the date parsed,
# rows of an unknown territory left out (Cadence rejects them).
RESOLVED_ROWS = """
    SELECT s.name, s.code, s.street AS address_line1, s.city, s.postal AS postal_code,
           s.country, u.id AS owner_id, t.id AS territory_id, s.industry, s.phone, s.tier,
           to_date(s.since, 'DD/MM/YYYY') AS since
    FROM bench_staging s
    JOIN accounts_territory t ON t.name = s.territory
    LEFT JOIN accounts_user u ON u.username = s.owner
"""


def copy_floor(path: Path, *, write: bool) -> float:
    """The floor of an import, reading and parsing the same file: the raw CSV streamed through
    `COPY FROM STDIN` into a text staging table, then (write) the rows inserted into
    crm_customer with their ids resolved, or (not write, the re-import's floor) compared with
    crm_customer column by column, writing nothing."""
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE bench_staging (name text, code text, street text, city text, "
            "postal text, country text, owner text, territory text, industry text, phone text, "
            "tier text, since text) ON COMMIT DROP"
        )
        with (
            path.open("rb") as handle,
            cursor.cursor.copy("COPY bench_staging FROM STDIN (FORMAT csv, HEADER true)") as copy,
        ):
            while chunk := handle.read(1 << 20):
                copy.write(chunk)
        if write:
            cursor.execute(
                "INSERT INTO crm_customer (name, code, address_line1, city, postal_code, "
                "country, owner_id, territory_id, industry, phone, tier, since, address_line2, "
                "region, website, notes, status, created_at, updated_at) "
                f"SELECT r.*, {CUSTOMER_DEFAULTS} FROM ({RESOLVED_ROWS}) r"
            )
        else:
            cursor.execute(
                f"SELECT count(*) FROM ({RESOLVED_ROWS}) r "
                "LEFT JOIN crm_customer c ON c.code = r.code "
                "WHERE c.id IS NULL OR (c.name, c.address_line1, c.city, c.postal_code, "
                "c.country, c.owner_id, c.territory_id, c.industry, c.phone, c.tier, c.since) "
                "IS DISTINCT FROM (r.name, r.address_line1, r.city, r.postal_code, r.country, "
                "r.owner_id, r.territory_id, r.industry, r.phone, r.tier, r.since)"
            )
            changed = cursor.fetchone()[0]
    elapsed = time.perf_counter() - started
    if not write:
        print(f"  (the re-import floor found {changed:,} rows that differ from the table)")
    return elapsed


def import_export(path: Path, rows: int) -> tuple[float, float]:
    """django-import-export 4.4.3, bulk mode, ForeignKeyWidgets for territory and owner, on the
    first `rows` rows of the file (new rows, then the same file again)."""
    import tablib
    from import_export import fields, resources, widgets

    class CustomerResource(resources.ModelResource):
        name = fields.Field(attribute="name", column_name="Account Name")
        code = fields.Field(attribute="code", column_name="Account Number")
        address_line1 = fields.Field(attribute="address_line1", column_name="Billing Street")
        city = fields.Field(attribute="city", column_name="Billing City")
        postal_code = fields.Field(attribute="postal_code", column_name="Billing Zip/Postal Code")
        country = fields.Field(attribute="country", column_name="Billing Country")
        owner = fields.Field(
            attribute="owner",
            column_name="Account Owner",
            widget=widgets.ForeignKeyWidget(User, field="username"),
        )
        territory = fields.Field(
            attribute="territory",
            column_name="Territory",
            widget=widgets.ForeignKeyWidget(Territory, field="name"),
        )
        industry = fields.Field(attribute="industry", column_name="Industry")
        phone = fields.Field(attribute="phone", column_name="Phone")
        tier = fields.Field(attribute="tier", column_name="Tier")
        since = fields.Field(
            attribute="since", column_name="Customer Since", widget=widgets.DateWidget("%d/%m/%Y")
        )

        class Meta:
            model = Customer
            import_id_fields = ("code",)
            fields = (
                "name",
                "code",
                "address_line1",
                "city",
                "postal_code",
                "country",
                "owner",
                "territory",
                "industry",
                "phone",
                "tier",
                "since",
            )
            use_bulk = True
            batch_size = 1000
            skip_unchanged = True

    with path.open(encoding="utf-8") as handle:
        lines = [next(handle) for _ in range(rows + 1)]
    dataset = tablib.Dataset().load("".join(lines), format="csv")
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        CustomerResource().import_data(dataset, dry_run=False, raise_errors=False)
        timings.append(time.perf_counter() - started)
    return timings[0], timings[1]


def peak_memory_of_dry_run(rows: int) -> float:
    """Peak RSS (MB) of a child process that generates nothing but dry-runs a file of `rows`."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.csv"
        generate(path, rows)
        code = (
            "import resource, sys; sys.argv = ['x']; "
            "from pathlib import Path; import bench.imports as b; "
            f"b.cadence_import(Path({str(path)!r}), dry_run=True); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
        )
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=str(Path(__file__).resolve().parent.parent),
        )
        return int(out.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--iie-rows", type=int, default=None, help="django-import-export's rows (all; 0: skip)"
    )
    parser.add_argument("--memory-rows", type=int, default=0)
    parser.add_argument("--empty", action="store_true", help="into an emptied customer table")
    args = parser.parse_args()
    global EMPTY
    EMPTY = args.empty
    iie_rows = args.rows if args.iie_rows is None else args.iie_rows
    ensure_people()
    with tempfile.TemporaryDirectory(prefix="cadence-bench-imports-") as folder:
        settings.MEDIA_ROOT = Path(folder) / "media"
        path = Path(folder) / "customers.csv"
        generate(path, args.rows)
        print(f"{args.rows:,} rows, {path.stat().st_size / 1e6:.1f} MB, {connection.vendor}")
        empty_customers()
        print(f"beside {Customer.objects.count():,} customers")
        queue = f"bench-imports-{os.getpid()}"
        current_app.conf.task_default_queue = queue
        worker = start_worker(queue)
        floor_new = copy_floor(path, write=True)
        print(f"floor, new rows (COPY of the raw CSV, resolve, insert): {floor_new:7.2f} s")
        empty_customers()
        first, result, job = cadence_import(path)
        print(
            f"Cadence import, new rows:          {first:7.2f} s  "
            f"({first / floor_new:.2f}x floor; {result.created:,} created, "
            f"{result.rejected:,} rejected; upload and inspection included)"
        )
        imported = import_customer_ids(job)
        print(
            f"their refresh on the worker:       {refreshed_on_worker(imported):7.2f} s "
            f"after the import committed ({len(imported):,} customers)"
        )
        floor_again = copy_floor(path, write=False)
        print(f"floor, same file again (COPY of the raw CSV, compare): {floor_again:7.2f} s")
        again, result, _ = cadence_import(path)
        print(
            f"Cadence re-import, same file:      {again:7.2f} s  "
            f"({again / floor_again:.2f}x floor; {result.unchanged:,} unchanged, "
            f"{result.rejected:,} rejected)"
        )
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)

        if iie_rows:
            empty_customers()
            new, same = import_export(path, iie_rows)
            print(
                f"django-import-export, {iie_rows:,} new rows: {new:7.2f} s; "
                f"the same rows again: {same:.2f} s"
            )
            if iie_rows == args.rows:
                print(
                    f"  Cadence is {new / first:.0f}x faster on new rows, "
                    f"{same / again:.0f}x on the re-import"
                )
        empty_customers()

    if args.memory_rows:
        small = peak_memory_of_dry_run(args.rows)
        large = peak_memory_of_dry_run(args.memory_rows)
        print(
            f"peak memory of a dry run: {small:.0f} MB for {args.rows:,} rows, "
            f"{large:.0f} MB for {args.memory_rows:,} rows"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"(max RSS of this process: {peak} MB)")


if __name__ == "__main__":
    main()
