from django import forms
from django.core.exceptions import ValidationError
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe


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


class PlainSelect(forms.Select):
    """A <select> whose options are joined in Python instead of rendered one template each:
    a manager's salesperson filter has hundreds (500 took 100 ms through the widget templates,
    on every managers' page)."""

    def use_required_attribute(self, initial) -> bool:
        """Select's own check reads the first choice (one more query for a model's choices);
        these menus are filters, never required."""
        return False

    def render(self, name, value, attrs=None, renderer=None):
        chosen = set(self.format_value(value))
        options = format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            (
                (option_value, mark_safe(" selected") if str(option_value) in chosen else "", label)
                for option_value, label in self._flat_choices()
            ),
        )
        attrs = self.build_attrs(self.attrs, attrs)
        return format_html('<select name="{}"{}>{}</select>', name, flatatt(attrs), options)

    def _flat_choices(self):
        """(value, label) pairs; flat choices only (no option groups)."""
        for option_value, label in self.choices:
            yield ("" if option_value is None else str(option_value), label)
