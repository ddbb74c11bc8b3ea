import math

from django import forms

from crm.models import Contact, Customer, CustomerStatus, SupportCase, Tier
from crm.selectors import CUSTOMER_SORTS, MapView
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


MAP_MAX_VIEW_PIXELS = 8192


class MapViewForm(forms.Form):
    """The part of the map on screen, as Leaflet's toBBoxString gives it ("west,south,east,north")
    and its zoom; neither given means the whole of the accounts."""

    bbox = forms.CharField(required=False, max_length=120)
    zoom = forms.IntegerField(required=False, min_value=0, max_value=22)

    def clean(self):
        cleaned = super().clean()
        raw = cleaned.get("bbox")
        if not raw:
            return cleaned
        try:
            west, south, east, north = (float(part) for part in raw.split(","))
        except ValueError:
            raise forms.ValidationError("Give bbox as west,south,east,north in degrees.") from None
        if not all(math.isfinite(value) for value in (west, south, east, north)):
            raise forms.ValidationError("Give bbox as west,south,east,north in degrees.")
        if south > north:
            raise forms.ValidationError("The bbox's south is above its north.")
        if cleaned.get("zoom") is None:
            raise forms.ValidationError("Give the map's zoom with its bbox.")
        # A view no screen shows (the world at street level) would be grouped into as many
        # cells as accounts: refused, so the grid stays bounded by the screen.
        pixels_per_degree = 256 * 2 ** cleaned["zoom"] / 360
        if max(east - west, north - south) * pixels_per_degree > MAP_MAX_VIEW_PIXELS:
            raise forms.ValidationError("The view is larger than a screen at this zoom.")
        # A map panned round the world gives longitudes past 180: the view crosses the
        # antimeridian, so it is given the whole width rather than split in two.
        if west < -180 or east > 180 or west > east:
            west, east = -180.0, 180.0
        cleaned["view"] = MapView(
            south=max(south, -90.0),
            west=max(west, -180.0),
            north=min(north, 90.0),
            east=min(east, 180.0),
            zoom=cleaned["zoom"],
        )
        return cleaned

    def view(self) -> MapView | None:
        return self.cleaned_data.get("view")


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


class SupportCaseForm(forms.ModelForm):
    """A case or complaint logged from the field."""

    class Meta:
        model = SupportCase
        fields = ["kind", "note", "minutes", "opened_on"]
        widgets = {
            "note": forms.Textarea(attrs={"rows": 3}),
            "opened_on": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        }
        labels = {"minutes": "Minutes spent so far", "opened_on": "Raised on"}
