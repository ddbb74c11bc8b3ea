"""Account health: derived figures only, written by the refresh (health.figures,
health.rollup) and never edited by hand. The tables keep their crm_ names: the models moved here
from crm without touching the database (see docs/architecture.md)."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from core.bounds import validate_single_line
from crm.models import MONEY, Customer, CustomerStatus, Tier


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
        db_table = "crm_healthsettings"
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
    # What a partner charged on the orders it handled (health.costs.partner_charge_sql).
    partner_cost = models.DecimalField(**MONEY, default=0, db_default=0)

    class Meta:
        abstract = True


class Recommendation(models.TextChoices):
    """What the review worklist suggests for an account; the rule is health.figures.year's
    RECOMMENDATION_SQL, applied at every refresh."""

    MOVE_REMOTE = "move_remote", "Move to inside sales / remote cadence"
    HAND_OFF = "hand_off", "Hand off or let go"
    VISIT_NOW = "visit_now", "Visit now"
    REPRICE = "reprice", "Re-price or cut service"
    GROW = "grow", "Grow"
    KEEP = "keep", "Keep"


class AccountMetrics(AccountFigures):
    """Per-account health figures as of a date, written only by the health refresh job."""

    customer = models.OneToOneField(
        Customer, on_delete=models.CASCADE, primary_key=True, related_name="metrics"
    )
    as_of = models.DateField()
    last_visit_on = models.DateField(null=True)
    days_since_visit = models.IntegerField()
    # None for accounts without a cadence (partner, self-service: crm.cadence).
    cadence_days = models.PositiveSmallIntegerField(null=True)
    next_due_on = models.DateField(null=True)
    days_overdue = models.IntegerField(null=True, help_text="Negative: days left until due.")
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
    # Complaints (asks) still unanswered past their due date, and the earliest due date.
    complaints_overdue = models.PositiveIntegerField(db_default=0, default=0)
    oldest_complaint_due_on = models.DateField(null=True, blank=True)
    # The last three contacts of the year that have an outcome, newest first ({visited_on,
    # outcome, notes}), and whether they show the account cooling: two negative, or the
    # newest negative right after a positive one (never when the newest is positive).
    recent_outcomes = models.JSONField(default=list, db_default=[])
    is_cooling = models.BooleanField(default=False, db_default=False)
    computed_at = models.DateTimeField()
    recommendation = models.CharField(
        max_length=16, choices=Recommendation.choices, db_default=Recommendation.KEEP
    )
    # Consistency over the year (health.figures.year): gaps between consecutive contacts that kept
    # the cadence, and follow-ups promised for a day now passed that had a contact by then.
    intervals = models.PositiveIntegerField(db_default=0, default=0)
    intervals_on_cadence = models.PositiveIntegerField(db_default=0, default=0)
    follow_ups_promised = models.PositiveIntegerField(db_default=0, default=0)
    follow_ups_kept = models.PositiveIntegerField(db_default=0, default=0)
    # The day the recommendation last changed: review cycles bring those accounts back.
    recommendation_since = models.DateField(null=True)
    # The nightly run brings monthly figures forward from this day instead of recomputing them.
    months_as_of = models.DateField(
        null=True, help_text="The day the customer's monthly figures were last brought up to date."
    )

    class Meta:
        db_table = "crm_accountmetrics"
        verbose_name_plural = "account metrics"
        indexes = [
            models.Index(fields=["profit"]),
            models.Index(fields=["days_overdue"]),
            models.Index(fields=["revenue"]),
            # The review worklist: one recommendation's accounts, worst profit first.
            models.Index(fields=["recommendation", "profit"]),
            # Review cycles: the few accounts whose recommendation changed lately.
            models.Index(
                fields=["recommendation_since"],
                condition=models.Q(recommendation_since__isnull=False),
                name="metrics_recommendation_changed",
            ),
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
    UNANSWERED_COMPLAINT = "unanswered_complaint", "Unanswered complaint"
    COOLING = "cooling", "Cooling"


class AccountFlag(models.Model):
    """A condition raised on an account by the health job; resolved (kept) when it clears."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="flags")
    kind = models.CharField(max_length=24, choices=FlagKind.choices)
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
        db_table = "crm_accountflag"
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
        db_table = "crm_digestrun"
        ordering = ["-up_to"]

    def __str__(self) -> str:
        return f"Digest up to {self.up_to:%Y-%m-%d %H:%M}"


class AccountMonth(AccountFigures):
    """One customer's figures for one calendar month, for the managers' period views and
    trends; written only by health.figures.months (the 24 months up to as-of)."""

    # Indexed by the (customer, month) constraint below, whose first column it is.
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="months", db_index=False
    )
    month = models.DateField(help_text="First day of the month.")
    visits_done = models.PositiveIntegerField()

    class Meta:
        db_table = "crm_accountmonth"
        indexes = [models.Index(fields=["month", "customer"])]
        constraints = [
            models.UniqueConstraint(fields=["customer", "month"], name="account_month_unique")
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.month:%Y-%m}"


class Segment(models.Model):
    """One combination of the dashboard's filters (territory, owner, tier, status). The managers'
    pages read per-segment rollups instead of per-customer rows, so their cost depends on the
    number of segments, not of customers. Derived data: written only by health.rollup."""

    territory = models.ForeignKey("accounts.Territory", on_delete=models.CASCADE, related_name="+")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.CASCADE, related_name="+"
    )
    tier = models.CharField(max_length=1, choices=Tier.choices)
    status = models.CharField(max_length=16, choices=CustomerStatus.choices)

    class Meta:
        db_table = "crm_segment"
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

    class Meta:
        db_table = "crm_segmentmember"

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
    open_unanswered_complaint = models.PositiveIntegerField(db_default=0)
    open_cooling = models.PositiveIntegerField(db_default=0)
    # Sums of the accounts' consistency (AccountMetrics), for each rep's share.
    intervals = models.PositiveIntegerField(db_default=0)
    intervals_on_cadence = models.PositiveIntegerField(db_default=0)
    follow_ups_promised = models.PositiveIntegerField(db_default=0)
    follow_ups_kept = models.PositiveIntegerField(db_default=0)
    # Accounts per review recommendation (the worklist's counts).
    recommend_move_remote = models.PositiveIntegerField(db_default=0)
    recommend_hand_off = models.PositiveIntegerField(db_default=0)
    recommend_visit_now = models.PositiveIntegerField(db_default=0)
    recommend_reprice = models.PositiveIntegerField(db_default=0)
    recommend_grow = models.PositiveIntegerField(db_default=0)
    recommend_keep = models.PositiveIntegerField(db_default=0)

    class Meta:
        db_table = "crm_segmentfigures"

    def __str__(self) -> str:
        return f"Figures of segment {self.segment_id}"


class SegmentMonth(models.Model):
    """Per-segment sums of AccountMonth (period figures and the monthly trend)."""

    # Indexed by the unique constraint below, which starts with it.
    segment = models.ForeignKey(
        Segment, on_delete=models.CASCADE, related_name="months", db_index=False
    )
    month = models.DateField()
    revenue = models.DecimalField(max_digits=16, decimal_places=2)
    gross_margin = models.DecimalField(max_digits=16, decimal_places=2)
    discount = models.DecimalField(max_digits=16, decimal_places=2, db_default=0)
    cost_to_serve = models.DecimalField(max_digits=16, decimal_places=2)

    class Meta:
        db_table = "crm_segmentmonth"
        constraints = [
            # The sums ride in the index: a manager's months are read without the table.
            models.UniqueConstraint(
                fields=["segment", "month"],
                include=["revenue", "gross_margin", "discount", "cost_to_serve"],
                name="segment_month_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.segment_id} {self.month:%Y-%m}"


class SegmentWeek(models.Model):
    """Per-segment meetings of this week and next (company time zone), for the dashboard's
    "visits done vs planned this week"."""

    # Indexed by the unique constraint below, which starts with it.
    segment = models.ForeignKey(
        Segment, on_delete=models.CASCADE, related_name="weeks", db_index=False
    )
    week = models.DateField(help_text="The Monday.")
    planned = models.PositiveIntegerField(help_text="Done or still planned.")
    done = models.PositiveIntegerField()

    class Meta:
        db_table = "crm_segmentweek"
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

    # Indexed by the unique constraint below, which starts with it.
    segment = models.ForeignKey(
        Segment, on_delete=models.CASCADE, related_name="bands", db_index=False
    )
    measure = models.CharField(max_length=8, choices=BandMeasure.choices)
    band = models.IntegerField()
    accounts = models.PositiveIntegerField()
    total = models.DecimalField(max_digits=20, decimal_places=6)

    class Meta:
        db_table = "crm_segmentband"
        constraints = [
            # The sums ride in the index: a manager's bands are read without the table.
            models.UniqueConstraint(
                fields=["segment", "measure", "band"],
                include=["accounts", "total"],
                name="segment_band_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.segment_id} {self.measure} band {self.band}"


REVIEW_EVERY_DAYS = 91


class ReviewCycle(models.Model):
    """A manager's regular account review (quarterly unless they choose otherwise): the
    accounts needing a decision since `started_on` make the review list due on `due_on`
    (health.cycles)."""

    manager = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="review_cycle"
    )
    every_days = models.PositiveSmallIntegerField(
        default=REVIEW_EVERY_DAYS,
        validators=[MinValueValidator(7), MaxValueValidator(366)],
        help_text="Days between reviews (91: quarterly).",
    )
    started_on = models.DateField()
    due_on = models.DateField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(every_days__gte=7, every_days__lte=366)
                & models.Q(due_on__gte=models.F("started_on")),
                name="review_cycle_plausible",
            )
        ]

    def __str__(self) -> str:
        return f"Review of {self.manager_id} due {self.due_on}"


class RollupRebuild(models.Model):
    """When the last full rebuild of the rollups began (one row). A nightly run whose batches
    all changed nothing still rebuilds when metrics were written after it: batches of an
    earlier run whose chord never finished (a worker killed mid-run) changed them."""

    started_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Rollups last rebuilt from {self.started_at:%Y-%m-%d %H:%M:%S}"
