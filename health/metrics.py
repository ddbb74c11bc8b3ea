"""Account health: per-account metrics and the neglected / unprofitable / late-payer flags.

Everything is computed in PostgreSQL, a batch of customers per statement (an id range, or a
list of ids for the refresh that follows a change), with the same five statements per batch
whatever its size:

1. upsert AccountMetrics from aggregates of visits, invoices and support cases;
2. resolve open flags whose condition no longer holds;
3. clear acknowledgements that have expired (the flag is raised again);
4. bring the inputs of flags still open up to date;
5. open flags for conditions that hold and have no open flag (ON CONFLICT DO NOTHING against
   the one-open-flag-per-kind index, so overlapping runs cannot duplicate a flag).

Re-running with the same as-of date changes nothing. The model (window, rates, thresholds) is
documented in docs/account-health.md.
"""

import datetime as dt
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.events import announce, flags_changed
from core.isolation import DATA_FAULTS, run_isolating
from crm.cadence import cadence_days_sql, cadence_start_sql
from crm.models import Customer, CustomerStatus, ServiceModel
from health.costs import (
    HOUSE_AMOUNTS_SQL,
    late_cost_sql,
    partner_charge_sql,
    support_cost_sql,
    visit_cost_sql,
)
from health.models import FlagKind, HealthSettings, Recommendation
from visits.models import CADENCE_VISIT_KINDS, VisitStatus

logger = logging.getLogger(__name__)

WINDOW_DAYS = 365

# The review worklist's recommendation, first match wins, from the year's figures (columns of
# `judged` below):
# 1. move_remote - a field account, unprofitable, and profitable without its visit cost (the
#    visits make the loss): serve it by phone/video (inside sales);
# 2. hand_off    - unprofitable even without visit costs: hand it off or let it go;
# 3. visit_now   - profitable, active and overdue for a visit;
# 4. reprice     - cost to serve takes at least half of a positive gross margin;
# 5. grow        - net margin at least 40 % and cost to serve at most 10 % of gross margin;
# 6. keep        - everything else.
GROW_MIN_MARGIN_SHARE = Decimal("0.40")
GROW_MAX_COST_SHARE = Decimal("0.10")
REPRICE_MIN_COST_SHARE = Decimal("0.50")
RECOMMENDATION_SQL = f"""CASE
    WHEN profit < 0 AND profit >= -visit_cost AND service_model = '{ServiceModel.FIELD}'
        THEN '{Recommendation.MOVE_REMOTE}'
    WHEN profit < 0 THEN '{Recommendation.HAND_OFF}'
    WHEN status = '{CustomerStatus.ACTIVE}' AND days_since > cadence
        THEN '{Recommendation.VISIT_NOW}'
    WHEN margin > 0 AND cost_to_serve >= margin * {REPRICE_MIN_COST_SHARE}
        THEN '{Recommendation.REPRICE}'
    WHEN revenue > 0 AND margin >= revenue * {GROW_MIN_MARGIN_SHARE}
         AND cost_to_serve <= margin * {GROW_MAX_COST_SHARE} THEN '{Recommendation.GROW}'
    ELSE '{Recommendation.KEEP}' END"""

_FLAG_KINDS = ", ".join(f"('{kind}')" for kind in FlagKind.values)
_CADENCE_KINDS = ", ".join(f"'{kind}'" for kind in CADENCE_VISIT_KINDS)

_METRICS_SQL = f"""
WITH scope AS (
    SELECT c.id, c.status, c.since, c.created_at,
           c.service_model, c.partner_id, c.service_since,
           {cadence_days_sql("c")} AS cadence
    FROM crm_customer c
    WHERE {{customers:c.id}}
      -- The nightly run passes over a customer already refreshed for this day with nothing
      -- changed since: every change requests a refresh (core.refresh) in its transaction.
      AND (%(full)s
           OR NOT EXISTS (SELECT 1 FROM crm_accountmetrics done
                          WHERE done.customer_id = c.id AND done.as_of = %(as_of)s)
           OR EXISTS (SELECT 1 FROM crm_pendingrefresh p WHERE p.customer_id = c.id))
),
visits_by_rep AS (
    -- Sums per customer and salesperson first: the hourly cost is applied once per pair
    -- instead of once per visit (same result, the cost being linear in minutes).
    SELECT v.customer_id, v.salesperson_id,
           MAX(v.visited_at) FILTER (WHERE v.kind IN ({_CADENCE_KINDS})) AS last_visit_at,
           MAX(v.visited_at) AS last_any_at,
           COUNT(*) FILTER (WHERE v.visited_at >= %(window_start_at)s) AS visits_done,
           SUM(v.duration_minutes::bigint + v.travel_minutes)
               FILTER (WHERE v.visited_at >= %(window_start_at)s) AS minutes,
           SUM(v.distance_km) FILTER (WHERE v.visited_at >= %(window_start_at)s) AS km,
           SUM(v.expenses) FILTER (WHERE v.visited_at >= %(window_start_at)s) AS expenses
    FROM visits_visit v
    WHERE {{customers:v.customer_id}}
      AND v.status = '{VisitStatus.DONE}'
      AND v.visited_at < %(window_end_at)s
    GROUP BY v.customer_id, v.salesperson_id
),
visit_totals AS (
    SELECT r.customer_id,
           MAX(r.last_visit_at) AS last_visit_at,
           MAX(r.last_any_at) AS last_any_at,
           SUM(r.visits_done) AS visits_done,
           SUM(r.minutes) AS minutes,
           SUM({
    visit_cost_sql(
        minutes="COALESCE(r.minutes, 0)",
        km="COALESCE(r.km, 0)",
        expenses="COALESCE(r.expenses, 0)",
        hourly_cost="u.hourly_cost",
    )
}) AS cost
    FROM visits_by_rep r
    JOIN accounts_user u ON u.id = r.salesperson_id
    GROUP BY r.customer_id
),
last_follow_up AS (
    -- The latest visit that asked for a follow-up; it counts only if it is also the latest
    -- visit of all (a later visit supersedes it), which figures.last_any_at tells.
    SELECT DISTINCT ON (v.customer_id) v.customer_id, v.visited_at, v.follow_up_on
    FROM visits_visit v
    WHERE {{customers:v.customer_id}}
      AND v.status = '{VisitStatus.DONE}'
      AND v.follow_up_on IS NOT NULL
      AND v.visited_at < %(window_end_at)s
    ORDER BY v.customer_id, v.visited_at DESC
),
rhythm AS (
    -- Gaps between consecutive contacts of the year (on site, phone, video) in local days.
    SELECT g.customer_id, COUNT(*) AS intervals,
           COUNT(*) FILTER (WHERE g.gap <= scope.cadence) AS on_cadence
    FROM (
        SELECT v.customer_id,
               (v.visited_at AT TIME ZONE %(tz)s)::date
               - LAG((v.visited_at AT TIME ZONE %(tz)s)::date)
                     OVER (PARTITION BY v.customer_id ORDER BY v.visited_at) AS gap
        FROM visits_visit v
        WHERE {{customers:v.customer_id}}
          AND v.status = '{VisitStatus.DONE}' AND v.kind IN ({_CADENCE_KINDS})
          AND v.visited_at >= %(window_start_at)s AND v.visited_at < %(window_end_at)s
    ) g
    JOIN scope ON scope.id = g.customer_id
    WHERE g.gap IS NOT NULL
    GROUP BY g.customer_id
),
promises AS (
    -- Follow-ups asked for a day of the year now passed; kept: a contact after the asking,
    -- by that day.
    SELECT p.customer_id, COUNT(*) AS promised,
           COUNT(*) FILTER (WHERE EXISTS (
               SELECT 1 FROM visits_visit k
               WHERE k.customer_id = p.customer_id AND k.status = '{VisitStatus.DONE}'
                 AND k.visited_at > p.visited_at
                 AND k.visited_at < ((p.follow_up_on + 1)::timestamp AT TIME ZONE %(tz)s))) AS kept
    FROM visits_visit p
    WHERE {{customers:p.customer_id}}
      AND p.status = '{VisitStatus.DONE}'
      AND p.follow_up_on BETWEEN %(window_start)s AND %(as_of)s::date - 1
      AND p.visited_at < %(window_end_at)s
    GROUP BY p.customer_id
),
invoice_totals AS (
    SELECT i.customer_id,
           SUM(h.amount) FILTER (WHERE i.issued_on >= %(window_start)s) AS revenue,
           SUM(h.amount - h.cost_of_goods) FILTER (WHERE i.issued_on >= %(window_start)s) AS margin,
           SUM(h.discount) FILTER (WHERE i.issued_on >= %(window_start)s) AS discount,
           -- Invoices due in the window (docs/account-health.md): one not yet due can be
           -- neither late nor on time, so it does not dilute the average.
           SUM(h.amount * late.days)
               FILTER (WHERE i.due_on BETWEEN %(window_start)s AND %(as_of)s) AS amount_days,
           SUM(h.amount)
               FILTER (WHERE i.due_on BETWEEN %(window_start)s AND %(as_of)s) AS amount_due,
           MAX(late.days) FILTER (WHERE late.unpaid) AS oldest_unpaid_days
    FROM crm_invoice i
    CROSS JOIN LATERAL ({HOUSE_AMOUNTS_SQL}) h
    CROSS JOIN LATERAL (
        SELECT GREATEST(0, COALESCE(CASE WHEN i.paid_on <= %(as_of)s THEN i.paid_on END,
                                    %(as_of)s::date) - i.due_on) AS days,
               (i.paid_on IS NULL OR i.paid_on > %(as_of)s) AND i.due_on < %(as_of)s AS unpaid
    ) late
    WHERE {{customers:i.customer_id}}
      AND i.issued_on <= %(as_of)s
    GROUP BY i.customer_id
),
support_totals AS (
    SELECT s.customer_id, SUM(s.minutes) AS minutes
    FROM crm_supportcase s
    WHERE {{customers:s.customer_id}}
      AND s.opened_on BETWEEN %(window_start)s AND %(as_of)s
    GROUP BY s.customer_id
),
partner_totals AS (
    -- A partner's charge on the orders (invoices) of the year issued since it took the account.
    SELECT scope.id AS customer_id,
           SUM({
    partner_charge_sql(
        amount="h.amount",
        commission_percent="p.commission_percent",
        fee_per_order="p.fee_per_order",
    )
}) AS cost
    FROM scope
    JOIN crm_partner p ON p.id = scope.partner_id
    JOIN crm_invoice i ON i.customer_id = scope.id
    CROSS JOIN LATERAL ({HOUSE_AMOUNTS_SQL}) h
    WHERE scope.service_model = '{ServiceModel.PARTNER}'
      AND i.issued_on BETWEEN GREATEST(%(window_start)s, scope.service_since) AND %(as_of)s
    GROUP BY scope.id
),
figures AS (
    SELECT scope.id AS customer_id,
           scope.status,
           scope.service_model,
           scope.cadence,
           (vt.last_visit_at AT TIME ZONE %(tz)s)::date AS last_visit_on,
           -- The cadence counts from where crm.cadence says (the customer's next_visit_due).
           %(as_of)s::date - {cadence_start_sql("scope", "vt.last_visit_at")} AS days_since,
           COALESCE(it.revenue, 0) AS revenue,
           COALESCE(it.margin, 0) AS margin,
           COALESCE(it.discount, 0) AS discount,
           ROUND(COALESCE(vt.cost, 0), 2) AS visit_cost,
           ROUND({support_cost_sql(minutes="COALESCE(st.minutes, 0)")}, 2) AS support_cost,
           ROUND({late_cost_sql(amount_days="COALESCE(it.amount_days, 0)")}, 2) AS late_cost,
           ROUND(COALESCE(pt.cost, 0), 2) AS partner_cost,
           COALESCE(vt.visits_done, 0) AS visits_done,
           COALESCE(vt.minutes, 0) AS visit_minutes,
           COALESCE(st.minutes, 0) AS support_minutes,
           ROUND(it.amount_days / NULLIF(it.amount_due, 0), 2) AS average_days_late,
           it.oldest_unpaid_days,
           COALESCE(rh.intervals, 0) AS intervals,
           COALESCE(rh.on_cadence, 0) AS intervals_on_cadence,
           COALESCE(pr.promised, 0) AS follow_ups_promised,
           COALESCE(pr.kept, 0) AS follow_ups_kept,
           CASE WHEN lf.visited_at = vt.last_any_at AND lf.follow_up_on < %(as_of)s
                     AND NOT EXISTS (
                    SELECT 1 FROM visits_visit planned
                    WHERE planned.customer_id = scope.id
                      AND planned.status = '{VisitStatus.PLANNED}'
                      AND planned.scheduled_start
                          >= (lf.follow_up_on::timestamp AT TIME ZONE %(tz)s))
                THEN lf.follow_up_on END AS follow_up_overdue_on
    FROM scope
    LEFT JOIN visit_totals vt ON vt.customer_id = scope.id
    LEFT JOIN invoice_totals it ON it.customer_id = scope.id
    LEFT JOIN support_totals st ON st.customer_id = scope.id
    LEFT JOIN last_follow_up lf ON lf.customer_id = scope.id
    LEFT JOIN partner_totals pt ON pt.customer_id = scope.id
    LEFT JOIN rhythm rh ON rh.customer_id = scope.id
    LEFT JOIN promises pr ON pr.customer_id = scope.id
),
judged AS (
    SELECT f.*,
           f.visit_cost + f.support_cost + f.late_cost + f.partner_cost AS cost_to_serve,
           f.margin - (f.visit_cost + f.support_cost + f.late_cost + f.partner_cost) AS profit
    FROM figures f
)
INSERT INTO crm_accountmetrics AS m (
    customer_id, as_of, last_visit_on, days_since_visit, cadence_days, next_due_on, days_overdue,
    revenue, gross_margin, discount, visit_cost, support_cost, late_payment_cost, partner_cost,
    cost_to_serve, profit, visits_done, visit_minutes, support_minutes, average_days_late,
    oldest_unpaid_days_late, is_neglected, is_unprofitable, is_late_payer, follow_up_overdue_on,
    recommendation, recommendation_since, months_as_of, computed_at,
    intervals, intervals_on_cadence, follow_ups_promised, follow_ups_kept
)
SELECT customer_id, %(as_of)s, last_visit_on, days_since, cadence,
       %(as_of)s::date - days_since + cadence, days_since - cadence,
       revenue, margin, discount, visit_cost, support_cost, late_cost, partner_cost,
       cost_to_serve, profit, visits_done, visit_minutes, support_minutes, average_days_late,
       oldest_unpaid_days,
       -- No cadence (partner, self-service): never neglected.
       COALESCE(status = '{CustomerStatus.ACTIVE}' AND days_since > cadence, false),
       status = '{CustomerStatus.ACTIVE}' AND profit < 0,
       -- Prospects owe nothing yet; accounts let go (lost) are no longer watched.
       status NOT IN ('{CustomerStatus.PROSPECT}', '{CustomerStatus.LOST}')
           AND (COALESCE(oldest_unpaid_days, 0) > %(late_unpaid_days)s
                OR COALESCE(average_days_late, 0) > %(late_average_days)s),
       follow_up_overdue_on,
       {RECOMMENDATION_SQL},
       -- Set when the recommendation changes (below); a first one is not a change.
       NULL,
       %(months_as_of)s::date,
       %(now)s,
       intervals, intervals_on_cadence, follow_ups_promised, follow_ups_kept
FROM judged
ON CONFLICT (customer_id) DO UPDATE SET
    as_of = EXCLUDED.as_of, last_visit_on = EXCLUDED.last_visit_on,
    days_since_visit = EXCLUDED.days_since_visit, cadence_days = EXCLUDED.cadence_days,
    next_due_on = EXCLUDED.next_due_on, days_overdue = EXCLUDED.days_overdue,
    revenue = EXCLUDED.revenue, gross_margin = EXCLUDED.gross_margin,
    discount = EXCLUDED.discount, visit_cost = EXCLUDED.visit_cost,
    support_cost = EXCLUDED.support_cost, late_payment_cost = EXCLUDED.late_payment_cost,
    partner_cost = EXCLUDED.partner_cost,
    cost_to_serve = EXCLUDED.cost_to_serve, profit = EXCLUDED.profit,
    visits_done = EXCLUDED.visits_done, visit_minutes = EXCLUDED.visit_minutes,
    support_minutes = EXCLUDED.support_minutes, average_days_late = EXCLUDED.average_days_late,
    oldest_unpaid_days_late = EXCLUDED.oldest_unpaid_days_late,
    is_neglected = EXCLUDED.is_neglected, is_unprofitable = EXCLUDED.is_unprofitable,
    is_late_payer = EXCLUDED.is_late_payer,
    follow_up_overdue_on = EXCLUDED.follow_up_overdue_on,
    recommendation = EXCLUDED.recommendation,
    recommendation_since = CASE WHEN m.recommendation IS DISTINCT FROM EXCLUDED.recommendation
                                THEN EXCLUDED.as_of ELSE m.recommendation_since END,
    months_as_of = COALESCE(EXCLUDED.months_as_of, m.months_as_of),
    computed_at = EXCLUDED.computed_at,
    intervals = EXCLUDED.intervals, intervals_on_cadence = EXCLUDED.intervals_on_cadence,
    follow_ups_promised = EXCLUDED.follow_ups_promised,
    follow_ups_kept = EXCLUDED.follow_ups_kept
WHERE (m.as_of, m.last_visit_on, m.days_since_visit, m.cadence_days, m.revenue, m.gross_margin,
       m.discount, m.visit_cost, m.support_cost, m.late_payment_cost, m.partner_cost,
       m.visits_done,
       m.visit_minutes, m.support_minutes, m.average_days_late, m.oldest_unpaid_days_late,
       m.is_neglected, m.is_unprofitable, m.is_late_payer, m.follow_up_overdue_on,
       m.recommendation, m.months_as_of, m.intervals, m.intervals_on_cadence,
       m.follow_ups_promised, m.follow_ups_kept)
  IS DISTINCT FROM
      (EXCLUDED.as_of, EXCLUDED.last_visit_on, EXCLUDED.days_since_visit, EXCLUDED.cadence_days,
       EXCLUDED.revenue, EXCLUDED.gross_margin, EXCLUDED.discount, EXCLUDED.visit_cost,
       EXCLUDED.support_cost, EXCLUDED.late_payment_cost, EXCLUDED.partner_cost,
       EXCLUDED.visits_done,
       EXCLUDED.visit_minutes, EXCLUDED.support_minutes, EXCLUDED.average_days_late,
       EXCLUDED.oldest_unpaid_days_late, EXCLUDED.is_neglected, EXCLUDED.is_unprofitable,
       EXCLUDED.is_late_payer, EXCLUDED.follow_up_overdue_on, EXCLUDED.recommendation,
       COALESCE(EXCLUDED.months_as_of, m.months_as_of), EXCLUDED.intervals,
       EXCLUDED.intervals_on_cadence, EXCLUDED.follow_ups_promised, EXCLUDED.follow_ups_kept)
"""

# The condition of a flag kind, and the figures kept with it (numbers as 2-decimal strings).
_HOLDS = f"""(CASE {{kind}} WHEN '{FlagKind.NEGLECTED}' THEN m.is_neglected
                       WHEN '{FlagKind.UNPROFITABLE}' THEN m.is_unprofitable
                       ELSE m.is_late_payer END)"""
_INPUTS = f"""(CASE {{kind}}
    WHEN '{FlagKind.NEGLECTED}' THEN jsonb_build_object(
        'last_visit_on', m.last_visit_on::text,
        'days_since_visit', ROUND(m.days_since_visit::numeric, 2)::text,
        'cadence_days', ROUND(m.cadence_days::numeric, 2)::text,
        'tier', c.tier, 'own_cadence', c.cadence_days IS NOT NULL)
    WHEN '{FlagKind.UNPROFITABLE}' THEN jsonb_build_object(
        'revenue', m.revenue::text, 'gross_margin', m.gross_margin::text,
        'visit_cost', m.visit_cost::text, 'support_cost', m.support_cost::text,
        'late_payment_cost', m.late_payment_cost::text,
        'partner_cost', m.partner_cost::text,
        'cost_to_serve', m.cost_to_serve::text, 'profit', m.profit::text)
    ELSE jsonb_build_object(
        'oldest_unpaid_days_late', ROUND(m.oldest_unpaid_days_late::numeric, 2)::text,
        'average_days_late', ROUND(m.average_days_late, 2)::text,
        'unpaid_threshold_days', ROUND(%(late_unpaid_days)s::numeric, 2)::text,
        'average_threshold_days', ROUND(%(late_average_days)s::numeric, 2)::text)
    END)"""

_RESOLVE_SQL = f"""
UPDATE crm_accountflag f SET resolved_at = %(now)s
FROM crm_accountmetrics m
WHERE f.customer_id = m.customer_id AND f.resolved_at IS NULL AND {{customers:f.customer_id}}
  AND NOT {_HOLDS.format(kind="f.kind")}
RETURNING f.kind, f.id
"""

_RERAISE_SQL = """
UPDATE crm_accountflag f
SET acknowledged_by_id = NULL, acknowledged_at = NULL, acknowledged_reason = '',
    acknowledged_until = NULL, raised_at = %(now)s
WHERE f.resolved_at IS NULL AND f.acknowledged_until < %(as_of)s AND {customers:f.customer_id}
RETURNING f.kind
"""

_UPDATE_INPUTS_SQL = f"""
UPDATE crm_accountflag f SET inputs = {_INPUTS.format(kind="f.kind")}, as_of = %(as_of)s
FROM crm_accountmetrics m JOIN crm_customer c ON c.id = m.customer_id
WHERE f.customer_id = m.customer_id AND f.resolved_at IS NULL AND {{customers:f.customer_id}}
  AND (f.inputs, f.as_of) IS DISTINCT FROM ({_INPUTS.format(kind="f.kind")}, %(as_of)s::date)
"""

_OPEN_SQL = f"""
INSERT INTO crm_accountflag (
    customer_id, kind, inputs, as_of, opened_at, raised_at, resolved_at, acknowledged_by_id,
    acknowledged_at, acknowledged_reason, acknowledged_until
)
SELECT m.customer_id, k.kind, {_INPUTS.format(kind="k.kind")}, %(as_of)s, %(now)s, %(now)s, NULL,
       earlier.acknowledged_by_id, earlier.acknowledged_at,
       COALESCE(earlier.acknowledged_reason, ''), earlier.acknowledged_until
FROM crm_accountmetrics m
JOIN crm_customer c ON c.id = m.customer_id
CROSS JOIN (VALUES {_FLAG_KINDS}) AS k (kind)
-- An acknowledgement still running carries over to a flag raised again before its end.
LEFT JOIN LATERAL (
    SELECT p.acknowledged_by_id, p.acknowledged_at, p.acknowledged_reason, p.acknowledged_until
    FROM crm_accountflag p
    WHERE p.customer_id = m.customer_id AND p.kind = k.kind AND p.acknowledged_until >= %(as_of)s
    ORDER BY p.acknowledged_until DESC
    LIMIT 1
) earlier ON true
WHERE {{customers:m.customer_id}} AND {_HOLDS.format(kind="k.kind")}
ON CONFLICT (customer_id, kind) WHERE resolved_at IS NULL DO NOTHING
RETURNING kind, id
"""


@dataclass
class RefreshResult:
    as_of: dt.date
    customers: int = 0
    opened: Counter = field(default_factory=Counter)
    resolved: Counter = field(default_factory=Counter)
    reraised: Counter = field(default_factory=Counter)
    months: int = 0

    @property
    def changed(self) -> bool:
        """Whether anything was written (a re-run for the same day writes nothing)."""
        return bool(self.customers or self.months or self.opened or self.resolved or self.reraised)

    def merge(self, other: "RefreshResult") -> None:
        self.customers += other.customers
        self.months += other.months
        self.opened.update(other.opened)
        self.resolved.update(other.resolved)
        self.reraised.update(other.reraised)


def health_settings() -> HealthSettings:
    return HealthSettings.objects.filter(pk=1).first() or HealthSettings(pk=1)


def _start_of(day: dt.date, tz) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=tz)


def _parameters(as_of: dt.date) -> dict:
    rates = health_settings()
    tz = timezone.get_default_timezone()
    window_start = as_of - dt.timedelta(days=WINDOW_DAYS - 1)
    return {
        "as_of": as_of,
        "tz": settings.TIME_ZONE,
        "now": timezone.now(),
        "window_start": window_start,
        "window_start_at": _start_of(window_start, tz),
        "window_end_at": _start_of(as_of + dt.timedelta(days=1), tz),
        "cost_per_km": rates.cost_per_km,
        "support_hourly_cost": rates.support_hourly_cost,
        "cost_of_capital": rates.annual_cost_of_capital,
        "late_unpaid_days": rates.late_unpaid_days,
        "late_average_days": rates.late_average_days,
    }


_SCOPE_MARK = re.compile(r"\{customers:([a-z_.]+)\}")


def _scoped(sql: str, where: str) -> str:
    """Put the batch's customer filter (`where`, with {column}) in every {customers:column}."""
    return _SCOPE_MARK.sub(lambda match: where.format(column=match.group(1)), sql)


def _run_batch(where: str, params: dict) -> RefreshResult:
    """Metrics and flags of a batch; `months_as_of` in params (None: unchanged) records the
    day its monthly figures were just brought to."""
    result = RefreshResult(as_of=params["as_of"])
    params = {"months_as_of": None} | params
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_scoped(_METRICS_SQL, where), params)
        result.customers = cursor.rowcount
        cursor.execute(_scoped(_RESOLVE_SQL, where), params)
        resolved = cursor.fetchall()
        result.resolved.update(kind for kind, _ in resolved)
        cursor.execute(_scoped(_RERAISE_SQL, where), params)
        result.reraised.update(kind for (kind,) in cursor.fetchall())
        cursor.execute(_scoped(_UPDATE_INPUTS_SQL, where), params)
        cursor.execute(_scoped(_OPEN_SQL, where), params)
        opened = cursor.fetchall()
        result.opened.update(kind for kind, _ in opened)
        if opened or resolved:
            announce(
                flags_changed,
                sender=RefreshResult,
                opened=[pk for _, pk in opened],
                resolved=[pk for _, pk in resolved],
            )
    return result


_RANGE = "{column} BETWEEN %(low)s AND %(high)s"
_IDS = "{column} = ANY(%(ids)s)"


def _by_ids_isolating(run, *, ids: list[int], params: dict, what: str) -> list:
    """`run(where, params)` over these customers, CADENCE_BATCH_SIZE at a time; a customer
    whose figures the database refuses is skipped and logged, the others are refreshed."""
    results = []
    size = settings.CADENCE_BATCH_SIZE
    for start in range(0, len(ids), size):
        results += run_isolating(
            ids[start : start + size],
            lambda part: run(_IDS, params | {"ids": part}),
            what=what,
        )
    return results


def _by_range_isolating(run, *, low: int, high: int, params: dict, what: str) -> list:
    """`run(where, params)` for the id range in one statement; if the database refuses it,
    again customer set by customer set so one bad account does not fail the batch."""
    try:
        return [run(_RANGE, params | {"low": low, "high": high})]
    except DATA_FAULTS:
        logger.warning("%s ids=%d-%d refused; finding the customer at fault", what, low, high)
    ids = list(
        Customer.objects.filter(pk__range=(low, high)).order_by("pk").values_list("pk", flat=True)
    )
    return _by_ids_isolating(run, ids=ids, params=params, what=what)


def _merged(results: list[RefreshResult], as_of: dt.date) -> RefreshResult:
    total = RefreshResult(as_of=as_of)
    for result in results:
        total.merge(result)
    return total


def health_refresh_range(
    *, low: int, high: int, as_of: dt.date, full: bool = False
) -> RefreshResult:
    """Refresh customers with low <= id <= high (one batch: callers keep ranges bounded),
    except, unless `full`, those already refreshed for `as_of` with no change requested since."""
    results = _by_range_isolating(
        _run_batch,
        low=low,
        high=high,
        params=_parameters(as_of) | {"full": full},
        what="health refresh",
    )
    return _merged(results, as_of)


def health_refresh_customers(*, customer_ids: list[int], as_of: dt.date) -> RefreshResult:
    """Refresh a few customers, e.g. the one whose visit, invoice or case just changed."""
    results = _by_ids_isolating(
        _run_batch,
        ids=sorted(set(customer_ids)),
        params=_parameters(as_of) | {"full": True},
        what="health refresh",
    )
    return _merged(results, as_of)


def health_batches(batch_size: int | None = None) -> list[tuple[int, int]]:
    """Id ranges covering every customer, at most `batch_size` ids wide (default: the
    CADENCE_BATCH_SIZE setting, 10,000)."""
    batch_size = batch_size or settings.CADENCE_BATCH_SIZE
    with connection.cursor() as cursor:
        cursor.execute("SELECT MIN(id), MAX(id) FROM crm_customer")
        low, high = cursor.fetchone()
    if low is None:
        return []
    return [
        (start, min(high, start + batch_size - 1)) for start in range(low, high + 1, batch_size)
    ]


def health_refresh_all(*, as_of: dt.date, full: bool = False) -> RefreshResult:
    """The full refresh, batch after batch in this process (the nightly job fans the same
    batches out to workers instead)."""
    total = RefreshResult(as_of=as_of)
    for low, high in health_batches():
        total.merge(health_refresh_range(low=low, high=high, as_of=as_of, full=full))
    return total


MONTHS_KEPT = 24

# Monthly figures are computed for "targets": per customer, a span of days [first_day, last_day]
# made of whole months (the last one cut at as_of). A full refresh targets the 24 months kept;
# the nightly run targets only the months that can have changed since the customer's
# `months_as_of` (below), so a closed month whose rows did not change is not read again.
_TARGETS_FULL = """
    SELECT c.id AS customer_id, %(months_start)s::date AS first_day, %(as_of)s::date AS last_day
    FROM crm_customer c
    LEFT JOIN crm_accountmetrics m ON m.customer_id = c.id
    WHERE {customers:c.id}
      AND (%(full)s OR m.months_as_of IS NULL OR m.months_as_of > %(as_of)s)
"""

# What changes with time alone, between `since` and as_of, and the month it lands in: an
# invoice, visit or case dated after `since` (now counted), an invoice falling due after
# `since` (its month row may appear), and the late cost of every invoice not paid by `since`
# and past due (it grows daily). Any other change to a month goes through a service that
# requests a full refresh of the customer (core.refresh), which resets `months_as_of`.
_TARGETS_FORWARD = f"""
    SELECT DISTINCT s.customer_id, d.month AS first_day,
           LEAST((d.month + interval '1 month')::date - 1, %(as_of)s::date) AS last_day
    FROM (
        SELECT m.customer_id, m.months_as_of AS since
        FROM crm_accountmetrics m
        WHERE {{customers:m.customer_id}} AND NOT %(full)s AND m.months_as_of < %(as_of)s
    ) s
    CROSS JOIN LATERAL (
        SELECT date_trunc('month', i.due_on)::date AS month
        FROM crm_invoice i
        WHERE i.customer_id = s.customer_id AND i.due_on BETWEEN %(months_start)s AND %(as_of)s
          AND (i.due_on > s.since
               OR ((i.paid_on IS NULL OR i.paid_on > s.since) AND i.due_on < %(as_of)s))
        UNION ALL
        SELECT date_trunc('month', i.issued_on)::date
        FROM crm_invoice i
        WHERE i.customer_id = s.customer_id AND i.issued_on > s.since
          AND i.issued_on BETWEEN %(months_start)s AND %(as_of)s
        UNION ALL
        SELECT date_trunc('month', v.visited_at AT TIME ZONE %(tz)s)::date
        FROM visits_visit v
        WHERE v.customer_id = s.customer_id AND v.status = '{VisitStatus.DONE}'
          AND v.visited_at >= ((s.since + 1)::timestamp AT TIME ZONE %(tz)s)
          AND v.visited_at >= %(months_start_at)s AND v.visited_at < %(window_end_at)s
        UNION ALL
        SELECT date_trunc('month', sc.opened_on)::date
        FROM crm_supportcase sc
        WHERE sc.customer_id = s.customer_id AND sc.opened_on > s.since
          AND sc.opened_on BETWEEN %(months_start)s AND %(as_of)s
    ) d
"""

# An invoice's amount times the days it was paid late (or is unpaid past due) as of as_of.
_AMOUNT_DAYS_LATE = (
    "h.amount * GREATEST(0, COALESCE(CASE WHEN i.paid_on <= %(as_of)s THEN i.paid_on END, "
    "%(as_of)s::date) - i.due_on)"
)

# Every part is read per target (LATERAL: an index range scan per customer and span, whatever
# the planner guesses of the targets' number), summed per customer and month.
_MONTHLY_SQL = f"""
WITH targets AS MATERIALIZED ({{targets}}),
parts AS (
    SELECT t.customer_id, p.*
    FROM targets t
    CROSS JOIN LATERAL (
        SELECT date_trunc('month', i.issued_on)::date AS month,
               h.amount AS revenue, h.amount - h.cost_of_goods AS margin, h.discount,
               0 AS visit_cost, 0 AS support_cost, 0 AS late_cost, 0 AS visits,
               0 AS partner_cost
        FROM crm_invoice i
        CROSS JOIN LATERAL ({HOUSE_AMOUNTS_SQL}) h
        WHERE i.customer_id = t.customer_id AND i.issued_on BETWEEN t.first_day AND t.last_day
        UNION ALL
        SELECT date_trunc('month', i.due_on)::date, 0, 0, 0, 0, 0,
               {late_cost_sql(amount_days=_AMOUNT_DAYS_LATE)},
               0, 0
        FROM crm_invoice i
        CROSS JOIN LATERAL ({HOUSE_AMOUNTS_SQL}) h
        WHERE i.customer_id = t.customer_id AND i.due_on BETWEEN t.first_day AND t.last_day
        UNION ALL
        SELECT r.month, 0, 0, 0,
               {
    visit_cost_sql(
        minutes="r.minutes", km="r.km", expenses="r.expenses", hourly_cost="u.hourly_cost"
    )
},
               0, 0, r.visits, 0
        FROM (
            SELECT v.salesperson_id,
                   date_trunc('month', v.visited_at AT TIME ZONE %(tz)s)::date AS month,
                   SUM(v.duration_minutes::bigint + v.travel_minutes) AS minutes,
                   SUM(v.distance_km) AS km,
                   SUM(v.expenses) AS expenses, COUNT(*) AS visits
            FROM visits_visit v
            WHERE v.customer_id = t.customer_id AND v.status = '{VisitStatus.DONE}'
              AND v.visited_at >= (t.first_day::timestamp AT TIME ZONE %(tz)s)
              AND v.visited_at < ((t.last_day + 1)::timestamp AT TIME ZONE %(tz)s)
              AND v.visited_at < %(window_end_at)s
            GROUP BY 1, 2
        ) r
        JOIN accounts_user u ON u.id = r.salesperson_id
        UNION ALL
        SELECT date_trunc('month', s.opened_on)::date, 0, 0, 0, 0,
               {support_cost_sql(minutes="s.minutes")}, 0, 0, 0
        FROM crm_supportcase s
        WHERE s.customer_id = t.customer_id AND s.opened_on BETWEEN t.first_day AND t.last_day
        UNION ALL
        SELECT date_trunc('month', i.issued_on)::date, 0, 0, 0, 0, 0, 0, 0,
               {
    partner_charge_sql(
        amount="h.amount",
        commission_percent="p.commission_percent",
        fee_per_order="p.fee_per_order",
    )
}
        FROM crm_customer pc
        JOIN crm_partner p ON p.id = pc.partner_id
        JOIN crm_invoice i ON i.customer_id = pc.id
        CROSS JOIN LATERAL ({HOUSE_AMOUNTS_SQL}) h
        WHERE pc.id = t.customer_id AND pc.service_model = '{ServiceModel.PARTNER}'
          AND i.issued_on BETWEEN GREATEST(t.first_day, pc.service_since) AND t.last_day
    ) p
),
fresh AS (
    SELECT customer_id, month, SUM(revenue) AS revenue, SUM(margin) AS margin,
           SUM(discount) AS discount, ROUND(SUM(visit_cost), 2) AS visit_cost,
           ROUND(SUM(support_cost), 2) AS support_cost, ROUND(SUM(late_cost), 2) AS late_cost,
           SUM(visits) AS visits, ROUND(SUM(partner_cost), 2) AS partner_cost
    FROM parts
    GROUP BY customer_id, month
){{removed}}
INSERT INTO crm_accountmonth AS am (
    customer_id, month, revenue, gross_margin, discount, visit_cost, support_cost,
    late_payment_cost, visits_done, partner_cost
)
SELECT customer_id, month, revenue, margin, discount, visit_cost, support_cost, late_cost, visits,
       partner_cost
FROM fresh
ON CONFLICT (customer_id, month) DO UPDATE SET
    revenue = EXCLUDED.revenue, gross_margin = EXCLUDED.gross_margin,
    discount = EXCLUDED.discount, visit_cost = EXCLUDED.visit_cost,
    support_cost = EXCLUDED.support_cost, late_payment_cost = EXCLUDED.late_payment_cost,
    visits_done = EXCLUDED.visits_done, partner_cost = EXCLUDED.partner_cost
WHERE (am.revenue, am.gross_margin, am.discount, am.visit_cost, am.support_cost,
       am.late_payment_cost, am.visits_done, am.partner_cost)
  IS DISTINCT FROM
      (EXCLUDED.revenue, EXCLUDED.gross_margin, EXCLUDED.discount, EXCLUDED.visit_cost,
       EXCLUDED.support_cost, EXCLUDED.late_payment_cost, EXCLUDED.visits_done,
       EXCLUDED.partner_cost)
"""

# A month left with no rows (they were deleted or moved) goes. Only a full recomputation needs
# this: time alone only adds rows to a month, so bringing months forward never empties one.
_REMOVED = """,
removed AS (
    -- NOT IN over the two columns (never NULL in fresh) is answered with one hashed lookup per
    -- stored month; NOT EXISTS was planned as a merge on the customer alone, re-reading every
    -- fresh month of the customer for each stored one.
    -- Full targets span the months kept: the batch's own range bounds the scan.
    DELETE FROM crm_accountmonth am
    WHERE {customers:am.customer_id} AND am.month >= %(months_start)s
      AND am.customer_id IN (SELECT t.customer_id FROM targets t)
      AND (am.customer_id, am.month) NOT IN (SELECT f.customer_id, f.month FROM fresh f)
)"""

_MONTHLY_FULL_SQL = _MONTHLY_SQL.replace("{targets}", _TARGETS_FULL).replace("{removed}", _REMOVED)
_MONTHLY_FORWARD_SQL = _MONTHLY_SQL.replace("{targets}", _TARGETS_FORWARD).replace("{removed}", "")

# Months older than the 24 kept leave as the window moves on.
_MONTHS_EXPIRED_SQL = """
DELETE FROM crm_accountmonth am WHERE {customers:am.customer_id} AND am.month < %(months_start)s
"""

_MONTHS_AS_OF_SQL = """
UPDATE crm_accountmetrics m SET months_as_of = %(as_of)s
WHERE {customers:m.customer_id} AND m.months_as_of IS DISTINCT FROM %(as_of)s
"""


def monthly_window_start(as_of: dt.date) -> dt.date:
    """The first day of the oldest of the MONTHS_KEPT months up to `as_of`."""
    first = as_of.replace(day=1)
    for _ in range(MONTHS_KEPT - 1):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    return first


def _monthly_parameters(as_of: dt.date) -> dict:
    params = _parameters(as_of)
    first = monthly_window_start(as_of)
    params["months_start"] = first
    params["months_start_at"] = _start_of(first, timezone.get_default_timezone())
    return params


def _months_write(cursor, where: str, params: dict) -> int:
    written = 0
    for sql in (_MONTHLY_FULL_SQL, _MONTHLY_FORWARD_SQL):
        cursor.execute(_scoped(sql, where), params)
        written += cursor.rowcount
    cursor.execute(_scoped(_MONTHS_EXPIRED_SQL, where), params)
    return written


def _run_monthly(where: str, params: dict) -> int:
    with transaction.atomic(), connection.cursor() as cursor:
        written = _months_write(cursor, where, params)
        cursor.execute(_scoped(_MONTHS_AS_OF_SQL, where), params)
        return written


def _run_figures(where: str, params: dict) -> RefreshResult:
    """Monthly figures, then metrics and flags, of a batch in one transaction: the metrics'
    upsert records `months_as_of` with the rows it writes anyway, and a batch the database
    refuses is split (run_isolating) with both parts together."""
    with transaction.atomic(), connection.cursor() as cursor:
        months = _months_write(cursor, where, params)
        result = _run_batch(where, params | {"months_as_of": params["as_of"]})
    result.months = months
    return result


def figures_refresh_range(
    *, low: int, high: int, as_of: dt.date, full: bool = False
) -> RefreshResult:
    """Monthly figures, metrics and flags of customers low..high (the nightly batch): closed
    months brought forward and customers already refreshed for `as_of` passed over, unless
    `full`."""
    results = _by_range_isolating(
        _run_figures,
        low=low,
        high=high,
        params=_monthly_parameters(as_of) | {"full": full},
        what="figures refresh",
    )
    return _merged(results, as_of)


def figures_refresh_customers(*, customer_ids: list[int], as_of: dt.date) -> RefreshResult:
    """Everything these customers' figures are made of, recomputed whole: something changed."""
    results = _by_ids_isolating(
        _run_figures,
        ids=sorted(set(customer_ids)),
        params=_monthly_parameters(as_of) | {"full": True},
        what="figures refresh",
    )
    return _merged(results, as_of)


def monthly_refresh_range(*, low: int, high: int, as_of: dt.date, full: bool = False) -> int:
    """Per-month figures of customers low..high for the 24 months up to `as_of`, brought
    forward from each customer's `months_as_of` (recomputed whole when it has none);
    idempotent: a second run for the same day reads and writes nothing. Returns the rows
    written. `full` recomputes every month of every customer (data changed outside Cadence's
    services)."""
    params = _monthly_parameters(as_of) | {"full": full}
    results = _by_range_isolating(
        _run_monthly, low=low, high=high, params=params, what="monthly refresh"
    )
    return sum(results)


def monthly_refresh_customers(*, customer_ids: list[int], as_of: dt.date) -> int:
    """Recompute these customers' 24 months whole: something in them changed."""
    results = _by_ids_isolating(
        _run_monthly,
        ids=sorted(set(customer_ids)),
        params=_monthly_parameters(as_of) | {"full": True},
        what="monthly refresh",
    )
    return sum(results)


def monthly_refresh_all(*, as_of: dt.date, full: bool = False) -> int:
    return sum(
        monthly_refresh_range(low=low, high=high, as_of=as_of, full=full)
        for low, high in health_batches()
    )
