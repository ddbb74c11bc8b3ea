"""Plausible ranges for what people and files enter, checked at the form, the service (model
validation), the import and the database (check constraints), with one message each.

A date outside 1900-2100 is a typo or an export's "no date" placeholder (9999-12-31), and it
breaks every page that reads it back (psycopg cannot read year 10000; a year-1 time in a zone
east of UTC is stored BC). A visit minute count in the billions overflows the sums behind every
figure. So both are refused where they enter.
"""

import datetime as dt
import re
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.deconstruct import deconstructible

EARLIEST_YEAR = 1900
LATEST_YEAR = 2100
EARLIEST_DATE = dt.date(EARLIEST_YEAR, 1, 1)
LATEST_DATE = dt.date(LATEST_YEAR, 12, 31)
DATE_RANGE_MESSAGE = f"Enter a date between {EARLIEST_YEAR} and {LATEST_YEAR}."

MAX_VISIT_MINUTES = 24 * 60
MAX_TRAVEL_MINUTES = 24 * 60
MAX_VISIT_KM = 5_000
MAX_SUPPORT_MINUTES = 100_000
# Ten years: a cadence longer than that is a typo, not a plan.
MAX_CADENCE_DAYS = 3650
# crm.models.MONEY (14 digits, 2 decimals): what a money column can hold.
MAX_MONEY = Decimal("999999999999.99")

# Free text a person writes in one field: about four typed pages. An account's notes hold many
# dated notes appended over the years, so they get more. Every text field without a smaller
# max_length has one of these (a TextField's max_length is checked by its forms and, through
# the validator the field lists, by full_clean; imports check the same lengths).
MAX_TEXT_CHARS = 10_000
MAX_ACCOUNT_NOTES_CHARS = 50_000

# Dates exports write for "none": read as empty by the import, never stored.
PLACEHOLDER_DATES = frozenset(
    {dt.date(9999, 12, 31), dt.date(9999, 1, 1), dt.date(1, 1, 1), dt.date(1900, 1, 1)}
)


def is_plausible_date(value: dt.date | dt.datetime) -> bool:
    if isinstance(value, dt.datetime):
        # Stored as UTC, and checked as UTC by the database.
        moment = value.astimezone(dt.UTC) if value.tzinfo else value
        return EARLIEST_DATE <= moment.date() <= LATEST_DATE
    return EARLIEST_DATE <= value <= LATEST_DATE


def validate_plausible_date(value) -> None:
    if value is not None and not is_plausible_date(value):
        raise ValidationError(DATE_RANGE_MESSAGE, code="date_range")


def date_in_range(field: str, *, moment: bool = False) -> Q:
    """The database's version of `validate_plausible_date` for a date field (or, with
    `moment`, a datetime field, in UTC) in a CheckConstraint; a null passes, as in the
    validator."""
    low, high = EARLIEST_DATE, dt.date(LATEST_YEAR + 1, 1, 1)
    if moment:
        low = dt.datetime.combine(low, dt.time.min, tzinfo=dt.UTC)
        high = dt.datetime.combine(high, dt.time.min, tzinfo=dt.UTC)
    return Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gte": low, f"{field}__lt": high})


# Names, codes, addresses and the like are one line: a CR or LF in them forges lines in the
# plain-text digest, in CSV consumers and in logs. Tabs and other control characters too.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
# Free text (notes) may hold line breaks and tabs, never the other control characters.
FREE_TEXT_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def validate_single_line(value: str) -> None:
    if value and CONTROL_CHARACTERS.search(value):
        raise ValidationError(
            "Keep this to one line: no line breaks, tabs or control characters.",
            code="single_line",
        )


def single_line(value: str) -> str:
    """The text with line breaks, tabs and control characters made single spaces (for
    imports, which take what other systems wrote)."""
    return " ".join(CONTROL_CHARACTERS.sub(" ", value).split())


@deconstructible
class MaxVisitExpensesValidator:
    """Expenses of one visit up to CADENCE_MAX_VISIT_EXPENSES (read when validating, so an
    installation can raise it without a migration)."""

    def __call__(self, value) -> None:
        cap = settings.CADENCE_MAX_VISIT_EXPENSES
        if value is not None and value > cap:
            raise ValidationError(
                f"Expenses of one visit can be at most {cap:,} {settings.CADENCE_CURRENCY}.",
                code="max_value",
            )

    def __eq__(self, other) -> bool:
        return isinstance(other, MaxVisitExpensesValidator)


def excerpt(text: str, chars: int) -> tuple[str, bool]:
    """The first `chars` characters of `text`, cut at a word where one is near, and whether
    anything was cut."""
    if len(text) <= chars:
        return text, False
    cut = text[:chars]
    space = cut.rfind(" ", chars - 40)
    return (cut[:space] if space > 0 else cut).rstrip() + "…", True
