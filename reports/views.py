"""Managers' pages: the territory dashboard and its account lists (with CSV export),
profitability charts and the team's week."""

import csv
import datetime as dt
from collections import defaultdict

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Window
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from accounts.models import Role
from accounts.permissions import role_required
from accounts.selectors import salespeople_visible_to
from accounts.services import consistency_target_set
from core.http import HtmxHttpRequest
from core.pagination import CappedPaginator, CountedPaginator
from core.params import query_date
from core.replica import reads_from_replica
from core.spreadsheet import spreadsheet_safe
from crm.models import ServiceModel, Tier
from crm.selectors import customers_visible_to
from crm.services import owner_fits_service
from health.cycles import (
    review_cycle_complete,
    review_cycle_configure,
    review_cycle_for,
    review_list,
)
from health.models import AccountFlag
from health.selectors import consistency_by_month
from reports.charts import monthly_trend, quadrant, whale_curve
from reports.dashboard import (
    LIST_COUNTS,
    LIST_TITLES,
    account_list,
    dashboard_kpis,
    explained,
    period_figures,
    rep_table,
)
from reports.forms import ConsistencyTargetForm, DashboardFilterForm, ReviewActionForm
from reports.review import (
    RECOMMENDATIONS,
    recommendation_counts,
    recommendation_reason,
    review_act,
    with_recommendation,
)
from visits.ask_selectors import (
    ask_figures,
    ask_figures_by_owner,
    asks_asked_between,
    asks_by_month_and_kind,
    asks_by_territory_and_kind,
)
from visits.models import Ask, AskKind
from visits.selectors import GAPS_AHEAD_DAYS, cadence_gaps_ahead, checked_in_shares, team_week

LIST_PAGE_SIZE = 20


def _query_without(request: HtmxHttpRequest, *keys: str) -> str:
    query = request.GET.copy()
    for key in keys:
        query.pop(key, None)
    return query.urlencode()


# Rows of the salespeople table on the dashboard; sorting by a column brings the reps who need
# attention to the first page, the others are a click away.
REP_PAGE_SIZE = 20


@require_GET
@role_required(Role.MANAGER, Role.ADMIN)
@vary_on_headers("HX-Request")
@reads_from_replica
def dashboard(request: HtmxHttpRequest) -> HttpResponse:
    form = DashboardFilterForm(request.GET, user=request.user)
    customers, segments = form.scope(request.user), form.segments(request.user)
    today = timezone.localdate()
    kpis = dashboard_kpis(segments, today=today)
    lists = [
        {
            "kind": kind,
            "title": title,
            "count": kpis[LIST_COUNTS[kind]],
            "rows": explained(list(account_list(customers, kind)[:5]), kind),
        }
        for kind, title in LIST_TITLES.items()
    ]
    first, last, period_name = form.period_bounds(today)
    context = {
        "form": form,
        "kpis": kpis,
        "period": period_figures(segments, first=first, last=last),
        "period_name": period_name,
        "period_error": form.period_error(),
        "reps": _with_check_ins(
            Paginator(
                rep_table(segments, sort=request.GET.get("sort", "name")), REP_PAGE_SIZE
            ).get_page(request.GET.get("reps")),
            since=timezone.now() - dt.timedelta(days=365),
        ),
        "sort": request.GET.get("sort", "name"),
        "default_consistency_target": settings.CADENCE_CONSISTENCY_TARGET,
        "lists": lists,
        "filters": _query_without(request, "sort", "reps"),
        "reps_paging": _query_without(request, "reps"),
        "filters_only": _query_without(request, "sort", "page"),
        "cycle": _cycle_summary(request, customers, today=today),
    }
    template = "reports/dashboard.html#board" if request.htmx else "reports/dashboard.html"
    return render(request, template, context)


@require_GET
@role_required(Role.MANAGER, Role.ADMIN)
@vary_on_headers("HX-Request")
@reads_from_replica
def account_list_view(request: HtmxHttpRequest, kind: str) -> HttpResponse:
    if kind not in LIST_TITLES:
        raise Http404("No such list.")
    form = DashboardFilterForm(request.GET, user=request.user)
    sort = request.GET.get("sort", "")
    rows = account_list(form.scope(request.user), kind, sort=sort)
    if request.GET.get("format") == "csv":
        return _csv(kind, rows)
    page = CappedPaginator(rows, LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = explained(list(page.object_list), kind)
    context = {
        "form": form,
        "kind": kind,
        "title": LIST_TITLES[kind],
        "page": page,
        "sort": sort,
        "filters": _query_without(request, "sort", "page", "format"),
        "paging": _query_without(request, "page", "format"),
    }
    template = "reports/account_list.html#rows" if request.htmx else "reports/account_list.html"
    return render(request, template, context)


def _cell(value) -> str:
    """A CSV cell; text that a spreadsheet would run as a formula is quoted with '."""
    if value is None:
        return ""
    return spreadsheet_safe(value) if isinstance(value, str) else str(value)


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv(kind: str, rows) -> StreamingHttpResponse:
    header = [
        "code",
        "name",
        "tier",
        "status",
        "owner",
        "territory",
        "days_overdue",
        "revenue",
        "gross_margin",
        "cost_to_serve",
        "profit",
        "reason",
    ]

    def lines():
        writer = csv.writer(_Echo())
        yield writer.writerow(header)
        for chunk_start in range(0, rows.count(), 2000):
            chunk = explained(list(rows[chunk_start : chunk_start + 2000]), kind)
            for customer in chunk:
                metrics = customer.metrics
                yield writer.writerow(
                    [
                        _cell(v)
                        for v in (
                            customer.code,
                            customer.name,
                            customer.tier,
                            customer.status,
                            customer.owner.username if customer.owner else "",
                            customer.territory.name,
                            metrics.days_overdue,
                            metrics.revenue,
                            metrics.gross_margin,
                            metrics.cost_to_serve,
                            metrics.profit,
                            customer.explanation,
                        )
                    ]
                )

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    stamp = timezone.localdate().isoformat()
    response["Content-Disposition"] = f'attachment; filename="cadence-{kind}-{stamp}.csv"'
    return response


@require_GET
@role_required(Role.MANAGER, Role.ADMIN)
@vary_on_headers("HX-Request")
@reads_from_replica
def profitability(request: HtmxHttpRequest) -> HttpResponse:
    form = DashboardFilterForm(request.GET, user=request.user)
    segments = form.segments(request.user)
    first, last, period_name = form.period_bounds(timezone.localdate())
    context = {
        "form": form,
        "whale": whale_curve(segments),
        "quadrant": quadrant(segments, form.scope(request.user)),
        "trend": monthly_trend(segments, first=first, last=last),
        "period_name": period_name,
        "period_error": form.period_error(),
    }
    template = "reports/profitability.html#charts" if request.htmx else "reports/profitability.html"
    return render(request, template, context)


@require_POST
@role_required(Role.MANAGER, Role.ADMIN)
def consistency_target(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """A manager sets the consistency a salesperson of theirs aims for (empty: the default)."""
    person = get_object_or_404(salespeople_visible_to(request.user), pk=pk)
    form = ConsistencyTargetForm(request.POST)
    if form.is_valid():
        consistency_target_set(
            manager=request.user, person=person, target=form.cleaned_data["target"]
        )
        messages.success(request, f"Consistency target for {person} saved.")
    else:
        messages.error(request, " ".join(form.errors.get("target", ["Give a percentage."])))
    return redirect("manage:dashboard")


REP_GAPS_SHOWN = 15


@require_GET
@role_required(Role.MANAGER, Role.ADMIN)
def rep(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """One salesperson as their manager manages them: consistency month by month over a year
    against their target, how they answer what customers ask, and the gaps that will open in
    the next 30 days given what they have planned."""
    person = get_object_or_404(salespeople_visible_to(request.user), pk=pk)
    today = timezone.localdate()
    accounts = customers_visible_to(request.user).filter(owner=person)
    trend = consistency_by_month(list(accounts.values_list("pk", flat=True)), today=today)
    intervals = sum(month["intervals"] for month in trend)
    kept = sum(month["on_cadence"] for month in trend)
    target = person.consistency_target or settings.CADENCE_CONSISTENCY_TARGET
    for month in trend:
        month["below_target"] = month["share"] is not None and month["share"] < target
    gaps = list(
        cadence_gaps_ahead(request.user, today=today, owner=person).annotate(
            total=Window(Count("id"))
        )[:REP_GAPS_SHOWN]
    )
    year_ago = today.replace(day=1) - dt.timedelta(days=365)
    return render(
        request,
        "reports/rep.html",
        {
            "person": person,
            "trend": trend,
            "intervals": intervals,
            "kept": kept,
            "share": round(100 * kept / intervals) if intervals else None,
            "target": target,
            "default_consistency_target": settings.CADENCE_CONSISTENCY_TARGET,
            "asks": ask_figures(
                Ask.objects.filter(
                    owner=person, customer__in=accounts.values("pk"), asked_on__gte=year_ago
                )
            ),
            "gaps": gaps,
            "gaps_total": gaps[0].total if gaps else 0,
            "gap_days": GAPS_AHEAD_DAYS,
        },
    )


@require_GET
@role_required(Role.MANAGER, Role.ADMIN)
@vary_on_headers("HX-Request")
def listening(request: HtmxHttpRequest) -> HttpResponse:
    """What customers asked for and how the team answered, per salesperson and per month, over
    the chosen period (asks asked in it) for the filters' accounts."""
    form = DashboardFilterForm(request.GET, user=request.user)
    first, last, period_name = form.period_bounds(timezone.localdate())
    asks = asks_asked_between(form.scope(request.user), first=first, last=last)
    context = {
        "form": form,
        "period_name": period_name,
        "period_error": form.period_error(),
        "totals": ask_figures(asks),
        "by_owner": ask_figures_by_owner(asks),
        "by_month": asks_by_month_and_kind(asks),
        "by_territory": asks_by_territory_and_kind(asks),
        "ask_kinds": AskKind.choices,
    }
    template = "reports/listening.html#figures" if request.htmx else "reports/listening.html"
    return render(request, template, context)


TEAM_PER_CELL = 6
# About one sub-territory's team: the page costs what a small company's whole team week does.
TEAM_PAGE_SIZE = 10
# A salesperson with fewer meetings than this in a week is shown as a gap.
TEAM_GAP_BELOW = 5


@require_GET
@role_required(Role.MANAGER, Role.ADMIN)
@vary_on_headers("HX-Request")
@reads_from_replica
def team_schedule(request: HtmxHttpRequest) -> HttpResponse:
    form = DashboardFilterForm(request.GET, user=request.user)
    form.is_valid()
    chosen = query_date(request.GET.get("date")) or timezone.localdate()
    monday = chosen - dt.timedelta(days=chosen.weekday())
    days = [monday + dt.timedelta(days=offset) for offset in range(7)]
    start = timezone.make_aware(dt.datetime.combine(monday, dt.time.min))
    # A page of people at a time: a manager of a large team pages (or filters by territory)
    # through it, and the page costs the same for a team of 10 or 500.
    people_page = Paginator(form.salespeople(request.user), TEAM_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    people = list(people_page.object_list)
    visits, counts = team_week(
        request.user,
        salespeople=people,
        start=start,
        end=start + dt.timedelta(days=7),
        # One salesperson's week is short enough to show whole ("+N more" leads here).
        per_cell=TEAM_PER_CELL if len(people) != 1 else TEAM_ONE_PERSON_PER_CELL,
    )
    # Grouped once: matching every meeting against every cell grew with people x meetings.
    by_cell = defaultdict(list)
    for visit in visits:
        by_cell[(visit.salesperson_id, timezone.localdate(visit.moment))].append(visit)
    rows = []
    for person in people:
        cells = []
        for day in days:
            shown = by_cell[(person.pk, day)]
            total = counts.get((person.pk, day), 0)
            cells.append({"day": day, "visits": shown, "more": total - len(shown)})
        week_total = sum(counts.get((person.pk, day), 0) for day in days)
        rows.append(
            {
                "person": person,
                "cells": cells,
                "total": week_total,
                "gap": week_total < TEAM_GAP_BELOW,
            }
        )
    context = {
        "form": form,
        "days": days,
        "rows": rows,
        "previous": monday - dt.timedelta(days=7),
        "next": monday + dt.timedelta(days=7),
        "filters": _query_without(request, "date", "page"),
        "page": people_page,
        "paging": _query_without(request, "page"),
        # Hundreds of meeting links: one reverse() for all of them (the pk is appended).
        "visit_url_prefix": reverse("visits:detail", args=[0]).removesuffix("0/"),
    }
    template = "reports/team_schedule.html#week" if request.htmx else "reports/team_schedule.html"
    return render(request, template, context)


REVIEW_PAGE_SIZE = 20
# The review row's inputs that show their own errors.
ROW_INPUTS = frozenset({"reason", "until", "cadence_days"})
TEAM_ONE_PERSON_PER_CELL = 60


def _review_rows(customers, owners):
    rows = list(customers)
    # A row's reassign menu lists the owners its account may have (never an inside-sales
    # person for a field account, nor the reverse: that is a hand-off): two menus, built once,
    # the row's own owner marked.
    owners = list(owners)
    menus = {
        service: format_html_join(
            "",
            '<option value="{}">{}</option>',
            ((owner.pk, str(owner)) for owner in owners if owner_fits_service(owner, service)),
        )
        for service in (ServiceModel.FIELD, ServiceModel.INSIDE_SALES)
    }
    flags = AccountFlag.objects.filter(
        customer__in=[c.pk for c in rows], resolved_at__isnull=True, acknowledged_until__isnull=True
    ).order_by("kind")
    by_customer = {}
    for flag in flags:
        by_customer.setdefault(flag.customer_id, []).append(flag)
    for customer in rows:
        customer.reason = recommendation_reason(customer)
        customer.label = RECOMMENDATIONS[customer.recommendation]
        customer.open_flags = by_customer.get(customer.pk, [])
        current = f'<option value="{customer.owner_id}">'
        inside = customer.service_model == ServiceModel.INSIDE_SALES
        options = menus[ServiceModel.INSIDE_SALES if inside else ServiceModel.FIELD]
        customer.owner_options = mark_safe(
            options.replace(current, f'<option value="{customer.owner_id}" selected>', 1)
        )
    return rows


def _with_check_ins(page, *, since: dt.datetime):
    """The page's reps with the share of their on-site visits checked in at the address."""
    shares = checked_in_shares([row["owner_id"] for row in page.object_list], since=since)
    for row in page.object_list:
        row["checked_in_share"] = shares.get(row["owner_id"])
    return page


def _cycle_summary(request: HtmxHttpRequest, customers, *, today: dt.date) -> dict:
    cycle = review_cycle_for(request.user, today=today)
    return {
        "cycle": cycle,
        "days_left": (cycle.due_on - today).days,
        "days_overdue": (today - cycle.due_on).days,
        "accounts": review_list(customers, cycle, today=today).count(),
    }


@require_GET
@role_required(Role.MANAGER, Role.ADMIN)
@vary_on_headers("HX-Request")
@reads_from_replica
def review(request: HtmxHttpRequest) -> HttpResponse:
    form = DashboardFilterForm(request.GET, user=request.user)
    today = timezone.localdate()
    in_cycle = request.GET.get("cycle") == "due"
    scope = form.scope(request.user)
    cycle = _cycle_summary(request, scope, today=today)
    if in_cycle:
        scope = review_list(scope, cycle["cycle"], today=today)
    customers = with_recommendation(scope).select_related("metrics")
    chosen = request.GET.get("recommendation", "")
    # Counted from the segments' rollups, which every refresh rewrites with the metrics.
    counts = recommendation_counts(form.segments(request.user))
    total = sum(counts.values())
    if chosen in RECOMMENDATIONS:
        customers = customers.filter(metrics__recommendation=chosen)
        total = counts[chosen]
    if in_cycle:
        # The review list is not in the rollups. Its accounts all have figures (flags and
        # recommendations come from them), so the cycle's own count is the list's.
        total = customers.count() if chosen in RECOMMENDATIONS else cycle["accounts"]
    page = CountedPaginator(
        customers.order_by("metrics__profit", "id"), REVIEW_PAGE_SIZE, count=total
    ).get_page(request.GET.get("page"))
    owners = salespeople_visible_to(request.user)
    page.object_list = _review_rows(page.object_list, owners)
    context = {
        "form": form,
        "page": page,
        "chosen": chosen,
        "recommendations": [
            (key, label, counts.get(key, 0)) for key, label in RECOMMENDATIONS.items()
        ],
        "tiers": Tier.choices,
        "filters": _query_without(request, "recommendation", "page", "cycle"),
        "paging": _query_without(request, "page"),
        "cycle": cycle,
        "in_cycle": in_cycle,
        "today": timezone.localdate(),
    }
    template = "reports/review.html#worklist" if request.htmx else "reports/review.html"
    return render(request, template, context)


@require_POST
@role_required(Role.MANAGER, Role.ADMIN)
def review_action(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    customer = get_object_or_404(customers_visible_to(request.user), pk=pk)
    owners = salespeople_visible_to(request.user)
    form = ReviewActionForm(request.POST, owners=owners)
    failed = None
    if form.is_valid():
        try:
            review_act(
                customer=customer,
                user=request.user,
                action=form.cleaned_data["action"],
                data=form.cleaned_data,
            )
        except ValidationError as error:
            failed = error.message_dict if hasattr(error, "error_dict") else {"": error.messages}
        except (PermissionDenied, AccountFlag.DoesNotExist) as error:
            failed = {"": [str(error) or "This action is not possible here."]}
        else:
            messages.success(request, f"{customer.name}: done.")
    else:
        failed = {field: list(errors) for field, errors in form.errors.items()}
    if failed and not request.htmx:
        for field, errors in failed.items():
            messages.error(request, f"{field}: {' '.join(errors)}" if field else " ".join(errors))
    if not request.htmx:
        return redirect(f"{reverse('manage:review')}?{request.POST.get('back', '')}")
    rows = with_recommendation(customers_visible_to(request.user)).select_related("metrics")
    row = rows.filter(pk=pk).first()
    if row is None:
        # No metrics yet (never refreshed): the worklist does not list it; nothing to swap.
        return HttpResponse(status=204)
    context = {
        "customer": _review_rows([row], owners)[0],
        "tiers": Tier.choices,
        "today": timezone.localdate(),
        # The action that failed, its errors by field and what was typed, shown in the row;
        # errors of fields the row has no input for are said above the actions.
        "failed": failed,
        "failed_general": [
            error
            for field, errors in (failed or {}).items()
            if field not in ROW_INPUTS
            for error in errors
        ],
        "sent": request.POST,
    }
    return render(request, "reports/review.html#row", context)


@require_POST
@role_required(Role.MANAGER, Role.ADMIN)
def review_cycle(request: HtmxHttpRequest) -> HttpResponse:
    """Mark this review done (the next cycle starts today), or review every N days."""
    cycle = review_cycle_for(request.user, today=timezone.localdate(), save=True)
    if request.POST.get("done"):
        review_cycle_complete(cycle=cycle, today=timezone.localdate())
        messages.success(request, f"Review done. The next one is due {cycle.due_on:%d %b %Y}.")
    else:
        try:
            every = int(request.POST.get("every_days", ""))
            review_cycle_configure(cycle=cycle, every_days=every)
        except ValueError:
            messages.error(request, "Review every: give a number of days (7 to 366).")
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(
                request, f"Reviews every {every} days; this one is due {cycle.due_on:%d %b %Y}."
            )
    return redirect(f"{reverse('manage:review')}?cycle=due")
