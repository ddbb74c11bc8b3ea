"""An account's agreed rhythm and the series booked from it (visits.rhythms)."""

import datetime as dt

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from core.forms import add_service_error
from core.http import HtmxHttpRequest
from crm.selectors import customer_visible_or_404
from visits.forms import RhythmForm, SeriesBookForm
from visits.rhythms import (
    pattern_describe,
    rhythm_may_arrange,
    rhythm_remove,
    rhythm_set,
    series_book,
)
from visits.selectors import customer_rhythm, customer_series


def _page(request: HtmxHttpRequest, customer, form=None, book=None) -> HttpResponse:
    rhythm = customer_rhythm(customer)
    return render(
        request,
        "visits/rhythm.html",
        {
            "customer": customer,
            "rhythm": rhythm,
            "described": pattern_describe(rhythm) if rhythm else "",
            "form": form or RhythmForm(instance=rhythm),
            "book": book or SeriesBookForm(),
            "series": customer_series(customer),
            "may_arrange": rhythm_may_arrange(request.user, customer),
        },
    )


@require_http_methods(["GET", "POST"])
def rhythm(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """See, agree or change the account's rhythm."""
    customer = customer_visible_or_404(request.user, pk, today=timezone.localdate())
    if request.method == "GET":
        return _page(request, customer)
    form = RhythmForm(request.POST)
    if form.is_valid():
        try:
            rhythm_set(user=request.user, customer=customer, rhythm=form.save(commit=False))
        except PermissionDenied as error:
            messages.error(request, str(error))
            return redirect("visits:rhythm", pk=customer.pk)
        except ValidationError as error:
            add_service_error(form, error, {})
        else:
            messages.success(request, "Rhythm agreed: the account's cadence now follows it.")
            return redirect("visits:rhythm", pk=customer.pk)
    return _page(request, customer, form=form)


@require_POST
def rhythm_end(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    customer = customer_visible_or_404(request.user, pk, today=timezone.localdate())
    try:
        if rhythm_remove(user=request.user, customer=customer):
            messages.success(
                request,
                "Rhythm ended: the cadence it replaced applies again. Booked meetings stay.",
            )
    except PermissionDenied as error:
        messages.error(request, str(error))
    return redirect("visits:rhythm", pk=customer.pk)


@require_POST
def book(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Book the rhythm's next N meetings for the account's owner."""
    customer = customer_visible_or_404(request.user, pk, today=timezone.localdate())
    form = SeriesBookForm(request.POST)
    if form.is_valid():
        first = form.cleaned_data["first"]
        try:
            series = series_book(
                user=request.user,
                customer=customer,
                count=form.cleaned_data["count"],
                first=timezone.make_aware(dt.datetime.combine(first, dt.time.min))
                if first
                else None,
            )
        except PermissionDenied as error:
            messages.error(request, str(error))
            return redirect("visits:rhythm", pk=customer.pk)
        except ValidationError as error:
            add_service_error(form, error, {})
        else:
            messages.success(
                request,
                f"{series.count} meetings booked from {series.first_start:%a %d %b %Y}, "
                "each with the agenda of what is open.",
            )
            return redirect("visits:rhythm", pk=customer.pk)
    return _page(request, customer, book=form)
