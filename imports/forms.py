from django import forms
from django.conf import settings

from accounts.models import Role, Territory, User
from imports.kinds import KINDS
from imports.models import DateOrder, ImportJob, ImportKind, MappingPreset


class UploadForm(forms.Form):
    kind = forms.ChoiceField(label="The file holds", choices=ImportKind.choices)
    file = forms.FileField(
        help_text=(
            f"CSV (comma, semicolon or tab; UTF-8 or Windows/Latin-1) or Excel .xlsx, up to "
            f"{settings.IMPORT_MAX_BYTES // (1024 * 1024)} MB."
        )
    )
    sheet = forms.CharField(
        required=False, label="Sheet (Excel)", help_text="Leave empty for the first sheet."
    )


class MappingForm(forms.Form):
    """One select per column of the file, plus the import's options."""

    date_order = forms.ChoiceField(label="Dates in the file are", choices=DateOrder.choices)
    default_owner = forms.ModelChoiceField(
        queryset=User.objects.none(),
        required=False,
        label="Default owner / salesperson",
        help_text="Used when a row's owner is empty (new records) or unknown.",
    )
    default_territory = forms.ModelChoiceField(
        queryset=Territory.objects.none(),
        required=False,
        label="Default territory",
        help_text="Used when a row's territory is empty (new customers) or unknown.",
    )

    def __init__(self, *args, job: ImportJob, **kwargs):
        super().__init__(*args, **kwargs)
        self.job = job
        self.fields["default_owner"].queryset = User.objects.filter(
            is_active=True, role__in=[Role.SALESPERSON, Role.MANAGER]
        ).order_by("username")
        self.fields["default_territory"].queryset = Territory.objects.order_by("name")
        choices = [("", "— skip this column —")] + [
            (f.name, f.label) for f in KINDS[job.kind].fields
        ]
        self.columns = []
        for index, header in enumerate(job.headers):
            name = f"column_{index}"
            self.fields[name] = forms.ChoiceField(
                label=header or f"(column {index + 1})", choices=choices, required=False
            )
            self.initial.setdefault(name, job.mapping.get(header, ""))
            self.columns.append(name)
        self.initial.setdefault("date_order", job.date_order)
        self.initial.setdefault("default_owner", job.default_owner_id)
        self.initial.setdefault("default_territory", job.default_territory_id)

    def column_fields(self):
        return [
            (self[name], [row[i] if i < len(row) else "" for row in self.job.sample])
            for i, name in enumerate(self.columns)
        ]

    def mapping(self) -> dict[str, str]:
        return {
            header: self.cleaned_data[f"column_{index}"]
            for index, header in enumerate(self.job.headers)
            if self.cleaned_data.get(f"column_{index}")
        }


class PresetForm(forms.Form):
    preset_name = forms.CharField(label="Save this mapping as", max_length=100)


class PresetChoiceForm(forms.Form):
    preset = forms.ModelChoiceField(queryset=MappingPreset.objects.none(), label="Use a preset")

    def __init__(self, *args, kind: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["preset"].queryset = MappingPreset.objects.filter(kind=kind).order_by("name")
