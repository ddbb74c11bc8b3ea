from django import forms

from crm.models import CustomerStatus, Tier


class CustomerFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, label="Search")
    tier = forms.ChoiceField(required=False, choices=[("", "Any tier"), *Tier.choices])
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *CustomerStatus.choices]
    )
    page = forms.IntegerField(required=False, min_value=1)

    def filters(self) -> dict:
        """The cleaned filters, or none at all when the query string is malformed."""
        if not self.is_valid():
            return {}
        return {key: self.cleaned_data[key] for key in ("q", "tier", "status")}
