from django import forms

from core.bounds import validate_plausible_date, validate_single_line
from core.params import MAX_ID
from crm.models import Tier
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

    action = forms.ChoiceField(choices=ReviewActionKind.choices)
    owner = forms.ModelChoiceField(queryset=None, required=False)
    tier = forms.ChoiceField(choices=Tier.choices, required=False)
    cadence_days = forms.IntegerField(required=False, min_value=1, max_value=3650)
    remote_visits = forms.BooleanField(required=False)
    flag = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    reason = forms.CharField(required=False, max_length=300, validators=[validate_single_line])
    until = forms.DateField(required=False, validators=[validate_plausible_date])

    REQUIRED = {
        ReviewActionKind.REASSIGN: ["owner"],
        ReviewActionKind.TIER: ["tier"],
        ReviewActionKind.CADENCE: ["cadence_days"],
        ReviewActionKind.REMOTE: [],
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
