"""Managers' pages: the territory dashboard and its account lists (with CSV export),
profitability charts and the team's week."""

import csv
import datetime as dt

from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from accounts.models import Role
from accounts.permissions import role_required
from crm.dashboard import (
    LIST_TITLES,
    DashboardFilterForm,
    account_list,
    dashboard_kpis,
    explained,
    quadrant,
    rep_table,
    whale_curve,
)
from crm.http import HtmxHttpRequest
from visits.selectors import team_week

LIST_PAGE_SIZE = 20
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _query_without(request: HtmxHttpRequest, *keys: str) -> str:
    query = request.GET.copy()
    for key in keys:
        query.pop(key, None)
    return query.urlencode()


@require_GET
@role_required(Role.MANAGER, Role.ADMIN)
@vary_on_headers("HX-Request")
def dashboard(request: HtmxHttpRequest) -> HttpResponse:
    form = DashboardFilterForm(request.GET, user=request.user)
    customers = form.scope(request.user)
    today = timezone.localdate()
    lists = []
    for kind, title in LIST_TITLES.items():
        rows = account_list(customers, kind)
        lists.append(
            {
                "kind": kind,
                "title": title,
                "count": rows.count(),
                "rows": explained(list(rows[:5]), kind),
            }
        )
    context = {
        "form": form,
        "kpis": dashboard_kpis(customers, today=today),
        "reps": rep_table(customers, sort=request.GET.get("sort", "name")),
        "sort": request.GET.get("sort", "name"),
        "lists": lists,
        "filters": _query_without(request, "sort"),
        "filters_only": _query_without(request, "sort", "page"),
    }
    template = "crm/dashboard.html#board" if request.htmx else "crm/dashboard.html"
    return render(request, template, context)


@require_GET
@role_required(Role.MANAGER, Role.ADMIN)
@vary_on_headers("HX-Request")
def account_list_view(request: HtmxHttpRequest, kind: str) -> HttpResponse:
    if kind not in LIST_TITLES:
        raise Http404("No such list.")
    form = DashboardFilterForm(request.GET, user=request.user)
    sort = request.GET.get("sort", "")
    rows = account_list(form.scope(request.user), kind, sort=sort)
    if request.GET.get("format") == "csv":
        return _csv(kind, rows)
    page = Paginator(rows, LIST_PAGE_SIZE).get_page(request.GET.get("page"))
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
    template = "crm/account_list.html#rows" if request.htmx else "crm/account_list.html"
    return render(request, template, context)


def _cell(value) -> str:
    """A CSV cell; text that a spreadsheet would run as a formula is quoted with '."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return str(value)


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
def profitability(request: HtmxHttpRequest) -> HttpResponse:
    form = DashboardFilterForm(request.GET, user=request.user)
    customers = form.scope(request.user)
    context = {"form": form, "whale": whale_curve(customers), "quadrant": quadrant(customers)}
    template = "crm/profitability.html#charts" if request.htmx else "crm/profitability.html"
    return render(request, template, context)


TEAM_PER_CELL = 6
# A salesperson with fewer meetings than this in a week is shown as a gap.
TEAM_GAP_BELOW = 5


@require_GET
@role_required(Role.MANAGER, Role.ADMIN)
@vary_on_headers("HX-Request")
def team_schedule(request: HtmxHttpRequest) -> HttpResponse:
    form = DashboardFilterForm(request.GET, user=request.user)
    form.is_valid()
    chosen = parse_date(request.GET.get("date") or "") or timezone.localdate()
    monday = chosen - dt.timedelta(days=chosen.weekday())
    days = [monday + dt.timedelta(days=offset) for offset in range(7)]
    start = timezone.make_aware(dt.datetime.combine(monday, dt.time.min))
    people = list(form.salespeople(request.user))
    visits, counts = team_week(
        request.user,
        salespeople=people,
        start=start,
        end=start + dt.timedelta(days=7),
        per_cell=TEAM_PER_CELL,
    )
    rows = []
    for person in people:
        cells = []
        for day in days:
            shown = [
                v
                for v in visits
                if v.salesperson_id == person.pk and timezone.localdate(v.moment) == day
            ]
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
        "filters": _query_without(request, "date"),
    }
    template = "crm/team_schedule.html#week" if request.htmx else "crm/team_schedule.html"
    return render(request, template, context)
