"""Imports end to end through the service and the command: upsert, re-import, duplicates,
unknown references, rejects round trip, dry run, revert, every kind."""

import csv
import datetime as dt
import io
import json
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection

from crm.models import Contact, Customer, Invoice, SupportCase
from health.models import AccountMetrics
from imports.engine import _write_rejects
from imports.models import ImportJob, ImportStatus
from imports.readers import FileInfo
from imports.reverts import import_revert
from imports.runs import (
    customers_refresh_after_import,
    import_customer_ids,
    import_run,
)
from imports.services import (
    import_configure,
    import_upload,
)
from tests.factories import CustomerFactory, ImportJobFactory, InvoiceFactory
from visits.models import Visit

pytestmark = pytest.mark.django_db


def upload(world, kind: str, text: str, name: str = "export.csv", **options) -> ImportJob:
    data = text.encode("utf-8")
    job = import_upload(
        user=world.admin,
        kind=kind,
        name=name,
        chunks=[data],
        size=len(data),
        max_bytes=settings.IMPORT_MAX_BYTES,
    )
    return import_configure(
        job=job,
        mapping=options.pop("mapping", job.mapping),
        date_order=options.pop("date_order", job.date_order),
        default_owner=options.pop("default_owner", None),
        default_territory=options.pop("default_territory", None),
    )


def run(world, kind: str, text: str, *, dry_run: bool = False, **options):
    job = upload(world, kind, text, **options)
    result = import_run(job=job, dry_run=dry_run)
    if not dry_run:
        customers_refresh_after_import(import_customer_ids(job))
    job.refresh_from_db()
    assert job.rows == job.created + job.updated + job.unchanged + job.rejected
    return job, result


def counts(job: ImportJob) -> tuple[int, int, int, int]:
    return job.created, job.updated, job.unchanged, job.rejected


CUSTOMERS = """\
Account Name,Account Number,Billing City,Billing Zip/Postal Code,Account Owner,Territory,Tier
Acme Ltd,ACME-1,Leeds,LS1,rep-north,North,A
Beta plc,BETA-1,York,YO1,rep-north@example.com,North,b
Gamma Co,GAMMA-1,Hull,HU1,,North,C
"""


def test_customers_are_created_then_unchanged_then_updated(world):
    world.rep_north.email = "rep-north@example.com"
    world.rep_north.save()
    job, _ = run(world, "customers", CUSTOMERS)
    assert counts(job) == (3, 0, 0, 0)
    beta = Customer.objects.get(code="BETA-1")
    assert (beta.owner, beta.territory, beta.tier, beta.city) == (
        world.rep_north,
        world.north,
        "B",
        "York",
    )
    assert Customer.objects.get(code="GAMMA-1").owner is None
    assert AccountMetrics.objects.filter(customer=beta).exists(), "metrics refreshed"

    again, _ = run(world, "customers", CUSTOMERS)
    assert counts(again) == (0, 0, 3, 0)

    changed = CUSTOMERS.replace("York,YO1", "Selby,YO1").replace("Hull,HU1,,", ",HU1,,")
    third, _ = run(world, "customers", changed)
    assert counts(third) == (0, 1, 2, 0)
    assert Customer.objects.get(code="BETA-1").city == "Selby"
    assert Customer.objects.get(code="GAMMA-1").city == "Hull", "an empty cell keeps the value"


def test_without_a_code_customers_match_on_name_and_postal_code(world):
    CustomerFactory(name="Delta Foods Ltd.", code="D-9", postal_code="LS2", territory=world.north)
    text = (
        "Company,Postcode,Town,Territory\nDELTA FOODS LTD,LS2,Leeds,North\nNew One,X1,Ripon,North\n"
    )
    job, _ = run(world, "customers", text)
    assert counts(job) == (1, 1, 0, 0)
    assert Customer.objects.get(code="D-9").city == "Leeds"
    again, _ = run(world, "customers", text)
    assert counts(again) == (0, 0, 2, 0)


def test_duplicates_unknown_references_and_bad_cells_are_rejected_with_reasons(world):
    text = (
        "Name,Code,Territory,Owner,Customer Since\n"
        "One,C-1,North,rep-north,01/02/2024\n"
        "One again,C-1,North,rep-north,01/02/2024\n"
        "Two,C-2,Atlantis,rep-north,01/02/2024\n"
        "Three,C-3,North,nobody,01/02/2024\n"
        "Four,C-4,North,rep-north,31/31/2024\n"
    )
    job, result = run(world, "customers", text)
    assert counts(job) == (1, 0, 0, 4)
    reasons = {r["row"]: r["reason"] for r in job.reject_samples}
    assert reasons[3] == "duplicate: same code as row 2"
    assert 'no territory "Atlantis"' in reasons[4]
    assert 'no user (username, email or full name) "nobody"' in reasons[5]
    assert "Customer Since" in reasons[6] and "not a real date" in reasons[6]
    with result.rejects_path.open(encoding="utf-8-sig") as handle:
        rejected = list(csv.DictReader(handle))
    assert [r["Code"] for r in rejected] == ["C-1", "C-2", "C-3", "C-4"]
    assert rejected[1]["error"] == reasons[4]


def test_defaults_stand_in_for_unknown_owner_and_territory(world):
    text = "Name,Code,Territory,Owner\nTwo,C-2,Atlantis,nobody\nThree,C-3,,\n"
    job, _ = run(
        world, "customers", text, default_owner=world.rep_south, default_territory=world.south
    )
    assert counts(job) == (2, 0, 0, 0)
    assert set(
        Customer.objects.filter(code__in=["C-2", "C-3"]).values_list(
            "owner__username", "territory__name"
        )
    ) == {("rep-south", "South")}


def test_rejects_file_fixed_and_imported_again(world, tmp_path):
    text = "Name,Code,Territory,Tier\nGood,G-1,North,A\nBad,B-1,North,Z\n"
    job, result = run(world, "customers", text)
    assert counts(job) == (1, 0, 0, 1)
    with result.rejects_path.open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert rows == [
        {
            "Name": "Bad",
            "Code": "B-1",
            "Territory": "North",
            "Tier": "Z",
            "error": "Tier: 'Z' is not one of: A, B, C, D",
        }
    ]
    fixed = io.StringIO()
    writer = csv.DictWriter(fixed, fieldnames=["Name", "Code", "Territory", "Tier", "error"])
    writer.writeheader()
    writer.writerows([{**row, "Tier": "D"} for row in rows])
    second, _ = run(world, "customers", fixed.getvalue())
    assert counts(second) == (1, 0, 0, 0)
    assert Customer.objects.get(code="B-1").tier == "D"


def test_a_dry_run_writes_nothing_but_counts_and_previews(world):
    before = Customer.objects.count()
    job, _ = run(world, "customers", CUSTOMERS, dry_run=True)
    assert job.status == ImportStatus.CHECKED and counts(job) == (3, 0, 0, 0)
    assert Customer.objects.count() == before
    assert job.preview[0]["Name"] == "Acme Ltd" and job.preview[0]["action"] == "create"


def test_missing_required_column_is_refused_before_running(world):
    with pytest.raises(ValidationError, match="Map a column to: Name"):
        upload(world, "customers", "Code,Territory\nX,North\n")
    with pytest.raises(ValidationError, match="Territory"):
        upload(world, "customers", "Name,Code\nX,X\n")


def test_revert_removes_created_rows_and_restores_updated_ones(world):
    CustomerFactory(code="ACME-1", name="Acme Ltd", city="Bradford", territory=world.north)
    job, _ = run(world, "customers", CUSTOMERS)
    assert counts(job) == (2, 1, 0, 0)
    assert Customer.objects.get(code="ACME-1").city == "Leeds"

    import_revert(job=job, user=world.admin)

    assert not Customer.objects.filter(code__in=["BETA-1", "GAMMA-1"]).exists()
    assert Customer.objects.get(code="ACME-1").city == "Bradford"
    job.refresh_from_db()
    assert job.status == ImportStatus.REVERTED


def test_revert_is_refused_once_newer_data_depends_on_it(world):
    job, _ = run(world, "customers", CUSTOMERS)
    InvoiceFactory(customer=Customer.objects.get(code="ACME-1"))
    with pytest.raises(ValidationError, match="now have contacts, visits, invoices or cases"):
        import_revert(job=job, user=world.admin)
    assert Customer.objects.filter(code="ACME-1").exists()


def test_contacts_upsert_by_email_within_their_customer(world):
    customer = world.north_customer
    text = (
        "Customer Code,Name,Email,Job Title\n"
        f"{customer.code},Ann Lee,ann@example.com,Buyer\n"
        f"{customer.name},Bob Ray,,Owner\n"
        "NOPE,Cy Fox,cy@example.com,\n"
    )
    job, _ = run(world, "contacts", text)
    assert counts(job) == (2, 0, 0, 1)
    again, _ = run(world, "contacts", text.replace("Buyer", "Head buyer"))
    assert counts(again) == (0, 1, 1, 1)
    assert Contact.objects.get(email="ann@example.com").title == "Head buyer"


def test_invoices_upsert_by_number_and_later_files_set_paid_dates(world):
    customer = world.north_customer
    first = (
        "Invoice Number,Customer Code,Invoice Date,Due Date,Amount,Cost Of Goods\n"
        f'INV-1,{customer.code},01/09/2026,01/10/2026,"1.234,50 €",800\n'
    )
    job, _ = run(world, "invoices", first, date_order="dmy")
    assert counts(job) == (1, 0, 0, 0)
    invoice = Invoice.objects.get(number="INV-1")
    assert (invoice.amount, invoice.issued_on) == (Decimal("1234.50"), dt.date(2026, 9, 1))
    paid = first.replace("Cost Of Goods\n", "Cost Of Goods,Paid Date\n").rstrip() + ",15/10/2026\n"
    second, _ = run(world, "invoices", paid, date_order="dmy")
    assert counts(second) == (0, 1, 0, 0)
    assert Invoice.objects.get(number="INV-1").paid_on == dt.date(2026, 10, 15)


def test_visit_history_and_support_cases_link_customer_and_salesperson(world):
    customer = world.north_customer
    visits = (
        "Customer Code,Salesperson,Visited On,Type,Duration,Notes\n"
        f"{customer.code},rep-north,2026-10-01,Visit,45,Talked prices\n"
        f"{customer.code},ghost,2026-10-02,Call,10,\n"
    )
    job, _ = run(world, "visits", visits)
    assert counts(job) == (1, 0, 0, 1)
    visit = Visit.objects.get(customer=customer)
    assert (visit.salesperson, visit.kind, visit.duration_minutes, visit.status) == (
        world.rep_north,
        "on_site",
        45,
        "done",
    )
    customer.refresh_from_db()
    assert customer.last_visit_at == visit.visited_at, "cadence refreshed after the import"
    assert counts(run(world, "visits", visits)[0]) == (0, 0, 1, 1)

    cases = f"Customer Code,Opened,Kind,Minutes\n{customer.code},2026-10-03,Complaint,30\n"
    assert counts(run(world, "support_cases", cases)[0]) == (1, 0, 0, 0)
    assert SupportCase.objects.get(customer=customer).minutes == 30


def test_command_prints_json_with_the_same_counts(world, tmp_path):
    path = tmp_path / "customers.csv"
    path.write_text(CUSTOMERS.replace("rep-north@example.com", "rep-north"), encoding="cp1252")
    out = io.StringIO()
    call_command("import_records", "customers", str(path), "--dry-run", "--json", stdout=out)
    summary = json.loads(out.getvalue())
    assert summary == {
        "kind": "customers",
        "rows": 3,
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
        "rejects_file": None,
    }
    assert not Customer.objects.filter(code="ACME-1").exists()
    out = io.StringIO()
    call_command("import_records", "customers", str(path), "--json", stdout=out)
    assert json.loads(out.getvalue())["created"] == 3
    assert Customer.objects.filter(code="ACME-1").exists()


def test_an_xlsx_export_imports_like_a_csv(world, tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["Company name", "Record ID", "City", "Customer Since", "Territory"])
    sheet.append(["Hub Co", 1001, "Leeds", dt.datetime(2023, 5, 6), "North"])
    path = tmp_path / "hubspot.xlsx"
    book.save(path)
    data = path.read_bytes()
    job = import_upload(
        user=world.admin,
        kind="customers",
        name="hubspot.xlsx",
        chunks=[data],
        size=len(data),
        max_bytes=settings.IMPORT_MAX_BYTES,
    )
    job = import_configure(
        job=job, mapping=job.mapping, date_order="dmy", default_owner=None, default_territory=None
    )
    import_run(job=job, dry_run=False)
    customer = Customer.objects.get(code="1001")
    assert (customer.name, customer.since) == ("Hub Co", dt.date(2023, 5, 6))


def test_rows_that_break_the_database_rules_are_rejected_not_fatal(world):
    code = world.north_customer.code
    invoices = (
        "Invoice Number,Customer Code,Invoice Date,Due Date,Amount,Cost Of Goods\n"
        f"INV-1,{code},2026-09-01,2026-08-01,100,10\n"
        f"INV-2,{code},2026-09-01,2026-10-01,100,-5\n"
        f"INV-3,{code},2026-09-01,2026-10-01,1e15,5\n"
        f"INV-4,{code},2026-09-01,2026-10-01,100,5\n"
    )
    job, _ = run(world, "invoices", invoices)
    assert counts(job) == (1, 0, 0, 3)
    reasons = [r["reason"] for r in job.reject_samples]
    assert reasons[0] == "the due date is before the invoice date"
    assert "below 0" in reasons[1] and "too large" in reasons[2]
    # A NUL byte in the first 64 KB marks a binary file; past them it only rejects its row.
    padding = "".join(
        f"{code},Person {n},p{n}@example.com,{'x' * 9_000}\n" for n in range(8)
    )  # 72 KB of rows, each note within the 10,000 characters a note may hold
    contacts = (
        f"Customer Code,Name,Email,Notes\n{padding}{code},Bo,not-an-email,\n{code},Bo\x00b,,\n"
    )
    job, _ = run(world, "contacts", contacts)
    assert counts(job) == (8, 0, 0, 2)
    assert "not an email address" in job.reject_samples[0]["reason"]
    assert "NUL" in job.reject_samples[1]["reason"]


def test_an_imported_primary_contact_replaces_the_stored_one_and_reverts(world):
    from tests.factories import ContactFactory

    customer = world.north_customer
    old = ContactFactory(customer=customer, name="Old Boss", is_primary=True)
    text = (
        "Customer Code,Name,Email,Primary,Currency\n"
        f"{customer.code},New Boss,new@example.com,yes,\n"
        f"{customer.code},Other,other@example.com,yes,\n"
    )
    job, _ = run(world, "contacts", text)
    assert counts(job) == (1, 0, 0, 1)
    assert "another primary contact for this customer in row 2" in job.reject_samples[0]["reason"]
    assert list(Contact.objects.filter(customer=customer, is_primary=True)) == [
        Contact.objects.get(name="New Boss")
    ]
    import_revert(job=job, user=world.admin)
    old.refresh_from_db()
    assert old.is_primary and not Contact.objects.filter(name="New Boss").exists()


def test_new_invoices_take_the_installation_currency(world):
    code = world.north_customer.code
    text = (
        "Invoice Number,Customer Code,Invoice Date,Due Date,Amount\n"
        f"I-9,{code},2026-09-01,2026-10-01,5\n"
    )
    run(world, "invoices", text)
    assert Invoice.objects.get(number="I-9").currency == settings.CADENCE_CURRENCY


def test_the_rejects_file_is_written_as_the_upload_was(world):
    data = "Name;Code;Territory;Tier\nCafé Ü;C-1;North;Q\nBar;B-1;North;A\n".encode("cp1252")
    job = import_upload(
        user=world.admin,
        kind="customers",
        name="semicolons.csv",
        chunks=[data],
        size=len(data),
        max_bytes=settings.IMPORT_MAX_BYTES,
    )
    job = import_configure(
        job=job, mapping=job.mapping, date_order="dmy", default_owner=None, default_territory=None
    )
    result = import_run(job=job, dry_run=True)
    job.refresh_from_db()
    assert (job.encoding, job.rejects_encoding) == ("cp1252", "cp1252")
    lines = result.rejects_path.read_bytes().decode("cp1252").splitlines()
    assert lines[0] == "Name;Code;Territory;Tier;error"
    assert lines[1].startswith("Café Ü;C-1;North;Q;")
    assert not job.rejects_fell_back_to_utf8


def test_a_rejects_file_the_uploads_encoding_cannot_hold_falls_back_to_utf8(world, tmp_path):
    upload_file = tmp_path / "plain.csv"
    upload_file.write_text("Name,Code\nAcme,A-1\n", encoding="ascii")
    job = ImportJobFactory(stored_name="plain.csv", encoding="ascii", uploaded_by=world.admin)
    info = FileInfo(file_format="csv", encoding="ascii", delimiter=",")
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE import_rejects (line integer, reason text)")
        cursor.execute("INSERT INTO import_rejects VALUES (2, 'Territory: no territory \"Ωmega\"')")
        path, encoding = _write_rejects(cursor, upload_file, info, job)
        cursor.execute("DROP TABLE import_rejects")
    assert encoding == "utf-8-sig"
    assert path.read_text(encoding="utf-8-sig").splitlines()[1].endswith('"Ωmega"""')


def test_salesforce_billing_coordinates_become_locations(world):
    text = """\
Account Name,Account Number,Territory,Billing Latitude,Billing Longitude
Acme Ltd,ACME-1,North,"53,8194","-1,5816"
Beta plc,BETA-1,North,53.96,-1.0873
Half Ltd,HALF-1,North,53.5,
Wild plc,WILD-1,North,95,1
Nowhere Co,NOWHERE-1,North,,
"""
    job, _ = run(world, "customers", text)
    assert counts(job) == (3, 0, 0, 2)
    acme = Customer.objects.get(code="ACME-1")
    assert (acme.latitude, acme.longitude, acme.location_source) == (53.8194, -1.5816, "imported")
    assert acme.located_at is not None
    nowhere = Customer.objects.get(code="NOWHERE-1")
    assert (nowhere.latitude, nowhere.location_source, nowhere.located_at) == (None, "", None)
    reasons = " ".join(r["reason"] for r in job.reject_samples)
    assert "a location needs both a latitude and a longitude" in reasons
    assert "'95' is outside ±90°" in reasons
    # Moving one account updates it; the others are unchanged.
    again = text.replace("53.96,-1.0873", "53.97,-1.08")
    job, _ = run(world, "customers", again)
    assert (job.updated, job.unchanged) == (1, 2)
    assert Customer.objects.get(code="BETA-1").latitude == 53.97


@pytest.mark.django_db(transaction=True)
def test_an_import_and_its_revert_ask_for_the_refresh_in_their_own_transaction(world):
    """Like every other writer: the refresh is pending from the moment the rows are (a worker
    killed after the commit loses nothing), queued in batches to health's one entry point."""
    from core.models import PendingRefresh
    from imports.reverts import import_revert

    existing = CustomerFactory(code="KEEP-1", territory=world.north)
    text = "Name,Code,Territory\nKept,KEEP-1,North\nNew One,NEW-1,North\nNew Two,NEW-2,North\n"
    job = upload(world, "customers", text)
    import_run(job=job, dry_run=False)
    imported = set(
        Customer.objects.filter(code__in=["KEEP-1", "NEW-1", "NEW-2"]).values_list("pk", flat=True)
    )
    assert set(PendingRefresh.objects.values_list("customer_id", flat=True)) == imported
    PendingRefresh.objects.all().delete()
    import_revert(job=ImportJob.objects.get(pk=job.pk), user=world.admin)
    # The created accounts are gone; the one it updated is asked for again.
    assert list(PendingRefresh.objects.values_list("customer_id", flat=True)) == [existing.pk]
