"""The field rep's own pages beyond the schedule: accounts near where they stand."""

from django import forms
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from core.http import HtmxHttpRequest
from crm.selectors import NEAR_MAX_KM, NEAR_MAX_RESULTS, customers_near, with_overdue

NEAR_SHOWN = min(20, NEAR_MAX_RESULTS)


class NearForm(forms.Form):
    """Where the rep stands (from the browser, asked once, never stored) and how far to look."""

    lat = forms.FloatField(min_value=-90, max_value=90, label="Latitude")
    lng = forms.FloatField(min_value=-180, max_value=180, label="Longitude")
    km = forms.IntegerField(
        min_value=1, max_value=NEAR_MAX_KM, initial=10, required=False, label="Within (km)"
    )


@require_GET
def near(request: HtmxHttpRequest) -> HttpResponse:
    """The user's accounts nearest to a point, with overdue and profit badges and one tap to
    plan, log or get directions. The position comes in the query string and is not kept."""
    form = NearForm(request.GET or None)
    accounts = []
    if form.is_valid():
        data = form.cleaned_data
        accounts = customers_near(
            request.user,
            latitude=data["lat"],
            longitude=data["lng"],
            km=data["km"] or 10,
            limit=NEAR_SHOWN,
            prepare=lambda customers: with_overdue(
                customers.select_related("metrics"), today=timezone.localdate()
            ),
        )
    return render(
        request,
        "visits/near.html",
        {"form": form, "accounts": accounts, "searched": form.is_valid()},
    )
