"""The import itself, the same for the web, the worker and the command line.

1. Stream the file's rows (imports.readers); read each mapped cell (imports.values). A row with
   a cell that cannot be read is rejected there; the others are COPYed into a temporary staging
   table, 5,000 rows at a time, so memory stays flat whatever the file's size.
2. In SQL, a few set-based statements whatever the number of rows: resolve owners, territories
   and customers; reject unknown ones (or use the import's defaults), duplicates within the file
   and rows that cannot be created; find the record each row updates; sort the rest into create,
   update and unchanged. An empty cell never blanks a stored value.
3. Unless it is a dry run: keep each updated record's values before (for revert), update, insert.
4. Write the rejects file: the original columns of every rejected row plus an error column, by
   merging the rejected row numbers with a second pass over the file.

Everything happens in one transaction: a failure leaves the database as it was, and a dry run
rolls back. Input rows = created + updated + unchanged + rejected, always.
"""

import csv
import datetime as dt
import re
import tempfile
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from core.bounds import (
    EARLIEST_YEAR,
    LATEST_YEAR,
    PLACEHOLDER_DATES,
    is_plausible_date,
    single_line,
)
from core.locks import IMPORT_LOCK
from core.spreadsheet import FORMULA_STARTS, spreadsheet_safe
from core.sql import Composable, Composed, compose, fragment, identifier, joined, literal
from crm.models import LocationSource
from crm.services import exchange_rate_sql
from imports.kinds import (
    CONTACTS,
    CUSTOMER,
    CUSTOMERS,
    INVOICES,
    KINDS,
    TERRITORY,
    USER,
    VISITS,
    Field,
    Kind,
)
from imports.models import ImportJob
from imports.readers import FileInfo, iter_rows
from imports.values import CellError, parse_datetime_parts
from visits.models import VisitKind, VisitStatus

CHUNK_ROWS = 5_000
PREVIEW_ROWS = 10
REJECT_SAMPLES = 200

# "0000-00-00", "00/00/0000", "00.00.0000 00:00": how some exports write "no date".
PLACEHOLDER_TEXT = re.compile(r"^0{1,4}[-/.]0{1,2}[-/.]0{2,4}\b")

# Columns a new record needs beyond the imported fields.
_EXTRA_INSERT = {
    "crm_customer": {
        "created_at": "now()",
        "updated_at": "now()",
        "last_visit_at": "NULL",
        "next_visit_due": "NULL",
    },
    "crm_contact": {},
    "crm_exchangerate": {},
    "crm_invoice": {},
    "crm_supportcase": {},
    "visits_visit": {
        "sequence": "0",
        "purpose": "''",
        "cancel_reason": "''",
        "external_id": "''",
        "created_at": "now()",
        "updated_at": "now()",
    },
}
_HAS_UPDATED_AT = {"crm_customer", "visits_visit"}


@dataclass
class ImportResult:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejects_path: Path | None = None
    rejects_encoding: str = ""
    preview: list[dict] = field(default_factory=list)
    reject_samples: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self, kind: str) -> dict:
        return {
            "kind": kind,
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "rejects_file": str(self.rejects_path) if self.rejects_path else None,
        }


Progress = Callable[[str, int, float], None]


def media_path(name: str) -> Path:
    return Path(settings.MEDIA_ROOT) / "imports" / name


def _staging_columns(kind: Kind, fields: list[Field]) -> list[tuple[str, str]]:
    columns = [("line", "integer")]
    for f in fields:
        columns.append((f"{f.name}_ref", "text") if f.is_reference else (f.name, f.sql_type))
        if f.parse == "datetime":
            # Whether the cell held a time, or only a date (then read as noon).
            columns.append((f"{f.name}_time_recorded", "boolean"))
    return columns


class _RowReader:
    """Turns one row's cells into staging values, or the reasons it is rejected. Each mapped
    column gets its converter once, so the per-cell work is a call and a strip."""

    def __init__(self, kind: Kind, job: ImportJob, headers: list[str]):
        self.kind = kind
        self.order = job.date_order
        self.tz = timezone.get_default_timezone()
        positions = {}
        for index, header in enumerate(headers):
            positions.setdefault(header.strip(), index)
        mapped = [
            (kind.field(name), header, positions[header])
            for header, name in job.mapping.items()
            if header in positions and name
        ]
        self.fields = [(f, index) for f, _, index in mapped]
        self.header_of = {f.name: header for f, header, _ in mapped}
        self.columns = [
            (index, header, f.required, self._converter(f), _blank(f))
            for f, header, index in mapped
        ]

    def _converter(self, f: Field):
        if f.parse is None or f.is_reference:
            if not f.max_length:
                return None
            limit, multiline = f.max_length, f.multiline

            def text(value: str) -> str:
                # One-line fields: line breaks and tabs other systems let in become spaces.
                if not multiline:
                    value = single_line(value)
                if len(value) > limit:
                    raise CellError(f"is longer than {limit} characters")
                return value

            return text
        if f.parse == "date":
            return lambda value: self._plausible(value)[0]
        if f.parse == "datetime":

            def moment(value: str) -> _Moment | None:
                day, clock = self._plausible(value)
                if day is None:
                    return None
                # A date without a time is taken as noon, so it stays the same day in any zone.
                at = dt.datetime.combine(day, clock or dt.time(12), tzinfo=self.tz)
                return _Moment(at, recorded=clock is not None)

            return moment
        return f.parse

    def _plausible(self, value: str) -> tuple[dt.date | None, dt.time | None]:
        """A date within 1900-2100; an export's "no date" placeholder reads as empty."""
        if PLACEHOLDER_TEXT.match(value):
            return None, None
        day, clock = parse_datetime_parts(value, self.order)
        if day in PLACEHOLDER_DATES:
            return None, None
        if not is_plausible_date(day):
            raise CellError(f"is outside {EARLIEST_YEAR}-{LATEST_YEAR}")
        return day, clock

    def read(self, cells: list[str]) -> tuple[tuple | None, list[tuple[str, str, str]]]:
        values, errors = [], []
        width = len(cells)
        for index, header, required, convert, blank in self.columns:
            text = cells[index].strip() if index < width else ""
            if text[:1] == "'" and text[1:2] in FORMULA_STARTS:
                # The rejects file quotes such cells so a spreadsheet shows, not runs, them.
                text = text[1:]
            if "\x00" in text:
                errors.append((header, text.replace("\x00", ""), "contains a NUL character"))
                values.extend(blank)
                continue
            if not text:
                if required:
                    errors.append((header, text, "is empty but required"))
                values.extend(blank)
                continue
            if convert is None:
                values.append(text)
                continue
            try:
                value = convert(text)
            except CellError as exc:
                errors.append((header, text, str(exc)))
                values.extend(blank)
                continue
            if value is None:
                if required:
                    errors.append((header, text, "is a 'no date' placeholder but required"))
                values.extend(blank)
            elif isinstance(value, _Moment):
                values.extend((value.at, value.recorded))
            else:
                values.append(value)
        return (None, errors) if errors else (tuple(values), [])


@dataclass(frozen=True)
class _Moment:
    at: dt.datetime
    recorded: bool


def _blank(f: Field) -> tuple:
    """A missing value's staging columns: two for a date and time (the moment, whether the
    cell had a time), one otherwise."""
    return (None, None) if f.parse == "datetime" else (None,)


def import_execute(
    job: ImportJob, *, write: bool, progress: Progress | None = None
) -> ImportResult:
    """Dry-run (write=False) or run the import described by `job` (file, mapping, options)."""
    kind = KINDS[job.kind]
    info = FileInfo(
        file_format=job.file_format, encoding=job.encoding, delimiter=job.delimiter, sheet=job.sheet
    )
    path = media_path(job.stored_name)
    started = time.monotonic()
    result = ImportResult()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [IMPORT_LOCK])
        rows = iter_rows(path, info)
        _, headers, _ = next(rows)
        reader = _RowReader(kind, job, headers)
        fields = [f for f, _ in reader.fields]
        _create_staging(cursor, kind, fields)
        result.rows = _load(cursor, rows, reader, fields, progress, started)
        if progress:
            progress("checking", result.rows, 1.0)
        _resolve(cursor, kind, job, reader, fields)
        counts = _classify(cursor, kind, job, fields)
        result.created = counts.get("create", 0)
        result.updated = counts.get("update", 0)
        result.unchanged = counts.get("unchanged", 0)
        cursor.execute("SELECT count(*) FROM import_rejects")
        result.rejected = cursor.fetchone()[0]
        result.preview = _preview(cursor, kind, fields)
        result.reject_samples = _reject_samples(cursor)
        if write:
            if progress:
                progress("writing", result.rows, 1.0)
            _apply(cursor, kind, fields, job)
        if result.rejected:
            result.rejects_path, result.rejects_encoding = _write_rejects(cursor, path, info, job)
        cursor.execute("DROP TABLE import_rows, import_rejects")
        if not write:
            transaction.set_rollback(True)
    result.seconds = time.monotonic() - started
    assert result.rows == result.created + result.updated + result.unchanged + result.rejected
    return result


def _create_staging(cursor, kind: Kind, fields: list[Field]) -> None:
    columns = joined(
        compose("{name} {type}", name=identifier(column), type=fragment(sql_type))
        for column, sql_type in _staging_columns(kind, fields)
    )
    cursor.execute(
        compose(
            "CREATE TEMP TABLE import_rows ({columns}, target_id bigint, action text)",
            columns=columns,
        )
    )
    cursor.execute(
        "CREATE TEMP TABLE import_rejects (line integer PRIMARY KEY, columns text, "
        "value text, reason text)"
    )


def _load(cursor, rows, reader: _RowReader, fields, progress, started) -> int:
    """One COPY stream for the whole file, so PostgreSQL ingests while Python reads the next
    rows; rejected rows wait in a temporary file (not in memory) and are COPYed after."""
    names = [name for name, _ in _staging_columns(reader.kind, fields)]
    count, share = 0, 0.0
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as rejected:
        bad = csv.writer(rejected)
        copy_rows = compose(
            "COPY import_rows ({columns}) FROM STDIN", columns=joined(map(identifier, names))
        )
        with cursor.cursor.copy(copy_rows) as copy:
            for line, cells, share in rows:
                count += 1
                values, errors = reader.read(cells)
                if errors:
                    bad.writerow(
                        [
                            line,
                            ", ".join(column for column, _, _ in errors),
                            "; ".join(value for _, value, _ in errors),
                            "; ".join(f"{column}: {reason}" for column, _, reason in errors),
                        ]
                    )
                else:
                    copy.write_row((line, *values))
                if progress and count % CHUNK_ROWS == 0:
                    progress("reading", count, share)
        rejected.seek(0)
        with cursor.cursor.copy(
            "COPY import_rejects (line, columns, value, reason) FROM STDIN WITH (FORMAT csv)"
        ) as copy:
            while chunk := rejected.read(1 << 20):
                copy.write(chunk)
    if progress:
        progress("reading", count, share)
    cursor.execute("ANALYZE import_rows")
    return count


def _reject(
    cursor, where: Composable, value: Composable, reason: Composable, *, header: str = ""
) -> None:
    """Move staging rows matching `where` to the rejects; `value` and `reason` are SQL on the
    row, in which %(header)s is the column's header as the file has it."""
    cursor.execute(
        compose(
            """
        WITH gone AS (DELETE FROM import_rows s WHERE {where} RETURNING s.*)
        INSERT INTO import_rejects (line, columns, value, reason)
        SELECT s.line, %(header)s, {value}, {reason} FROM gone s
        """,
            where=where,
            value=value,
            reason=reason,
        ),
        {"header": header},
    )


def _ref(f: Field, alias: str = "s") -> Composed:
    """The staged text a reference field was given (its `<name>_ref` column)."""
    return identifier(alias, f"{f.name}_ref")


NOTHING = fragment("''")
EVERY_ROW = fragment("true")


def _resolve(cursor, kind: Kind, job: ImportJob, reader: _RowReader, fields) -> None:
    mapped = {f.name for f in fields}
    for f in fields:
        if f.is_reference:
            cursor.execute(
                compose(
                    "ALTER TABLE import_rows ADD COLUMN {column} bigint",
                    column=identifier(f.column),
                )
            )
    for f in (f for f in fields if f.parse == USER):
        cursor.execute(
            compose(
                "UPDATE import_rows s SET {column} = u.id FROM accounts_user u "
                "WHERE lower(u.username) = lower({ref})",
                column=identifier(f.column),
                ref=_ref(f),
            )
        )
        cursor.execute(
            compose(
                "UPDATE import_rows s SET {column} = u.id FROM accounts_user u "
                "WHERE {staged} IS NULL AND u.email <> '' AND lower(u.email) = lower({ref})",
                column=identifier(f.column),
                staged=identifier("s", f.column),
                ref=_ref(f),
            )
        )
        _people_by_full_name(cursor, f, reader)
        _default_or_reject(
            cursor, f, reader, job.default_owner_id, "user (username, email or full name)"
        )
    for f in (f for f in fields if f.parse == TERRITORY):
        cursor.execute(
            compose(
                "UPDATE import_rows s SET {column} = t.id FROM accounts_territory t "
                "WHERE lower(t.name) = lower({ref})",
                column=identifier(f.column),
                ref=_ref(f),
            )
        )
        _default_or_reject(cursor, f, reader, job.default_territory_id, "territory")
    for f in (f for f in fields if f.parse == CUSTOMER):
        cursor.execute(
            compose(
                "UPDATE import_rows s SET {column} = c.id FROM crm_customer c WHERE c.code = {ref}",
                column=identifier(f.column),
                ref=_ref(f),
            )
        )
        # Not a code: a customer name, if exactly one customer has it.
        cursor.execute(
            compose(
                """
            UPDATE import_rows s SET {column} = named.id
            FROM (SELECT lower(name) AS name, min(id) AS id FROM crm_customer
                  GROUP BY lower(name) HAVING count(*) = 1) named
            WHERE {staged} IS NULL AND named.name = lower({ref})
            """,
                column=identifier(f.column),
                staged=identifier("s", f.column),
                ref=_ref(f),
            )
        )
        _reject(
            cursor,
            compose("{staged} IS NULL", staged=identifier("s", f.column)),
            _ref(f),
            compose(
                "%(header)s || ': no customer has the code or name \"' || {ref} || '\"'",
                ref=_ref(f),
            ),
            header=reader.header_of[f.name],
        )
    if kind is VISITS and "salesperson" not in mapped and job.default_owner_id:
        cursor.execute("ALTER TABLE import_rows ADD COLUMN salesperson_id bigint")
        cursor.execute("UPDATE import_rows SET salesperson_id = %s", [job.default_owner_id])
    if kind is VISITS:
        _visits_prepare(cursor, mapped)
    if kind is CUSTOMERS:
        _customer_codes(cursor, mapped)


def person_key(text: str) -> str:
    """A person's name as compared: accents, case, punctuation and spacing ignored, and
    "Walker, Liam" read as "Liam Walker"."""
    if "," in text:
        last, first = text.split(",", 1)
        text = f"{first} {last}"
    plain = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w\s]", " ", plain.casefold()).split())


def _people_by_full_name(cursor, f: Field, reader) -> None:
    """References no username or email matched, tried as an active user's full name: taken when
    exactly one user has it, rejected as ambiguous (naming the candidates) when several do."""
    cursor.execute(
        compose(
            "SELECT DISTINCT {ref} FROM import_rows WHERE {column} IS NULL AND {ref} IS NOT NULL",
            ref=identifier(f"{f.name}_ref"),
            column=identifier(f.column),
        )
    )
    texts = [text for (text,) in cursor.fetchall()]
    if not texts:
        return
    people: dict[str, list[tuple[int, str]]] = {}
    for pk, username, first, last in User.objects.filter(is_active=True).values_list(
        "pk", "username", "first_name", "last_name"
    ):
        if key := person_key(f"{first} {last}"):
            people.setdefault(key, []).append((pk, username))
    found = []
    for text in texts:
        matches = people.get(person_key(text), [])
        if len(matches) == 1:
            found.append((text, matches[0][0], None))
        elif matches:
            found.append((text, None, ", ".join(sorted(username for _, username in matches))))
    if not found:
        return
    cursor.execute("CREATE TEMP TABLE import_people (text text, user_id bigint, ambiguous text)")
    with cursor.cursor.copy("COPY import_people (text, user_id, ambiguous) FROM STDIN") as copy:
        for row in found:
            copy.write_row(row)
    cursor.execute(
        compose(
            "UPDATE import_rows s SET {column} = p.user_id FROM import_people p "
            "WHERE {staged} IS NULL AND p.text = {ref} AND p.user_id IS NOT NULL",
            column=identifier(f.column),
            staged=identifier("s", f.column),
            ref=_ref(f),
        )
    )
    _reject(
        cursor,
        compose(
            "{staged} IS NULL AND {ref} IN "
            "(SELECT text FROM import_people WHERE ambiguous IS NOT NULL)",
            staged=identifier("s", f.column),
            ref=_ref(f),
        ),
        _ref(f),
        compose(
            "%(header)s || ': \"' || {ref} || '\" is ambiguous: ' || "
            "(SELECT ambiguous FROM import_people p WHERE p.text = {ref})",
            ref=_ref(f),
        ),
        header=reader.header_of[f.name],
    )
    cursor.execute("DROP TABLE import_people")


def _owners_territory(cursor, job: ImportJob, mapped: set[str]) -> None:
    """A new customer without a territory (no column, an empty cell, no default) takes its
    owner's when the owner is a member of exactly one territory."""
    if "territory" not in mapped:
        cursor.execute("ALTER TABLE import_rows ADD COLUMN territory_id bigint")
    if job.default_territory_id:
        return
    owner = identifier("s", "owner_id") if "owner" in mapped else fragment("NULL::bigint")
    cursor.execute(
        compose(
            """
        UPDATE import_rows s SET territory_id = single.territory_id
        FROM (SELECT user_id, min(territory_id) AS territory_id
              FROM accounts_territory_members GROUP BY user_id HAVING count(*) = 1) single
        WHERE s.territory_id IS NULL AND s.target_id IS NULL
          AND single.user_id = COALESCE({owner}, %s)
        """,
            owner=owner,
        ),
        [job.default_owner_id],
    )


def _invoice_rates(cursor, mapped: set[str]) -> None:
    """Each invoice's rate to the house currency on its issue date (1 in the house currency);
    a row in a currency without a rate on or before that date is rejected with the reason."""
    currency = identifier("s2", "currency") if "currency" in mapped else fragment("NULL::text")
    issued_on = identifier("s2", "issued_on") if "issued_on" in mapped else fragment("NULL::date")
    cursor.execute(
        "ALTER TABLE import_rows ADD COLUMN exchange_rate numeric(18,8), "
        "ADD COLUMN rate_currency text, ADD COLUMN rate_day date"
    )
    cursor.execute(
        compose(
            """
        UPDATE import_rows s SET rate_currency = x.currency, rate_day = x.day
        FROM (SELECT s2.line, COALESCE({currency}, t.currency, %(house)s) AS currency,
                     COALESCE({issued_on}, t.issued_on) AS day
              FROM import_rows s2 LEFT JOIN crm_invoice t ON t.id = s2.target_id) x
        WHERE x.line = s.line
        """,
            currency=currency,
            issued_on=issued_on,
        ),
        {"house": settings.CADENCE_CURRENCY},
    )
    cursor.execute(
        compose(
            "UPDATE import_rows s SET exchange_rate = {rate}",
            rate=exchange_rate_sql(identifier("s", "rate_currency"), identifier("s", "rate_day")),
        ),
        {"house": settings.CADENCE_CURRENCY},
    )
    _reject(
        cursor,
        fragment("s.exchange_rate IS NULL"),
        identifier("s", "rate_currency"),
        fragment(
            "'no exchange rate for ' || s.rate_currency || ' on or before ' || s.rate_day::text "
            "|| ': add it under Exchange rates (or import them), then import this row again'"
        ),
    )


def _visits_prepare(cursor, mapped: set[str]) -> None:
    """What each visit row means: its status (from the file, else done if past and planned if
    ahead), its moment (the time in the file; date-only rows of one customer, salesperson and
    kind on one day are told apart by their order in the file, a second apart, so a re-import
    finds each again), and the columns that status fills (a done visit's `visited_at`, the
    others' planned start and end)."""
    for column, sql_type in (
        ("status", "text"),
        ("kind", "text"),
        ("external_id", "text"),
        ("moment", "timestamptz"),
        ("time_recorded", "boolean"),
        ("scheduled_start", "timestamptz"),
        ("scheduled_end", "timestamptz"),
    ):
        if column not in mapped:
            cursor.execute(
                compose(
                    "ALTER TABLE import_rows ADD COLUMN {column} {type}",
                    column=identifier(column),
                    type=fragment(sql_type),
                )
            )
    duration = (
        identifier("s", "duration_minutes")
        if "duration_minutes" in mapped
        else fragment("NULL::integer")
    )
    cursor.execute(
        """
        UPDATE import_rows s SET
            moment = s.visited_at,
            time_recorded = s.visited_at_time_recorded,
            kind = COALESCE(s.kind, %(on_site)s),
            status = COALESCE(
                s.status, CASE WHEN s.visited_at > now() THEN %(planned)s ELSE %(done)s END)
        """,
        {"on_site": VisitKind.ON_SITE, "planned": VisitStatus.PLANNED, "done": VisitStatus.DONE},
    )
    cursor.execute(
        """
        UPDATE import_rows s SET moment = s.moment + (r.n - 1) * interval '1 second'
        FROM (SELECT line, row_number() OVER (
                  PARTITION BY customer_id, salesperson_id, kind, moment ORDER BY line) AS n
              FROM import_rows WHERE NOT time_recorded) r
        WHERE r.line = s.line AND r.n > 1
        """
    )
    cursor.execute(
        compose(
            """
        UPDATE import_rows s SET
            visited_at = CASE WHEN s.status = %(done)s THEN s.moment END,
            scheduled_start = CASE WHEN s.status <> %(done)s THEN s.moment END,
            scheduled_end = CASE WHEN s.status <> %(done)s THEN s.moment
                + make_interval(mins => COALESCE(NULLIF({duration}, 0), 60)) END
        """,
            duration=duration,
        ),
        {"done": VisitStatus.DONE},
    )


def _default_or_reject(cursor, f: Field, reader, default_id, what: str) -> None:
    """An unknown reference takes the import's default if one was chosen, else rejects the row;
    an empty one takes the default for new records only (decided in _classify)."""
    if default_id:
        cursor.execute(
            compose(
                "UPDATE import_rows SET {column} = %s WHERE {column} IS NULL AND {ref} IS NOT NULL",
                column=identifier(f.column),
                ref=identifier(f"{f.name}_ref"),
            ),
            [default_id],
        )
        return
    _reject(
        cursor,
        compose(
            "{staged} IS NULL AND {ref} IS NOT NULL", staged=identifier("s", f.column), ref=_ref(f)
        ),
        _ref(f),
        compose(
            "%(header)s || {no} || {ref} || '\"'",
            no=literal(f': no {what} "'),
            ref=_ref(f),
        ),
        header=reader.header_of[f.name],
    )


def _normalised_name(column: Composable) -> Composed:
    return compose("regexp_replace(lower({column}), '[^[:alnum:]]+', '', 'g')", column=column)


def _customer_codes(cursor, mapped: set[str]) -> None:
    """Rows without a code match a customer by normalised name and postal code; new ones get a
    code made from the same, so importing the file again finds them."""
    if "code" not in mapped:
        cursor.execute("ALTER TABLE import_rows ADD COLUMN code text")
    postal = identifier("s", "postal_code") if "postal_code" in mapped else fragment("NULL::text")
    stored, staged = (
        _normalised_name(identifier("c", "name")),
        _normalised_name(identifier("s", "name")),
    )
    cursor.execute(
        compose(
            """
        UPDATE import_rows s SET code = c.code
        FROM crm_customer c
        WHERE s.code IS NULL AND {stored} = {staged} AND c.postal_code = COALESCE({postal}, '')
        """,
            stored=stored,
            staged=staged,
            postal=postal,
        )
    )
    cursor.execute(
        compose(
            """
        UPDATE import_rows s
        SET code = 'IMP-' || upper(substr(md5({staged} || '|' || COALESCE({postal}, '')), 1, 10))
        WHERE s.code IS NULL
        """,
            staged=staged,
            postal=postal,
        )
    )


def _reject_all_but_first(
    cursor, *, key: Composable, reason: str, where: Composable = EVERY_ROW
) -> None:
    """Of the staged rows (matching `where`) sharing `key`, keep the first in the file and
    reject the others with `reason` followed by the first one's row number."""
    cursor.execute(
        compose(
            """
        WITH ranked AS (
            SELECT s.line, first_value(s.line) OVER same_key AS first_line,
                   row_number() OVER same_key AS n
            FROM import_rows s
            WHERE {where}
            WINDOW same_key AS (PARTITION BY {key} ORDER BY s.line)
        ), gone AS (
            DELETE FROM import_rows s USING ranked r
            WHERE r.line = s.line AND r.n > 1
            RETURNING s.line, r.first_line
        )
        INSERT INTO import_rejects (line, columns, value, reason)
        SELECT line, '', '', %(reason)s || first_line FROM gone
        """,
            where=where,
            key=key,
        ),
        {"reason": reason},
    )


def _classify(cursor, kind: Kind, job: ImportJob, fields: list[Field]) -> dict[str, int]:
    _reject_all_but_first(
        cursor, key=fragment(kind.key), reason=f"duplicate: same {kind.key_label} as row "
    )
    if kind is CONTACTS and "is_primary" in {f.name for f in fields}:
        # One primary contact per customer: the file's first wins; it replaces the stored one.
        _reject_all_but_first(
            cursor,
            key=identifier("s", "customer_id"),
            where=identifier("s", "is_primary"),
            reason="another primary contact for this customer in row ",
        )
    for match in (kind.match,) if isinstance(kind.match, str) else kind.match:
        cursor.execute(
            compose(
                "UPDATE import_rows s SET target_id = t.id FROM {table} t "
                "WHERE s.target_id IS NULL AND {match}",
                table=identifier(kind.table),
                match=fragment(match),
            )
        )
    for check, reason in kind.checks:
        _reject(
            cursor,
            compose(
                """s.line IN (SELECT s.line FROM import_rows s
                           LEFT JOIN {table} t ON t.id = s.target_id WHERE NOT ({check}))""",
                table=identifier(kind.table),
                check=fragment(check),
            ),
            NOTHING,
            fragment("%(header)s"),
            header=reason,
        )
    if kind is INVOICES:
        _invoice_rates(cursor, {f.name for f in fields})
    columns = _written_columns(kind, fields)
    if kind is CUSTOMERS:
        _owners_territory(cursor, job, {f.name for f in fields})
        _half_locations(cursor, job, {f.name for f in fields})
        if not job.default_territory_id:
            _reject(
                cursor,
                fragment("s.target_id IS NULL AND s.territory_id IS NULL"),
                NOTHING,
                fragment(
                    "%(header)s || ': a new customer needs a territory: map a territory column, "
                    "choose a default territory, or give it an owner who belongs to exactly one'"
                ),
                header=_header(job, "territory"),
            )
    cursor.execute("UPDATE import_rows SET action = 'create' WHERE target_id IS NULL")
    same = joined(
        (
            compose(
                "COALESCE({staged}, {stored}) IS NOT DISTINCT FROM {stored}",
                staged=identifier("s", column),
                stored=identifier("t", column),
            )
            for column in columns
        ),
        " AND ",
    )
    cursor.execute(
        compose(
            """
        UPDATE import_rows s
        SET action = CASE WHEN {same} THEN 'unchanged' ELSE 'update' END
        FROM {table} t WHERE t.id = s.target_id
        """,
            same=same if columns else fragment("true"),
            table=identifier(kind.table),
        )
    )
    cursor.execute("SELECT action, count(*) FROM import_rows GROUP BY action")
    return dict(cursor.fetchall())


def _half_locations(cursor, job: ImportJob, mapped: set[str]) -> None:
    """A location is a latitude and a longitude: a row that would leave an account with only
    one of them (the file's, else the stored one) is rejected."""
    if not mapped & {"latitude", "longitude"}:
        return
    latitude = fragment(
        "COALESCE(s.latitude, t.latitude)" if "latitude" in mapped else "t.latitude"
    )
    longitude = fragment(
        "COALESCE(s.longitude, t.longitude)" if "longitude" in mapped else "t.longitude"
    )
    _reject(
        cursor,
        compose(
            """s.line IN (SELECT s.line FROM import_rows s
                       LEFT JOIN crm_customer t ON t.id = s.target_id
                       WHERE ({latitude} IS NULL) <> ({longitude} IS NULL))""",
            latitude=latitude,
            longitude=longitude,
        ),
        NOTHING,
        fragment("%(header)s || ': a location needs both a latitude and a longitude'"),
        header=_header(job, "latitude" if "latitude" in mapped else "longitude"),
    )


def _located(mapped: set[str], given: Composable, otherwise: Composable) -> Composable:
    """SQL: `given` where the file gives this row a location (its source is then "imported"),
    else `otherwise`."""
    columns = [column for column in ("latitude", "longitude") if column in mapped]
    if not columns:
        return otherwise
    return compose(
        "CASE WHEN {any_given} THEN {given} ELSE {otherwise} END",
        any_given=joined(
            (compose("{column} IS NOT NULL", column=identifier("s", column)) for column in columns),
            " OR ",
        ),
        given=given,
        otherwise=otherwise,
    )


def _header(job: ImportJob, field_name: str) -> str:
    return next((h for h, name in job.mapping.items() if name == field_name), field_name)


def _written_columns(kind: Kind, fields: list[Field]) -> list[str]:
    """Target columns the import writes: the mapped fields (customer codes always)."""
    columns = [f.column for f in fields]
    if kind is CUSTOMERS and "code" not in columns:
        columns.insert(0, "code")
    if kind is INVOICES:
        columns.append("exchange_rate")
    if kind is CUSTOMERS and "territory_id" not in columns:
        columns.append("territory_id")  # from the owner's territory, for new customers
    if kind is VISITS:
        columns += [
            column
            for column in (
                "salesperson_id",
                "status",
                "kind",
                "time_recorded",
                "scheduled_start",
                "scheduled_end",
            )
            if column not in columns
        ]
    return columns


def _apply(cursor, kind: Kind, fields: list[Field], job: ImportJob) -> None:
    columns = _written_columns(kind, fields)
    table = identifier(kind.table)
    cursor.execute(
        compose(
            """
        INSERT INTO imports_importchange (job_id, object_id, created, before)
        SELECT %s, t.id, false, to_jsonb(t)
        FROM {table} t JOIN import_rows s ON s.target_id = t.id
        WHERE s.action = 'update'
        """,
            table=table,
        ),
        [job.pk],
    )
    if kind is CONTACTS and "is_primary" in columns:
        _demote_primaries(cursor, job)
    updated = {
        column: compose(
            "COALESCE({staged}, {stored})",
            staged=identifier("s", column),
            stored=identifier("t", column),
        )
        for column in columns
    }
    located = {"latitude", "longitude"} & set(columns)
    imported, now = literal(LocationSource.IMPORTED), fragment("now()")
    if kind is CUSTOMERS and located:
        updated["location_source"] = _located(located, imported, identifier("t", "location_source"))
        updated["located_at"] = _located(located, now, identifier("t", "located_at"))
    if kind.table in _HAS_UPDATED_AT:
        updated["updated_at"] = now
    cursor.execute(
        compose(
            """
        UPDATE {table} t SET {assignments}
        FROM import_rows s WHERE t.id = s.target_id AND s.action = 'update'
        """,
            table=table,
            assignments=joined(
                compose("{column} = {value}", column=identifier(column), value=value)
                for column, value in updated.items()
            ),
        )
    )
    defaults = {f.column: fragment(f.create_default) for f in kind.fields}
    if kind is CUSTOMERS:
        defaults["territory_id"] = fragment("%(default_territory)s")
        defaults["owner_id"] = fragment("%(default_owner)s")
    insert = {
        column: compose(
            "COALESCE({staged}, {default})",
            staged=identifier("s", column),
            default=defaults.get(column, fragment("NULL")),
        )
        for column in columns
    }
    for f in kind.fields:
        if f.column not in insert and f.create_default != "NULL":
            insert[f.column] = fragment(f.create_default)
    if kind is CUSTOMERS and "territory_id" not in insert:
        insert["territory_id"] = fragment("%(default_territory)s")
    if kind is CUSTOMERS and "owner_id" not in insert:
        insert["owner_id"] = fragment("%(default_owner)s")
    if kind is CUSTOMERS and located:
        insert["location_source"] = _located(located, imported, NOTHING)
        insert["located_at"] = _located(located, now, fragment("NULL"))
    for column, value in _EXTRA_INSERT[kind.table].items():
        insert.setdefault(column, fragment(value))
    cursor.execute(
        compose(
            """
        WITH created AS (
            INSERT INTO {table} ({columns})
            SELECT {values} FROM import_rows s
            WHERE s.action = 'create'
            RETURNING id
        )
        INSERT INTO imports_importchange (job_id, object_id, created, before)
        SELECT %(job)s, id, true, NULL FROM created
        """,
            table=table,
            columns=joined(map(identifier, insert)),
            values=joined(insert.values()),
        ),
        {
            "job": job.pk,
            "default_territory": job.default_territory_id,
            "default_owner": job.default_owner_id,
        },
    )


def _demote_primaries(cursor, job: ImportJob) -> None:
    """Customers getting a primary contact from the file lose their stored one (logged, so a
    revert makes it primary again), as when a primary contact is saved on the account page."""
    demoted = fragment("""
        SELECT c.id FROM crm_contact c
        JOIN import_rows s ON s.customer_id = c.customer_id AND s.is_primary
        WHERE c.is_primary AND c.id IS DISTINCT FROM s.target_id
    """)
    cursor.execute(
        compose(
            """
        INSERT INTO imports_importchange (job_id, object_id, created, before)
        SELECT %s, c.id, false, to_jsonb(c) FROM crm_contact c WHERE c.id IN ({demoted})
        """,
            demoted=demoted,
        ),
        [job.pk],
    )
    cursor.execute(
        compose(
            "UPDATE crm_contact SET is_primary = false WHERE id IN ({demoted})", demoted=demoted
        )
    )


def _preview(cursor, kind: Kind, fields: list[Field]) -> list[dict]:
    shown = [f.name if not f.is_reference else f"{f.name}_ref" for f in fields]
    if kind is CUSTOMERS and "code" not in shown:
        shown.insert(0, "code")
    if kind is VISITS and "status" not in shown:
        shown.append("status")  # as decided from the date: the dry run shows it
    # Who an owner or salesperson text was read as: "Liam Walker → lwalker".
    people = {f"{f.name}_ref": f.column for f in fields if f.parse == USER}
    selected = [
        compose(
            "COALESCE({text} || ' → ' || (SELECT username FROM accounts_user u "
            "WHERE u.id = {person}), {text})",
            text=identifier("s", column),
            person=identifier("s", people[column]),
        )
        if column in people
        else identifier("s", column)
        for column in shown
    ]
    cursor.execute(
        compose(
            "SELECT line, action, {selected} FROM import_rows s ORDER BY line LIMIT %s",
            selected=joined(selected),
        ),
        [PREVIEW_ROWS],
    )
    labels = ["row", "action"] + [kind.field(column.removesuffix("_ref")).label for column in shown]
    return [
        dict(zip(labels, ["" if v is None else str(v) for v in row], strict=True))
        for row in cursor.fetchall()
    ]


def _reject_samples(cursor) -> list[dict]:
    cursor.execute(
        "SELECT line, columns, left(value, 200), reason FROM import_rejects ORDER BY line LIMIT %s",
        [REJECT_SAMPLES],
    )
    return [
        {"row": line, "columns": columns or "", "value": value or "", "reason": reason}
        for line, columns, value, reason in cursor.fetchall()
    ]


def _write_rejects(cursor, path: Path, info: FileInfo, job: ImportJob) -> tuple[Path, str]:
    """The original columns of every rejected row plus `error`, in file order: rejected row
    numbers (a server-side cursor) merged with a second pass over the file. Written in the
    upload's encoding and delimiter, so a spreadsheet opens it as it opened the upload; if that
    encoding cannot hold a character of it (an error message in another script), in UTF-8 with
    a BOM. Returns the file and its encoding."""
    target = media_path(f"rejects-{job.pk}-{job.stored_name.rsplit('.', 1)[0]}.csv")
    target.parent.mkdir(parents=True, exist_ok=True)
    delimiter = info.delimiter if info.file_format == "csv" and info.delimiter else ","
    encoding = info.encoding if info.file_format == "csv" and info.encoding else "utf-8-sig"
    raw = cursor.cursor.connection
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as draft:
        writer = csv.writer(draft, delimiter=delimiter)
        with raw.cursor(name="import_rejects_in_order") as rejects:
            rejects.itersize = 2_000
            rejects.execute("SELECT line, reason FROM import_rejects ORDER BY line")
            pending = iter(rejects)
            current = next(pending, None)
            rows = iter_rows(path, info)
            _, headers, _ = next(rows)
            writer.writerow([*headers, "error"])
            for line, cells, _ in rows:
                if current is None:
                    break
                if line == current[0]:
                    padded = [*cells, *[""] * (len(headers) - len(cells)), current[1]]
                    writer.writerow([spreadsheet_safe(cell) for cell in padded])
                    current = next(pending, None)
        for attempt in (encoding, "utf-8-sig"):
            draft.seek(0)
            try:
                with target.open("w", encoding=attempt, newline="") as handle:
                    while chunk := draft.read(1 << 20):
                        handle.write(chunk)
            except UnicodeEncodeError:
                continue
            return target, attempt
    raise AssertionError("UTF-8 holds every character")
