"""What each kind of import reads: its fields, the headers that map to them, and how a row
finds the record it updates."""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import models

from core.bounds import (
    MAX_ACCOUNT_NOTES_CHARS,
    MAX_CADENCE_DAYS,
    MAX_SUPPORT_MINUTES,
    MAX_TEXT_CHARS,
    MAX_TRAVEL_MINUTES,
    MAX_VISIT_KM,
    MAX_VISIT_MINUTES,
)
from crm.models import (
    Contact,
    Customer,
    CustomerStatus,
    ExchangeRate,
    Invoice,
    ServiceModel,
    SupportCase,
    SupportCaseKind,
    Tier,
)
from imports.models import ImportKind
from imports.values import (
    choice_parser,
    coordinate_reader,
    decimal_reader,
    int_reader,
    normalise,
    parse_bool,
    parse_currency,
    parse_email,
    service_model_parser,
)
from visits.models import Outcome, Visit, VisitKind, VisitStatus

# Reference fields hold a text that SQL resolves to an id: a username or email, a territory
# name, a customer code (or name).
USER, TERRITORY, CUSTOMER = "user", "territory", "customer"


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    sql_type: str = "text"
    # None: text (trimmed, cut to max_length); "date"/"datetime": read in the file's date order;
    # a callable: any other reader; USER / TERRITORY / CUSTOMER: a reference.
    parse: Callable | str | None = None
    max_length: int = 0
    required: bool = False
    synonyms: tuple[str, ...] = ()
    create_default: str = "''"
    multiline: bool = False  # free text: line breaks kept (one-line fields fold them)

    @property
    def is_reference(self) -> bool:
        return self.parse in (USER, TERRITORY, CUSTOMER)

    @property
    def column(self) -> str:
        """The target table's column (references become <name>_id)."""
        return f"{self.name}_id" if self.is_reference else self.name


@dataclass(frozen=True)
class Kind:
    name: str
    model: type[models.Model]
    fields: tuple[Field, ...]
    # SQL on staging s and target t telling that t is the record s updates; several are
    # tried in order, each for the rows the ones before left unmatched.
    match: str | tuple[str, ...]
    # SQL on staging s: rows with the same key in one file are duplicates.
    key: str
    key_label: str
    # (SQL on staging s and its target t, if any, that must hold; the reason when it does not)
    checks: tuple[tuple[str, str], ...] = ()

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)


def _text(name, label, max_length, *synonyms, required=False):
    return Field(name, label, max_length=max_length, required=required, synonyms=synonyms)


def _free_text(name, label, max_length, *synonyms):
    return Field(name, label, max_length=max_length, synonyms=synonyms, multiline=True)


_CUSTOMER_CODE = (
    "customer code",
    "customer no",
    "customer number",
    "account number",
    "customer id",
)
_CUSTOMER_REF = Field(
    "customer",
    "Customer (code or name)",
    parse=CUSTOMER,
    required=True,
    create_default="NULL",
    synonyms=(
        *_CUSTOMER_CODE,
        "customer",
        "account",
        "account name",
        "company",
        "company name",
        "client",
        "organization",
        "organization - name",
    ),
)
_MONEY = {"sql_type": "numeric(14,2)", "parse": decimal_reader(), "create_default": "0"}
_COST = {**_MONEY, "parse": decimal_reader(minimum=Decimal("0"))}
_MINUTES = {"sql_type": "integer", "create_default": "0"}

CUSTOMERS = Kind(
    name=ImportKind.CUSTOMERS,
    model=Customer,
    fields=(
        Field(
            "code",
            "Code",
            max_length=64,
            synonyms=(
                *_CUSTOMER_CODE,
                "code",
                "record id",
                "reference",
                "id",
                "client id",
                "customer ref",
                "account id",
            ),
        ),
        Field(
            "name",
            "Name",
            max_length=200,
            required=True,
            synonyms=(
                "account name",
                "company name",
                "company",
                "customer",
                "client",
                "customer name",
                "organization - name",
                "organization",
                "name",
            ),
        ),
        Field(
            "territory",
            "Territory",
            parse=TERRITORY,
            synonyms=("territory", "sales territory", "area"),
            create_default="NULL",
        ),
        Field(
            "owner",
            "Owner",
            parse=USER,
            synonyms=(
                "account owner",
                "company owner",
                "organization - owner",
                "salesperson",
                "owner",
                "sales rep",
                "account manager",
                "owner email",
            ),
            create_default="NULL",
        ),
        Field(
            "tier",
            "Tier",
            parse=choice_parser(Tier),
            synonyms=("tier", "class", "rating"),
            create_default=f"'{Tier.C}'",
        ),
        Field(
            "status",
            "Status",
            parse=choice_parser(
                CustomerStatus,
                {
                    "customer": "active",
                    "customer - direct": "active",
                    "customer - channel": "active",
                    "former customer": "lost",
                    "inactive": "dormant",
                    "lead": "prospect",
                    "opportunity": "prospect",
                },
            ),
            synonyms=("status", "type", "lifecycle stage", "account status"),
            create_default=f"'{CustomerStatus.ACTIVE}'",
        ),
        _text(
            "address_line1",
            "Address",
            200,
            "billing street",
            "street",
            "address",
            "organization - address",
            "street address",
            "address line 1",
        ),
        _text("address_line2", "Address (line 2)", 200, "address line 2", "street 2", "street2"),
        _text(
            "postal_code",
            "Postal code",
            20,
            "billing zip/postal code",
            "billing zip",
            "billing postal code",
            "postal code",
            "postcode",
            "zip",
            "zip code",
            "plz",
        ),
        _text("city", "City", 100, "billing city", "city", "town"),
        _text(
            "region",
            "Region",
            100,
            "billing state/province",
            "state",
            "region",
            "state/region",
            "province",
            "county",
        ),
        _text("country", "Country", 100, "billing country", "country", "country/region"),
        _text("phone", "Phone", 50, "phone", "phone number", "telephone", "tel"),
        _text("website", "Website", 200, "website", "company domain name", "domain", "web", "url"),
        _text("industry", "Industry", 100, "industry", "sector"),
        Field(
            "since",
            "Customer since",
            sql_type="date",
            parse="date",
            synonyms=("customer since", "since", "created date", "create date"),
            create_default="NULL",
        ),
        Field(
            "cadence_days",
            "Own cadence (days)",
            sql_type="integer",
            parse=int_reader(minimum=1, maximum=MAX_CADENCE_DAYS),
            synonyms=("cadence", "visit every", "cadence days"),
            create_default="NULL",
        ),
        Field(
            "service_model",
            "Service model",
            parse=service_model_parser(),
            synonyms=("service model", "served by", "coverage", "remote", "inside sales"),
            create_default=f"'{ServiceModel.FIELD}'",
        ),
        _free_text("notes", "Notes", MAX_ACCOUNT_NOTES_CHARS, "notes", "description", "comments"),
        Field(
            "latitude",
            "Latitude",
            sql_type="double precision",
            parse=coordinate_reader(limit=90),
            synonyms=("billing latitude", "latitude", "lat", "shipping latitude"),
            create_default="NULL",
        ),
        Field(
            "longitude",
            "Longitude",
            sql_type="double precision",
            parse=coordinate_reader(limit=180),
            synonyms=("billing longitude", "longitude", "lng", "lon", "long", "shipping longitude"),
            create_default="NULL",
        ),
    ),
    match="t.code = s.code",
    key="s.code",
    key_label="code",
)

CONTACTS = Kind(
    name=ImportKind.CONTACTS,
    model=Contact,
    fields=(
        _CUSTOMER_REF,
        _text(
            "name",
            "Name",
            200,
            "contact name",
            "full name",
            "contact",
            "name",
            "person",
            required=True,
        ),
        _text("title", "Title", 200, "title", "job title", "position", "role"),
        Field(
            "email",
            "Email",
            max_length=254,
            parse=parse_email,
            synonyms=("email", "email address", "e-mail", "mail"),
        ),
        _text("phone", "Phone", 50, "phone", "phone number", "mobile", "telephone"),
        Field(
            "is_primary",
            "Primary",
            sql_type="boolean",
            parse=parse_bool,
            synonyms=("primary", "main contact", "is primary"),
            create_default="false",
        ),
        _free_text("notes", "Notes", MAX_TEXT_CHARS, "notes", "comments"),
    ),
    match=(
        "t.customer_id = s.customer_id AND CASE WHEN s.email IS NOT NULL "
        "THEN lower(t.email) = lower(s.email) ELSE lower(t.name) = lower(s.name) END"
    ),
    key="s.customer_id::text || '|' || lower(COALESCE(s.email, s.name))",
    key_label="customer and email (or name)",
)

INVOICES = Kind(
    name=ImportKind.INVOICES,
    model=Invoice,
    fields=(
        _text(
            "number",
            "Invoice number",
            64,
            "invoice number",
            "invoice no",
            "invoice",
            "invoice id",
            "number",
            "document number",
            required=True,
        ),
        _CUSTOMER_REF,
        Field(
            "issued_on",
            "Issued on",
            sql_type="date",
            parse="date",
            required=True,
            synonyms=("invoice date", "issued", "issue date", "date", "issued on"),
            create_default="NULL",
        ),
        Field(
            "due_on",
            "Due on",
            sql_type="date",
            parse="date",
            required=True,
            synonyms=("due date", "due", "payment due"),
            create_default="NULL",
        ),
        Field(
            "paid_on",
            "Paid on",
            sql_type="date",
            parse="date",
            synonyms=("paid date", "payment date", "paid", "date paid"),
            create_default="NULL",
        ),
        Field(
            "amount",
            "Amount",
            required=True,
            synonyms=("amount", "net amount", "total", "net", "invoice amount", "value"),
            **_MONEY,
        ),
        Field(
            "cost_of_goods",
            "Cost of goods",
            synonyms=("cost", "cogs", "cost of sales", "cost of goods sold"),
            **_COST,
        ),
        Field("discount", "Discount", synonyms=("discount", "discount amount"), **_COST),
        Field(
            "currency",
            "Currency",
            parse=parse_currency,
            synonyms=("currency", "currency code"),
            create_default=f"'{settings.CADENCE_CURRENCY}'",
        ),
    ),
    match="t.number = s.number",
    key="s.number",
    key_label="invoice number",
    checks=(
        (
            "COALESCE(s.due_on, t.due_on) >= COALESCE(s.issued_on, t.issued_on)",
            "the due date is before the invoice date",
        ),
    ),
)

# How the big CRMs' activity statuses map to a visit's: a meeting that took place is done; one
# still ahead is planned; one that did not take place at that time is cancelled (a rescheduled
# or deferred meeting comes back as its own row at the new time) unless the customer did not
# turn up (no show).
VISIT_STATUS_LABELS = {
    "completed": VisitStatus.DONE,
    "complete": VisitStatus.DONE,
    "held": VisitStatus.DONE,
    "attended": VisitStatus.DONE,
    "closed": VisitStatus.DONE,
    "not started": VisitStatus.PLANNED,
    "scheduled": VisitStatus.PLANNED,
    "open": VisitStatus.PLANNED,
    "upcoming": VisitStatus.PLANNED,
    "confirmed": VisitStatus.PLANNED,
    "canceled": VisitStatus.CANCELLED,
    "rescheduled": VisitStatus.CANCELLED,
    "deferred": VisitStatus.CANCELLED,
    "not held": VisitStatus.CANCELLED,
    "no show": VisitStatus.NO_SHOW,
    "noshow": VisitStatus.NO_SHOW,
    "did not attend": VisitStatus.NO_SHOW,
}


VISITS = Kind(
    name=ImportKind.VISITS,
    model=Visit,
    fields=(
        _CUSTOMER_REF,
        Field(
            "salesperson",
            "Salesperson",
            parse=USER,
            required=True,
            synonyms=(
                "salesperson",
                "sales rep",
                "rep",
                "owner",
                "user",
                "assigned to",
                "visited by",
            ),
            create_default="NULL",
        ),
        Field(
            "visited_at",
            "When",
            sql_type="timestamptz",
            parse="datetime",
            required=True,
            synonyms=(
                "visited on",
                "visit date",
                "date",
                "visited at",
                "activity date",
                "meeting date",
                "start",
                "start date",
                "start time",
                "start date time",
                "meeting start time",
                "event date",
                "date of activity",
            ),
            create_default="NULL",
        ),
        Field(
            "status",
            "Status",
            parse=choice_parser(VisitStatus, VISIT_STATUS_LABELS),
            synonyms=(
                "status",
                "visit status",
                "event status",
                "meeting status",
                "activity status",
                "meeting outcome",
            ),
            create_default=f"'{VisitStatus.DONE}'",
        ),
        _text(
            "cancel_reason",
            "Cancel reason",
            300,
            "cancel reason",
            "cancellation reason",
            "reason cancelled",
            "reason for cancellation",
        ),
        Field(
            "external_id",
            "Activity id",
            max_length=64,
            synonyms=(
                "activity id",
                "event id",
                "meeting id",
                "visit id",
                "task id",
                "engagement id",
                "external id",
            ),
        ),
        Field(
            "kind",
            "Kind",
            parse=choice_parser(
                VisitKind,
                {
                    "visit": "on_site",
                    "meeting": "on_site",
                    "call": "phone",
                    "onsite": "on_site",
                    "in person": "on_site",
                },
            ),
            synonyms=("kind", "type", "activity type", "visit type"),
            create_default=f"'{VisitKind.ON_SITE}'",
        ),
        Field(
            "duration_minutes",
            "Minutes",
            synonyms=("duration", "minutes", "duration minutes"),
            parse=int_reader(maximum=MAX_VISIT_MINUTES),
            **_MINUTES,
        ),
        Field(
            "travel_minutes",
            "Travel minutes",
            synonyms=("travel", "travel time"),
            parse=int_reader(maximum=MAX_TRAVEL_MINUTES),
            **_MINUTES,
        ),
        Field(
            "distance_km",
            "Distance (km)",
            synonyms=("distance", "km", "mileage"),
            sql_type="numeric(8,1)",
            parse=decimal_reader(
                places=1, minimum=Decimal("0"), most=lambda: Decimal(MAX_VISIT_KM), what=" km"
            ),
            create_default="0",
        ),
        Field(
            "expenses",
            "Expenses",
            synonyms=("expenses", "costs", "expense"),
            **_COST
            | {
                "parse": decimal_reader(
                    minimum=Decimal("0"),
                    most=lambda: Decimal(settings.CADENCE_MAX_VISIT_EXPENSES),
                    what=" (the most one visit's expenses may be)",
                )
            },
        ),
        _free_text(
            "notes",
            "Notes",
            MAX_TEXT_CHARS,
            "notes",
            "what the customer said",
            "comments",
            "description",
            "summary",
        ),
        Field(
            "outcome",
            "Outcome",
            parse=choice_parser(Outcome),
            synonyms=("outcome", "result"),
            create_default="''",
        ),
        _text("next_step", "Next step", 300, "next step", "next steps"),
        Field(
            "follow_up_on",
            "Follow-up date",
            sql_type="date",
            parse="date",
            synonyms=("follow up", "follow up date", "follow-up"),
            create_default="NULL",
        ),
        _text("competitor", "Competitor", 200, "competitor", "competitor mentioned"),
    ),
    # The activity id when the file has one; else customer, salesperson, start and kind (the
    # staging column `moment` is the row's time, made distinct for date-only rows of one day by
    # engine._visits_prepare), against visits no earlier import gave an id.
    match=(
        "s.external_id IS NOT NULL AND t.external_id = s.external_id",
        "t.external_id = '' AND t.customer_id = s.customer_id "
        "AND t.salesperson_id = s.salesperson_id "
        "AND COALESCE(t.scheduled_start, t.visited_at) = s.moment AND t.kind = s.kind",
    ),
    key=(
        "COALESCE('id ' || s.external_id, s.customer_id::text || '|' || s.salesperson_id::text "
        "|| '|' || s.moment::text || '|' || s.kind)"
    ),
    key_label="activity id, or customer, salesperson, time and kind",
)


SUPPORT_CASES = Kind(
    name=ImportKind.SUPPORT_CASES,
    model=SupportCase,
    fields=(
        _CUSTOMER_REF,
        Field(
            "opened_on",
            "Opened on",
            sql_type="date",
            parse="date",
            required=True,
            synonyms=("opened", "date opened", "created", "created date", "date"),
            create_default="NULL",
        ),
        Field(
            "kind",
            "Kind",
            parse=choice_parser(
                SupportCaseKind,
                {"question": "request", "issue": "order_issue", "problem": "complaint"},
            ),
            required=True,
            synonyms=("kind", "type", "case type", "category"),
            create_default="NULL",
        ),
        Field(
            "minutes",
            "Minutes",
            required=True,
            synonyms=("minutes", "time spent", "duration", "handling time"),
            parse=int_reader(maximum=MAX_SUPPORT_MINUTES),
            **_MINUTES,
        ),
        _free_text("note", "Note", MAX_TEXT_CHARS, "note", "notes", "subject", "description"),
    ),
    match="t.customer_id = s.customer_id AND t.opened_on = s.opened_on AND t.kind = s.kind",
    key="s.customer_id::text || '|' || s.opened_on::text || '|' || s.kind",
    key_label="customer, date and kind",
)

EXCHANGE_RATES = Kind(
    name=ImportKind.EXCHANGE_RATES,
    model=ExchangeRate,
    fields=(
        Field(
            "currency",
            "Currency",
            parse=parse_currency,
            required=True,
            synonyms=("currency", "currency code", "from currency", "iso code"),
            create_default="NULL",
        ),
        Field(
            "on_date",
            "From",
            sql_type="date",
            parse="date",
            required=True,
            synonyms=("date", "from", "valid from", "effective date", "rate date"),
            create_default="NULL",
        ),
        Field(
            "rate",
            "Rate",
            sql_type="numeric(18,8)",
            parse=decimal_reader(places=8, minimum=Decimal("0.00000001"), maximum=Decimal("1e10")),
            required=True,
            synonyms=("rate", "exchange rate", "conversion rate", "fx rate"),
            create_default="NULL",
        ),
    ),
    match="t.currency = s.currency AND t.on_date = s.on_date",
    key="s.currency || '|' || s.on_date::text",
    key_label="currency and date",
)

KINDS = {
    kind.name: kind
    for kind in (CUSTOMERS, CONTACTS, INVOICES, VISITS, SUPPORT_CASES, EXCHANGE_RATES)
}


def propose_mapping(kind: Kind, headers: list[str]) -> dict[str, str]:
    """Header -> field for the headers Cadence recognises: a field's own name or label in any
    case or spacing first, then the vendors' names; each field is taken once, leftmost first."""
    exact = {}
    for field in kind.fields:
        exact.setdefault(normalise(field.name), field.name)
        exact.setdefault(normalise(field.column), field.name)
        exact.setdefault(normalise(field.label), field.name)
    synonyms = {}
    for field in kind.fields:
        for synonym in field.synonyms:
            synonyms.setdefault(normalise(synonym), field.name)
    mapping, taken = {}, set()
    for lookup in (exact, synonyms):
        for header in headers:
            name = lookup.get(normalise(header))
            if header not in mapping and name and name not in taken:
                mapping[header] = name
                taken.add(name)
    return {header: mapping[header] for header in headers if header in mapping}


def missing_required(
    kind: Kind, mapping: dict[str, str], *, has_default_territory: bool, has_default_owner: bool
) -> list[str]:
    """Labels of required fields no column is mapped to (and no default stands in for)."""
    mapped = set(mapping.values())
    missing = [f.label for f in kind.fields if f.required and f.name not in mapped]
    owner = "owner" in mapped or has_default_owner
    if kind is CUSTOMERS and "territory" not in mapped and not has_default_territory and not owner:
        missing.append("Territory (or an owner column, or a default territory)")
    if kind is VISITS and has_default_owner:
        # Without a salesperson column every visit goes to the default owner.
        missing = [label for label in missing if label != "Salesperson"]
    return missing


def mapping_notes(
    kind: Kind, mapping: dict[str, str], *, has_default_territory: bool, has_default_owner: bool
) -> list[str]:
    """The rules that will apply to this file, said before the run."""
    mapped = set(mapping.values())
    notes = []
    if kind is VISITS and "status" not in mapped:
        notes.append(
            "No status column: visits dated before now are imported as done, later ones as planned."
        )
    if kind is VISITS and "external_id" not in mapped:
        notes.append(
            "No activity id column: a visit is recognised by customer, salesperson, time and "
            "kind; rows with only a date count in file order within their day."
        )
    if kind is CUSTOMERS and "territory" not in mapped and not has_default_territory:
        notes.append(
            "No territory column or default: a new customer takes its owner's territory when "
            "the owner belongs to exactly one; other new customers are rejected."
        )
    if any(kind.field(name).parse == USER for name in mapped if name):
        notes.append("Owners and salespeople are matched by username, e-mail or full name.")
    return notes


def has_dates(kind: Kind, mapping: dict[str, str]) -> bool:
    """Whether a mapped column holds dates (only then does the date order matter)."""
    return any(kind.field(name).parse in ("date", "datetime") for name in mapping.values() if name)
