"""Reading one cell: dates, decimals, integers, booleans and choices as people type them."""

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

from django.db.models import TextChoices

from core.bounds import MAX_MONEY


class CellError(ValueError):
    """A cell that cannot be read; the message says why, in words for the admin."""


def normalise(text: str) -> str:
    """Case, spaces and punctuation do not count: 'Cost Of Goods' == 'cost_of_goods'."""
    return re.sub(r"[^0-9a-z]+", "", text.casefold())


_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2}))?)?")
_NUMERIC = re.compile(
    r"^(\d{1,4})([/.\-])(\d{1,2})\2(\d{2,4})(?:[ T](\d{1,2}):(\d{2})(?::\d{2})?)?$"
)


def _year(text: str) -> int:
    year = int(text)
    return year + 2000 if len(text) == 2 else year


def parse_datetime_parts(text: str, order: str) -> tuple[dt.date, dt.time | None]:
    """ISO always; d.m.Y always day first; slashes and dashes in the file's chosen order."""
    text = text.strip()
    iso = _ISO.match(text)
    if iso:
        year, month, day, hour, minute, second = iso.groups()
        try:
            day_value = dt.date(int(year), int(month), int(day))
        except ValueError as exc:
            raise CellError(f"{text!r} is not a real date") from exc
        clock = dt.time(int(hour), int(minute), int(second or 0)) if hour else None
        return day_value, clock
    numeric = _NUMERIC.match(text)
    if not numeric:
        raise CellError(f"{text!r} is not a date (use e.g. 2026-12-31 or 31/12/2026)")
    first, separator, second, third, hour, minute = numeric.groups()
    if len(first) == 4:
        year, month, day = int(first), int(second), int(third)
    elif separator == "." or order == "dmy":
        day, month, year = int(first), int(second), _year(third)
    elif order == "mdy":
        month, day, year = int(first), int(second), _year(third)
    else:
        raise CellError(f"{text!r}: the file's dates are year-month-day")
    try:
        day_value = dt.date(year, month, day)
    except ValueError as exc:
        raise CellError(f"{text!r} is not a real date when read as {order}") from exc
    return day_value, dt.time(int(hour), int(minute)) if hour else None


def parse_date(text: str, order: str) -> dt.date:
    return parse_datetime_parts(text, order)[0]


def date_order_hint(text: str) -> str | None:
    """'dmy' or 'mdy' when a slashed date can only be read one way, else None."""
    numeric = _NUMERIC.match(text.strip())
    if not numeric or len(numeric.group(1)) == 4 or numeric.group(2) == ".":
        return None
    first, second = int(numeric.group(1)), int(numeric.group(3))
    if first > 12 >= second:
        return "dmy"
    if second > 12 >= first:
        return "mdy"
    return None


_MONEY_NOISE = re.compile(r"[\s\u00a0\u202f'\u2019€$£¥₹]|[A-Za-z]{3}$|^[A-Za-z]{3}")


def parse_decimal(text: str, *, places: int = 2) -> Decimal:
    """1234.5, 1,234.50, 1.234,50, 1 234,5, €1,234, (12.00) for -12, 'EUR 12'.

    With both separators the last one is the decimal point; a lone comma followed by exactly
    three digits is a thousands separator (1,234), otherwise a decimal comma (12,5)."""
    raw = text.strip()
    value = _MONEY_NOISE.sub("", raw)
    negative = value.startswith("(") and value.endswith(")")
    value = value.strip("()")
    if "," in value and "." in value:
        if value.rfind(",") > value.rfind("."):
            value = value.replace(".", "").replace(",", ".")
        else:
            value = value.replace(",", "")
    elif value.count(",") > 1 or re.fullmatch(r"-?\d{1,3},\d{3}", value):
        value = value.replace(",", "")
    elif "," in value:
        value = value.replace(",", ".")
    elif value.count(".") > 1:
        value = value.replace(".", "")
    try:
        number = Decimal(value)
    except InvalidOperation as exc:
        raise CellError(f"{raw!r} is not a number") from exc
    if not number.is_finite():
        raise CellError(f"{raw!r} is not a number")
    number = -number if negative else number
    return number.quantize(Decimal(1).scaleb(-places))


def parse_int(text: str) -> int:
    number = parse_decimal(text, places=6)
    if number != number.to_integral_value() or number < 0:
        raise CellError(f"{text.strip()!r} is not a whole number")
    return int(number)


_TRUE = {"yes", "y", "true", "t", "1", "x", "ja", "oui", "si"}
_FALSE = {"no", "n", "false", "f", "0", "nein", "non"}


def parse_bool(text: str) -> bool:
    value = text.strip().casefold()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise CellError(f"{text.strip()!r} is not yes or no")


def choice_parser(choices: type[TextChoices], aliases: dict[str, str] | None = None):
    """A reader for a choice field: by value or label, in any case, spaces or underscores."""
    known = {normalise(value): value for value in choices.values}
    known.update({normalise(str(label)): value for value, label in choices.choices})
    known.update({normalise(alias): value for alias, value in (aliases or {}).items()})
    allowed = ", ".join(str(label) for _, label in choices.choices)

    def parse(text: str) -> str:
        value = known.get(normalise(text))
        if value is None:
            raise CellError(f"{text.strip()!r} is not one of: {allowed}")
        return value

    return parse


def decimal_reader(
    *,
    places: int = 2,
    minimum: Decimal | None = None,
    maximum: Decimal = MAX_MONEY,
    most: Callable[[], Decimal] | None = None,
    what: str = "",
):
    """A decimal within the database column's range (at most `maximum`), at least `minimum` and,
    with `most`, at most what it returns when the cell is read (a bound the settings hold)."""

    def parse(text: str) -> Decimal:
        number = parse_decimal(text, places=places)
        if abs(number) > maximum:
            raise CellError(f"{text.strip()!r} is too large")
        if minimum is not None and number < minimum:
            raise CellError(f"{text.strip()!r} is below {minimum}")
        if most is not None and number > (limit := most()):
            raise CellError(f"{text.strip()!r} is more than {limit:,}{what}")
        return number

    return parse


def int_reader(*, minimum: int = 0, maximum: int = 2_147_483_647):
    def parse(text: str) -> int:
        number = parse_int(text)
        if not minimum <= number <= maximum:
            raise CellError(f"{text.strip()!r} is not between {minimum:,} and {maximum:,}")
        return number

    return parse


def parse_email(text: str) -> str:
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    if len(text) > 254:
        raise CellError("is longer than 254 characters")
    try:
        validate_email(text)
    except ValidationError as exc:
        raise CellError(f"{text!r} is not an email address") from exc
    return text


def parse_currency(text: str) -> str:
    code = text.strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise CellError(f"{text.strip()!r} is not a three-letter currency code (e.g. EUR)")
    return code


def service_model_parser():
    """A reader for an account's service model: by value or label, the usual words for each,
    and yes/no from a "remote" column (yes: remote, no: field). Partner and inside-sales
    accounts are set up in Cadence by a hand-off, which names the partner or the inside-sales
    owner and plans the introduction; a file cannot."""
    # Imported here: the workbook reader's child process loads this module before Django's
    # apps are ready, and never builds this parser.
    from crm.models import ServiceModel

    aliases = {
        "on site": ServiceModel.FIELD,
        "on-site": ServiceModel.FIELD,
        "visits": ServiceModel.FIELD,
        "phone": ServiceModel.REMOTE,
        "video": ServiceModel.REMOTE,
        "inside": ServiceModel.INSIDE_SALES,
        "self service": ServiceModel.SELF_SERVICE,
        "online": ServiceModel.SELF_SERVICE,
        "webshop": ServiceModel.SELF_SERVICE,
    }
    aliases |= dict.fromkeys(_TRUE, ServiceModel.REMOTE)
    aliases |= dict.fromkeys(_FALSE, ServiceModel.FIELD)
    choose = choice_parser(ServiceModel, aliases)

    def parse(text: str) -> str:
        value = choose(text)
        if value in (ServiceModel.PARTNER, ServiceModel.INSIDE_SALES):
            raise CellError(
                f"{ServiceModel(value).label.lower()} accounts are handed off in Cadence (account "
                "page, Hand off or let go), not set from a file"
            )
        return value

    return parse


def coordinate_reader(*, limit: int):
    """A latitude (limit 90) or longitude (limit 180) in degrees, with a point or a comma as the
    decimal separator (coordinates have no thousands: "-1,549" is -1.549, not -1549)."""

    def parse(text: str) -> float:
        value = text.strip().replace(",", ".")
        try:
            number = float(value)
        except ValueError as exc:
            raise CellError(f"{text.strip()!r} is not a number of degrees") from exc
        if not -limit <= number <= limit:
            raise CellError(f"{text.strip()!r} is outside ±{limit}°")
        return round(number, 6)

    return parse
