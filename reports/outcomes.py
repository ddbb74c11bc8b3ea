"""Outcomes: did the actions managers took work? For each action old enough, the account's
monthly figures in the three whole months before the month it was taken against the three whole
months after it, summed per kind of action (a hand-off per service model it went to) and per
manager. Read from the monthly figures the refresh keeps (health AccountMonth), never computed
again.

"Old enough": the three months after the action's month are over, so an action is at least 90
days old (and at most 20 months: the monthly figures go back 24).
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.db.models import Count, QuerySet, Sum
from django.db.models.fields.json import KeyTextTransform
from django.utils import timezone

from accounts.models import User
from core.sql import compose, identifier, joined
from crm.models import ServiceModel
from crm.selectors import of_customers_visible_to
from reports.models import ReviewAction, ReviewActionKind

FIGURES = ("revenue", "margin", "cost", "visits")
MEASURES = tuple(f"{name}_{side}" for name in FIGURES for side in ("before", "after"))
WINDOW_MONTHS = 3
# The monthly figures are kept 24 months: an action needs 3 before and 3 after its month.
OLDEST_MONTHS = 20

# The month an action counts in is the month of its time in UTC; the actions come as arrays.
_SUMS_SQL = compose("""
SELECT a.action_id,
       SUM(am.revenue) FILTER (WHERE am.month < a.month) AS revenue_before,
       SUM(am.revenue) FILTER (WHERE am.month > a.month) AS revenue_after,
       SUM(am.gross_margin) FILTER (WHERE am.month < a.month) AS margin_before,
       SUM(am.gross_margin) FILTER (WHERE am.month > a.month) AS margin_after,
       SUM(am.visit_cost + am.support_cost + am.late_payment_cost + am.partner_cost)
           FILTER (WHERE am.month < a.month) AS cost_before,
       SUM(am.visit_cost + am.support_cost + am.late_payment_cost + am.partner_cost)
           FILTER (WHERE am.month > a.month) AS cost_after,
       SUM(am.visits_done) FILTER (WHERE am.month < a.month) AS visits_before,
       SUM(am.visits_done) FILTER (WHERE am.month > a.month) AS visits_after
FROM unnest(%(actions)s::bigint[], %(customers)s::bigint[], %(months)s::date[])
     AS a (action_id, customer_id, month)
LEFT JOIN crm_accountmonth am
  ON am.customer_id = a.customer_id
 AND am.month BETWEEN a.month - interval '3 months' AND a.month + interval '3 months'
 AND am.month <> a.month
GROUP BY a.action_id
""")
# Stored for every measurable action; a row is written only when it was not measured yet or
# its sums changed (IS DISTINCT FROM: NULL, no months at all, compares as a value).
_MEASURE_SQL = compose(
    """
WITH sums AS ({sums})
UPDATE crm_reviewaction ra
SET measured_on = %(today)s, ({targets}) = ({computed})
FROM sums
WHERE ra.id = sums.action_id
  AND (ra.measured_on IS NULL OR ({stored}) IS DISTINCT FROM ({computed}))
""",
    sums=_SUMS_SQL,
    targets=joined(identifier(column) for column in MEASURES),
    stored=joined(identifier("ra", column) for column in MEASURES),
    computed=joined(identifier("sums", column) for column in MEASURES),
)


@dataclass
class Outcome:
    """One group of actions: what its accounts earned and cost per month, before and after."""

    label: str
    manager: str
    accounts: int = 0
    revenue_before: Decimal = Decimal("0")
    revenue_after: Decimal = Decimal("0")
    margin_before: Decimal = Decimal("0")
    margin_after: Decimal = Decimal("0")
    cost_before: Decimal = Decimal("0")
    cost_after: Decimal = Decimal("0")
    visits_before: Decimal = Decimal("0")
    visits_after: Decimal = Decimal("0")

    def add(self, row: dict) -> None:
        """Add a group of actions (`accounts` of them, one when not given) and their sums."""
        self.accounts += row.get("accounts", 1)
        for name in FIGURES:
            for side in ("before", "after"):
                key = f"{name}_{side}"
                setattr(self, key, getattr(self, key) + (row.get(key) or 0))

    def per_month(self, name: str, side: str) -> Decimal:
        return (getattr(self, f"{name}_{side}") / WINDOW_MONTHS).quantize(Decimal("0.01"))

    @property
    def profit_before(self) -> Decimal:
        return self.margin_before - self.cost_before

    @property
    def profit_after(self) -> Decimal:
        return self.margin_after - self.cost_after

    @staticmethod
    def _change(before: Decimal, after: Decimal) -> int | None:
        """Percent change, None where there was nothing before to compare with."""
        if not before:
            return None
        return round((after - before) / abs(before) * 100)

    @property
    def cost_change(self) -> int | None:
        return self._change(self.cost_before, self.cost_after)

    @property
    def revenue_change(self) -> int | None:
        return self._change(self.revenue_before, self.revenue_after)

    @property
    def profit_change(self) -> int | None:
        return self._change(self.profit_before, self.profit_after)

    @property
    def visits_change(self) -> int | None:
        return self._change(self.visits_before, self.visits_after)


def action_label(action: str, details: dict) -> str:
    if action == ReviewActionKind.HAND_OFF and details.get("to") in ServiceModel.values:
        return f"Handed to {ServiceModel(details['to']).label.split(':')[0].lower()}"
    return ReviewActionKind(action).label if action in ReviewActionKind.values else action


def month_start(day: dt.date, back: int = 0) -> dt.date:
    """The first day of `day`'s month, `back` months earlier (negative: later)."""
    month = day.year * 12 + day.month - 1 - back
    return dt.date(month // 12, month % 12 + 1, 1)


def _in_window(actions: QuerySet[ReviewAction], *, today: dt.date) -> QuerySet[ReviewAction]:
    """The actions whose three months after are over (and whose three before are still kept),
    by their time against the days' midnights, which the planner estimates from statistics."""
    newest = month_start(today, WINDOW_MONTHS + 1)
    oldest = month_start(today, OLDEST_MONTHS)
    return actions.filter(at__gte=_midnight(oldest), at__lt=_midnight(month_start(newest, -1)))


def _midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time()))


def actions_measured(user: User, *, today: dt.date) -> QuerySet[ReviewAction]:
    """The actions on accounts `user` may see whose three months after are over."""
    return _in_window(
        of_customers_visible_to(user, ReviewAction.objects.all()), today=today
    ).order_by("at", "id")


def _action_arrays(actions: list[ReviewAction]) -> dict:
    return {
        "actions": [action.pk for action in actions],
        "customers": [action.customer_id for action in actions],
        "months": [month_start(action.at.date()) for action in actions],
    }


def outcomes_measure(*, today: dt.date) -> int:
    """Store every measurable action's before and after sums (one statement), writing only the
    actions not measured yet or whose months changed since (an invoice imported late). Run
    nightly after the monthly figures; returns the number of actions written."""
    actions = list(
        _in_window(ReviewAction.objects.all(), today=today).only("id", "customer_id", "at")
    )
    if not actions:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(_MEASURE_SQL, {**_action_arrays(actions), "today": today})
        return cursor.rowcount


def _live_sums(actions: list[ReviewAction]) -> dict[int, dict]:
    """The before and after sums of actions not measured yet (since the last nightly measure)."""
    if not actions:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(_SUMS_SQL, _action_arrays(actions))
        names = [column.name for column in cursor.description]
        return {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


def outcomes(user: User, *, today: dt.date) -> tuple[list[Outcome], list[Outcome]]:
    """The measured actions summed per kind, and per manager and kind: the stored measures
    summed in the database per manager and kind (one query whatever the number of actions),
    with those not measured yet summed live."""
    actions = actions_measured(user, today=today).order_by()
    groups = list(
        actions.filter(measured_on__isnull=False)
        .values("user_id", "action", handed_to=KeyTextTransform("to", "details"))
        .annotate(
            accounts=Count("id"),
            **{column: Sum(column) for column in MEASURES},
        )
    )
    fresh = list(actions.filter(measured_on__isnull=True))
    sums = _live_sums(fresh)
    for action in fresh:
        groups.append(
            {
                "user_id": action.user_id,
                "action": action.action,
                "handed_to": action.details.get("to"),
                "accounts": 1,
                **sums.get(action.pk, {}),
            }
        )
    names = {
        person.pk: str(person)
        for person in User.objects.filter(pk__in={group["user_id"] for group in groups})
    }
    by_kind: dict[str, Outcome] = {}
    by_manager: dict[tuple[str, str], Outcome] = {}
    for group in groups:
        label = action_label(group["action"], {"to": group["handed_to"]})
        manager = names.get(group["user_id"], "(removed user)")
        by_kind.setdefault(label, Outcome(label=label, manager="")).add(group)
        by_manager.setdefault((manager, label), Outcome(label=label, manager=manager)).add(group)
    return (
        sorted(by_kind.values(), key=lambda o: (-o.accounts, o.label)),
        sorted(by_manager.values(), key=lambda o: (o.manager, -o.accounts, o.label)),
    )


CHART_WIDTH, ROW_HEIGHT, LABEL_WIDTH = 640, 22, 220
CHANGE_LIMIT = 100


def outcome_chart(groups: list[Outcome]) -> dict:
    """Bars of the percent change in cost to serve and profit per group, around a zero line,
    capped at ±100 % (the table has the exact figures)."""
    half = (CHART_WIDTH - LABEL_WIDTH - 20) / 2
    zero = LABEL_WIDTH + half
    rows = []
    for index, group in enumerate(groups):
        bars = []
        for offset, (series, change) in enumerate(
            (("cost", group.cost_change), ("profit", group.profit_change))
        ):
            if change is None:
                continue
            length = max(-CHANGE_LIMIT, min(CHANGE_LIMIT, change)) / CHANGE_LIMIT * half
            bars.append(
                {
                    "series": series,
                    "x": round(min(zero, zero + length), 1),
                    "y": round(index * 2 * ROW_HEIGHT + offset * ROW_HEIGHT + 4, 1),
                    "width": round(max(abs(length), 1), 1),
                    "change": change,
                }
            )
        rows.append({"label": group.label, "y": index * 2 * ROW_HEIGHT + ROW_HEIGHT, "bars": bars})
    return {
        "width": CHART_WIDTH,
        "height": max(1, len(groups)) * 2 * ROW_HEIGHT + 8,
        "zero": zero,
        "rows": rows,
    }
