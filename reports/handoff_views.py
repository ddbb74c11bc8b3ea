"""The hand-off page: for accounts chosen on the review worklist or the account page, what a
service model would have cost them (the what-if), then the hand-off or letting go; and the
Outcomes page: what the actions taken changed."""

import csv

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from accounts.models import Role
from accounts.permissions import role_required
from accounts.selectors import salespeople_visible_to
from core.forms import add_service_error
from core.http import HtmxHttpRequest
from core.params import query_id
from core.spreadsheet import spreadsheet_safe
from crm.models import ServiceModel
from crm.selectors import customers_visible_to
from health.whatif import (
    DEFAULT_CALL_MINUTES,
    DEFAULT_KM,
    DEFAULT_ON_SITE_MINUTES,
    DEFAULT_TRAVEL_MINUTES,
    what_if,
    what_if_total,
)
from reports.competitors import RECENT_MONTHS, mentioned_while_margin_fell, mentions_by_month
from reports.forms import HandOffForm, LetGoForm, next_working_morning
from reports.handoff import MAX_SELECTION, MeetingsChoice, accounts_hand_off, accounts_let_go
from reports.outcomes import WINDOW_MONTHS, outcome_chart, outcomes

DEFAULTS = {"service_model": ServiceModel.INSIDE_SALES, "meetings": MeetingsChoice.CANCEL}


def _chosen_ids(data: QueryDict) -> list[int]:
    ids = []
    for item in data.getlist("ids"):
        ids += [pk for pk in (query_id(part) for part in item.split(",")) if pk]
    return ids[: MAX_SELECTION + 1]


def _context(request: HtmxHttpRequest, form: HandOffForm, let_go: LetGoForm) -> dict:
    chosen = list(
        customers_visible_to(request.user)
        .filter(pk__in=_chosen_ids(form.data))
        .select_related("metrics", "partner")
        .order_by("name", "id")
    )
    answers, total = [], None
    if form.is_valid():
        plan = form.plan()
        answers = what_if(
            customer_ids=[customer.pk for customer in form.cleaned_data["ids"]],
            service_model=plan.service_model,
            cadence=plan.cadence_days,
            hourly_cost=plan.owner.hourly_cost if plan.owner else None,
            partner=plan.partner,
        )
        total = what_if_total(answers)
    by_id = {answer.customer_id: answer for answer in answers}
    for customer in chosen:
        customer.what_if = by_id.get(customer.pk)
    return {
        "form": form,
        "let_go": let_go,
        "chosen": chosen,
        "total": total,
        "model_label": dict(ServiceModel.choices).get(form.data.get("service_model"), ""),
        "assumed": {
            "on_site_minutes": DEFAULT_ON_SITE_MINUTES,
            "travel_minutes": DEFAULT_TRAVEL_MINUTES,
            "km": DEFAULT_KM,
            "call_minutes": DEFAULT_CALL_MINUTES,
        },
        "max_selection": MAX_SELECTION,
    }


def _forms(request: HtmxHttpRequest, data: QueryDict) -> tuple[HandOffForm, LetGoForm]:
    customers = customers_visible_to(request.user)
    owners = salespeople_visible_to(request.user)
    question = data.copy()
    # The form is bound from the first view on (it asks the what-if): defaults go in the data.
    defaults = DEFAULTS | {
        "introduction_at": timezone.localtime(next_working_morning()).strftime("%Y-%m-%dT%H:%M")
    }
    for name, value in defaults.items():
        question.setdefault(name, value)
    form = HandOffForm(question, customers=customers, owners=owners)
    let_go = LetGoForm(initial={"ids": _chosen_ids(data)}, customers=customers)
    return form, let_go


@require_http_methods(["GET", "POST"])
@role_required(Role.MANAGER, Role.ADMIN)
@vary_on_headers("HX-Request")
def hand_off(request: HtmxHttpRequest) -> HttpResponse:
    if request.method == "GET":
        # Like every page, an account the user may not see is a 404, not a form saying so.
        wanted = set(_chosen_ids(request.GET))
        visible = customers_visible_to(request.user).filter(pk__in=wanted).count()
        if visible != len(wanted):
            raise Http404("No such account.")
    form, let_go = _forms(request, request.POST if request.method == "POST" else request.GET)
    acting = request.method == "POST" and not request.POST.get("preview")
    if acting and form.is_valid():
        accounts = list(form.cleaned_data["ids"])
        try:
            result = accounts_hand_off(customers=accounts, user=request.user, plan=form.plan())
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(
                request,
                f"Handed {len(result.actions)} account{'s'[: len(result.actions) != 1]} to "
                f"{ServiceModel(form.cleaned_data['service_model']).label.lower()}: "
                f"{len(result.introductions)} introduction meeting(s) planned, "
                f"{result.cancelled} meeting(s) cancelled, {result.reassigned} given on.",
            )
            return _done(request)
    context = _context(request, form, let_go)
    if request.htmx and request.method == "GET":
        return render(request, "reports/hand_off.html#what_if", context)
    return render(request, "reports/hand_off.html", context)


@require_POST
@role_required(Role.MANAGER, Role.ADMIN)
def let_go(request: HtmxHttpRequest) -> HttpResponse:
    form, _ = _forms(request, request.POST)
    let_go_form = LetGoForm(request.POST, customers=customers_visible_to(request.user))
    if let_go_form.is_valid():
        accounts = list(let_go_form.cleaned_data["ids"])
        try:
            accounts_let_go(
                customers=accounts, user=request.user, reason=let_go_form.cleaned_data["reason"]
            )
        except ValidationError as error:
            add_service_error(let_go_form, error)
        else:
            messages.success(request, f"Let go {len(accounts)} account{'s'[: len(accounts) != 1]}.")
            return _done(request)
    return render(request, "reports/hand_off.html", _context(request, form, let_go_form))


def _done(request: HtmxHttpRequest) -> HttpResponse:
    target = reverse("manage:review")
    return HttpResponseClientRedirect(target) if request.htmx else redirect(target)


@require_GET
@role_required(Role.MANAGER, Role.ADMIN)
def outcomes_view(request: HtmxHttpRequest) -> HttpResponse:
    """What the actions taken at least three whole months ago changed, per kind and manager."""
    by_kind, by_manager = outcomes(request.user, today=timezone.localdate())
    if request.GET.get("format") == "csv":
        return _outcomes_csv(by_manager)
    context = {
        "by_kind": by_kind,
        "by_manager": by_manager,
        "chart": outcome_chart(by_kind),
        "months": WINDOW_MONTHS,
    }
    return render(request, "reports/outcomes.html", context)


def _outcomes_csv(groups) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="cadence-outcomes.csv"'
    writer = csv.writer(response)
    sides = [
        (name, side)
        for name in ("revenue", "margin", "cost", "visits")
        for side in ("before", "after")
    ]
    writer.writerow(
        ["manager", "action", "accounts"]
        + [f"{name}_per_month_{side}" for name, side in sides]
        + ["revenue_change_pct", "cost_change_pct", "profit_change_pct", "visits_change_pct"]
    )
    for group in groups:
        writer.writerow(
            [spreadsheet_safe(group.manager), spreadsheet_safe(group.label), group.accounts]
            + [group.per_month(name, side) for name, side in sides]
            + [
                "" if change is None else change
                for change in (
                    group.revenue_change,
                    group.cost_change,
                    group.profit_change,
                    group.visits_change,
                )
            ]
        )
    return response


@require_GET
@role_required(Role.MANAGER, Role.ADMIN)
def competitors_view(request: HtmxHttpRequest) -> HttpResponse:
    """Competitor mentions per month, and the accounts that named one while margin fell."""
    today = timezone.localdate()
    customers = customers_visible_to(request.user)
    context = {
        "mentions": mentions_by_month(customers, today=today),
        "at_risk": mentioned_while_margin_fell(customers, today=today),
        "recent_months": RECENT_MONTHS,
    }
    return render(request, "reports/competitors.html", context)
