import zoneinfo
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.urls import reverse

from core.bounds import CONTROL_CHARACTERS

# One line, no control characters (core.bounds' rule, as a validator Django can serialise).
SINGLE_LINE = RegexValidator(
    CONTROL_CHARACTERS.pattern,
    "Keep this to one line: no line breaks, tabs or control characters.",
    inverse_match=True,
)


class Role(models.TextChoices):
    SALESPERSON = "salesperson", "Salesperson"
    # Serves accounts by phone and video from the office: their own accounts only, no visits.
    INSIDE_SALES = "inside_sales", "Inside sales"
    MANAGER = "manager", "Manager"
    ADMIN = "admin", "Admin"


# The roles that own accounts and log contacts with them.
SERVING_ROLES = (Role.SALESPERSON, Role.INSIDE_SALES)


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known time zone (e.g. Europe/London).")


def default_time_zone() -> str:
    return settings.TIME_ZONE


class User(AbstractUser):
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.SALESPERSON)
    hourly_cost = models.DecimalField(
        max_digits=8,
        decimal_places=2,
        default=Decimal("60.00"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Loaded cost of one hour of this person's time.",
    )
    time_zone = models.CharField(
        max_length=64, default=default_time_zone, validators=[validate_time_zone]
    )
    calendar_token = models.CharField(
        max_length=64,
        blank=True,
        editable=False,
        help_text="Secret in this user's calendar feed URL; empty means no feed.",
    )
    # Where a field rep's day starts and ends by default (the day plan): set by the rep from
    # the route page ("use my position") or by an admin.
    home_label = models.CharField(
        "home base", max_length=120, blank=True, db_default="", validators=[SINGLE_LINE]
    )
    home_latitude = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(-90), MaxValueValidator(90)]
    )
    home_longitude = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(-180), MaxValueValidator(180)]
    )

    # Reminders (docs/user-guide.md, "Reminders"), each the user's own switch: the calendar
    # feed's alarm before a meeting (0: none), follow-up dates in the feed as all-day items,
    # and the morning e-mail.
    alarm_minutes = models.PositiveSmallIntegerField(
        "calendar alarm (minutes before a meeting)",
        default=30,
        db_default=30,
        validators=[MaxValueValidator(24 * 60)],
        help_text="0: no alarm.",
    )
    calendar_follow_ups = models.BooleanField(
        "follow-up dates in the calendar", default=True, db_default=True
    )
    morning_email = models.BooleanField("morning e-mail", default=True, db_default=True)
    # Web Push to the devices the user turned notifications on for (PushSubscription): a
    # meeting coming (alarm_minutes before), follow-ups and asks due.
    push_reminders = models.BooleanField(
        "notifications on my devices", default=True, db_default=True
    )
    # Set by the person's manager (the dashboard): the share of gaps between contacts within
    # the accounts' cadence they aim for; empty: CADENCE_CONSISTENCY_TARGET.
    consistency_target = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(100)]
    )

    class Meta:
        ordering = ["username"]
        indexes = [models.Index(fields=["role"])]

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    @property
    def is_salesperson(self) -> bool:
        return self.role == Role.SALESPERSON

    @property
    def is_inside_sales(self) -> bool:
        return self.role == Role.INSIDE_SALES

    @property
    def serves_accounts(self) -> bool:
        """Owns accounts and logs contacts with them (field or inside sales)."""
        return self.role in SERVING_ROLES

    @property
    def is_manager(self) -> bool:
        return self.role == Role.MANAGER

    @property
    def is_cadence_admin(self) -> bool:
        return self.role == Role.ADMIN or self.is_superuser

    def get_home_url(self) -> str:
        if self.is_cadence_admin:
            return reverse("accounts:admin_home")
        if self.is_manager:
            return reverse("manage:dashboard")
        if self.is_inside_sales:
            return reverse("visits:calls")
        return reverse("visits:schedule")


class PushSubscription(models.Model):
    """One device (a browser's push subscription) where the user turned notifications on. The
    push service gives the endpoint and the keys the payload is encrypted for; a push it
    answers 404/410 removes the row (the device unsubscribed or the browser was reset)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="push_subscriptions")
    endpoint = models.URLField(max_length=1000, unique=True)
    p256dh = models.CharField(max_length=100)
    auth = models.CharField(max_length=50)
    device = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.user} on {self.device or 'a device'}"


class Territory(models.Model):
    name = models.CharField(max_length=100, unique=True, validators=[SINGLE_LINE])
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    managers = models.ManyToManyField(
        User,
        blank=True,
        related_name="managed_territories",
        limit_choices_to={"role": Role.MANAGER},
    )
    members = models.ManyToManyField(
        User,
        blank=True,
        related_name="territories",
        limit_choices_to={"role__in": [Role.SALESPERSON, Role.INSIDE_SALES]},
        help_text="Salespeople and inside-sales people of this territory (inside sales see only "
        "the accounts they own).",
    )
    # The territory's office: a day plan may start or end there.
    office_label = models.CharField(
        max_length=120, blank=True, db_default="", validators=[SINGLE_LINE]
    )
    office_latitude = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(-90), MaxValueValidator(90)]
    )
    office_longitude = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(-180), MaxValueValidator(180)]
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "territories"
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(parent=models.F("id")), name="territory_not_own_parent"
            )
        ]

    def __str__(self) -> str:
        return self.name
