import datetime as dt

from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Territory, User
from accounts.selectors import salespeople_visible_to, territory_ids_with_descendants
from core.bounds import MAX_CADENCE_DAYS, validate_plausible_date, validate_single_line
from core.forms import PlainSelect
from core.params import MAX_ID
from crm.models import (
    NO_CADENCE_SERVICE_MODELS,
    Customer,
    CustomerStatus,
    Partner,
    ServiceModel,
    Tier,
)
from crm.selectors import customer_edit_choices, customers_visible_to
from health.figures.months import MONTHS_KEPT
from health.models import Segment
from health.selectors import segments_visible_to
from reports.handoff import MAX_SELECTION, HandOffPlan, MeetingsChoice
from reports.models import ReviewActionKind


class AcknowledgeForm(forms.Form):
    reason = forms.CharField(
        max_length=300,
        error_messages={"required": "Give a reason."},
        validators=[validate_single_line],
    )
    until = forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[validate_plausible_date],
        error_messages={"required": "Choose the date the acknowledgement runs until."},
    )


class ReviewActionForm(forms.Form):
    """One action from the review worklist; which fields are needed depends on `action`."""

    # Hand-offs and letting go have a page of their own (HandOffForm, LetGoForm).
    action = forms.ChoiceField(
        choices=[
            (kind.value, kind.label)
            for kind in (
                ReviewActionKind.REASSIGN,
                ReviewActionKind.TIER,
                ReviewActionKind.CADENCE,
                ReviewActionKind.ACKNOWLEDGE,
            )
        ]
    )
    owner = forms.ModelChoiceField(queryset=None, required=False)
    tier = forms.ChoiceField(choices=Tier.choices, required=False)
    cadence_days = forms.IntegerField(required=False, min_value=1, max_value=MAX_CADENCE_DAYS)
    flag = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    reason = forms.CharField(required=False, max_length=300, validators=[validate_single_line])
    until = forms.DateField(required=False, validators=[validate_plausible_date])

    REQUIRED = {
        ReviewActionKind.REASSIGN: ["owner"],
        ReviewActionKind.TIER: ["tier"],
        ReviewActionKind.CADENCE: ["cadence_days"],
        ReviewActionKind.ACKNOWLEDGE: ["flag", "reason", "until"],
    }

    def __init__(self, *args, owners, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = owners

    def clean(self):
        cleaned = super().clean()
        for name in self.REQUIRED.get(cleaned.get("action"), []):
            if cleaned.get(name) in (None, ""):
                self.add_error(name, "This field is required for this action.")
        return cleaned


def next_working_morning() -> dt.datetime:
    day = timezone.localdate() + dt.timedelta(days=1)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(10, 0)))


class AccountSelectionField(forms.ModelMultipleChoiceField):
    """Accounts chosen on the worklist or the account page, as ids (?ids=1&ids=2 or 1,2)."""

    def clean(self, value):
        if isinstance(value, (list, tuple)):
            value = [part for item in value for part in str(item).split(",") if part.strip()]
        return super().clean(value)


class AccountSelectionForm(forms.Form):
    """The accounts an action is for: visible to the user, at most MAX_SELECTION."""

    ids = AccountSelectionField(
        queryset=None,
        widget=forms.MultipleHiddenInput,
        error_messages={
            "required": "Choose at least one account.",
            "invalid_choice": "One of the accounts is not one of yours.",
            "invalid_pk_value": "One of the accounts is not one of yours.",
        },
    )

    def __init__(self, *args, customers, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["ids"].queryset = customers

    def clean_ids(self):
        chosen = self.cleaned_data["ids"]
        if len(chosen) > MAX_SELECTION:
            raise forms.ValidationError(f"Act on at most {MAX_SELECTION} accounts at once.")
        return chosen


class HandOffForm(AccountSelectionForm):
    """Who serves the chosen accounts next and how; also the what-if's question."""

    service_model = forms.ChoiceField(
        label="Served by", choices=ServiceModel.choices, initial=ServiceModel.INSIDE_SALES
    )
    owner = forms.ModelChoiceField(
        queryset=None,
        required=False,
        label="New owner",
        help_text="A salesperson for field and remote service, an inside-sales person for "
        "inside sales; left empty, partner and self-service accounts keep their owner.",
    )
    partner = forms.ModelChoiceField(
        queryset=Partner.objects.all(), required=False, help_text="For partner service."
    )
    cadence_days = forms.IntegerField(
        label="Contact every (days)",
        required=False,
        min_value=1,
        max_value=MAX_CADENCE_DAYS,
        help_text="Empty: the service model's cadence.",
    )
    meetings = forms.ChoiceField(
        label="Their planned meetings",
        choices=MeetingsChoice.choices,
        initial=MeetingsChoice.CANCEL,
        widget=forms.RadioSelect,
    )
    introduction_at = forms.DateTimeField(
        label="Introduction meeting",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        validators=[validate_plausible_date],
        help_text="With several accounts, each next one 30 minutes later.",
    )

    def __init__(self, *args, customers, owners, **kwargs):
        super().__init__(*args, customers=customers, **kwargs)
        self.fields["owner"].queryset = owners
        self.fields["introduction_at"].initial = next_working_morning()

    def clean(self):
        cleaned = super().clean()
        model = cleaned.get("service_model")
        if model == ServiceModel.PARTNER and not cleaned.get("partner"):
            self.add_error("partner", "Choose the partner that will serve the accounts.")
        if model in NO_CADENCE_SERVICE_MODELS and cleaned.get("cadence_days"):
            self.add_error("cadence_days", "Partner and self-service accounts have no cadence.")
        return cleaned

    def plan(self) -> HandOffPlan:
        data = self.cleaned_data
        return HandOffPlan(
            service_model=data["service_model"],
            owner=data["owner"],
            partner=data["partner"] if data["service_model"] == ServiceModel.PARTNER else None,
            cadence_days=data["cadence_days"],
            meetings=data["meetings"],
            introduction_at=data["introduction_at"],
        )


class LetGoForm(AccountSelectionForm):
    reason = forms.CharField(
        max_length=300,
        validators=[validate_single_line],
        error_messages={"required": "Say why the accounts are let go."},
        help_text="Kept on the account, e.g. “costs more than it earns; declined a price rise”.",
    )


# One definition of each period, named on the page with its months: "the last 12 months" are
# the 12 whole months before this one; this month so far is "month to date", a choice of its own.
PERIODS = [
    ("ttm", "Last 12 whole months"),
    ("this_month", "Month to date"),
    ("last_quarter", "Last quarter"),
    ("custom", "Custom (months)"),
]


def _months_before(month: dt.date, count: int) -> dt.date:
    for _ in range(count):
        month = (month - dt.timedelta(days=1)).replace(day=1)
    return month


def _month(value: str | None) -> dt.date | None:
    try:
        return dt.datetime.strptime(value or "", "%Y-%m").date()
    except ValueError:
        return None


class DashboardFilterForm(forms.Form):
    territory = forms.ModelChoiceField(
        queryset=Territory.objects.none(),
        required=False,
        empty_label="All my territories",
        widget=PlainSelect,
    )
    salesperson = forms.ModelChoiceField(
        queryset=User.objects.none(), required=False, empty_label="Everyone", widget=PlainSelect
    )
    tier = forms.ChoiceField(required=False, choices=[("", "Any tier"), *Tier.choices])
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *CustomerStatus.choices]
    )
    period = forms.ChoiceField(required=False, choices=PERIODS)
    start = forms.CharField(
        required=False, label="From month", widget=forms.TextInput(attrs={"type": "month"})
    )
    end = forms.CharField(
        required=False, label="To month", widget=forms.TextInput(attrs={"type": "month"})
    )

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        choices = customer_edit_choices(user)
        self.fields["territory"].queryset = choices["territories"]
        self.fields["salesperson"].queryset = salespeople_visible_to(user)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("period") == "custom":
            for name in ("start", "end"):
                if cleaned.get(name) and _month(cleaned[name]) is None:
                    self.add_error(name, "Choose a month (YYYY-MM).")
            first, last = _month(cleaned.get("start")), _month(cleaned.get("end"))
            if first and last and first > last:
                self.add_error("end", "The range ends before it starts.")
        return cleaned

    def period_error(self) -> str:
        """Why a custom range was not used (shown by the figures), or ""."""
        self.is_valid()
        errors = [*self.errors.get("start", []), *self.errors.get("end", [])]
        return " ".join(errors)

    def period_bounds(self, today: dt.date) -> tuple[dt.date, dt.date, str]:
        """First days of the first and last month of the chosen period, and its name."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        this_month = today.replace(day=1)
        period = data.get("period") or "ttm"
        if period == "this_month":
            return this_month, this_month, f"{this_month:%b %Y}, month to date"
        if period == "last_quarter":
            quarter_start = this_month.replace(month=3 * ((today.month - 1) // 3) + 1)
            first = _months_before(quarter_start, 3)
            return first, _months_before(quarter_start, 1), "last quarter"
        if period == "custom":
            first, last = _month(data.get("start")), _month(data.get("end"))
            if first and last and first <= last:
                first = max(first, _months_before(this_month, MONTHS_KEPT - 1))
                last = min(last, this_month)
                to_date = " (its last month to date)" if last == this_month else ""
                return first, last, f"{first:%b %Y} to {last:%b %Y}{to_date}"
        first, last = _months_before(this_month, 12), _months_before(this_month, 1)
        return first, last, f"{first:%b %Y} to {last:%b %Y}, 12 whole months"

    def salespeople(self, user: User) -> QuerySet[User]:
        """The salespeople the filters select: the chosen one, or those working the chosen
        territory (with its sub-territories), or everyone the user may see."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        people = salespeople_visible_to(user).order_by("username")
        if data.get("salesperson"):
            return people.filter(pk=data["salesperson"].pk)
        if data.get("territory"):
            territories = territory_ids_with_descendants({data["territory"].pk})
            people = people.filter(territories__in=territories).distinct()
        return people

    def _filtered(self, rows: QuerySet, prefix: str = "") -> QuerySet:
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        if data.get("territory"):
            territories = territory_ids_with_descendants({data["territory"].pk})
            rows = rows.filter(**{f"{prefix}territory_id__in": territories})
        for name in ("salesperson", "tier", "status"):
            if data.get(name):
                field = "owner" if name == "salesperson" else name
                rows = rows.filter(**{f"{prefix}{field}": data[name]})
        return rows

    def scope(self, user: User) -> QuerySet[Customer]:
        """The customers the filters select among those the user may see (a malformed filter
        is ignored rather than failing the page)."""
        return self._filtered(customers_visible_to(user))

    def segments(self, user: User) -> QuerySet[Segment]:
        """The same selection as `scope`, as the segments whose rollups the totals and charts
        read."""
        return self._filtered(segments_visible_to(user))


class ConsistencyTargetForm(forms.Form):
    target = forms.IntegerField(
        min_value=0, max_value=100, required=False, label="Consistency target (%)"
    )
