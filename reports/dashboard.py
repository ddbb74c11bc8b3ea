"""Reads for the managers' territory dashboard: the period's figures, the KPIs, the salespeople's
table and the account lists. Totals come from the per-segment rollups (health.rollup), so they
cost the same whatever the number of customers; only the few rows a list shows are read per
customer, through indexes. The charts are reports.charts; the filters, reports.forms."""

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.db.models import F, QuerySet, Sum
from django.db.models.functions import Coalesce

from crm.models import Customer
from health.models import (
    AccountFlag,
    FlagKind,
    Segment,
    SegmentFigures,
    SegmentMonth,
    SegmentWeek,
)
from health.selectors import flag_explanation

LIST_SORTS = {
    "overdue": {"days": "-metrics__days_overdue", "profit": "metrics__profit", "name": "name"},
    "unprofitable": {"profit": "metrics__profit", "days": "-metrics__days_overdue", "name": "name"},
    "late_payer": {
        # Late only on average (nothing unpaid): after those with an unpaid invoice.
        "days": F("metrics__oldest_unpaid_days_late").desc(nulls_last=True),
        "profit": "metrics__profit",
        "name": "name",
    },
}
LIST_TITLES = {
    # Health's "neglected", as of its last refresh: the account list's "overdue" is live.
    "overdue": "Neglected accounts (overdue at the last health refresh)",
    "unprofitable": "Unprofitable accounts",
    "late_payer": "Late payers",
}
# The rollup total that counts each list's rows.
LIST_COUNTS = {"overdue": "overdue", "unprofitable": "unprofitable", "late_payer": "late_payers"}
LIST_FLAG = {
    "overdue": FlagKind.NEGLECTED,
    "unprofitable": FlagKind.UNPROFITABLE,
    "late_payer": FlagKind.LATE_PAYER,
}
REP_SORTS = (
    "name",
    "accounts",
    "coverage",
    "visits_per_week",
    "avg_days_overdue",
    "unprofitable_hours_share",
    "follow_ups_overdue",
    "consistency",
    "follow_ups_kept_share",
    "discount",
    "profit",
)


def _money_totals(rows: QuerySet) -> dict:
    totals = rows.aggregate(
        revenue=Sum("revenue"),
        gross_margin=Sum("gross_margin"),
        discount=Sum("discount"),
        cost_to_serve=Sum("cost_to_serve"),
    )
    zero = Decimal("0")
    totals = {key: value or zero for key, value in totals.items()}
    totals["profit"] = totals["gross_margin"] - totals["cost_to_serve"]
    return totals


def period_figures(segments: QuerySet[Segment], *, first: dt.date, last: dt.date) -> dict:
    """Revenue, margin, cost to serve and profit of the selected segments over whole months,
    from the monthly rollup (one query)."""
    return _money_totals(
        SegmentMonth.objects.filter(segment__in=segments, month__gte=first, month__lte=last)
    )


FIGURE_SUMS = (
    "accounts",
    "active",
    "covered",
    "overdue",
    "overdue_days",
    "unprofitable",
    "late_payers",
    "follow_ups_overdue",
    "visits_done",
    "visit_minutes",
    "unprofitable_minutes",
    "revenue",
    "gross_margin",
    "discount",
    "cost_to_serve",
    "profit",
    "open_neglected",
    "open_unprofitable",
    "open_late_payer",
    "open_unanswered_complaint",
    "open_cooling",
    "intervals",
    "intervals_on_cadence",
    "follow_ups_promised",
    "follow_ups_kept",
)


def share(part: int, whole: int) -> int | None:
    """A percentage, None when there is nothing to judge."""
    return round(100 * part / whole) if whole else None


def _figure_sums() -> dict:
    return {
        name: Coalesce(Sum(name), 0, output_field=SegmentFigures._meta.get_field(name))
        for name in FIGURE_SUMS
    }


def dashboard_kpis(segments: QuerySet[Segment], *, today: dt.date) -> dict:
    """Tiles for the selected segments: one sum of their rollups, one of this week's meetings
    (weeks run Monday to Sunday in the company's time zone, as the rollup stores them)."""
    totals = SegmentFigures.objects.filter(segment__in=segments).aggregate(**_figure_sums())
    totals["coverage"] = (
        round(100 * totals["covered"] / totals["active"]) if totals["active"] else None
    )
    totals["flags"] = [(FlagKind(kind).label, totals[f"open_{kind}"]) for kind in FlagKind.values]
    week = SegmentWeek.objects.filter(
        segment__in=segments, week=today - dt.timedelta(days=today.weekday())
    ).aggregate(done=Sum("done"), planned=Sum("planned"))
    totals["week_done"], totals["week_planned"] = week["done"] or 0, week["planned"] or 0
    return totals


def rep_table(segments: QuerySet[Segment], *, sort: str = "name") -> list[dict]:
    """One row per salesperson owning selected accounts, from the segment rollups."""
    rows = list(
        SegmentFigures.objects.filter(segment__in=segments, segment__owner__isnull=False)
        .values(
            owner_id=F("segment__owner_id"),
            owner__username=F("segment__owner__username"),
            owner__first_name=F("segment__owner__first_name"),
            owner__last_name=F("segment__owner__last_name"),
            owner__consistency_target=F("segment__owner__consistency_target"),
        )
        .annotate(**_figure_sums())
        .order_by("owner__username")
    )
    for row in rows:
        row["name"] = (
            f"{row['owner__first_name']} {row['owner__last_name']}".strip()
            or row["owner__username"]
        )
        row["coverage"] = round(100 * row["covered"] / row["active"]) if row["active"] else None
        row["visits_per_week"] = round(row["visits_done"] / 52, 1)
        row["avg_days_overdue"] = (
            round(row["overdue_days"] / row["overdue"]) if row["overdue"] else 0
        )
        # "Loyalty is earned by consistency": gaps within cadence, follow-ups kept on time.
        row["consistency"] = share(row["intervals_on_cadence"], row["intervals"])
        row["consistency_target"] = (
            row["owner__consistency_target"] or settings.CADENCE_CONSISTENCY_TARGET
        )
        row["below_target"] = (
            row["consistency"] is not None and row["consistency"] < row["consistency_target"]
        )
        row["follow_ups_kept_share"] = share(row["follow_ups_kept"], row["follow_ups_promised"])
        row["unprofitable_hours_share"] = (
            round(100 * row["unprofitable_minutes"] / row["visit_minutes"])
            if row["visit_minutes"]
            else 0
        )
    if sort.lstrip("-") in REP_SORTS:
        key = sort.lstrip("-")
        rows.sort(
            key=lambda r: (r[key] is None, r[key] or 0) if key != "name" else r["name"],
            reverse=sort.startswith("-"),
        )
    return rows


def account_list(customers: QuerySet[Customer], kind: str, *, sort: str = "") -> QuerySet:
    """Overdue, unprofitable or late-paying customers among the selected, with their metrics;
    `explained()` adds each row's flag explanation."""
    if kind == "overdue":
        # Neglected = active and past its cadence, as of the last refresh (the rollup's count).
        customers = customers.filter(metrics__is_neglected=True)
    elif kind == "unprofitable":
        customers = customers.filter(metrics__is_unprofitable=True)
    else:
        customers = customers.filter(metrics__is_late_payer=True)
    order = LIST_SORTS[kind].get(sort.lstrip("-"), next(iter(LIST_SORTS[kind].values())))
    return customers.select_related("metrics").order_by(order, "id")


def explained(customers: list[Customer], kind: str) -> list[Customer]:
    """Attach the open flag's one-line explanation of `kind` to each customer (one query)."""
    flags = AccountFlag.objects.filter(
        customer__in=[c.pk for c in customers], kind=LIST_FLAG[kind], resolved_at__isnull=True
    )
    by_customer = {flag.customer_id: flag for flag in flags}
    for customer in customers:
        flag = by_customer.get(customer.pk)
        customer.explanation = flag_explanation(flag) if flag else ""
    return customers
