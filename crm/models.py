from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex, GistIndex, OpClass
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Upper
from django.urls import reverse

from core.bounds import (
    MAX_ACCOUNT_NOTES_CHARS,
    MAX_CADENCE_DAYS,
    MAX_SUPPORT_MINUTES,
    MAX_TEXT_CHARS,
    date_in_range,
    validate_plausible_date,
    validate_single_line,
)

MONEY = {"max_digits": 14, "decimal_places": 2}

# An account's point on the earth (earthdistance's ll_to_earth, a cube), as its index has it:
# queries must say it the same way to use the index (crm.selectors.customers_near).
EARTH_POINT = models.Func(
    models.F("latitude"),
    models.F("longitude"),
    function="ll_to_earth",
    output_field=models.FloatField(),
)


def default_currency() -> str:
    return settings.CADENCE_CURRENCY


class Tier(models.TextChoices):
    A = "A", "A"
    B = "B", "B"
    C = "C", "C"
    D = "D", "D"


# Days between visits each tier expects by default; admins change them in CadencePolicy.
DEFAULT_CADENCE_DAYS = {Tier.A: 14, Tier.B: 30, Tier.C: 60, Tier.D: 90}


class CadencePolicy(models.Model):
    """How often a customer of each tier should be visited, unless it has its own cadence."""

    tier = models.CharField(max_length=1, choices=Tier.choices, unique=True)
    days = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])

    class Meta:
        ordering = ["tier"]
        verbose_name_plural = "cadence policy"
        constraints = [
            models.CheckConstraint(condition=models.Q(days__gte=1), name="cadence_days_positive")
        ]

    def __str__(self) -> str:
        return f"Tier {self.tier}: every {self.days} days"


class ServiceModel(models.TextChoices):
    """Who serves an account and how (docs/user-guide.md, "Service models")."""

    FIELD = "field", "Field: on-site visits"
    REMOTE = "remote", "Remote: phone/video by the field rep"
    INSIDE_SALES = "inside_sales", "Inside sales"
    PARTNER = "partner", "Partner"
    SELF_SERVICE = "self_service", "Self-service"


# Served by phone or video, never on site: no travel, remote kinds only.
REMOTE_SERVICE_MODELS = (ServiceModel.REMOTE, ServiceModel.INSIDE_SALES)
# No one on the team visits or calls on a cadence: no due date, never neglected; margin and
# late payment are still watched.
NO_CADENCE_SERVICE_MODELS = (ServiceModel.PARTNER, ServiceModel.SELF_SERVICE)


class RemoteKind(models.TextChoices):
    """How a remote-served account is called (the same values as visits' VisitKind)."""

    PHONE = "phone", "Phone"
    VIDEO = "video", "Video"


# Days between calls for remote-served accounts unless an admin sets them in ServiceCadence.
DEFAULT_REMOTE_CADENCE = {
    ServiceModel.REMOTE: (30, RemoteKind.PHONE),
    ServiceModel.INSIDE_SALES: (30, RemoteKind.PHONE),
}


class ServiceCadence(models.Model):
    """How often, and how, accounts served remotely are called. Field accounts follow their
    tier's CadencePolicy; partner and self-service accounts have no cadence."""

    service_model = models.CharField(
        max_length=16,
        unique=True,
        choices=[(model.value, model.label) for model in REMOTE_SERVICE_MODELS],
    )
    days = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(MAX_CADENCE_DAYS)]
    )
    kind = models.CharField(max_length=16, choices=RemoteKind.choices, default=RemoteKind.PHONE)

    class Meta:
        ordering = ["service_model"]
        verbose_name_plural = "service cadences"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(days__gte=1, days__lte=MAX_CADENCE_DAYS),
                name="service_cadence_days_range",
            )
        ]

    def __str__(self) -> str:
        return (
            f"{self.get_service_model_display()}: {self.get_kind_display()} every {self.days} days"
        )


class Partner(models.Model):
    """An organisation that serves accounts for a commission (a distributor, an agent): its
    charge replaces visit cost in those accounts' cost to serve."""

    name = models.CharField(max_length=200, unique=True, validators=[validate_single_line])
    contact_name = models.CharField(max_length=200, blank=True, validators=[validate_single_line])
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=50, blank=True, validators=[validate_single_line])
    commission_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text="Share of the account's net revenue the partner keeps (10 = 10%).",
    )
    fee_per_order = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1000000"))],
        help_text="Fixed fee per order (invoice) the partner handles.",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(commission_percent__gte=0, commission_percent__lte=100)
                & models.Q(fee_per_order__gte=0, fee_per_order__lte=1000000),
                name="partner_terms_plausible",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def terms(self) -> str:
        parts = []
        if self.commission_percent:
            parts.append(f"{self.commission_percent.normalize():f}% of revenue")
        if self.fee_per_order:
            parts.append(f"{self.fee_per_order:,.2f} per order")
        return " + ".join(parts) or "no charge"


class LocationSource(models.TextChoices):
    IMPORTED = "imported", "Imported"
    GEOCODED = "geocoded", "Geocoded"
    CHECK_IN = "check_in", "Check-in"
    APPROXIMATE = "approximate", "Approximate (town centre)"


class CustomerStatus(models.TextChoices):
    PROSPECT = "prospect", "Prospect"
    ACTIVE = "active", "Active"
    DORMANT = "dormant", "Dormant"
    LOST = "lost", "Lost"


class Customer(models.Model):
    name = models.CharField(max_length=200, validators=[validate_single_line])
    code = models.CharField(
        max_length=64,
        unique=True,
        help_text="External id: the key imports match on.",
        validators=[validate_single_line],
    )
    territory = models.ForeignKey(
        "accounts.Territory", on_delete=models.PROTECT, related_name="customers"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_customers",
    )
    tier = models.CharField(max_length=1, choices=Tier.choices, default=Tier.C)
    status = models.CharField(
        max_length=16, choices=CustomerStatus.choices, default=CustomerStatus.ACTIVE
    )
    address_line1 = models.CharField(
        "address", max_length=200, blank=True, validators=[validate_single_line]
    )
    address_line2 = models.CharField(
        "address (line 2)", max_length=200, blank=True, validators=[validate_single_line]
    )
    postal_code = models.CharField(max_length=20, blank=True, validators=[validate_single_line])
    city = models.CharField(max_length=100, blank=True, validators=[validate_single_line])
    region = models.CharField(max_length=100, blank=True, validators=[validate_single_line])
    country = models.CharField(max_length=100, blank=True, validators=[validate_single_line])
    phone = models.CharField(max_length=50, blank=True, validators=[validate_single_line])
    website = models.CharField(max_length=200, blank=True, validators=[validate_single_line])
    industry = models.CharField(max_length=100, blank=True, validators=[validate_single_line])
    since = models.DateField(
        null=True, blank=True, help_text="Customer since.", validators=[validate_plausible_date]
    )
    cadence_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_CADENCE_DAYS)],
        help_text="Overrides the tier's visit cadence for this customer.",
    )
    notes = models.TextField(
        blank=True,
        max_length=MAX_ACCOUNT_NOTES_CHARS,
        validators=[MaxLengthValidator(MAX_ACCOUNT_NOTES_CHARS)],
    )
    status_reason = models.CharField(
        max_length=300,
        blank=True,
        db_default="",
        validators=[validate_single_line],
        help_text="Why the account has its status, e.g. why it was let go.",
    )
    service_model = models.CharField(
        max_length=16,
        choices=ServiceModel.choices,
        default=ServiceModel.FIELD,
        db_default=ServiceModel.FIELD,
        help_text="Who serves the account and how; changed by a hand-off (reports.handoff).",
    )
    partner = models.ForeignKey(
        Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="customers"
    )
    # Where the account is (WGS84 degrees), for the map and "near me"; how that was learnt.
    latitude = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(-90), MaxValueValidator(90)],
    )
    longitude = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(-180), MaxValueValidator(180)],
    )
    location_source = models.CharField(
        max_length=16, choices=LocationSource.choices, blank=True, db_default=""
    )
    located_at = models.DateTimeField(null=True, blank=True)
    # Geocoding tries so far without a result, and why the last failed (crm.geocoding).
    geocode_attempts = models.PositiveSmallIntegerField(default=0, db_default=0, editable=False)
    geocode_error = models.CharField(max_length=300, blank=True, db_default="", editable=False)
    # The day the current service model began: a partner's commission counts from it, and the
    # outcomes compare the months before and after it.
    service_since = models.DateField(null=True, blank=True, validators=[validate_plausible_date])
    # Kept current by visits.services.customer_cadence_refresh whenever visits change;
    # crm.services.customers_due_refresh when only the cadence changes.
    last_visit_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Last done on-site, phone or video visit."
    )
    next_visit_due = models.DateField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            models.Index(fields=["owner", "next_visit_due"]),
            models.Index(fields=["territory", "next_visit_due"]),
            models.Index(fields=["next_visit_due", "id"]),
            models.Index(fields=["last_visit_at", "id"]),
            # The API's cursor (api.common.ByChange): a page is read off the index in its order.
            models.Index(fields=["updated_at", "id"], name="customer_by_change"),
            # The account list's default order: a page is read off the index, not sorted.
            models.Index(fields=["name", "id"]),
            models.Index(fields=["territory", "status"]),
            # "The customers of these territories" as an index-only scan: the managers' scope,
            # joined to visits, asks, actions and the rest by id.
            models.Index(fields=["territory", "id"], name="customer_territory_id"),
            models.Index(fields=["owner", "status"]),
            models.Index(fields=["tier", "status"]),
            models.Index(Upper("name"), "id", name="customer_name_upper_idx"),
            # Substring search on name / code / city ("my accounts" search box).
            GinIndex(OpClass(Upper("name"), name="gin_trgm_ops"), name="customer_name_trgm"),
            GinIndex(OpClass(Upper("city"), name="gin_trgm_ops"), name="customer_city_trgm"),
            # The search's code prefix (istartswith): with it every branch of the search's OR
            # has an index, so PostgreSQL ORs three bitmaps instead of scanning a territory.
            models.Index(
                OpClass(Upper("code"), name="text_pattern_ops"), name="customer_code_upper_prefix"
            ),
            # "Near me" and the map: nearest accounts by a GiST index on the point on the earth
            # (contrib cube/earthdistance; docs/field.md says why not PostGIS).
            GistIndex(
                EARTH_POINT,
                name="customer_earth_point",
                condition=models.Q(latitude__isnull=False),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(cadence_days__isnull=True) | models.Q(cadence_days__gte=1),
                name="customer_cadence_positive",
            ),
            models.CheckConstraint(
                condition=date_in_range("since") & date_in_range("service_since"),
                name="customer_since_plausible",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(latitude__isnull=True, longitude__isnull=True)
                    | models.Q(
                        latitude__gte=-90,
                        latitude__lte=90,
                        longitude__gte=-180,
                        longitude__lte=180,
                    )
                ),
                name="customer_location_plausible",
            ),
            # A partner left on an account served otherwise charges nothing (health.figures
            # counts the partner only while the model is partner); a file import may change
            # the model without knowing about partners.
            models.CheckConstraint(
                condition=~models.Q(service_model=ServiceModel.PARTNER)
                | models.Q(partner__isnull=False),
                name="customer_partner_model_names_partner",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def get_absolute_url(self) -> str:
        return reverse("crm:customer_detail", args=[self.pk])

    @property
    def is_remote(self) -> bool:
        return self.service_model in REMOTE_SERVICE_MODELS

    @property
    def has_cadence(self) -> bool:
        return self.service_model not in NO_CADENCE_SERVICE_MODELS

    @property
    def address(self) -> str:
        street = ", ".join(part for part in (self.address_line1, self.address_line2) if part)
        town = " ".join(part for part in (self.postal_code, self.city) if part)
        return ", ".join(part for part in (street, town, self.region, self.country) if part)


class Contact(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=200, validators=[validate_single_line])
    title = models.CharField(max_length=200, blank=True, validators=[validate_single_line])
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=50, blank=True, validators=[validate_single_line])
    is_primary = models.BooleanField("primary", default=False)
    notes = models.TextField(
        blank=True, max_length=MAX_TEXT_CHARS, validators=[MaxLengthValidator(MAX_TEXT_CHARS)]
    )

    class Meta:
        ordering = ["-is_primary", "name", "id"]
        indexes = [models.Index(fields=["customer", "email"])]
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=models.Q(is_primary=True),
                name="contact_one_primary_per_customer",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Invoice(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="invoices")
    number = models.CharField(max_length=64, unique=True, validators=[validate_single_line])
    issued_on = models.DateField(validators=[validate_plausible_date])
    due_on = models.DateField(validators=[validate_plausible_date])
    paid_on = models.DateField(null=True, blank=True, validators=[validate_plausible_date])
    amount = models.DecimalField(**MONEY, help_text="Net amount billed, after discount.")
    cost_of_goods = models.DecimalField(**MONEY, default=Decimal("0"))
    discount = models.DecimalField(
        **MONEY, default=Decimal("0"), help_text="Discount given, already netted out of amount."
    )
    currency = models.CharField(max_length=3, default=default_currency)
    # House currency per unit of `currency` on the issue date (crm.services.exchange_rate_on),
    # kept with the invoice: every figure uses amount times rate, in the house currency.
    exchange_rate = models.DecimalField(
        max_digits=18, decimal_places=8, default=Decimal("1"), db_default=Decimal("1")
    )

    class Meta:
        ordering = ["-issued_on", "-id"]
        indexes = [
            models.Index(fields=["customer", "issued_on"]),
            models.Index(fields=["customer", "due_on"]),
            models.Index(
                fields=["due_on"],
                condition=models.Q(paid_on__isnull=True),
                name="invoice_unpaid_due",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(due_on__gte=models.F("issued_on")),
                name="invoice_due_not_before_issue",
            ),
            models.CheckConstraint(
                condition=models.Q(cost_of_goods__gte=0) & models.Q(discount__gte=0),
                name="invoice_costs_not_negative",
            ),
            models.CheckConstraint(
                condition=date_in_range("issued_on")
                & date_in_range("due_on")
                & date_in_range("paid_on"),
                name="invoice_dates_plausible",
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def is_foreign(self) -> bool:
        return self.currency != settings.CADENCE_CURRENCY

    @property
    def house_amount(self) -> Decimal:
        """The amount in the house currency, as every figure counts it."""
        return (self.amount * self.exchange_rate).quantize(Decimal("0.01"))

    @property
    def house_currency(self) -> str:
        return settings.CADENCE_CURRENCY


class ExchangeRate(models.Model):
    """How many units of the house currency (CADENCE_CURRENCY) one unit of `currency` was worth
    from `on_date` on (until the next rate). Admins keep these in the admin or import them."""

    currency = models.CharField(max_length=3, validators=[validate_single_line])
    on_date = models.DateField("from", validators=[validate_plausible_date])
    rate = models.DecimalField(
        max_digits=18,
        decimal_places=8,
        validators=[MinValueValidator(Decimal("0.00000001"), "A rate is more than zero.")],
    )

    class Meta:
        ordering = ["currency", "-on_date"]
        constraints = [
            models.UniqueConstraint(fields=["currency", "on_date"], name="exchange_rate_unique"),
            models.CheckConstraint(condition=models.Q(rate__gt=0), name="exchange_rate_positive"),
        ]

    def __str__(self) -> str:
        return f"1 {self.currency} = {self.rate} {settings.CADENCE_CURRENCY} from {self.on_date}"


class SupportCaseKind(models.TextChoices):
    COMPLAINT = "complaint", "Complaint"
    REQUEST = "request", "Request"
    ORDER_ISSUE = "order_issue", "Order issue"
    OTHER = "other", "Other"


class SupportCase(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="support_cases")
    opened_on = models.DateField(validators=[validate_plausible_date])
    kind = models.CharField(max_length=16, choices=SupportCaseKind.choices)
    minutes = models.PositiveIntegerField(
        help_text="Staff minutes spent on the case.",
        validators=[
            MaxValueValidator(
                MAX_SUPPORT_MINUTES, f"At most {MAX_SUPPORT_MINUTES:,} minutes for one case."
            )
        ],
    )
    note = models.TextField(
        "what the customer said",
        blank=True,
        max_length=MAX_TEXT_CHARS,
        validators=[MaxLengthValidator(MAX_TEXT_CHARS)],
    )
    # Cases logged in Cadence stay open until someone closes them; imported ones (history from
    # a helpdesk) arrive closed (db_default: the import's INSERT names no such column).
    is_open = models.BooleanField("open", default=True, db_default=False)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The case's id in the helpdesk that sends it (the API upserts by it); empty for cases
    # logged in Cadence.
    external_id = models.CharField(
        max_length=64, blank=True, db_default="", validators=[validate_single_line]
    )

    class Meta:
        ordering = ["-opened_on", "-id"]
        indexes = [
            models.Index(fields=["customer", "opened_on"]),
            models.Index(fields=["customer"], condition=models.Q(is_open=True), name="case_open"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=date_in_range("opened_on") & models.Q(minutes__lte=MAX_SUPPORT_MINUTES),
                name="support_case_plausible",
            ),
            models.UniqueConstraint(
                fields=["external_id"],
                condition=~models.Q(external_id=""),
                name="support_case_external_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.opened_on:%Y-%m-%d}"


class Competitor(models.Model):
    """A competitor customers mention, kept by admins: what a salesperson types is matched to
    it by name or alias (crm.services.competitor_normalise)."""

    name = models.CharField(max_length=200, unique=True, validators=[validate_single_line])
    aliases = models.CharField(
        max_length=500,
        blank=True,
        validators=[validate_single_line],
        help_text="Other spellings, comma separated (e.g. “NW, North Wind”).",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
