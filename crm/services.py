"""Writes for customers and contacts. Views, tasks, commands and the admin all call these."""

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from core.bounds import MAX_ACCOUNT_NOTES_CHARS, validate_single_line
from core.cache import all_schedules_changed, schedules_changed
from core.refresh import customers_deletion, customers_refresh_request
from core.sql import Composable, Composed, compose, fragment, identifier
from crm.cadence import cadence_sql_params, next_due_sql
from crm.models import (
    NO_CADENCE_SERVICE_MODELS,
    CadencePolicy,
    Competitor,
    Contact,
    Customer,
    CustomerStatus,
    Invoice,
    Partner,
    ServiceCadence,
    ServiceModel,
    SupportCase,
)

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

_DUE_REFRESH = """
UPDATE crm_customer c
SET next_visit_due = {due}
WHERE {where} AND c.next_visit_due IS DISTINCT FROM {due}
"""


def customers_due_refresh(
    *, customer_ids: Iterable[int] | None = None, tier: str = "", service_model: str = ""
) -> int:
    """Recompute the next visit due date from the stored last visit (kept current by the
    visits' last-visit refresh) after an account's, a tier's or a service model's cadence
    changed. Returns how many rows changed."""
    with connection.cursor() as cursor:
        if customer_ids is not None:
            where, params = "c.id = ANY(%(ids)s)", {"ids": sorted(set(customer_ids))}
        elif service_model:
            where, params = "c.service_model = %(model)s", {"model": service_model}
        else:
            where, params = "c.tier = %(tier)s", {"tier": tier}
        statement = compose(
            _DUE_REFRESH,
            due=next_due_sql("c", identifier("c", "last_visit_at")),
            where=fragment(where),
        )
        cursor.execute(statement, params | cadence_sql_params())
        return cursor.rowcount


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
    _validate_owner_fits_service(stored, changes.get("owner", stored.owner))
    changed = [field for field, value in changes.items() if getattr(stored, field) != value]
    for field in changed:
        setattr(stored, field, changes[field])
    stored.full_clean()
    stored.save(update_fields=[*changed, "updated_at"])
    for field in Customer._meta.concrete_fields:
        setattr(customer, field.attname, getattr(stored, field.attname))
    schedules_changed(owners | {customer.owner_id})
    # Tier, own cadence, `since` or status may have moved the due date and the flags.
    customers_due_refresh(customer_ids=[customer.pk])
    customer.refresh_from_db(fields=["last_visit_at", "next_visit_due"])
    customers_refresh_request([customer.pk])
    return customer


MAX_NOTE = 2_000


@transaction.atomic
def customer_note_add(*, customer: Customer, user: User, text: str, at: dt.datetime) -> Customer:
    """Add a dated, signed note to the account's notes (appended under a row lock, so notes
    written at once, or sent later from the offline app, all stay)."""
    text = text.strip()
    if not text:
        raise ValidationError({"text": "Write the note."})
    if len(text) > MAX_NOTE:
        raise ValidationError({"text": f"A note is at most {MAX_NOTE:,} characters."})
    stored = Customer.objects.select_for_update().get(pk=customer.pk)
    stamp = f"[{timezone.localtime(at):%Y-%m-%d %H:%M}, {user}]"
    notes = f"{stored.notes.rstrip()}\n\n{stamp} {text}".lstrip()
    if len(notes) > MAX_ACCOUNT_NOTES_CHARS:
        raise ValidationError(
            {
                "text": f"The account's notes are full ({MAX_ACCOUNT_NOTES_CHARS:,} characters): "
                "move older notes out on the account's edit page, then add this one."
            }
        )
    stored.notes = notes
    stored.save(update_fields=["notes", "updated_at"])
    return stored


def owner_fits_service(owner: User, service_model: str) -> bool:
    """Inside-sales people own inside-sales accounts only, and those only them (what a reassign
    menu offers, and what the owner check below refuses)."""
    return owner.is_inside_sales == (service_model == ServiceModel.INSIDE_SALES)


def _validate_owner_fits_service(customer: Customer, owner: User | None) -> None:
    """Moving an account between inside sales and the field is a hand-off (reports.handoff),
    which plans the introduction, not a change of owner."""
    if (
        owner is None
        or owner.pk == customer.owner_id
        or owner_fits_service(owner, customer.service_model)
    ):
        return
    if owner.is_inside_sales and customer.service_model != ServiceModel.INSIDE_SALES:
        raise ValidationError(
            {"owner": "Hand the account off to inside sales instead (Hand off or let go)."}
        )
    if customer.service_model == ServiceModel.INSIDE_SALES and not owner.is_inside_sales:
        raise ValidationError(
            {"owner": "An inside-sales account is owned by inside sales: hand it off instead."}
        )


@transaction.atomic
def customer_admin_save(*, customer: Customer) -> Customer:
    """A save from the Django admin (any field, by an admin): what follows any account edit
    follows it too: cadence dates, health and rollups, and the schedules that show it."""
    customer.full_clean()
    customer.save()
    customers_due_refresh(customer_ids=[customer.pk])
    customers_refresh_request([customer.pk])
    all_schedules_changed()
    return customer


@transaction.atomic
def customers_delete(*, customer_ids: list[int]) -> int:
    """Delete customers with everything that hangs off them, and rewrite the managers' rollups
    of the segments they were in (core.refresh.customers_deletion). Returns how many were
    deleted."""
    owners = set(Customer.objects.filter(pk__in=customer_ids).values_list("owner_id", flat=True))
    with customers_deletion(customer_ids):
        deleted = Customer.objects.filter(pk__in=customer_ids).delete()[1].get("crm.Customer", 0)
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


@transaction.atomic
def contact_delete(*, contact: Contact) -> None:
    owner = contact.customer.owner_id
    contact.delete()
    schedules_changed([owner])


def contact_make_primary(*, contact: Contact) -> Contact:
    contact.is_primary = True
    return contact_save(contact=contact)


def validate_contacts_belong_to(customer: Customer, contacts: Iterable[Contact]) -> None:
    strangers = [c.name for c in contacts if c.customer_id != customer.pk]
    if strangers:
        raise ValidationError(
            {"contacts": f"Not contacts of {customer.name}: {', '.join(strangers)}"}
        )


def exchange_rate_sql(currency: Composable, day: Composable) -> Composed:
    """The one rule for an invoice's rate, as SQL over the columns or parameters named:
    house currency per unit of `currency` on `day`, the latest rate from that day or before,
    1 for the house currency (bound as %(house)s), NULL when there is none. The invoice form,
    the ERP upserts and the import engine all convert with it."""
    return compose(
        "CASE WHEN {currency} = %(house)s THEN 1 ELSE "
        "(SELECT r.rate FROM crm_exchangerate r WHERE r.currency = {currency} "
        "AND r.on_date <= {day} ORDER BY r.on_date DESC LIMIT 1) END",
        currency=currency,
        day=day,
    )


def exchange_rates_on(pairs: Iterable[tuple[str, dt.date]]) -> dict[tuple[str, dt.date], Decimal]:
    """The rate of each (currency, day) that has one (`exchange_rate_sql`), in one query."""
    pairs = sorted(set(pairs))
    if not pairs:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            compose(
                "SELECT x.currency, x.day, {rate} "
                "FROM unnest(%(currencies)s::text[], %(days)s::date[]) AS x (currency, day)",
                rate=exchange_rate_sql(identifier("x", "currency"), identifier("x", "day")),
            ),
            {
                "house": settings.CADENCE_CURRENCY,
                "currencies": [currency for currency, _ in pairs],
                "days": [day for _, day in pairs],
            },
        )
        return {(currency, day): rate for currency, day, rate in cursor if rate is not None}


def exchange_rate_on(*, currency: str, day: dt.date) -> Decimal | None:
    """House currency per unit of `currency` on `day` (`exchange_rate_sql`), None if none."""
    currency = currency.upper()
    return exchange_rates_on([(currency, day)]).get((currency, day))


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
    customers_refresh_request([invoice.customer_id])
    return invoice


@transaction.atomic
def invoice_delete(*, invoice: Invoice) -> None:
    customer_id = invoice.customer_id
    invoice.delete()
    customers_refresh_request([customer_id])


@transaction.atomic
def support_case_save(*, case: SupportCase) -> SupportCase:
    case.full_clean()
    case.save()
    customers_refresh_request([case.customer_id])
    return case


@transaction.atomic
def support_case_report(
    *, customer: Customer, user: User, kind: str, note: str, minutes: int, opened_on: dt.date
) -> SupportCase:
    """A case or complaint heard in the field, open until someone closes it; its minutes count in
    cost to serve like any support time."""
    return support_case_save(
        case=SupportCase(
            customer=customer,
            reported_by=user,
            kind=kind,
            note=note.strip(),
            minutes=minutes,
            opened_on=opened_on,
            is_open=True,
        )
    )


@transaction.atomic
def support_case_close(*, case: SupportCase) -> SupportCase:
    case.is_open = False
    case.save(update_fields=["is_open"])
    return case


@transaction.atomic
def support_case_delete(*, case: SupportCase) -> None:
    customer_id = case.customer_id
    case.delete()
    customers_refresh_request([customer_id])


@transaction.atomic
def cadence_policy_save(*, policy: CadencePolicy) -> CadencePolicy:
    """A tier's cadence changed: its customers' due dates move now, their neglect flags with
    the refresh that follows."""
    policy.full_clean()
    policy.save()
    customers_due_refresh(tier=policy.tier)
    customers_refresh_request(
        Customer.objects.filter(tier=policy.tier).values_list("pk", flat=True)
    )
    all_schedules_changed()
    return policy


@transaction.atomic
def cadence_policy_delete(*, policy: CadencePolicy) -> None:
    """The tier falls back to its built-in default cadence."""
    tier = policy.tier
    policy.delete()
    customers_due_refresh(tier=tier)
    customers_refresh_request(Customer.objects.filter(tier=tier).values_list("pk", flat=True))
    all_schedules_changed()


@transaction.atomic
def service_cadence_save(*, cadence: ServiceCadence) -> ServiceCadence:
    """A remote service model's cadence changed: its accounts' due dates move now, their
    neglect flags with the refresh that follows."""
    cadence.full_clean()
    cadence.save()
    _service_model_changed(cadence.service_model)
    return cadence


@transaction.atomic
def service_cadence_delete(*, cadence: ServiceCadence) -> None:
    """The service model falls back to its built-in default cadence."""
    cadence.delete()
    _service_model_changed(cadence.service_model)


def _service_model_changed(service_model: str) -> None:
    customers_due_refresh(service_model=service_model)
    customers_refresh_request(
        Customer.objects.filter(service_model=service_model).values_list("pk", flat=True)
    )
    all_schedules_changed()


@transaction.atomic
def partner_save(*, partner: Partner) -> Partner:
    """Create or update a partner; new terms change its accounts' cost to serve, refreshed."""
    partner.full_clean()
    partner.save()
    customers_refresh_request(partner.customers.values_list("pk", flat=True))
    return partner


@transaction.atomic
def customer_serve(
    *,
    customer: Customer,
    service_model: str,
    owner: User | None,
    partner: Partner | None = None,
    cadence_days: int | None = None,
    since: dt.date,
) -> Customer:
    """Change who serves the account and how (a hand-off: reports.handoff). Field and remote
    accounts are owned by a salesperson, inside-sales accounts by an inside-sales person,
    partner accounts name their partner; self-service and partner accounts keep an owner who
    watches them (or none)."""
    errors = {}
    if service_model not in ServiceModel.values:
        errors["service_model"] = "Choose how the account is served."
    elif service_model == ServiceModel.INSIDE_SALES and (
        owner is None or not owner.is_inside_sales
    ):
        errors["owner"] = "Inside-sales accounts are owned by an inside-sales person."
    elif service_model in (ServiceModel.FIELD, ServiceModel.REMOTE) and (
        owner is None or not owner.is_salesperson
    ):
        errors["owner"] = "Field and remote accounts are owned by a salesperson."
    if service_model == ServiceModel.PARTNER and partner is None:
        errors["partner"] = "Choose the partner that will serve the account."
    if cadence_days is not None and service_model in NO_CADENCE_SERVICE_MODELS:
        errors["cadence_days"] = "Partner and self-service accounts have no visit cadence."
    if errors:
        raise ValidationError(errors)
    stored = Customer.objects.select_for_update().get(pk=customer.pk)
    owners = {stored.owner_id, owner.pk if owner else None}
    stored.service_model = service_model
    stored.owner = owner
    stored.partner = partner if service_model == ServiceModel.PARTNER else None
    stored.cadence_days = cadence_days
    stored.service_since = since
    stored.full_clean()
    stored.save(
        update_fields=[
            "service_model",
            "owner",
            "partner",
            "cadence_days",
            "service_since",
            "updated_at",
        ]
    )
    for field in Customer._meta.concrete_fields:
        setattr(customer, field.attname, getattr(stored, field.attname))
    schedules_changed(owners)
    customers_due_refresh(customer_ids=[customer.pk])
    customer.refresh_from_db(fields=["last_visit_at", "next_visit_due"])
    customers_refresh_request([customer.pk])
    return customer


@transaction.atomic
def customer_let_go(*, customer: Customer, reason: str) -> Customer:
    """Stop serving the account on purpose: it is lost, with the reason kept on the account
    (its open meetings and flags are closed by reports.handoff.accounts_let_go)."""
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why the account is let go."})
    validate_single_line(reason)
    stored = Customer.objects.select_for_update().get(pk=customer.pk)
    stored.status = CustomerStatus.LOST
    stored.status_reason = reason[:300]
    stored.save(update_fields=["status", "status_reason", "updated_at"])
    customer.status, customer.status_reason = stored.status, stored.status_reason
    schedules_changed({stored.owner_id})
    customers_due_refresh(customer_ids=[customer.pk])
    customers_refresh_request([customer.pk])
    return customer


def competitor_normalise(text: str) -> str:
    """What a salesperson typed as the competitor mentioned: a known competitor's name when it
    matches the name or an alias (any case, any spacing), else the text tidied (one line,
    single spaces)."""
    tidy = " ".join(text.split())
    if not tidy:
        return ""
    wanted = tidy.casefold()
    for name, aliases in Competitor.objects.values_list("name", "aliases"):
        spellings = [name, *aliases.split(",")]
        if any(" ".join(spelling.split()).casefold() == wanted for spelling in spellings):
            return name
    return tidy[:200]
