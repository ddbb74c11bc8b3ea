"""Competitor mentions: which competitors customers name, month by month, and the accounts
where one was named while the account's margin fell (the three whole months since against the
three before, from the monthly figures)."""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, DecimalField, F, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone

from crm.models import Customer
from health.models import AccountMonth
from reports.outcomes import month_start
from visits.models import Visit, VisitStatus

MONTHS_SHOWN = 12
RECENT_MONTHS = 6
COMPARED_MONTHS = 3
AT_RISK_SHOWN = 50


def _local_midnight(day: dt.date) -> dt.datetime:
    """A moment, not a date: the mentions index is on visited_at (a cast would skip it)."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


@dataclass
class AtRisk:
    customer: Customer
    competitor: str
    last_mentioned: dt.date
    margin_before: Decimal
    margin_after: Decimal


def mentions_by_month(customers: QuerySet[Customer], *, today: dt.date) -> dict:
    """{"months": [...], "rows": [(competitor, [count per month], total)]}, most named first."""
    months = [month_start(today, back) for back in range(MONTHS_SHOWN - 1, -1, -1)]
    counts = (
        Visit.objects.filter(
            customer__in=customers.values("pk"),
            status=VisitStatus.DONE,
            visited_at__gte=_local_midnight(months[0]),
        )
        .exclude(competitor="")
        .annotate(month=TruncMonth("visited_at"))
        .values("competitor", "month")
        .annotate(n=Count("customer"))
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
    three whole months is below the three before, the biggest fall first (at most 50)."""
    mentions = Visit.objects.filter(
        customer__in=customers.values("pk"),
        status=VisitStatus.DONE,
        visited_at__gte=_local_midnight(month_start(today, RECENT_MONTHS)),
    ).exclude(competitor="")
    this_month = month_start(today)
    after_start = month_start(today, COMPARED_MONTHS)
    before_start = month_start(today, 2 * COMPARED_MONTHS)
    zero = Value(Decimal(0), output_field=DecimalField())
    # One grouped read of the mentioning accounts' months (the mentions index finds them).
    fell_query = (
        AccountMonth.objects.filter(
            customer__in=mentions.values("customer_id"),
            month__gte=before_start,
            month__lt=this_month,
        )
        .values("customer_id")
        .annotate(
            before=Coalesce(Sum("gross_margin", filter=Q(month__lt=after_start)), zero),
            after=Coalesce(Sum("gross_margin", filter=Q(month__gte=after_start)), zero),
        )
        .filter(after__lt=F("before"))
        .order_by(F("after") - F("before"), "customer_id")[:AT_RISK_SHOWN]
    )
    fell = list(fell_query)
    ids = [row["customer_id"] for row in fell]
    latest = {
        row["customer_id"]: row
        for row in mentions.filter(customer_id__in=ids)
        .order_by("customer_id", "-visited_at")
        .distinct("customer_id")
        .values("customer_id", "competitor", "visited_at")
    }
    accounts = customers.select_related("owner").in_bulk(ids)
    return [
        AtRisk(
            customer=accounts[row["customer_id"]],
            competitor=latest[row["customer_id"]]["competitor"],
            last_mentioned=timezone.localtime(latest[row["customer_id"]]["visited_at"]).date(),
            margin_before=row["before"],
            margin_after=row["after"],
        )
        for row in fell
        if row["customer_id"] in accounts and row["customer_id"] in latest
    ]
