"""Writes for customers and contacts. Views, tasks, commands and the admin all call these."""

import datetime as dt
import uuid
from collections.abc import Iterable
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from crm.cache import all_schedules_changed, schedules_changed
from crm.health import health_refresh_request
from crm.models import (
    DEFAULT_CADENCE_DAYS,
    Contact,
    Customer,
    ExchangeRate,
    FormSubmission,
    Invoice,
    SupportCase,
)
from crm.rollup import rollup_refresh_segments, rollup_segments_of
from visits.models import CADENCE_VISIT_KINDS, VisitStatus

CADENCE_REFRESH_BATCH = 10_000

# Fields a salesperson may change on the accounts they can see; the rest (tier, status, owner,
# territory, cadence) are for managers and admins.
SALESPERSON_EDITABLE_FIELDS = frozenset(
    {
        "address_line1",
        "address_line2",
        "postal_code",
        "city",
        "region",
        "country",
        "phone",
        "website",
        "industry",
        "notes",
    }
)
MANAGER_EDITABLE_FIELDS = SALESPERSON_EDITABLE_FIELDS | {
    "name",
    "tier",
    "status",
    "owner",
    "territory",
    "cadence_days",
    "since",
}

_DEFAULT_CADENCE_ROWS = ", ".join(
    f"('{tier}', {days})" for tier, days in DEFAULT_CADENCE_DAYS.items()
)
_CADENCE_REFRESH_SQL = f"""
WITH target AS (
    SELECT c.id,
           last_visit.at AS last_at,
           COALESCE((last_visit.at AT TIME ZONE %(tz)s)::date, c.since,
                    (c.created_at AT TIME ZONE %(tz)s)::date)
             + COALESCE(c.cadence_days, policy.days, fallback.days) AS due
    FROM crm_customer c
    LEFT JOIN crm_cadencepolicy policy ON policy.tier = c.tier
    LEFT JOIN (VALUES {_DEFAULT_CADENCE_ROWS}) AS fallback (tier, days) ON fallback.tier = c.tier
    LEFT JOIN LATERAL (
        SELECT MAX(v.visited_at) AS at
        FROM visits_visit v
        WHERE v.customer_id = c.id
          AND v.status = '{VisitStatus.DONE}'
          AND v.kind IN ({", ".join(f"'{kind}'" for kind in CADENCE_VISIT_KINDS)})
    ) last_visit ON true
    WHERE {{where}}
)
UPDATE crm_customer c
SET last_visit_at = target.last_at, next_visit_due = target.due
FROM target
WHERE c.id = target.id
  AND (c.last_visit_at IS DISTINCT FROM target.last_at
       OR c.next_visit_due IS DISTINCT FROM target.due)
"""


def customer_cadence_refresh(*, customer_ids: Iterable[int] | None = None) -> int:
    """Recompute last visit and next visit due for some customers (or all, in id-range batches).

    The last visit is the latest done on-site, phone or video visit (emails do not keep the
    cadence); with none, the cadence counts from `since` or the creation date. The cadence is
    the customer's own, else its tier's from CadencePolicy (the built-in default if an admin
    deleted that row, so no account silently drops off the lists). Returns how many rows
    changed; running it again changes nothing.
    """
    params = {"tz": settings.TIME_ZONE}
    changed = 0
    with connection.cursor() as cursor:
        if customer_ids is not None:
            ids = sorted(set(customer_ids))
            for start in range(0, len(ids), CADENCE_REFRESH_BATCH):
                chunk = ids[start : start + CADENCE_REFRESH_BATCH]
                sql = _CADENCE_REFRESH_SQL.format(where="c.id = ANY(%(ids)s)")
                cursor.execute(sql, {**params, "ids": chunk})
                changed += cursor.rowcount
            return changed
        cursor.execute("SELECT COALESCE(MIN(id), 0), COALESCE(MAX(id), -1) FROM crm_customer")
        low, high = cursor.fetchone()
        sql = _CADENCE_REFRESH_SQL.format(where="c.id BETWEEN %(low)s AND %(high)s")
        for start in range(low, high + 1, CADENCE_REFRESH_BATCH):
            cursor.execute(sql, {**params, "low": start, "high": start + CADENCE_REFRESH_BATCH - 1})
            changed += cursor.rowcount
    all_schedules_changed()
    return changed


def editable_customer_fields(user: User) -> frozenset[str]:
    if user.is_cadence_admin or user.is_manager:
        return MANAGER_EDITABLE_FIELDS
    return SALESPERSON_EDITABLE_FIELDS


def customer_version(customer: Customer) -> str:
    """Changes whenever the account is saved (its updated_at, to the microsecond)."""
    return customer.updated_at.isoformat() if customer.updated_at else ""


class StaleEdit(ValidationError):
    """The account was saved by someone else after the user's form was opened."""


@transaction.atomic
def customer_update(
    *, customer: Customer, user: User, changes: dict, seen_version: str | None = None
) -> Customer:
    """Apply field changes the user's role allows; anything else is refused, not ignored.

    Only the changed fields are written, under a row lock, so two people changing different
    fields at the same moment both keep their change. With `seen_version` (the version the
    user's form showed) a save made from an older view of the account raises StaleEdit
    instead of overwriting the newer save."""
    forbidden = set(changes) - editable_customer_fields(user)
    if forbidden:
        raise PermissionDenied(f"You may not change: {', '.join(sorted(forbidden))}.")
    stored = Customer.objects.select_for_update().get(pk=customer.pk)
    if seen_version is not None and seen_version != customer_version(stored):
        saved_at = timezone.localtime(stored.updated_at)
        raise StaleEdit(
            f"Someone else saved this account at {saved_at:%H:%M:%S} while you were editing "
            "it. The form now shows your input against their version: check it and save again.",
            code="stale",
        )
    owners = {stored.owner_id}
    changed = [field for field, value in changes.items() if getattr(stored, field) != value]
    for field in changed:
        setattr(stored, field, changes[field])
    stored.full_clean()
    stored.save(update_fields=[*changed, "updated_at"])
    for field in Customer._meta.concrete_fields:
        setattr(customer, field.attname, getattr(stored, field.attname))
    schedules_changed(owners | {customer.owner_id})
    # Tier, own cadence, `since` or status may have moved the due date and the flags.
    customer_cadence_refresh(customer_ids=[customer.pk])
    customer.refresh_from_db(fields=["last_visit_at", "next_visit_due"])
    health_refresh_request([customer.pk])
    return customer


@transaction.atomic
def customer_admin_save(*, customer: Customer) -> Customer:
    """A save from the Django admin (any field, by an admin): what follows any account edit
    follows it too: cadence dates, health and rollups, and the schedules that show it."""
    customer.full_clean()
    customer.save()
    customer_cadence_refresh(customer_ids=[customer.pk])
    health_refresh_request([customer.pk])
    all_schedules_changed()
    return customer


@transaction.atomic
def customers_delete(*, customer_ids: list[int]) -> int:
    """Delete customers with everything that hangs off them, and rewrite the managers' rollups
    of the segments they were in. Returns how many were deleted."""
    segments = rollup_segments_of(customer_ids=customer_ids)
    owners = set(Customer.objects.filter(pk__in=customer_ids).values_list("owner_id", flat=True))
    deleted = Customer.objects.filter(pk__in=customer_ids).delete()[1].get("crm.Customer", 0)
    rollup_refresh_segments(segment_ids=segments)
    schedules_changed(owners)
    return deleted


@transaction.atomic
def contact_save(*, contact: Contact) -> Contact:
    """Create or update a contact; making it primary demotes the customer's previous primary."""
    # The one-primary constraint is checked by the database after the demotion below.
    contact.full_clean(validate_constraints=False)
    if contact.is_primary:
        Contact.objects.filter(customer_id=contact.customer_id, is_primary=True).exclude(
            pk=contact.pk
        ).update(is_primary=False)
    contact.save()
    schedules_changed([contact.customer.owner_id])
    return contact


def contact_make_primary(*, contact: Contact) -> Contact:
    contact.is_primary = True
    return contact_save(contact=contact)


def validate_contacts_belong_to(customer: Customer, contacts: Iterable[Contact]) -> None:
    strangers = [c.name for c in contacts if c.customer_id != customer.pk]
    if strangers:
        raise ValidationError(
            {"contacts": f"Not contacts of {customer.name}: {', '.join(strangers)}"}
        )


def exchange_rate_on(*, currency: str, day: dt.date) -> Decimal | None:
    """House currency per unit of `currency` on `day`: the latest rate from that day or
    before, 1 for the house currency, None when there is none."""
    if currency.upper() == settings.CADENCE_CURRENCY:
        return Decimal("1")
    return (
        ExchangeRate.objects.filter(currency=currency.upper(), on_date__lte=day)
        .order_by("-on_date")
        .values_list("rate", flat=True)
        .first()
    )


@transaction.atomic
def invoice_save(*, invoice: Invoice) -> Invoice:
    """Create or change an invoice, converted at its issue date's rate; the customer's health
    is refreshed once it is committed."""
    invoice.currency = (invoice.currency or settings.CADENCE_CURRENCY).upper()
    if invoice.issued_on is not None:
        rate = exchange_rate_on(currency=invoice.currency, day=invoice.issued_on)
        if rate is None:
            raise ValidationError(
                {
                    "currency": f"No exchange rate for {invoice.currency} on or before "
                    f"{invoice.issued_on:%Y-%m-%d}: add one under Exchange rates."
                }
            )
        invoice.exchange_rate = rate
    invoice.full_clean()
    invoice.save()
    health_refresh_request([invoice.customer_id])
    return invoice


@transaction.atomic
def invoice_delete(*, invoice: Invoice) -> None:
    customer_id = invoice.customer_id
    invoice.delete()
    health_refresh_request([customer_id])


@transaction.atomic
def support_case_save(*, case: SupportCase) -> SupportCase:
    case.full_clean()
    case.save()
    health_refresh_request([case.customer_id])
    return case


@transaction.atomic
def support_case_delete(*, case: SupportCase) -> None:
    customer_id = case.customer_id
    case.delete()
    health_refresh_request([customer_id])


def form_submission_claim(*, key: str | None, user: User) -> bool:
    """Inside the transaction of the write a form asks for: False if a form with this one-time
    key was already acted on (the write must then not happen again). If the write fails, the
    transaction rolls the claim back with it, so the corrected form can be sent again. A form
    without a key (an old page, a script) is always acted on."""
    try:
        key = uuid.UUID(str(key))
    except ValueError:
        return True
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO crm_formsubmission (key, user_id, submitted_at) VALUES (%s, %s, now()) "
            "ON CONFLICT (key) DO NOTHING RETURNING key",
            [key, user.pk],
        )
        return cursor.fetchone() is not None


FORM_SUBMISSIONS_KEPT = dt.timedelta(days=7)


def form_submissions_forget() -> int:
    """Nightly: keys older than a week (no browser resends a form that late)."""
    cutoff = timezone.now() - FORM_SUBMISSIONS_KEPT
    return FormSubmission.objects.filter(submitted_at__lt=cutoff).delete()[0]
