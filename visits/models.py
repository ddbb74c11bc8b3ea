from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Coalesce

from core.bounds import (
    MAX_TEXT_CHARS,
    MAX_TRAVEL_MINUTES,
    MAX_VISIT_KM,
    MAX_VISIT_MINUTES,
    MaxVisitExpensesValidator,
    date_in_range,
    validate_plausible_date,
    validate_single_line,
)


class VisitKind(models.TextChoices):
    ON_SITE = "on_site", "On site"
    PHONE = "phone", "Phone"
    VIDEO = "video", "Video"
    EMAIL = "email", "Email"


# Kinds of contact that keep a customer's visit cadence; an email does not.
CADENCE_VISIT_KINDS = (VisitKind.ON_SITE, VisitKind.PHONE, VisitKind.VIDEO)
# A check-in within this many metres of the account's location is "at the address".
ON_SITE_METRES = 500
# What inside sales and remote-served accounts use: no one travels.
REMOTE_VISIT_KINDS = (VisitKind.PHONE, VisitKind.VIDEO, VisitKind.EMAIL)


class VisitStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"
    NO_SHOW = "no_show", "No show"


class Outcome(models.TextChoices):
    POSITIVE = "positive", "Positive"
    NEUTRAL = "neutral", "Neutral"
    NEGATIVE = "negative", "Negative"


class Visit(models.Model):
    """A meeting with a customer: planned (scheduled_start/end), then done (visited_at)."""

    customer = models.ForeignKey("crm.Customer", on_delete=models.CASCADE, related_name="visits")
    salesperson = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="visits"
    )
    contacts = models.ManyToManyField("crm.Contact", blank=True, related_name="visits")
    # Colleagues also at the meeting (the previous owner at a hand-off's introduction): it is
    # on their schedule and calendar too; the cost is the salesperson's visit.
    attendees = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, through="VisitAttendee", related_name="+"
    )
    kind = models.CharField(max_length=16, choices=VisitKind.choices, default=VisitKind.ON_SITE)
    status = models.CharField(
        max_length=16, choices=VisitStatus.choices, default=VisitStatus.PLANNED
    )
    scheduled_start = models.DateTimeField(
        null=True, blank=True, validators=[validate_plausible_date]
    )
    scheduled_end = models.DateTimeField(
        null=True, blank=True, validators=[validate_plausible_date]
    )
    purpose = models.CharField(max_length=300, blank=True, validators=[validate_single_line])
    visited_at = models.DateTimeField(
        "visited at",
        null=True,
        blank=True,
        help_text="When the visit actually started.",
        validators=[validate_plausible_date],
    )
    duration_minutes = models.PositiveIntegerField(
        default=0,
        validators=[
            MaxValueValidator(MAX_VISIT_MINUTES, "A visit lasts at most 24 hours (1,440 minutes).")
        ],
    )
    travel_minutes = models.PositiveIntegerField(
        default=0,
        validators=[
            MaxValueValidator(MAX_TRAVEL_MINUTES, "Travel is at most 24 hours (1,440 minutes).")
        ],
    )
    distance_km = models.DecimalField(
        max_digits=8,
        decimal_places=1,
        default=Decimal("0"),
        validators=[
            MinValueValidator(0),
            MaxValueValidator(MAX_VISIT_KM, f"A visit's distance is at most {MAX_VISIT_KM:,} km."),
        ],
    )
    expenses = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(0), MaxVisitExpensesValidator()],
    )
    notes = models.TextField(
        "what the customer said",
        blank=True,
        max_length=MAX_TEXT_CHARS,
        validators=[MaxLengthValidator(MAX_TEXT_CHARS)],
    )
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    next_step = models.CharField(max_length=300, blank=True, validators=[validate_single_line])
    follow_up_on = models.DateField(
        "follow-up date", null=True, blank=True, validators=[validate_plausible_date]
    )
    brief = models.TextField(
        blank=True,
        db_default="",
        max_length=MAX_TEXT_CHARS,
        validators=[MaxLengthValidator(MAX_TEXT_CHARS)],
        help_text="Prepared for the meeting, e.g. the account brief copied at a hand-off.",
    )
    competitor = models.CharField(
        "competitor mentioned", max_length=200, blank=True, validators=[validate_single_line]
    )
    cancel_reason = models.CharField(max_length=300, blank=True, validators=[validate_single_line])
    # The id the visit had in the system it was imported from (an activity, event or meeting
    # id): a re-import of that system's export finds it again by this.
    external_id = models.CharField(
        max_length=64, blank=True, db_default="", validators=[validate_single_line]
    )
    # Made by the client that first sent the visit (the offline app, an integration): sending it
    # again finds this visit instead of writing a second one (visits.services.visit_once).
    client_uuid = models.UUIDField(null=True, blank=True, unique=True, editable=False)
    # False for visits imported with a date but no time (stored at noon): pages say "time not
    # recorded" instead of showing 12:00.
    time_recorded = models.BooleanField(default=True, db_default=True)
    # Check-in and check-out on the meeting page (visits.services.visit_check_in): when, and
    # where at check-in (taken only then and at check-out, never between: docs/field.md).
    checked_in_at = models.DateTimeField(null=True, blank=True, editable=False)
    check_in_latitude = models.FloatField(null=True, blank=True, editable=False)
    check_in_longitude = models.FloatField(null=True, blank=True, editable=False)
    # Metres from the account's location at check-in (None: no position or no location).
    check_in_distance_m = models.PositiveIntegerField(null=True, blank=True, editable=False)
    # The phone's own estimate of its position's error (metres), as it reported it.
    check_in_accuracy_m = models.PositiveIntegerField(null=True, blank=True, editable=False)
    checked_out_at = models.DateTimeField(null=True, blank=True, editable=False)
    # iCalendar SEQUENCE: bumped on every reschedule or cancellation so calendars apply it.
    sequence = models.PositiveIntegerField(default=0, db_default=0, editable=False)
    # One occurrence of a booked series (visits.rhythms): which, and when the series' rule
    # put it (the feed's RECURRENCE-ID, kept when the meeting alone is moved).
    series = models.ForeignKey(
        "MeetingSeries",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="visits",
        editable=False,
    )
    occurrence_start = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-visited_at", "-scheduled_start", "-id"]
        indexes = [
            models.Index(fields=["customer", "status", "visited_at"]),
            models.Index(fields=["customer", "status", "scheduled_start"]),
            models.Index(fields=["salesperson", "scheduled_start"]),
            models.Index(fields=["salesperson", "visited_at"]),
            models.Index(fields=["scheduled_start"]),
            # The API's list by change (a cursor on updated_at, id): walked in order, a
            # manager's or admin's page reads a page of rows, not every visit.
            models.Index(fields=["updated_at", "id"], name="visit_by_change"),
            # The agenda: a salesperson's meetings by planned time, else the time held.
            models.Index(
                F("salesperson"),
                Coalesce("scheduled_start", "visited_at"),
                name="visit_salesperson_moment",
            ),
            # The competitor report: the few visits that name one, by when, read from the index
            # alone (customer and competitor carried in it).
            models.Index(
                fields=["visited_at"],
                include=["customer", "competitor"],
                condition=~Q(competitor="") & Q(status=VisitStatus.DONE),
                name="visit_competitor_mentions",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status=VisitStatus.PLANNED) | Q(scheduled_start__isnull=False),
                name="visit_planned_has_start",
            ),
            models.CheckConstraint(
                condition=~Q(status=VisitStatus.DONE) | Q(visited_at__isnull=False),
                name="visit_done_has_visited_at",
            ),
            models.CheckConstraint(
                condition=Q(scheduled_end__isnull=True)
                | Q(scheduled_start__isnull=True)
                | Q(scheduled_end__gte=models.F("scheduled_start")),
                name="visit_end_not_before_start",
            ),
            models.CheckConstraint(
                condition=Q(distance_km__gte=0) & Q(expenses__gte=0),
                name="visit_costs_not_negative",
            ),
            models.UniqueConstraint(
                fields=["external_id"],
                condition=~Q(external_id=""),
                name="visit_external_id_unique",
            ),
            models.CheckConstraint(
                condition=Q(duration_minutes__lte=MAX_VISIT_MINUTES)
                & Q(travel_minutes__lte=MAX_TRAVEL_MINUTES)
                & Q(distance_km__lte=MAX_VISIT_KM),
                name="visit_effort_plausible",
            ),
            models.CheckConstraint(
                condition=date_in_range("visited_at", moment=True)
                & date_in_range("scheduled_start", moment=True)
                & date_in_range("scheduled_end", moment=True)
                & date_in_range("follow_up_on"),
                name="visit_dates_plausible",
            ),
        ]

    def __str__(self) -> str:
        when = self.visited_at or self.scheduled_start
        return f"{self.get_kind_display()} with {self.customer.name} on {when:%Y-%m-%d}"

    @property
    def is_planned(self) -> bool:
        return self.status == VisitStatus.PLANNED


class RhythmFrequency(models.TextChoices):
    WEEKLY = "weekly", "Week"
    MONTHLY = "monthly", "Month"


class RhythmOrdinal(models.IntegerChoices):
    FIRST = 1, "First"
    SECOND = 2, "Second"
    THIRD = 3, "Third"
    FOURTH = 4, "Fourth"
    LAST = -1, "Last"


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class MeetingPattern(models.Model):
    """When a recurring meeting falls: every `interval` weeks on `weekday`, or every
    `interval` months on the `ordinal` `weekday` ("first Tuesday"), at `start_time` for
    `duration_minutes`, in `time_zone` (wall-clock time kept across daylight saving)."""

    frequency = models.CharField(
        max_length=8, choices=RhythmFrequency.choices, default=RhythmFrequency.MONTHLY
    )
    interval = models.PositiveSmallIntegerField(
        "every", default=3, validators=[MinValueValidator(1), MaxValueValidator(12)]
    )
    ordinal = models.SmallIntegerField(
        choices=RhythmOrdinal.choices, default=RhythmOrdinal.FIRST, help_text="Monthly only."
    )
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices, default=Weekday.TUESDAY)
    start_time = models.TimeField(default="10:00")
    duration_minutes = models.PositiveSmallIntegerField(
        "minutes", default=60, validators=[MinValueValidator(5), MaxValueValidator(8 * 60)]
    )
    kind = models.CharField(max_length=16, choices=VisitKind.choices, default=VisitKind.ON_SITE)
    time_zone = models.CharField(max_length=64, default="UTC", editable=False)

    class Meta:
        abstract = True


class Rhythm(MeetingPattern):
    """The meeting rhythm agreed with a customer ("quarterly business review, first Tuesday,
    10:00, 60 min, on site"). It sets the account's own cadence (the rule's first source), so
    the tier's no longer applies; removing it gives back the cadence it replaced."""

    customer = models.OneToOneField("crm.Customer", on_delete=models.CASCADE, related_name="rhythm")
    name = models.CharField(
        max_length=120, default="Business review", validators=[validate_single_line]
    )
    replaced_cadence_days = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    agreed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    agreed_on = models.DateField()

    def __str__(self) -> str:
        return f"{self.name} with {self.customer_id}"


class MeetingSeries(MeetingPattern):
    """Meetings booked in one step from a rhythm: `count` occurrences from `first_start`. In
    the calendar feed it is one event with an RRULE; a meeting moved alone is an exception
    (RECURRENCE-ID), one cancelled an EXDATE. Moving or cancelling "this and all following"
    ends this series before that meeting and starts another."""

    customer = models.ForeignKey("crm.Customer", on_delete=models.CASCADE, related_name="+")
    salesperson = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    name = models.CharField(max_length=120, validators=[validate_single_line])
    first_start = models.DateTimeField()
    count = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sequence = models.PositiveIntegerField(default=0, editable=False)

    def __str__(self) -> str:
        return f"{self.name}, {self.count} from {self.first_start:%Y-%m-%d}"


class VisitAttendee(models.Model):
    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="attendance")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "visit"], name="visit_attendee_once")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} at {self.visit_id}"


class AskKind(models.TextChoices):
    PRODUCT = "product", "Product or quote"
    PRICE = "price", "Price"
    SERVICE = "service", "Service or delivery"
    COMPLAINT = "complaint", "Complaint"
    INFORMATION = "information", "Information"
    OTHER = "other", "Other"


# Days to answer an ask of each kind, counted from the day it was asked, until an admin sets
# them (AskPolicy). A complaint waits least.
DEFAULT_ASK_DUE_DAYS = {
    AskKind.PRODUCT: 5,
    AskKind.PRICE: 3,
    AskKind.SERVICE: 3,
    AskKind.COMPLAINT: 2,
    AskKind.INFORMATION: 5,
    AskKind.OTHER: 7,
}


class AskAnswerKind(models.TextChoices):
    PROPOSAL = "proposal", "Proposal or quote sent"
    CASE = "case", "Support case opened"
    DONE = "done", "Done as asked"
    DECISION = "decision", "Decision given"
    DECLINED = "declined", "Declined"


class QuoteOutcome(models.TextChoices):
    WON = "won", "Won"
    LOST = "lost", "Lost"


class AskPolicy(models.Model):
    """Days to answer an ask of a kind (DEFAULT_ASK_DUE_DAYS until a row says otherwise)."""

    kind = models.CharField(max_length=16, choices=AskKind.choices, unique=True)
    due_days = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(0), MaxValueValidator(365)]
    )

    class Meta:
        verbose_name_plural = "ask policies"

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.due_days} days"


class Ask(models.Model):
    """What a customer asked for, tracked to an answer: raised at a visit (or on the account),
    owned by who answers it, due by a date; a quote's value makes it an opportunity, won or lost
    once decided (docs/user-guide.md, "Listening and responding")."""

    customer = models.ForeignKey("crm.Customer", on_delete=models.CASCADE, related_name="asks")
    visit = models.ForeignKey(
        Visit, null=True, blank=True, on_delete=models.SET_NULL, related_name="asks"
    )
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="asks_owned"
    )
    kind = models.CharField(max_length=16, choices=AskKind.choices)
    text = models.CharField(
        "what the customer asked for", max_length=500, validators=[validate_single_line]
    )
    asked_on = models.DateField(validators=[validate_plausible_date])
    due_on = models.DateField(validators=[validate_plausible_date])
    value = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="A quote's amount, in the house currency.",
    )
    answered_at = models.DateTimeField(null=True, blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    answer_kind = models.CharField(max_length=16, choices=AskAnswerKind.choices, blank=True)
    answer = models.CharField(
        "what was done", max_length=500, blank=True, validators=[validate_single_line]
    )
    outcome = models.CharField(max_length=8, choices=QuoteOutcome.choices, blank=True)
    outcome_reason = models.CharField(max_length=300, blank=True, validators=[validate_single_line])
    competitor = models.ForeignKey(
        "crm.Competitor", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    # The day it was announced as overdue (webhook ask.overdue): once per ask.
    overdue_announced_on = models.DateField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["due_on", "id"]
        indexes = [
            # The owner's open asks by due date; the account's open asks.
            models.Index(
                fields=["owner", "due_on"],
                condition=Q(answered_at__isnull=True),
                name="ask_open_owner",
            ),
            models.Index(
                fields=["customer", "due_on"],
                condition=Q(answered_at__isnull=True),
                name="ask_open_customer",
            ),
            models.Index(fields=["customer", "asked_on"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(answered_at__isnull=True, answer_kind="")
                | (Q(answered_at__isnull=False) & ~Q(answer_kind="")),
                name="ask_answered_has_kind",
            ),
            models.CheckConstraint(
                condition=Q(outcome="")
                | (Q(answered_at__isnull=False) & Q(decided_at__isnull=False)),
                name="ask_decided_after_answer",
            ),
            models.CheckConstraint(
                condition=Q(due_on__gte=F("asked_on")), name="ask_due_not_before_asked"
            ),
            models.CheckConstraint(
                condition=Q(value__isnull=True) | Q(value__gte=0), name="ask_value_not_negative"
            ),
            models.CheckConstraint(
                condition=date_in_range("asked_on") & date_in_range("due_on"),
                name="ask_dates_plausible",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.customer_id}: {self.text[:40]}"

    @property
    def is_open(self) -> bool:
        return self.answered_at is None


class ReminderSent(models.Model):
    """A reminder claimed for sending: one row per user, kind and key (the morning e-mail's
    local day), written before it goes out, so a second worker or a restart never sends it
    twice."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16)
    key = models.CharField(max_length=64)
    sent_at = models.DateTimeField()
    # Nothing to say that day: claimed, so the next passes skip it, but no e-mail.
    empty = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind", "key"], name="reminder_once")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} for {self.user_id}"
