"""Reads of account health: an account's figures and open flags, and each flag's reason."""

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import Count, F, QuerySet
from django.utils import timezone

from accounts.models import User
from core.sql import compose
from crm.cadence import cadence_days_sql
from crm.models import Customer
from crm.selectors import customer_scope
from health.models import AccountFlag, AccountMetrics, FlagKind, HealthSettings, Segment
from visits.models import CADENCE_VISIT_KINDS, VisitStatus


def health_settings() -> HealthSettings:
    """The rates and thresholds the figures use (the one row, or the defaults before an admin
    saves it)."""
    return HealthSettings.objects.filter(pk=1).first() or HealthSettings(pk=1)


ACCOUNT_FIGURES = ("profit", "revenue", "is_neglected", "is_unprofitable", "is_late_payer")


def account_figures(rows: QuerySet, *, through: str = "") -> QuerySet:
    """The figures core.figures promises the apps below health, from the account's metrics as
    of the last refresh (a LEFT JOIN: None for an account not refreshed yet)."""
    prefix = through.replace("__", "_")
    return rows.annotate(
        **{f"{prefix}{name}": F(f"{through}metrics__{name}") for name in ACCOUNT_FIGURES}
    )


def open_flag_counts() -> dict[str, int]:
    counts = dict.fromkeys(FlagKind.values, 0)
    rows = (
        AccountFlag.objects.filter(resolved_at__isnull=True)
        .values("kind")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts.update({row["kind"]: row["n"] for row in rows})
    return counts


def _money(value) -> str:
    return f"{Decimal(value):,.0f}"


def _days(value) -> str:
    return f"{Decimal(value):.0f}"


def flag_explanation(flag: AccountFlag) -> str:
    """The flag's reason in plain words, from the figures kept with it."""
    inputs = flag.inputs
    if flag.kind == FlagKind.NEGLECTED:
        expects = (
            f"its own cadence is every {_days(inputs['cadence_days'])} days"
            if inputs.get("own_cadence")
            else f"tier {inputs['tier']} expects every {_days(inputs['cadence_days'])} days"
        )
        if inputs.get("last_visit_on"):
            return f"last visited {_days(inputs['days_since_visit'])} days ago; {expects}"
        return f"never visited in {_days(inputs['days_since_visit'])} days as a customer; {expects}"
    if flag.kind == FlagKind.UNPROFITABLE:
        return (
            f"margin {_money(inputs['gross_margin'])} minus cost to serve "
            f"{_money(inputs['cost_to_serve'])}: visits {_money(inputs['visit_cost'])}, "
            f"support {_money(inputs['support_cost'])}, "
            f"late payment {_money(inputs['late_payment_cost'])}"
        )
    if flag.kind == FlagKind.COOLING:
        said = "; ".join(
            f"{item['visited_on']} {item['outcome']}"
            + (f": “{item['notes']}”" if item.get("notes") else "")
            for item in inputs.get("outcomes", [])
        )
        return f"the last contacts went badly: {said}"
    if flag.kind == FlagKind.UNANSWERED_COMPLAINT:
        count = int(inputs["complaints_overdue"])
        return (
            f"{count} complaint{'s' if count != 1 else ''} unanswered past the due date "
            f"(the oldest due {inputs['oldest_due_on']})"
        )
    parts = []
    if inputs.get("oldest_unpaid_days_late") not in (None, "None"):
        parts.append(f"an invoice unpaid {_days(inputs['oldest_unpaid_days_late'])} days past due")
    if inputs.get("average_days_late") not in (None, "None"):
        parts.append(f"pays {_days(inputs['average_days_late'])} days late on average")
    threshold = (
        f"(limits: {_days(inputs['unpaid_threshold_days'])} days unpaid, "
        f"{_days(inputs['average_threshold_days'])} days on average)"
    )
    return "; ".join(parts) + " " + threshold


def customer_health(customer: Customer) -> dict:
    """The stored health figures and the open flags (each with its plain-words reason)."""
    flags = list(
        AccountFlag.objects.filter(customer=customer, resolved_at__isnull=True)
        .select_related("acknowledged_by")
        .order_by("kind")
    )
    for flag in flags:
        flag.explanation = flag_explanation(flag)
    return {
        "metrics": AccountMetrics.objects.filter(customer=customer).first(),
        "open_flags": flags,
    }


def segments_visible_to(user: User) -> QuerySet[Segment]:
    """The rollup segments of the customers `user` may see (the same rule as customers)."""
    scope = customer_scope(user)
    return Segment.objects.all() if scope is None else Segment.objects.filter(scope)


TREND_MONTHS = 12

_CONSISTENCY_BY_MONTH = """
WITH contacts AS (
    SELECT v.customer_id, (v.visited_at AT TIME ZONE %(tz)s)::date AS day
    FROM visits_visit v
    WHERE v.customer_id = ANY(%(ids)s) AND v.status = {done} AND v.kind IN ({kinds})
      AND v.visited_at >= %(since)s AND v.visited_at < %(until)s
),
gaps AS (
    SELECT customer_id, day,
           day - LAG(day) OVER (PARTITION BY customer_id ORDER BY day) AS gap
    FROM contacts
)
SELECT date_trunc('month', g.day)::date AS month, COUNT(*) AS intervals,
       COUNT(*) FILTER (WHERE g.gap <= {cadence}) AS on_cadence
FROM gaps g JOIN crm_customer c ON c.id = g.customer_id
WHERE g.gap IS NOT NULL
GROUP BY 1
ORDER BY 1
"""


def consistency_by_month(customer_ids: list[int], *, today: dt.date) -> list[dict]:
    """The consistency of these accounts month by month over the last TREND_MONTHS months: the
    gaps between consecutive contacts (on site, phone, video) of the period ending in each
    month, and how many kept the account's cadence - the 12-month figure's rule, per month."""
    first = today.replace(day=1)
    for _ in range(TREND_MONTHS - 1):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    zone = timezone.get_default_timezone()
    statement = compose(
        _CONSISTENCY_BY_MONTH,
        done=VisitStatus.DONE,
        kinds=list(CADENCE_VISIT_KINDS),
        cadence=cadence_days_sql("c"),
    )
    with connection.cursor() as cursor:
        cursor.execute(
            statement,
            {
                "tz": settings.TIME_ZONE,
                "ids": list(customer_ids),
                "since": dt.datetime.combine(first, dt.time.min, tzinfo=zone),
                "until": dt.datetime.combine(
                    today + dt.timedelta(days=1), dt.time.min, tzinfo=zone
                ),
            },
        )
        found = {month: (intervals, kept) for month, intervals, kept in cursor.fetchall()}
    months, month = [], first
    while month <= today:
        intervals, kept = found.get(month, (0, 0))
        months.append(
            {
                "month": month,
                "intervals": intervals,
                "on_cadence": kept,
                "share": round(100 * kept / intervals) if intervals else None,
            }
        )
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return months
