"""Reads for the dashboard's charts (the monthly trend, the whale curve, the margin / cost-to-serve
quadrant): their shapes come from the per-segment rollups (health.rollup), so they cost the same
whatever the number of customers; only the largest accounts the quadrant plots are read one by
one."""

import datetime as dt
from decimal import Decimal

from django.db.models import QuerySet, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join

from crm.models import Customer
from health.models import (
    BandMeasure,
    Segment,
    SegmentBand,
    SegmentMonth,
)

WHALE_POINTS = 200
# Enough dots to see the shape; more only overlap on a 600 x 360 chart (and on a phone).
QUADRANT_POINTS = 300
SVG_WIDTH, SVG_HEIGHT, SVG_PAD = 600, 360, 40


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
