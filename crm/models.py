from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Upper
from django.urls import reverse

from crm.bounds import (
    MAX_SUPPORT_MINUTES,
    date_in_range,
    validate_plausible_date,
    validate_single_line,
)

MONEY = {"max_digits": 14, "decimal_places": 2}


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
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text="Overrides the tier's visit cadence for this customer.",
    )
    notes = models.TextField(blank=True)
    remote_visits = models.BooleanField(
        default=False,
        db_default=False,
        help_text="Served by phone and video instead of on-site visits.",
    )
    # Kept current by crm.services.customer_cadence_refresh whenever visits change.
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
            models.Index(fields=["territory", "status"]),
            models.Index(fields=["owner", "status"]),
            models.Index(fields=["tier", "status"]),
            models.Index(Upper("name"), "id", name="customer_name_upper_idx"),
            # Substring search on name / code / city ("my accounts" search box).
            GinIndex(OpClass(Upper("name"), name="gin_trgm_ops"), name="customer_name_trgm"),
            GinIndex(OpClass(Upper("city"), name="gin_trgm_ops"), name="customer_city_trgm"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(cadence_days__isnull=True) | models.Q(cadence_days__gte=1),
                name="customer_cadence_positive",
            ),
            models.CheckConstraint(
                condition=date_in_range("since"), name="customer_since_plausible"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def get_absolute_url(self) -> str:
        return reverse("crm:customer_detail", args=[self.pk])

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
    notes = models.TextField(blank=True)

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
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-opened_on", "-id"]
        indexes = [models.Index(fields=["customer", "opened_on"])]
        constraints = [
            models.CheckConstraint(
                condition=date_in_range("opened_on") & models.Q(minutes__lte=MAX_SUPPORT_MINUTES),
                name="support_case_plausible",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.opened_on:%Y-%m-%d}"


class HealthSettings(models.Model):
    """The rates behind cost to serve and the late-payer thresholds: one row, edited by admins."""

    cost_per_km = models.DecimalField(max_digits=8, decimal_places=2, default=Decimal("0.50"))
    support_hourly_cost = models.DecimalField(
        max_digits=8, decimal_places=2, default=Decimal("45.00")
    )
    annual_cost_of_capital = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        default=Decimal("0.1000"),
        help_text="Yearly rate charged on money customers owe late (0.10 = 10%).",
    )
    late_unpaid_days = models.PositiveSmallIntegerField(
        default=60, help_text="An unpaid invoice this many days past due makes a late payer."
    )
    late_average_days = models.PositiveSmallIntegerField(
        default=30, help_text="Amount-weighted average days late above this makes a late payer."
    )

    class Meta:
        verbose_name = verbose_name_plural = "health settings"
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="health_settings_single_row")
        ]

    def __str__(self) -> str:
        return "Account health settings"

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)


class AccountFigures(models.Model):
    """Money figures an account carries over a span of time (12 months, or one month)."""

    revenue = models.DecimalField(**MONEY)
    gross_margin = models.DecimalField(**MONEY)
    discount = models.DecimalField(**MONEY)
    visit_cost = models.DecimalField(**MONEY)
    support_cost = models.DecimalField(**MONEY)
    late_payment_cost = models.DecimalField(**MONEY)

    class Meta:
        abstract = True


class AccountMetrics(AccountFigures):
    """Per-account health figures as of a date, written only by the health refresh job."""

    customer = models.OneToOneField(
        Customer, on_delete=models.CASCADE, primary_key=True, related_name="metrics"
    )
    as_of = models.DateField()
    last_visit_on = models.DateField(null=True)
    days_since_visit = models.IntegerField()
    cadence_days = models.PositiveSmallIntegerField()
    next_due_on = models.DateField()
    days_overdue = models.IntegerField(help_text="Negative: days left until due.")
    cost_to_serve = models.DecimalField(**MONEY)
    profit = models.DecimalField(**MONEY)
    visits_done = models.PositiveIntegerField()
    # Sums over a year of visits and cases: bigint, so no sum can overflow.
    visit_minutes = models.PositiveBigIntegerField()
    support_minutes = models.PositiveBigIntegerField()
    average_days_late = models.DecimalField(max_digits=8, decimal_places=2, null=True)
    oldest_unpaid_days_late = models.IntegerField(null=True)
    is_neglected = models.BooleanField()
    is_unprofitable = models.BooleanField()
    is_late_payer = models.BooleanField()
    follow_up_overdue_on = models.DateField(
        null=True,
        help_text="The follow-up date asked for at the last visit, passed with nothing since.",
    )
    computed_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "account metrics"
        indexes = [
            models.Index(fields=["profit"]),
            models.Index(fields=["days_overdue"]),
            models.Index(fields=["cost_to_serve"]),
            models.Index(fields=["revenue"]),
            # The dashboard's "worst first" lists read these few flagged rows in order.
            models.Index(
                fields=["-days_overdue"],
                condition=models.Q(is_neglected=True),
                name="metrics_neglected_worst",
            ),
            models.Index(
                models.F("oldest_unpaid_days_late").desc(nulls_last=True),
                condition=models.Q(is_late_payer=True),
                name="metrics_late_payer_worst",
            ),
        ]

    def __str__(self) -> str:
        return f"Metrics of {self.customer_id} as of {self.as_of}"


class FlagKind(models.TextChoices):
    NEGLECTED = "neglected", "Neglected"
    UNPROFITABLE = "unprofitable", "Unprofitable"
    LATE_PAYER = "late_payer", "Late payer"


class AccountFlag(models.Model):
    """A condition raised on an account by the health job; resolved (kept) when it clears."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="flags")
    kind = models.CharField(max_length=16, choices=FlagKind.choices)
    inputs = models.JSONField(help_text="The figures behind the flag, as of `as_of`.")
    as_of = models.DateField()
    opened_at = models.DateTimeField()
    raised_at = models.DateTimeField(help_text="Opened, or raised again after an acknowledgement.")
    resolved_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_reason = models.CharField(
        max_length=300, blank=True, validators=[validate_single_line]
    )
    acknowledged_until = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["-raised_at", "-id"]
        indexes = [
            models.Index(fields=["kind", "resolved_at"]),
            models.Index(fields=["raised_at"]),
            models.Index(fields=["customer", "kind", "resolved_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "kind"],
                condition=models.Q(resolved_at__isnull=True),
                name="flag_one_open_per_customer_and_kind",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.customer_id}"

    @property
    def is_acknowledged(self) -> bool:
        return self.acknowledged_until is not None


class DigestRun(models.Model):
    """One sending of the daily flag digest: flags raised in (previous up_to, up_to] went out."""

    up_to = models.DateTimeField()
    emails_sent = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-up_to"]

    def __str__(self) -> str:
        return f"Digest up to {self.up_to:%Y-%m-%d %H:%M}"


class ReviewAction(models.Model):
    """What a manager did about an account from the review worklist: who, when, what."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="review_actions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)
    action = models.CharField(max_length=32)
    details = models.JSONField(default=dict)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["customer", "at"])]

    def __str__(self) -> str:
        return f"{self.action} on {self.customer_id} by {self.user_id}"


class AccountMonth(AccountFigures):
    """One customer's figures for one calendar month, for the managers' period views and
    trends; written only by crm.health.monthly_refresh_* (the 24 months up to the as-of date)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="months")
    month = models.DateField(help_text="First day of the month.")
    visits_done = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["month", "customer"])]
        constraints = [
            models.UniqueConstraint(fields=["customer", "month"], name="account_month_unique")
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.month:%Y-%m}"


class Segment(models.Model):
    """One combination of the dashboard's filters (territory, owner, tier, status). The managers'
    pages read per-segment rollups instead of per-customer rows, so their cost depends on the
    number of segments, not of customers. Derived data: written only by crm.rollup."""

    territory = models.ForeignKey("accounts.Territory", on_delete=models.CASCADE, related_name="+")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.CASCADE, related_name="+"
    )
    tier = models.CharField(max_length=1, choices=Tier.choices)
    status = models.CharField(max_length=16, choices=CustomerStatus.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["territory", "owner", "tier", "status"],
                name="segment_unique",
                nulls_distinct=False,
            )
        ]

    def __str__(self) -> str:
        return f"{self.territory_id}/{self.owner_id}/{self.tier}/{self.status}"


class SegmentMember(models.Model):
    """The segment a customer was last rolled up into, so a refresh after the customer moves
    also recomputes the segment it left."""

    customer = models.OneToOneField(
        Customer, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="members")

    def __str__(self) -> str:
        return f"{self.customer_id} in {self.segment_id}"


class SegmentFigures(models.Model):
    """Per-segment totals of AccountMetrics and open flags (the dashboard's tiles, rep table
    and list counts)."""

    segment = models.OneToOneField(
        Segment, on_delete=models.CASCADE, primary_key=True, related_name="figures"
    )
    accounts = models.PositiveIntegerField()
    active = models.PositiveIntegerField(help_text="Active accounts with metrics.")
    covered = models.PositiveIntegerField()
    overdue = models.PositiveIntegerField()
    overdue_days = models.PositiveBigIntegerField()
    unprofitable = models.PositiveIntegerField()
    late_payers = models.PositiveIntegerField()
    follow_ups_overdue = models.PositiveIntegerField()
    visits_done = models.PositiveIntegerField()
    visit_minutes = models.PositiveBigIntegerField()
    unprofitable_minutes = models.PositiveBigIntegerField()
    revenue = models.DecimalField(max_digits=16, decimal_places=2)
    gross_margin = models.DecimalField(max_digits=16, decimal_places=2)
    discount = models.DecimalField(max_digits=16, decimal_places=2, db_default=0)
    cost_to_serve = models.DecimalField(max_digits=16, decimal_places=2)
    profit = models.DecimalField(max_digits=16, decimal_places=2)
    open_neglected = models.PositiveIntegerField()
    open_unprofitable = models.PositiveIntegerField()
    open_late_payer = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"Figures of segment {self.segment_id}"


class SegmentMonth(models.Model):
    """Per-segment sums of AccountMonth (period figures and the monthly trend)."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="months")
    month = models.DateField()
    revenue = models.DecimalField(max_digits=16, decimal_places=2)
    gross_margin = models.DecimalField(max_digits=16, decimal_places=2)
    discount = models.DecimalField(max_digits=16, decimal_places=2, db_default=0)
    cost_to_serve = models.DecimalField(max_digits=16, decimal_places=2)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["segment", "month"], name="segment_month_unique")
        ]

    def __str__(self) -> str:
        return f"{self.segment_id} {self.month:%Y-%m}"


class SegmentWeek(models.Model):
    """Per-segment meetings of this week and next (company time zone), for the dashboard's
    "visits done vs planned this week"."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="weeks")
    week = models.DateField(help_text="The Monday.")
    planned = models.PositiveIntegerField(help_text="Done or still planned.")
    done = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["segment", "week"], name="segment_week_unique")
        ]

    def __str__(self) -> str:
        return f"{self.segment_id} week of {self.week}"


class BandMeasure(models.TextChoices):
    PROFIT = "profit", "Profit"
    COST_TO_SERVE = "cost", "Cost to serve (accounts with revenue)"
    NET_MARGIN = "margin", "Net margin ratio (accounts with revenue)"


class SegmentBand(models.Model):
    """A histogram of one per-account measure within a segment: how many accounts fall in each
    narrow band and their total, from which the whale curve and the quadrant's medians are
    read. Money bands are 5 % wide (log scale, split at zero); margin bands 0.5 points."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="bands")
    measure = models.CharField(max_length=8, choices=BandMeasure.choices)
    band = models.IntegerField()
    accounts = models.PositiveIntegerField()
    total = models.DecimalField(max_digits=20, decimal_places=6)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["segment", "measure", "band"], name="segment_band_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.segment_id} {self.measure} band {self.band}"


class PendingRefresh(models.Model):
    """A customer whose health refresh could not be queued (the broker was down); the
    `health_refresh_pending` job picks these up once it can run again."""

    customer = models.OneToOneField(
        Customer, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    requested_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Refresh of {self.customer_id} pending since {self.requested_at}"


class FormSubmission(models.Model):
    """A form that has been acted on, by the one-time key it carried: a double click, a retry
    after a timeout or the Back button resending it finds the key taken and does nothing."""

    key = models.UUIDField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    submitted_at = models.DateTimeField(auto_now_add=True, db_index=True)

    def __str__(self) -> str:
        return f"{self.key} by {self.user_id}"
