"""Invoices and support cases pushed by other systems (the ERP, the helpdesk), in batches: each
row is checked by the same rules as the models', the good rows are written in one statement
(insert, or update the row with the same invoice number / case id), and every bad row comes
back with its index and what is wrong with it; nothing is dropped silently. The customers
touched are refreshed once per batch."""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import connection, transaction

from core.bounds import (
    CONTROL_CHARACTERS,
    FREE_TEXT_CONTROL_CHARACTERS,
    MAX_MONEY,
    MAX_SUPPORT_MINUTES,
    MAX_TEXT_CHARS,
    is_plausible_date,
)
from core.refresh import customers_refresh_request
from core.sql import compose, identifier
from crm.models import Customer, SupportCaseKind
from crm.services import exchange_rates_on

MAX_BATCH = 1_000
CENT = Decimal("0.01")


@dataclass
class UpsertResult:
    created: int = 0
    updated: int = 0
    errors: list[dict] = field(default_factory=list)


class _Row:
    """One incoming row's values, with the problems found in it by field."""

    def __init__(self, data):
        self.data = data if isinstance(data, dict) else {}
        self.errors: dict[str, list[str]] = (
            {} if isinstance(data, dict) else {"": ["Not an object."]}
        )

    def fail(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def text(self, name: str, max_length: int, *, required: bool = False) -> str:
        value = self.data.get(name)
        if value is None or value == "":
            if required:
                self.fail(name, "This field is required.")
            return ""
        if not isinstance(value, str | int) or isinstance(value, bool):
            self.fail(name, "Give text.")
            return ""
        value = str(value).strip()
        if len(value) > max_length:
            self.fail(name, f"At most {max_length} characters.")
        elif CONTROL_CHARACTERS.search(value):
            self.fail(name, "Give one line, without control characters.")
        return value

    def date(self, name: str, *, required: bool = False) -> dt.date | None:
        value = self.data.get(name)
        if value in (None, ""):
            if required:
                self.fail(name, "This field is required.")
            return None
        try:
            day = dt.date.fromisoformat(str(value))
        except ValueError:
            self.fail(name, "Give a date as YYYY-MM-DD.")
            return None
        if not is_plausible_date(day):
            self.fail(name, "Give a date between 1900 and 2100.")
            return None
        return day

    def money(self, name: str, *, required: bool = False, default: Decimal = Decimal("0")):
        value = self.data.get(name)
        if value in (None, ""):
            if required:
                self.fail(name, "This field is required.")
            return default
        if isinstance(value, bool):
            self.fail(name, "Give a number.")
            return default
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            self.fail(name, "Give a number.")
            return default
        # copy_abs, not abs(): abs() rounds in the context and overflows on 1e999999999.
        if not amount.is_finite() or amount.copy_abs() > MAX_MONEY:
            self.fail(name, "Give an amount below a trillion.")
            return default
        return amount.quantize(CENT)

    def whole(self, name: str, *, low: int, high: int) -> int:
        value = self.data.get(name)
        if isinstance(value, bool) or not isinstance(value, int | str):
            self.fail(name, "Give a whole number.")
            return 0
        try:
            number = int(value)
        except ValueError:
            self.fail(name, "Give a whole number.")
            return 0
        if not low <= number <= high:
            self.fail(name, f"Give a number from {low:,} to {high:,}.")
        return number


def _storable(value: str) -> bool:
    """PostgreSQL text cannot hold NUL: such a value is refused by the row's checks, and never
    reaches a query (where it would fail the whole batch)."""
    return "\x00" not in value


def _customers_by_key(rows: list[_Row]) -> tuple[dict[str, int], set[int]]:
    codes = {
        str(code)
        for row in rows
        if isinstance(code := row.data.get("customer_code"), str | int) and _storable(str(code))
    } - {""}
    ids = {
        pk
        for row in rows
        if isinstance(pk := row.data.get("customer"), int) and not isinstance(pk, bool)
    }
    found = Customer.objects.filter(code__in=codes).values_list("code", "pk")
    known_ids = set(Customer.objects.filter(pk__in=ids).values_list("pk", flat=True))
    return dict(found), known_ids


def _customer(row: _Row, by_code: dict[str, int], known_ids: set[int]) -> int | None:
    code, pk = row.data.get("customer_code"), row.data.get("customer")
    if code not in (None, "") and not isinstance(code, str | int):
        row.fail("customer_code", "Give the customer's code as text.")
        return None
    if code not in (None, ""):
        if str(code) not in by_code:
            row.fail("customer_code", f"No customer with the code {code}.")
        return by_code.get(str(code))
    if pk is None:
        row.fail("customer_code", "Give the customer's code (or its Cadence id as customer).")
        return None
    if not isinstance(pk, int) or isinstance(pk, bool) or pk not in known_ids:
        row.fail("customer", f"No customer with the id {pk}.")
        return None
    return pk


def _rate_key(row: _Row) -> tuple[str, dt.date] | None:
    """(currency, issue date) as the row's checks below will read them, if they can."""
    currency = row.data.get("currency") or settings.CADENCE_CURRENCY
    if not isinstance(currency, str) or not _storable(currency):
        return None
    try:
        return currency.strip().upper(), dt.date.fromisoformat(str(row.data.get("issued_on")))
    except ValueError:
        return None


def _row_errors(index: int, row: _Row, key: str) -> dict:
    return {"index": index, key: row.data.get(key), "fields": row.errors}


_INVOICE_UPSERT_SQL = """
INSERT INTO crm_invoice (
    number, customer_id, issued_on, due_on, paid_on, amount, cost_of_goods, discount, currency,
    exchange_rate
)
SELECT * FROM unnest(
    %s::text[], %s::bigint[], %s::date[], %s::date[], %s::date[], %s::numeric[], %s::numeric[],
    %s::numeric[], %s::text[], %s::numeric[]
)
ON CONFLICT (number) DO UPDATE SET
    customer_id = EXCLUDED.customer_id, issued_on = EXCLUDED.issued_on,
    due_on = EXCLUDED.due_on, paid_on = EXCLUDED.paid_on, amount = EXCLUDED.amount,
    cost_of_goods = EXCLUDED.cost_of_goods, discount = EXCLUDED.discount,
    currency = EXCLUDED.currency, exchange_rate = EXCLUDED.exchange_rate
RETURNING (xmax = 0) AS created, customer_id
"""


def invoices_upsert(rows: list) -> UpsertResult:
    """Invoices by number: a new number is inserted, a known one is updated in place (the ERP
    sends an invoice again when it is paid). Amounts in the invoice's currency, converted at the
    rate of its issue date like every invoice."""
    checked = [_Row(data) for data in rows]
    by_code, known_ids = _customers_by_key(checked)
    # Each row's rate, by the one rule (crm.services.exchange_rate_sql), in one query.
    rates = exchange_rates_on(pair for row in checked if (pair := _rate_key(row)) is not None)
    result = UpsertResult()
    columns: list[list] = [[] for _ in range(10)]
    seen: set[str] = set()
    for index, row in enumerate(checked):
        number = row.text("number", 64, required=True)
        customer_id = _customer(row, by_code, known_ids)
        issued_on = row.date("issued_on", required=True)
        due_on = row.date("due_on", required=True)
        paid_on = row.date("paid_on")
        amount = row.money("amount", required=True)
        cost_of_goods = row.money("cost_of_goods")
        discount = row.money("discount")
        currency = row.text("currency", 3).upper() or settings.CADENCE_CURRENCY
        if issued_on and due_on and due_on < issued_on:
            row.fail("due_on", "An invoice is not due before it is issued.")
        if issued_on and paid_on and paid_on < issued_on:
            row.fail("paid_on", "An invoice is not paid before it is issued.")
        for name, value in (("cost_of_goods", cost_of_goods), ("discount", discount)):
            if value < 0:
                row.fail(name, "Give zero or more.")
        rate = rates.get((currency, issued_on)) if issued_on else None
        if issued_on and rate is None:
            row.fail("currency", f"No exchange rate for {currency} on or before {issued_on}.")
        if number in seen:
            row.fail("number", "This number is already in the batch.")
        if row.errors:
            result.errors.append(_row_errors(index, row, "number"))
            continue
        seen.add(number)
        values = (
            number, customer_id, issued_on, due_on, paid_on, amount, cost_of_goods, discount,
            currency, rate,
        )  # fmt: skip
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    if columns[0]:
        _write(_INVOICE_UPSERT_SQL, columns, result, table="crm_invoice", key="number")
    return result


_CASE_UPSERT_SQL = """
INSERT INTO crm_supportcase (external_id, customer_id, opened_on, kind, minutes, note, is_open)
SELECT * FROM unnest(
    %s::text[], %s::bigint[], %s::date[], %s::text[], %s::integer[], %s::text[], %s::boolean[]
)
ON CONFLICT (external_id) WHERE external_id <> '' DO UPDATE SET
    customer_id = EXCLUDED.customer_id, opened_on = EXCLUDED.opened_on, kind = EXCLUDED.kind,
    minutes = EXCLUDED.minutes, note = EXCLUDED.note, is_open = EXCLUDED.is_open
RETURNING (xmax = 0) AS created, customer_id
"""


def support_cases_upsert(rows: list) -> UpsertResult:
    """Support cases by the helpdesk's id (`external_id`): new ones inserted, known ones updated
    (minutes grow, a case closes)."""
    checked = [_Row(data) for data in rows]
    by_code, known_ids = _customers_by_key(checked)
    result = UpsertResult()
    columns: list[list] = [[] for _ in range(7)]
    seen: set[str] = set()
    for index, row in enumerate(checked):
        external_id = row.text("external_id", 64, required=True)
        customer_id = _customer(row, by_code, known_ids)
        opened_on = row.date("opened_on", required=True)
        kind = row.text("kind", 16) or SupportCaseKind.OTHER
        if kind not in SupportCaseKind.values:
            row.fail("kind", f"Give one of: {', '.join(SupportCaseKind.values)}.")
        minutes = row.whole("minutes", low=0, high=MAX_SUPPORT_MINUTES)
        note = row.data.get("note") or ""
        if not isinstance(note, str) or len(note) > MAX_TEXT_CHARS:
            row.fail("note", f"Give text of at most {MAX_TEXT_CHARS:,} characters.")
        elif FREE_TEXT_CONTROL_CHARACTERS.search(note):
            row.fail("note", "Give text without control characters.")
        is_open = row.data.get("is_open", False)
        if not isinstance(is_open, bool):
            row.fail("is_open", "Give true or false.")
        if external_id in seen:
            row.fail("external_id", "This id is already in the batch.")
        if row.errors:
            result.errors.append(_row_errors(index, row, "external_id"))
            continue
        seen.add(external_id)
        values = (external_id, customer_id, opened_on, kind, minutes, note.strip(), is_open)
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    if columns[0]:
        _write(_CASE_UPSERT_SQL, columns, result, table="crm_supportcase", key="external_id")
    return result


def _write(sql: str, columns: list[list], result: UpsertResult, *, table: str, key: str) -> None:
    """Upsert the rows (their keys first in `columns`); the customers refreshed are those the
    rows belong to now and those they belonged to before (a row moved to another customer).
    Rows are written in key order, so two pushes of the same keys lock them in the same order
    and never deadlock, whatever order each was sent in."""
    order = sorted(range(len(columns[0])), key=columns[0].__getitem__)
    columns = [[column[at] for at in order] for column in columns]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            compose(
                "SELECT DISTINCT customer_id FROM {table} WHERE {key} = ANY(%s::text[])",
                table=identifier(table),
                key=identifier(key),
            ),
            [columns[0]],
        )
        before = [customer_id for (customer_id,) in cursor.fetchall()]
        cursor.execute(sql, columns)
        written = cursor.fetchall()
        result.created = sum(1 for created, _ in written if created)
        result.updated = len(written) - result.created
        customers_refresh_request([*before, *(customer_id for _, customer_id in written)])
