"""Reading real files: encodings, delimiters, quoting, XLSX, bad files; values as people type
them; headers from the exports people have."""

import datetime as dt
from decimal import Decimal

import pytest

from imports.kinds import KINDS, propose_mapping
from imports.readers import ImportFileError, inspect_file, iter_rows
from imports.values import (
    CellError,
    choice_parser,
    parse_date,
    parse_decimal,
    service_model_parser,
)
from visits.models import VisitKind


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def rows(path):
    info = inspect_file(path)
    return info, [cells for _, cells, _ in iter_rows(path, info)]


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("Name,City\nMüller AG,Köln\n".encode(), "utf-8"),
        (b"\xef\xbb\xbf" + "Name,City\nMüller AG,Köln\n".encode(), "utf-8-sig"),
        ("Name,City\nMüller AG,Köln\n".encode("cp1252"), "cp1252"),
        ("Name,City\nMüller AG,Köln\n".encode("utf-16"), "utf-16"),
    ],
)
def test_encodings_are_detected(tmp_path, data, encoding):
    info, read = rows(write(tmp_path, "f.csv", data))
    assert info.encoding == encoding
    assert read == [["Name", "City"], ["Müller AG", "Köln"]]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiters_and_quoted_newlines(tmp_path, delimiter):
    text = delimiter.join(["Name", "Notes", "City"]) + "\n"
    text += delimiter.join(['"Acme, Ltd; Co"', '"line one\nline two"', "Leeds"]) + "\n"
    info, read = rows(write(tmp_path, "f.csv", text.encode()))
    assert info.delimiter == delimiter
    assert read[1] == ["Acme, Ltd; Co", "line one\nline two", "Leeds"]


def test_xlsx_first_or_chosen_sheet(tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    book.active.title = "Notes"
    book.active.append(["ignore me"])
    book.active.append(["really"])
    customers = book.create_sheet("Customers")
    customers.append(["Company", "Customer Since", "Amount"])
    customers.append(["Acme", dt.datetime(2024, 3, 1), 1234.5])
    path = tmp_path / "f.xlsx"
    book.save(path)

    assert inspect_file(path).sheets == ["Notes", "Customers"]
    info = inspect_file(path, sheet="Customers")
    assert info.headers == ["Company", "Customer Since", "Amount"]
    assert [cells for _, cells, _ in iter_rows(path, info)][1] == ["Acme", "2024-03-01", "1234.5"]
    with pytest.raises(ImportFileError, match="no sheet 'Orders'"):
        inspect_file(path, sheet="Orders")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (b"Name,City\n", "header row but no data rows"),
        (bytes(range(256)) * 40, "not a CSV or XLSX"),
        (b"PK\x03\x04not really a zip", "not an Excel workbook"),
    ],
)
def test_files_that_cannot_be_imported_say_why(tmp_path, data, message):
    with pytest.raises(ImportFileError, match=message):
        inspect_file(write(tmp_path, "f.csv", data))


@pytest.mark.parametrize(
    ("text", "order", "expected"),
    [
        ("2026-03-04", "dmy", dt.date(2026, 3, 4)),
        ("2026-03-04T10:30:00", "mdy", dt.date(2026, 3, 4)),
        ("04/03/2026", "dmy", dt.date(2026, 3, 4)),
        ("04/03/2026", "mdy", dt.date(2026, 4, 3)),
        ("4.3.2026", "mdy", dt.date(2026, 3, 4)),
        ("31/12/26", "dmy", dt.date(2026, 12, 31)),
    ],
)
def test_dates(text, order, expected):
    assert parse_date(text, order) == expected


@pytest.mark.parametrize("text", ["31/02/2026", "yesterday", "13/13/2026"])
def test_impossible_dates_are_refused(text):
    with pytest.raises(CellError):
        parse_date(text, "dmy")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1234.5", "1234.50"),
        ("1,234.50", "1234.50"),
        ("1.234,50", "1234.50"),
        ("1 234,5", "1234.50"),
        ("€1,234", "1234.00"),
        ("12,5", "12.50"),
        ("(12.00)", "-12.00"),
        ("EUR 99", "99.00"),
        ("1.234.567", "1234567.00"),
        ("  7  ", "7.00"),
    ],
)
def test_decimals(text, expected):
    assert parse_decimal(text) == Decimal(expected)


def test_choices_by_value_or_label_in_any_case():
    parse = choice_parser(VisitKind)
    assert parse("On Site") == parse("on_site") == parse("ON-SITE") == "on_site"
    with pytest.raises(CellError, match="not one of: On site, Phone, Video, Email"):
        parse("carrier pigeon")


VENDOR_HEADERS = {
    "salesforce": (
        [
            "Account Name",
            "Account Number",
            "Billing Street",
            "Billing City",
            "Billing Zip/Postal Code",
            "Billing Country",
            "Account Owner",
            "Industry",
            "Phone",
            "Website",
            "Type",
        ],
        [
            "name",
            "code",
            "address_line1",
            "city",
            "postal_code",
            "country",
            "owner",
            "industry",
            "phone",
            "website",
            "status",
        ],
    ),
    "hubspot": (
        [
            "Company name",
            "Record ID",
            "Company Domain Name",
            "City",
            "Postal Code",
            "Country/Region",
            "Phone Number",
            "Company owner",
            "Industry",
        ],
        ["name", "code", "website", "city", "postal_code", "country", "phone", "owner", "industry"],
    ),
    "pipedrive": (
        ["Organization - Name", "Organization - Address", "Organization - Owner"],
        ["name", "address_line1", "owner"],
    ),
    "odoo": (
        ["Name", "Reference", "Street", "City", "Zip", "Country", "Salesperson"],
        ["name", "code", "address_line1", "city", "postal_code", "country", "owner"],
    ),
    "plain": (
        ["Customer", "Customer No.", "Postcode", "Town", "Customer Since"],
        ["name", "code", "postal_code", "city", "since"],
    ),
}


@pytest.mark.parametrize("vendor", VENDOR_HEADERS)
def test_vendor_headers_map_to_customer_fields(vendor):
    headers, fields = VENDOR_HEADERS[vendor]
    assert propose_mapping(KINDS["customers"], headers) == dict(zip(headers, fields, strict=True))


def test_field_names_in_any_case_and_customer_code_for_every_kind():
    invoice = propose_mapping(KINDS["invoices"], ["Cost Of Goods", "Customer Code", "NUMBER"])
    assert invoice == {
        "Cost Of Goods": "cost_of_goods",
        "Customer Code": "customer",
        "NUMBER": "number",
    }
    visit = propose_mapping(KINDS["visits"], ["Visited On", "customer_code", "duration_minutes"])
    assert visit == {
        "Visited On": "visited_at",
        "customer_code": "customer",
        "duration_minutes": "duration_minutes",
    }
    for kind in ("contacts", "invoices", "visits", "support_cases"):
        assert propose_mapping(KINDS[kind], ["Customer Code"]) == {"Customer Code": "customer"}


def test_service_models_read_as_people_write_them_and_hand_offs_stay_in_cadence():
    read = service_model_parser()
    assert [read(text) for text in ("Field", "on-site", "Remote", "yes", "no", "Self service")] == [
        "field",
        "field",
        "remote",
        "remote",
        "field",
        "self_service",
    ]
    for text in ("Partner", "inside sales"):
        with pytest.raises(CellError, match="handed off in Cadence"):
            read(text)
    with pytest.raises(CellError, match="is not one of"):
        read("carrier pigeon")
