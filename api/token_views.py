"""The user's API tokens: create (the token is shown once), list, revoke."""

import datetime as dt

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from api.models import AccessToken
from api.services import access_token_create, access_token_revoke
from core.bounds import validate_single_line
from core.forms import add_service_error
from core.http import AlreadySubmitted, HtmxHttpRequest, acting_once


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, validators=[validate_single_line], label="What for")
    read_only = forms.BooleanField(required=False, label="Read only")
    integration = forms.BooleanField(
        required=False,
        label="For an integration: only pushes invoices and support cases (the ERP, the helpdesk)",
    )
    expires_on = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        label="Expires on (empty: never)",
    )

    def clean_expires_on(self):
        day = self.cleaned_data.get("expires_on")
        if day is not None and day <= timezone.localdate():
            raise forms.ValidationError("Choose a day after today.")
        if day is not None and day > timezone.localdate() + dt.timedelta(days=3 * 365):
            raise forms.ValidationError("Tokens last at most three years.")
        return day

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        if not user.is_cadence_admin:
            del self.fields["integration"]


@require_http_methods(["GET", "POST"])
def tokens(request: HtmxHttpRequest) -> HttpResponse:
    created_text = None
    form = TokenForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        expires = (
            timezone.make_aware(dt.datetime.combine(data["expires_on"], dt.time.min))
            if data["expires_on"]
            else None
        )
        try:
            with acting_once(request):
                _, created_text = access_token_create(
                    user=request.user,
                    name=data["name"],
                    read_only=data["read_only"],
                    integration=data.get("integration", False),
                    expires_at=expires,
                )
        except AlreadySubmitted:
            messages.info(request, "That token was already created: it is in the list below.")
            return redirect("api_tokens")
        except ValidationError as error:
            add_service_error(form, error)
        else:
            form = TokenForm(user=request.user)
    return render(
        request,
        "api/tokens.html",
        {
            "form": form,
            "created_text": created_text,
            "tokens": AccessToken.objects.filter(user=request.user),
        },
    )


@require_POST
def token_revoke(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(AccessToken, pk=pk, user=request.user)
    access_token_revoke(token=token)
    messages.success(request, f"Token “{token.name}” revoked: it no longer works.")
    return redirect("api_tokens")
