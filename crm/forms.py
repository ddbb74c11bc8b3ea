from django import forms
from django.core.exceptions import ValidationError

from crm.bounds import validate_plausible_date, validate_single_line
from crm.models import Contact, Customer, CustomerStatus, Tier
from crm.params import MAX_ID
from crm.selectors import CUSTOMER_SORTS
from crm.services import customer_version


class CustomerFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, label="Search")
    tier = forms.ChoiceField(required=False, choices=[("", "Any tier"), *Tier.choices])
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *CustomerStatus.choices]
    )
    overdue = forms.BooleanField(required=False, label="Overdue only")
    sort = forms.ChoiceField(
        required=False,
        choices=[("name", "Name"), ("last_visit", "Last visit"), ("next_due", "Next due")],
    )
    page = forms.IntegerField(required=False, min_value=1)

    def filters(self) -> dict:
        """The valid filters; a malformed one is dropped rather than failing the page."""
        self.is_valid()
        cleaned = getattr(self, "cleaned_data", {})
        return {
            "query": cleaned.get("q") or "",
            "tier": cleaned.get("tier") or "",
            "status": cleaned.get("status") or "",
            "overdue": bool(cleaned.get("overdue")),
            "sort": cleaned.get("sort") if cleaned.get("sort") in CUSTOMER_SORTS else "name",
        }


class CustomerForm(forms.ModelForm):
    """Edits the fields the user's role may change (crm.services.editable_customer_fields)."""

    class Meta:
        model = Customer
        fields = [
            "name",
            "tier",
            "status",
            "owner",
            "territory",
            "cadence_days",
            "since",
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
        ]
        widgets = {
            "since": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "notes": forms.Textarea(attrs={"rows": 4}),
        }

    # The account as the user saw it when the form opened: a save from an older view is told
    # so rather than written over someone else's newer save.
    version = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, editable: frozenset[str], owners, territories, **kwargs):
        super().__init__(*args, **kwargs)
        for name in list(self.fields):
            if name not in editable and name != "version":
                del self.fields[name]
        if "owner" in self.fields:
            self.fields["owner"].queryset = owners
        if "territory" in self.fields:
            self.fields["territory"].queryset = territories
        if not self.is_bound:
            self.initial["version"] = customer_version(self.instance)

    def changes(self) -> dict:
        """Only what the user changed: the fields they left alone are not written back."""
        return {name: self.cleaned_data[name] for name in self.changed_data if name != "version"}

    def seen_version(self) -> str | None:
        return self.cleaned_data.get("version") or None

    def reopened(self, current: Customer) -> "CustomerForm":
        """The same input against the account as it is now (after a stale save was refused),
        so saving again is a deliberate choice."""
        data = self.data.copy()
        data["version"] = customer_version(current)
        return type(self)(
            data,
            instance=current,
            editable=frozenset(self.fields),
            owners=self.fields["owner"].queryset if "owner" in self.fields else None,
            territories=(self.fields["territory"].queryset if "territory" in self.fields else None),
        )


class ContactForm(forms.ModelForm):
    class Meta:
        model = Contact
        fields = ["name", "title", "email", "phone", "is_primary", "notes"]
        widgets = {"notes": forms.Textarea(attrs={"rows": 2})}


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

    action = forms.ChoiceField(
        choices=[(a, a) for a in ("reassign", "tier", "cadence", "remote", "acknowledge")]
    )
    owner = forms.ModelChoiceField(queryset=None, required=False)
    tier = forms.ChoiceField(choices=Tier.choices, required=False)
    cadence_days = forms.IntegerField(required=False, min_value=1, max_value=3650)
    remote_visits = forms.BooleanField(required=False)
    flag = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    reason = forms.CharField(required=False, max_length=300, validators=[validate_single_line])
    until = forms.DateField(required=False, validators=[validate_plausible_date])

    REQUIRED = {
        "reassign": ["owner"],
        "tier": ["tier"],
        "cadence": ["cadence_days"],
        "remote": [],
        "acknowledge": ["flag", "reason", "until"],
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


def add_service_error(
    form: forms.BaseForm, error: ValidationError, aliases: dict[str, str] | None = None
) -> None:
    """Show a service's refusal on the form: next to the field it names (or that field's name
    on this form, from `aliases`), else at the top. A service may name model fields the form
    calls otherwise (scheduled_start is the form's start); that must never crash the page."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        name = (aliases or {}).get(field, field)
        form.add_error(name if name in form.fields else None, errors)
