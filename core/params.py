"""Reading query-string values that anyone can type into the address bar: a value that does
not parse, or parses to something out of range, is treated as absent, never a 500."""

import datetime as dt

from core.bounds import CONTROL_CHARACTERS, is_plausible_date

MAX_ID = 2_147_483_647


def query_date(value: str | None) -> dt.date | None:
    """YYYY-MM-DD within 1900-2100, else None."""
    try:
        day = dt.date.fromisoformat((value or "").strip())
    except ValueError:
        return None
    return day if is_plausible_date(day) else None


def query_id(value: str | None) -> int | None:
    """A positive database id in ASCII digits, else None ("²" and "٣" are digits to Python)."""
    text = (value or "").strip()
    if not text.isascii() or not text.isdigit():
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None


def query_text(value: str | None, *, max_length: int = 100) -> str:
    """Trimmed, cut to max_length, without control characters (PostgreSQL refuses NUL)."""
    return CONTROL_CHARACTERS.sub("", value or "").strip()[:max_length]
