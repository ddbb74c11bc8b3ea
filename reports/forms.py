import datetime as dt

from django import forms
from django.utils import timezone

from core.bounds import validate_plausible_date, validate_single_line
from core.params import MAX_ID
from crm.models import NO_CADENCE_SERVICE_MODELS, Partner, ServiceModel, Tier
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
    cadence_days = forms.IntegerField(required=False, min_value=1, max_value=3650)
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
        max_value=3650,
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
