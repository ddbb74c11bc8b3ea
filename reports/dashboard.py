"""Reads for the managers' territory dashboard and profitability charts. Totals, trends and
chart shapes come from the per-segment rollups (health.rollup), so they cost the same whatever the
number of customers; only the few rows a page lists (top five of each list, the largest
accounts in the quadrant) are read per customer, through indexes."""

import datetime as dt
from decimal import Decimal

from django import forms
from django.db.models import F, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join

from accounts.models import Territory, User
from accounts.selectors import salespeople_visible_to, territory_ids_with_descendants
from core.forms import PlainSelect
from crm.models import Customer, CustomerStatus, Tier
from crm.selectors import customer_edit_choices, customers_visible_to
from health.figures.months import MONTHS_KEPT
from health.models import (
    AccountFlag,
    BandMeasure,
    FlagKind,
    Segment,
    SegmentBand,
    SegmentFigures,
    SegmentMonth,
    SegmentWeek,
)
from health.selectors import flag_explanation, segments_visible_to

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


# One definition of each period, named on the page with its months: "the last 12 months" are
# the 12 whole months before this one; this month so far is "month to date", a choice of its own.
PERIODS = [
    ("ttm", "Last 12 whole months"),
    ("this_month", "Month to date"),
    ("last_quarter", "Last quarter"),
    ("custom", "Custom (months)"),
]


def _months_before(month: dt.date, count: int) -> dt.date:
    for _ in range(count):
        month = (month - dt.timedelta(days=1)).replace(day=1)
    return month


def _month(value: str | None) -> dt.date | None:
    try:
        return dt.datetime.strptime(value or "", "%Y-%m").date()
    except ValueError:
        return None


class DashboardFilterForm(forms.Form):
    territory = forms.ModelChoiceField(
        queryset=Territory.objects.none(),
        required=False,
        empty_label="All my territories",
        widget=PlainSelect,
    )
    salesperson = forms.ModelChoiceField(
        queryset=User.objects.none(), required=False, empty_label="Everyone", widget=PlainSelect
    )
    tier = forms.ChoiceField(required=False, choices=[("", "Any tier"), *Tier.choices])
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *CustomerStatus.choices]
    )
    period = forms.ChoiceField(required=False, choices=PERIODS)
    start = forms.CharField(
        required=False, label="From month", widget=forms.TextInput(attrs={"type": "month"})
    )
    end = forms.CharField(
        required=False, label="To month", widget=forms.TextInput(attrs={"type": "month"})
    )

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        choices = customer_edit_choices(user)
        self.fields["territory"].queryset = choices["territories"]
        self.fields["salesperson"].queryset = salespeople_visible_to(user)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("period") == "custom":
            for name in ("start", "end"):
                if cleaned.get(name) and _month(cleaned[name]) is None:
                    self.add_error(name, "Choose a month (YYYY-MM).")
            first, last = _month(cleaned.get("start")), _month(cleaned.get("end"))
            if first and last and first > last:
                self.add_error("end", "The range ends before it starts.")
        return cleaned

    def period_error(self) -> str:
        """Why a custom range was not used (shown by the figures), or ""."""
        self.is_valid()
        errors = [*self.errors.get("start", []), *self.errors.get("end", [])]
        return " ".join(errors)

    def period_bounds(self, today: dt.date) -> tuple[dt.date, dt.date, str]:
        """First days of the first and last month of the chosen period, and its name."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        this_month = today.replace(day=1)
        period = data.get("period") or "ttm"
        if period == "this_month":
            return this_month, this_month, f"{this_month:%b %Y}, month to date"
        if period == "last_quarter":
            quarter_start = this_month.replace(month=3 * ((today.month - 1) // 3) + 1)
            first = _months_before(quarter_start, 3)
            return first, _months_before(quarter_start, 1), "last quarter"
        if period == "custom":
            first, last = _month(data.get("start")), _month(data.get("end"))
            if first and last and first <= last:
                first = max(first, _months_before(this_month, MONTHS_KEPT - 1))
                last = min(last, this_month)
                to_date = " (its last month to date)" if last == this_month else ""
                return first, last, f"{first:%b %Y} to {last:%b %Y}{to_date}"
        first, last = _months_before(this_month, 12), _months_before(this_month, 1)
        return first, last, f"{first:%b %Y} to {last:%b %Y}, 12 whole months"

    def salespeople(self, user: User) -> QuerySet[User]:
        """The salespeople the filters select: the chosen one, or those working the chosen
        territory (with its sub-territories), or everyone the user may see."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        people = salespeople_visible_to(user).order_by("username")
        if data.get("salesperson"):
            return people.filter(pk=data["salesperson"].pk)
        if data.get("territory"):
            territories = territory_ids_with_descendants({data["territory"].pk})
            people = people.filter(territories__in=territories).distinct()
        return people

    def _filtered(self, rows: QuerySet, prefix: str = "") -> QuerySet:
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        if data.get("territory"):
            territories = territory_ids_with_descendants({data["territory"].pk})
            rows = rows.filter(**{f"{prefix}territory_id__in": territories})
        for name in ("salesperson", "tier", "status"):
            if data.get(name):
                field = "owner" if name == "salesperson" else name
                rows = rows.filter(**{f"{prefix}{field}": data[name]})
        return rows

    def scope(self, user: User) -> QuerySet[Customer]:
        """The customers the filters select among those the user may see (a malformed filter
        is ignored rather than failing the page)."""
        return self._filtered(customers_visible_to(user))

    def segments(self, user: User) -> QuerySet[Segment]:
        """The same selection as `scope`, as the segments whose rollups the totals and charts
        read."""
        return self._filtered(segments_visible_to(user))


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


def monthly_trend(segments: QuerySet[Segment], *, first: dt.date, last: dt.date) -> dict | None:
    """Revenue, margin, cost to serve and profit by month, with SVG bar geometry."""
    rows = list(
        SegmentMonth.objects.filter(segment__in=segments, month__gte=first, month__lte=last)
        .values("month")
        .annotate(
            revenue=Sum("revenue"),
            gross_margin=Sum("gross_margin"),
            cost_to_serve=Sum("cost_to_serve"),
        )
        .order_by("month")
    )
    if not rows:
        return None
    this_month = timezone.localdate().replace(day=1)
    for row in rows:
        row["profit"] = row["gross_margin"] - row["cost_to_serve"]
        # This month is drawn and labelled as the part of a month it is.
        row["partial"] = row["month"] == this_month
    top = max(max(r["revenue"], r["gross_margin"]) for r in rows) or 1
    bottom = min(Decimal("0"), min(r["profit"] for r in rows))
    plot_height = SVG_HEIGHT - 2 * SVG_PAD
    slot = (SVG_WIDTH - 2 * SVG_PAD) / len(rows)

    def y(value):
        return SVG_HEIGHT - SVG_PAD - float((value - bottom) / (top - bottom)) * plot_height

    series = ("revenue", "gross_margin", "cost_to_serve", "profit")
    bar = slot / (len(series) + 1)
    for index, row in enumerate(rows):
        row["bars"] = []
        for offset, name in enumerate(series):
            top_y, base_y = sorted((y(row[name]), y(Decimal("0"))))
            row["bars"].append(
                {
                    "series": name,
                    "x": round(SVG_PAD + index * slot + (offset + 0.5) * bar, 1),
                    "y": round(top_y, 1),
                    "height": round(max(base_y - top_y, 0.5), 1),
                    "value": row[name],
                }
            )
        row["label_x"] = round(SVG_PAD + (index + 0.5) * slot, 1)
    return {
        "rows": rows,
        "width": SVG_WIDTH,
        "height": SVG_HEIGHT,
        "bar": round(bar, 1),
        "zero_y": round(y(Decimal("0")), 1),
        "left": SVG_PAD,
        "right": SVG_WIDTH - SVG_PAD,
    }


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


WHALE_POINTS = 200
# Enough dots to see the shape; more only overlap on a 600 x 360 chart (and on a phone).
QUADRANT_POINTS = 300
SVG_WIDTH, SVG_HEIGHT, SVG_PAD = 600, 360, 40


def _bands(segments: QuerySet[Segment], measure: str, order: str) -> list[dict]:
    return list(
        SegmentBand.objects.filter(segment__in=segments, measure=measure)
        .values("band")
        .annotate(accounts=Sum("accounts"), total=Sum("total"))
        .order_by(order)
    )


def whale_curve(segments: QuerySet[Segment]) -> dict | None:
    """Cumulative profit (% of the total) over customers ranked from most to least profitable,
    read from the profit histogram of the selected segments (one query). Accounts within one
    5 % band are taken in a straight line; the peak, where profit turns negative, is exact."""
    bands = _bands(segments, BandMeasure.PROFIT, "-band")
    n = sum(band["accounts"] for band in bands)
    total = sum((band["total"] for band in bands), Decimal("0"))
    if not n or total <= 0:
        return None
    points, ranked, running = [(0.0, 0.0)], 0, Decimal("0")
    for band in bands:
        ranked += band["accounts"]
        running += band["total"]
        points.append((ranked / n * 100, float(running / total * 100)))
        if band["band"] > 0:
            peak_rank, peak_running = ranked, running
    top_share = round(peak_rank / n * 100)
    peak_share = round(peak_running / total * 100)
    return {
        "accounts": n,
        "total": total,
        "top_share": top_share,
        "peak_share": peak_share,
        "given_back": peak_share - 100,
        "svg": _line_svg(points, peak=(peak_rank / n * 100, float(peak_running / total * 100))),
    }


def _line_svg(points, *, peak) -> dict:
    top = max(y for _, y in points) or 1
    bottom = min(0.0, min(y for _, y in points))

    def x(v):
        return SVG_PAD + v / 100 * (SVG_WIDTH - 2 * SVG_PAD)

    def y(v):
        return SVG_HEIGHT - SVG_PAD - (v - bottom) / (top - bottom) * (SVG_HEIGHT - 2 * SVG_PAD)

    return {
        "width": SVG_WIDTH,
        "height": SVG_HEIGHT,
        "path": " ".join(f"{x(a):.1f},{y(b):.1f}" for a, b in points),
        "peak_x": round(x(peak[0]), 1),
        "peak_y": round(y(peak[1]), 1),
        "hundred_y": round(y(100), 1),
        "zero_y": round(y(0), 1),
        "left": SVG_PAD,
        "right": SVG_WIDTH - SVG_PAD,
        "top_label": round(top),
    }


def _percentile(bands: list[dict], share: float) -> float:
    """The value at `share` of the way through the accounts (interpolated between the two
    ranks around it, as percentile_cont does), each account taking its band's mean."""
    n = sum(band["accounts"] for band in bands)
    position = share * (n - 1)

    def value_at(rank: int) -> float:
        seen = 0
        for band in bands:
            seen += band["accounts"]
            if rank < seen:
                return float(band["total"] / band["accounts"])
        return float(bands[-1]["total"] / bands[-1]["accounts"])

    low = int(position)
    below, above = value_at(low), value_at(min(low + 1, n - 1))
    return below + (position - low) * (above - below)


def quadrant(segments: QuerySet[Segment], customers: QuerySet[Customer]) -> dict | None:
    """Net margin % against cost to serve, split at the medians into the four classic segments
    (medians from the segments' histograms); the largest accounts by revenue are drawn."""
    costs = _bands(segments, BandMeasure.COST_TO_SERVE, "band")
    margins = _bands(segments, BandMeasure.NET_MARGIN, "band")
    count = sum(band["accounts"] for band in costs)
    if not count:
        return None
    median_cost, axis_cost = _percentile(costs, 0.5), _percentile(costs, 0.95)
    median_margin = _percentile(margins, 0.5)
    accounts = (
        customers.filter(metrics__revenue__gt=0)
        .order_by("-metrics__revenue")
        .values_list(
            "id",
            "name",
            "tier",
            "metrics__revenue",
            "metrics__gross_margin",
            "metrics__cost_to_serve",
        )[:QUADRANT_POINTS]
    )
    width, height, pad = SVG_WIDTH, SVG_HEIGHT, SVG_PAD
    # The cost axis ends at the 95th percentile; the costliest 5 % sit on its right edge.
    axis_cost = float(axis_cost) or 1.0

    def x(cost):
        return pad + min(float(cost) / axis_cost, 1.0) * (width - 2 * pad)

    def y(margin):  # net margin % from -50 % to 100 %, clamped
        share = max(-0.5, min(1.0, float(margin)))
        return height - pad - (share + 0.5) / 1.5 * (height - 2 * pad)

    def beyond(margin, cost) -> bool:
        """Off the axes' scale: drawn at the edge as an outlier (a hollow marker), not as if
        it were there."""
        return float(cost) > axis_cost or not -0.5 <= float(margin) <= 1.0

    # Up to 300 points a page: plain rows, one reverse() for every link, and the markup built
    # here with format_html_join (escaped like a template, at a fraction of the cost of model
    # instances, reverse() and a template loop per point).
    account_url = reverse("crm:customer_detail", args=[0]).replace("/0/", "/{}/")
    points = []
    for pk, name, tier, revenue, gross_margin, cost in accounts:
        margin = gross_margin / revenue
        segment = _segment(margin, cost, median_margin, median_cost)
        outlier = beyond(margin, cost)
        points.append(
            {
                "outlier": outlier,
                "name": name,
                "tier": tier,
                "url": account_url.format(pk),
                "x": round(x(cost), 1),
                "y": round(y(margin), 1),
                "margin_percent": round(margin * 100),
                "label": (
                    f"{name} (tier {tier}): {round(margin * 100)}% margin, "
                    f"{cost:,.0f} cost to serve — {segment}"
                    + (" (beyond the axis, drawn at its edge)" if outlier else "")
                ),
                "segment": segment,
            }
        )
    return {
        "count": count,
        "shown": len(points),
        "points": points,
        "dots": format_html_join(
            "\n",
            '<a href="{}"><circle class="dot tier-{}{}" cx="{}" cy="{}" r="{}">'
            "<title>{}</title></circle></a>",
            (
                (
                    p["url"],
                    p["tier"],
                    " outlier" if p["outlier"] else "",
                    p["x"],
                    p["y"],
                    6 if p["outlier"] else 4,
                    p["label"],
                )
                for p in points
            ),
        ),
        "outliers": sum(1 for p in points if p["outlier"]),
        # Axis values, so a point reads as a margin and a cost, not only as a quadrant.
        "x_ticks": [
            (round(x(value), 1), f"{value:,.0f}")
            for value in sorted({0.0, float(median_cost), axis_cost})
        ],
        "y_ticks": [(round(y(share), 1), f"{share:.0%}") for share in (-0.5, 0, 0.5, 1.0)],
        "median_x": round(x(median_cost), 1),
        "median_y": round(y(median_margin), 1),
        "median_margin_percent": round(median_margin * 100),
        "median_cost": round(median_cost),
        "width": width,
        "height": height,
        "pad": pad,
    }


def _segment(margin, cost, median_margin, median_cost) -> str:
    high_margin = margin >= Decimal(str(median_margin))
    high_cost = cost >= Decimal(str(median_cost))
    if high_margin:
        return "carriage trade" if high_cost else "passive"
    return "aggressive" if high_cost else "bargain basement"
