"""What every API view shares: the schema's parameters and error answers, cursor pages (oldest
change first) and `updated_since` (ISO 8601) for sync, scoping to the customers a token's owner
sees, and a request's body read as the pages' form would read it."""

from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination

from api.serializers import (
    ErrorSerializer,
)
from crm.selectors import of_customers_visible_to

UPDATED_SINCE = OpenApiParameter(
    "updated_since",
    str,
    description="Only rows changed at or after this moment (ISO 8601, e.g. 2026-12-01T00:00:00Z).",
)
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="Any unique string (a UUID): a retry with the same key returns the first answer.",
)
ERRORS = {400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}
CONFLICT = {409: ErrorSerializer}


class ByChange(CursorPagination):
    ordering = ("updated_at", "id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request):
        """`page_size` 1 to 500, or absent; anything else is a 400, not silently ignored."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError(
                {self.page_size_query_param: [f"Give a number from 1 to {self.max_page_size}."]}
            )
        return int(raw)


class ById(ByChange):
    """For rows that are written once or replaced whole (invoices, flags): by id."""

    ordering = ("id",)


class ByCustomer(ByChange):
    ordering = ("customer_id",)


def of_visible_customers(request, rows: QuerySet) -> QuerySet:
    """Rows that belong to a customer (contacts, invoices, cases, flags, metrics): those of the
    customers the caller sees."""
    return of_customers_visible_to(request.user, rows)


def updated_since(request, rows: QuerySet) -> QuerySet:
    raw = request.query_params.get("updated_since")
    if not raw:
        return rows
    moment = parse_datetime(raw.replace(" ", "+"))
    if moment is None:
        raise ValidationError({"updated_since": ["Give a date and time in ISO 8601."]})
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return rows.filter(updated_at__gte=moment)


def _as_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def form_data(request, form_class, *, besides: tuple[str, ...] = ()) -> dict:
    """The JSON object as a submitted form holds it: text values, and a list of texts for a
    field that takes several (`contacts`), so the pages' forms validate it as theirs. A value
    of the wrong shape for `form_class`'s field — an object, a list where one value goes, true
    or false for anything but a yes/no field — is refused here, never stored as its repr. Names
    in `besides` are the caller's to read (rows of a form within the form)."""
    fields = form_class.base_fields
    data, errors = {}, {}
    for name, value in request.data.items():
        if name in besides:
            continue
        field = fields.get(name)
        several = isinstance(field, forms.MultipleChoiceField | forms.ModelMultipleChoiceField)
        yes_no = isinstance(field, forms.BooleanField)
        if isinstance(value, list) and several and all(_is_scalar(item) for item in value):
            data[name] = [_as_text(item) for item in value]
        elif isinstance(value, dict | list):
            errors[name] = ["Give a list of ids." if several else "Give a single value."]
        elif isinstance(value, bool) and field is not None and not yes_no:
            errors[name] = ["Give text or a number, not true or false."]
        else:
            data[name] = _as_text(value)
    if errors:
        raise ValidationError(errors)
    return data


def _is_scalar(value) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def customer_id(request) -> int:
    raw = request.data.get("customer")
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise ValidationError({"customer": ["Give the customer's id."]})
    return raw


ASK_FIELDS = ("kind", "text", "owner", "due_on", "value")


def asks_given(request) -> list[dict]:
    """A visit's `asks` as sent: a list of objects of scalar values (kind, text, owner, due_on,
    value); anything else is refused with a message."""
    asks = request.data.get("asks", [])
    shaped = isinstance(asks, list) and all(
        isinstance(ask, dict)
        and set(ask) <= set(ASK_FIELDS)
        and all(value is None or _is_scalar(value) for value in ask.values())
        for ask in asks
    )
    if not shaped:
        raise ValidationError({"asks": [f"Give a list of objects with {', '.join(ASK_FIELDS)}."]})
    return asks
