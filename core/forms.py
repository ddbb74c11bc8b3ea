from django import forms
from django.core.exceptions import ValidationError


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
