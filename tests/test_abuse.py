"""What a stranger would type: numbers and dates no visit, invoice or account can have, on every
form, service and import, and a database that refuses one account's figures. Each answers with a
message by the field (never a 500, never stored), and no single account stops a refresh."""

import contextlib
import datetime as dt
import logging
import os
import time
import zipfile
from decimal import Decimal
from pathlib import Path
from unittest import mock
from urllib.parse import urlencode

import openpyxl
import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import QueryDict
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.observability import PlainFormatter
from crm.models import Customer
from health.digest import digest_send
from health.models import AccountMetrics, AccountMonth
from health.rollup import rollup_rebuild
from health.services import accounts_refresh, health_refresh_everything
from imports.engine import media_path
from imports.models import ImportJob, ImportStatus
from imports.services import (
    import_files_clean,
    import_inspect,
)
from tests.factories import CustomerFactory, ImportJobFactory, InvoiceFactory, VisitFactory
from tests.imports.test_import import run
from tests.test_authorization import ROUTES
from visits.models import Visit
from visits.services import visit_log

pytestmark = pytest.mark.django_db

HUGE = "2147483647"


def log_form(**overrides) -> dict:
    return {
        "kind": "on_site",
        "visited_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
        "duration_minutes": "30",
        "travel_minutes": "0",
        "distance_km": "0",
        "expenses": "0",
        **overrides,
    }


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("duration_minutes", HUGE, "at most 24 hours"),
        ("duration_minutes", "1441", "at most 24 hours"),
        ("travel_minutes", "1200000000", "at most 24 hours"),
        ("distance_km", "5000.1", "at most 5,000 km"),
        ("expenses", "10000.01", "at most 10,000"),
        ("visited_at", "0001-01-01T00:00", "between 1900 and 2100"),
        ("visited_at", "9999-12-31T23:59", "between 1900 and 2100"),
        ("follow_up_on", "9999-12-31", "between 1900 and 2100"),
    ],
)
def test_the_visit_log_form_refuses_implausible_values_by_the_field(
    client, world, field, value, message
):
    client.force_login(world.rep_north)
    url = reverse("visits:log_ad_hoc") + f"?customer={world.north_customer.pk}"
    response = client.post(url, log_form(**{field: value}))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Visit.objects.exists()


def test_the_expenses_cap_follows_the_setting(client, world, settings):
    settings.CADENCE_MAX_VISIT_EXPENSES = 50_000
    client.force_login(world.rep_north)
    url = reverse("visits:log_ad_hoc") + f"?customer={world.north_customer.pk}"
    assert client.post(url, log_form(expenses="20000")).status_code == 302
    assert Visit.objects.get().expenses == Decimal("20000")


def test_the_service_refuses_what_the_form_would(world):
    with pytest.raises(ValidationError) as error:
        visit_log(
            user=world.rep_north,
            customer=world.north_customer,
            kind="on_site",
            visited_at=timezone.now(),
            duration_minutes=1_200_000_000,
            travel_minutes=1_200_000_000,
        )
    assert set(error.value.message_dict) == {"duration_minutes", "travel_minutes"}
    assert not Visit.objects.exists()


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("0001-01-01T09:00", "0001-01-01T10:00"),
        ("9999-12-31T09:00", "9999-12-31T10:00"),
        ("2026-12-02T09:00", "2026-12-04T10:00"),
    ],
)
def test_planning_refuses_implausible_times_with_a_message(client, world, start, end):
    client.force_login(world.rep_north)
    response = client.post(
        reverse("visits:plan"),
        {"customer": world.north_customer.pk, "kind": "on_site", "start": start, "end": end},
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "between 1900 and 2100" in page or "more than 24 hours" in page
    assert not Visit.objects.exists()


def test_a_manager_cannot_store_a_placeholder_customer_since(client, world):
    client.force_login(world.north_manager)
    account = world.north_customer
    response = client.post(
        reverse("crm:customer_edit", args=[account.pk]),
        {
            "name": account.name,
            "tier": account.tier,
            "status": account.status,
            "territory": account.territory_id,
            "since": "9999-12-31",
        },
    )
    assert response.status_code == 200
    assert "between 1900 and 2100" in response.content.decode()
    account.refresh_from_db()
    assert account.since != dt.date(9999, 12, 31)


VISITS_WITH_HOSTILE_NUMBERS = """\
Customer Code,Salesperson,Date,Duration,Travel,Distance,Expenses
{code},rep-north,2026-11-02 10:00,2147483647,0,0,0
{code},rep-north,2026-11-03 10:00,30,1441,0,0
{code},rep-north,2026-11-04 10:00,30,0,5001,0
{code},rep-north,2026-11-05 10:00,30,0,0,10000.01
{code},rep-north,0001-01-01 10:00,30,0,0,0
{code},rep-north,0000-00-00,30,0,0,0
{code},rep-north,2200-01-01 10:00,30,0,0,0
{code},rep-north,2026-11-06 10:00,1440,1440,5000,10000
"""


def test_imports_reject_what_the_forms_refuse(world):
    text = VISITS_WITH_HOSTILE_NUMBERS.format(code=world.north_customer.code)
    job, _ = run(world, "visits", text)
    reasons = {sample["row"]: sample["reason"] for sample in job.reject_samples}
    assert (job.created, job.rejected) == (1, 7), reasons
    assert "1,440" in reasons[2] and "1,440" in reasons[3]
    assert "5,000" in reasons[4] and "10,000" in reasons[5]
    assert "placeholder" in reasons[6] and "placeholder" in reasons[7]
    assert "1900-2100" in reasons[8]
    assert Visit.objects.get().duration_minutes == 1440


def test_imports_read_placeholder_dates_as_empty(world):
    text = (
        "Account Name,Account Number,Territory,Customer Since\n"
        "Acme Ltd,ACME-1,North,9999-12-31\n"
        "Beta plc,BETA-1,North,1899-05-01\n"
    )
    job, _ = run(world, "customers", text)
    assert (job.created, job.rejected) == (1, 1)
    assert Customer.objects.get(code="ACME-1").since is None
    assert "1900-2100" in job.reject_samples[0]["reason"]


REFUSE_ONE_CUSTOMER = """
CREATE FUNCTION pg_temp.refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.customer_id = {customer} THEN
        RAISE EXCEPTION 'integer out of range' USING ERRCODE = 'numeric_value_out_of_range';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse_one BEFORE INSERT OR UPDATE ON {table}
FOR EACH ROW EXECUTE FUNCTION pg_temp.refuse_one();
"""


@pytest.mark.parametrize("table", ["crm_accountmetrics", "crm_accountmonth"])
def test_one_account_the_database_refuses_does_not_stop_the_refresh(world, table, caplog):
    accounts = [CustomerFactory(territory=world.north, owner=world.rep_north) for _ in range(9)]
    for account in accounts:
        InvoiceFactory(customer=account, amount=Decimal("100"), cost_of_goods=Decimal("40"))
        VisitFactory(customer=account, salesperson=world.rep_north)
    bad = accounts[4]
    with connection.cursor() as cursor:
        cursor.execute(REFUSE_ONE_CUSTOMER.format(customer=bad.pk, table=table))

    today = timezone.localdate()
    with caplog.at_level(logging.ERROR, logger="core.isolation"):
        health_refresh_everything(as_of=today)
        health_refresh_everything(as_of=today)
        accounts_refresh(customer_ids=[a.pk for a in accounts], as_of=today)
        rollup_rebuild()

    model = AccountMetrics if table == "crm_accountmetrics" else AccountMonth
    refreshed = set(model.objects.values_list("customer_id", flat=True))
    assert {a.pk for a in accounts} - refreshed == {bad.pk}
    assert f"customer {bad.pk}" in caplog.text


HOSTILE_VALUES = [
    "2024-02-30",
    "2024-13-01",
    "0000-00-00",
    "9999-12-31",
    "0001-01",
    "9999-12",
    "²",
    "٣",
    "\x00",
    "a\x00b",
    "-1",
    "0",
    "99999999999999999999999",
    "1e308",
    "NaN",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "x" * 5000,
]
QUERY_NAMES = [
    "date",
    "customer",
    "q",
    "page",
    "sort",
    "tab",
    "view",
    "for",
    "next",
    "format",
    "recommendation",
    "territory",
    "salesperson",
    "tier",
    "status",
    "period",
    "start",
    "end",
    "overdue",
]


# Asking a QueryDict for one value, or for all of them at once.
_READS_ONE = ("__getitem__", "get", "getlist", "__contains__")
_READS_ALL = ("items", "lists", "dict", "copy", "urlencode", "keys", "values", "__iter__")
PROBE = "probe7q"


@contextlib.contextmanager
def _query_reads():
    """The names any QueryDict is asked for while inside ("*": read whole)."""
    read: set[str] = set()

    def one(original):
        def reading(self, key, *args, **kwargs):
            read.add(key)
            return original(self, key, *args, **kwargs)

        return reading

    def whole(original):
        def reading(self, *args, **kwargs):
            read.add("*")
            return original(self, *args, **kwargs)

        return reading

    with contextlib.ExitStack() as patches:
        for name in _READS_ONE:
            patches.enter_context(mock.patch.object(QueryDict, name, one(getattr(QueryDict, name))))
        for name in _READS_ALL:
            patches.enter_context(
                mock.patch.object(QueryDict, name, whole(getattr(QueryDict, name)))
            )
        yield read


def test_no_view_answers_5xx_to_hostile_query_parameters(world, sides, settings):
    """Every URL pattern, as a salesperson and as an admin, with each hostile value in every
    query parameter any view reads. A first request with a harmless value finds the views that
    look at their query at all (a parameter asked for, the query read whole, or echoed in the
    answer); a view that does not answers the same whatever the query holds, so the hostile
    values are sent only to the others."""
    settings.CADENCE_FEED_REQUESTS_PER_MINUTE = 1_000_000
    failures = []
    hostile = 0

    def query(value: str) -> str:
        return urlencode(dict.fromkeys(QUERY_NAMES, value))

    for user in (world.rep_north, world.admin):
        client = Client()
        client.force_login(user)
        for name, route in sorted(ROUTES.items()):
            if name in {"logout", "visits:calendar_regenerate"}:
                continue
            url = reverse(name, kwargs=route.kwargs(sides["north"]) if route.kwargs else {})
            for headers in ({}, {"HX-Request": "true"}):
                with _query_reads() as read:
                    probe = client.get(f"{url}?{query(PROBE)}", headers=headers)
                answer = (b"" if probe.streaming else probe.content).decode(errors="replace")
                echoed = PROBE in answer or PROBE in str(probe.headers)
                responses = [(PROBE, probe)]
                if read & {*QUERY_NAMES, "*"} or echoed:
                    responses += [
                        (value, client.get(f"{url}?{query(value)}", headers=headers))
                        for value in HOSTILE_VALUES
                    ]
                    hostile += len(HOSTILE_VALUES)
                failures += [
                    f"{user.username} {url} {value[:20]!r} {headers}"
                    for value, response in responses
                    if response.status_code >= 500
                ]
    assert not failures, "\n".join(failures)
    # The probe is not blind: the pages with filters, search and dates read their query.
    assert hostile >= len(HOSTILE_VALUES) * 20, hostile


def test_the_query_probe_sees_a_parameter_read_and_a_query_read_whole():
    request = QueryDict("date=2024-02-30&q=x")
    with _query_reads() as read:
        request.get("date")
    assert read == {"date"}
    with _query_reads() as read:
        dict(request.items())
    assert "*" in read
    with _query_reads() as read:
        "q" in request  # noqa: B015
    assert read == {"q"}


def test_a_forged_line_in_the_path_stays_on_its_own_line_of_the_log(client, world):
    formatter = PlainFormatter("%(levelname)s %(name)s %(message)s")
    record = logging.makeLogRecord(
        {
            "name": "cadence.access",
            "levelname": "INFO",
            "msg": "%s %s %s",
            "args": ("GET", "/x\r\nINFO cadence.access GET /admin/ 200\x1b[2J", 404),
        }
    )
    line = formatter.format(record)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert "/x\\r\\nINFO cadence.access" in line and "\\x1b[2J" in line
    assert record.args[1].startswith("/x\r\n"), "other handlers still get the record as it was"


@pytest.mark.parametrize("field", ["name", "city", "phone"])
def test_line_breaks_are_refused_in_single_line_fields(client, world, field):
    client.force_login(world.north_manager)
    account = world.north_customer
    data = {
        "name": account.name,
        "tier": account.tier,
        "status": account.status,
        "territory": account.territory_id,
        field: "Acme\r\nBcc: everyone@example.com",
    }
    response = client.post(reverse("crm:customer_edit", args=[account.pk]), data)
    assert response.status_code == 200 and "Keep this to one line" in response.text
    account.refresh_from_db()
    assert "\n" not in getattr(account, field)


def test_imports_make_single_line_fields_one_line(world):
    text = (
        'Account Name,Account Number,Territory,Billing City\n"Acme\r\nLtd",AC-9,North,"Le\teds"\n'
    )
    job, _ = run(world, "customers", text)
    assert job.created == 1, job.reject_samples
    account = Customer.objects.get(code="AC-9")
    assert (account.name, account.city) == ("Acme Ltd", "Le eds")


def test_the_digest_keeps_one_flag_per_line(world, mailoutbox, django_capture_on_commit_callbacks):
    Customer.objects.filter(pk=world.north_customer.pk).update(
        name="Evil\r\n- Forged line", owner=world.rep_north
    )
    health_refresh_everything(as_of=timezone.localdate())
    with django_capture_on_commit_callbacks(execute=True):
        digest_send()
    body = "\n".join(message.body for message in mailoutbox)
    assert "Evil - Forged line" in body
    assert not any(line.startswith("- Forged line") for line in body.splitlines())


def workbook_with(tmp_path, name: str, replace: dict[str, object]) -> Path:
    """A real two-row workbook whose parts in `replace` are swapped for the given bytes (or
    for what a generator of byte chunks yields, streamed into the ZIP)."""
    book = openpyxl.Workbook()
    book.active.append(["Company", "Customer Code"])
    book.active.append(["Acme", "A-1"])
    base = tmp_path / f"base-{name}"
    book.save(base)
    path = tmp_path / name
    with zipfile.ZipFile(base) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for item in source.infolist():
            if item.filename not in replace:
                out.writestr(item, source.read(item.filename))
                continue
            content = replace[item.filename]
            with out.open(item.filename, "w", force_zip64=True) as part:
                for chunk in [content] if isinstance(content, bytes) else content:
                    part.write(chunk)
    return path


SHEET = "xl/worksheets/sheet1.xml"
SHEET_START = (
    b'<?xml version="1.0" encoding="UTF-8"?><worksheet '
    b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
)
SHEET_END = b"</sheetData></worksheet>"


def one_huge_cell(megabytes: int):
    yield SHEET_START + b'<row r="1"><c r="A1" t="inlineStr"><is><t>Company</t></is></c></row>'
    yield b'<row r="2"><c r="A2" t="inlineStr"><is><t>'
    for _ in range(megabytes):
        yield b"a" * 1024 * 1024
    yield b"</t></is></c></row>" + SHEET_END


def entity_bomb() -> bytes:
    entities = "".join(f'<!ENTITY e{n} "{f"&e{n - 1};" * 10 if n else "lol"}">' for n in range(10))
    return (
        f'<?xml version="1.0"?><!DOCTYPE lolz [{entities}]>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        '<row r="1"><c r="A1" t="inlineStr"><is><t>&e9;</t></is></c></row>'
        "</sheetData></worksheet>"
    ).encode()


def many_rows_slowly():
    yield SHEET_START
    for start in range(0, 600_000, 10_000):
        yield b"".join(
            b'<row><c t="inlineStr"><is><t>x%d</t></is></c></row>' % n
            for n in range(start, start + 10_000)
        )
    yield SHEET_END


def upload_file(client, path: Path) -> tuple[object, float]:
    with path.open("rb") as handle:
        started = time.monotonic()
        response = client.post(
            reverse("imports:list"), {"kind": "customers", "file": handle, "sheet": ""}
        )
    return response, time.monotonic() - started


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        (
            "bomb.xlsx",
            lambda tmp: workbook_with(tmp, "bomb.xlsx", {SHEET: entity_bomb()}),
            "safely",
        ),
        (
            "huge-cell.xlsx",
            lambda tmp: workbook_with(tmp, "huge-cell.xlsx", {SHEET: one_huge_cell(300)}),
            "more memory",
        ),
        (
            "slow.xlsx",
            lambda tmp: workbook_with(tmp, "slow.xlsx", {SHEET: many_rows_slowly()}),
            None,
        ),
        (
            "broken.xlsx",
            lambda tmp: workbook_with(tmp, "broken.xlsx", {SHEET: b"<worksheet><sheetData><row"}),
            "could not be read safely",
        ),
        (
            "field.csv",
            lambda tmp: (
                tmp.joinpath("field.csv").write_bytes(
                    b'Company,Notes\nAcme,"' + b"n" * (40 * 1024 * 1024) + b'"\n'
                ),
                tmp / "field.csv",
            )[1],
            "too large to import",
        ),
    ],
)
def test_hostile_uploads_are_refused_with_a_reason_and_never_parsed_in_the_request(
    client, world, settings, tmp_path, name, make, message
):
    settings.CADENCE_IMPORT_INSPECT_MB = 400
    # The huge cell must meet the memory limit, not the clock: on a loaded machine reading
    # 300 MB can take longer than 8 s, which made the outcome depend on CPU speed.
    settings.CADENCE_IMPORT_INSPECT_SECONDS = 120 if name == "huge-cell.xlsx" else 8
    path = make(tmp_path)
    assert path.stat().st_size < settings.IMPORT_MAX_BYTES
    client.force_login(world.admin)

    response, seconds = upload_file(client, path)
    assert response.status_code == 302 and seconds < 2, f"the request took {seconds:.1f} s"
    job = ImportJob.objects.get()
    assert job.status == ImportStatus.INSPECTING

    import_inspect(job)  # what the worker does
    job.refresh_from_db()
    page = client.get(reverse("imports:detail", args=[job.pk])).text
    if message is None:  # slow but legitimate: read within the limits, or refused for time
        assert job.status in {ImportStatus.UPLOADED, ImportStatus.FAILED}
        if job.status == ImportStatus.FAILED:
            assert "took longer than 8 s" in job.error
    else:
        assert job.status == ImportStatus.FAILED and message in job.error, job.error
        assert message in page
        assert not media_path(job.stored_name).exists(), "no orphan file"


def test_orphan_upload_files_are_removed_nightly(world):
    folder = media_path("x").parent
    folder.mkdir(parents=True, exist_ok=True)
    orphan, fresh = folder / "orphan.csv", folder / "just-uploaded.csv"
    for path in (orphan, fresh):
        path.write_text("Company\nAcme\n")
    now = time.time()
    day_ago = now - 2 * 86400
    os.utime(fresh, (now, now))
    os.utime(orphan, (day_ago, day_ago))
    job = ImportJobFactory(stored_name="kept.csv", uploaded_by=world.admin)
    kept = folder / job.stored_name
    kept.write_text("Company\nAcme\n")
    os.utime(kept, (day_ago, day_ago))

    assert import_files_clean() >= 1
    assert not orphan.exists() and fresh.exists() and kept.exists()


def test_a_cancel_reason_is_one_line(client, world):
    from tests.factories import PlannedVisitFactory

    meeting = PlannedVisitFactory(customer=world.north_customer, salesperson=world.rep_north)
    client.force_login(world.rep_north)
    response = client.post(
        reverse("visits:cancel", args=[meeting.pk]), {"reason": "Ill\r\nBcc: x@example.com"}
    )
    assert response.status_code == 200 and "Keep this to one line" in response.text
    meeting.refresh_from_db()
    assert meeting.status == "planned"


def test_a_zero_exchange_rate_is_refused_in_the_admin(client, world):
    client.force_login(world.admin)
    response = client.post(
        "/admin/crm/exchangerate/add/", {"currency": "USD", "on_date": "2026-01-01", "rate": "0"}
    )
    assert response.status_code == 200 and "A rate is more than zero." in response.text
