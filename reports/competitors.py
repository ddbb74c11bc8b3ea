"""Competitor mentions: which competitors customers name, month by month, and the accounts
where one was named while the account's margin fell (the three whole months since against the
three before, from the monthly figures)."""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Max, QuerySet, Sum
from django.db.models.functions import TruncMonth

from crm.models import Customer
from health.models import AccountMonth
from visits.models import Visit, VisitStatus

MONTHS_SHOWN = 12
RECENT_MONTHS = 6
COMPARED_MONTHS = 3
AT_RISK_SHOWN = 50


def _month_start(day: dt.date, back: int = 0) -> dt.date:
    month = day.year * 12 + day.month - 1 - back
    return dt.date(month // 12, month % 12 + 1, 1)


@dataclass
class AtRisk:
    customer: Customer
    competitor: str
    last_mentioned: dt.date
    margin_before: Decimal
    margin_after: Decimal


def mentions_by_month(customers: QuerySet[Customer], *, today: dt.date) -> dict:
    """{"months": [...], "rows": [(competitor, [count per month], total)]}, most named first."""
    months = [_month_start(today, back) for back in range(MONTHS_SHOWN - 1, -1, -1)]
    counts = (
        Visit.objects.filter(
            customer__in=customers.values("pk"),
            status=VisitStatus.DONE,
            visited_at__date__gte=months[0],
        )
        .exclude(competitor="")
        .annotate(month=TruncMonth("visited_at"))
        .values("competitor", "month")
        .annotate(n=Count("id"))
        .order_by()
    )
    table: dict[str, dict[dt.date, int]] = {}
    for row in counts:
        month = row["month"].date() if isinstance(row["month"], dt.datetime) else row["month"]
        table.setdefault(row["competitor"], {})[month] = row["n"]
    rows = [
        (name, [by_month.get(month, 0) for month in months], sum(by_month.values()))
        for name, by_month in table.items()
    ]
    rows.sort(key=lambda row: (-row[2], row[0]))
    return {"months": months, "rows": rows}


def mentioned_while_margin_fell(customers: QuerySet[Customer], *, today: dt.date) -> list[AtRisk]:
    """Accounts that named a competitor in the last six months and whose margin in the last
    three whole months is below the three before, the biggest fall first."""
    mentions = {
        row["customer_id"]: row
        for row in Visit.objects.filter(
            customer__in=customers.values("pk"),
            status=VisitStatus.DONE,
            visited_at__date__gte=_month_start(today, RECENT_MONTHS),
        )
        .exclude(competitor="")
        .values("customer_id")
        .annotate(last=Max("visited_at"))
        .order_by()
    }
    if not mentions:
        return []
    this_month = _month_start(today)
    after_start = _month_start(today, COMPARED_MONTHS)
    before_start = _month_start(today, 2 * COMPARED_MONTHS)
    margins: dict[int, dict[str, Decimal]] = {}
    for row in (
        AccountMonth.objects.filter(
            customer_id__in=list(mentions), month__gte=before_start, month__lt=this_month
        )
        .values("customer_id", "month")
        .annotate(margin=Sum("gross_margin"))
        .order_by()
    ):
        side = "after" if row["month"] >= after_start else "before"
        sums = margins.setdefault(row["customer_id"], {"before": Decimal(0), "after": Decimal(0)})
        sums[side] += row["margin"]
    fell = {pk: m for pk, m in margins.items() if m["after"] < m["before"]}
    last_named = dict(
        Visit.objects.filter(customer_id__in=list(fell), status=VisitStatus.DONE)
        .exclude(competitor="")
        .order_by("customer_id", "-visited_at")
        .distinct("customer_id")
        .values_list("customer_id", "competitor")
    )
    accounts = customers.filter(pk__in=list(fell)).select_related("owner")
    found = [
        AtRisk(
            customer=customer,
            competitor=last_named.get(customer.pk, ""),
            last_mentioned=mentions[customer.pk]["last"].date(),
            margin_before=fell[customer.pk]["before"],
            margin_after=fell[customer.pk]["after"],
        )
        for customer in accounts
    ]
    found.sort(key=lambda risk: risk.margin_after - risk.margin_before)
    return found[:AT_RISK_SHOWN]
