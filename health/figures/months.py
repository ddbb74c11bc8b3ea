"""Each account's figures month by month (crm_accountmonth), the 24 months up to the as-of day,
for the managers' trends. Computed for "targets": per customer, a span of days made of whole
months; a full recomputation targets all 24, the nightly run only the months that can have
changed since the customer's `months_as_of` (health.figures.refresh runs them)."""

import datetime as dt
import functools

from core.sql import Composed, compose, fragment, identifier
from crm.models import ServiceModel
from health.costs import (
    HOUSE_AMOUNTS_SQL,
    late_cost_sql,
    partner_charge_sql,
    support_cost_sql,
    visit_cost_sql,
)
from health.figures.batch import Scope
from visits.models import VisitStatus

MONTHS_KEPT = 24

# Monthly figures are computed for "targets": per customer, a span of days [first_day, last_day]
# made of whole months (the last one cut at as_of). A full refresh targets the 24 months kept;
# the nightly run targets only the months that can have changed since the customer's
# `months_as_of` (below), so a closed month whose rows did not change is not read again.
_TARGETS_FULL = """
    SELECT c.id AS customer_id, %(months_start)s::date AS first_day, %(as_of)s::date AS last_day
    FROM crm_customer c
    LEFT JOIN crm_accountmetrics m ON m.customer_id = c.id
    WHERE {in_c}
      AND (%(full)s OR m.months_as_of IS NULL OR m.months_as_of > %(as_of)s)
"""

# What changes with time alone, between `since` and as_of, and the month it lands in: an
# invoice, visit or case dated after `since` (now counted), an invoice falling due after
# `since` (its month row may appear), and the late cost of every invoice not paid by `since`
# and past due (it grows daily). Any other change to a month goes through a service that
# requests a full refresh of the customer (core.refresh), which resets `months_as_of`.
_TARGETS_FORWARD = """
    SELECT DISTINCT s.customer_id, d.month AS first_day,
           LEAST((d.month + interval '1 month')::date - 1, %(as_of)s::date) AS last_day
    FROM (
        SELECT m.customer_id, m.months_as_of AS since
        FROM crm_accountmetrics m
        WHERE {in_m} AND NOT %(full)s AND m.months_as_of < %(as_of)s
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
        WHERE v.customer_id = s.customer_id AND v.status = {done}
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
_AMOUNT_DAYS_LATE = fragment(
    "h.amount * GREATEST(0, COALESCE(CASE WHEN i.paid_on <= %(as_of)s THEN i.paid_on END, "
    "%(as_of)s::date) - i.due_on)"
)

# Every part is read per target (LATERAL: an index range scan per customer and span, whatever
# the planner guesses of the targets' number), summed per customer and month.
_MONTHLY = """
WITH targets AS MATERIALIZED ({targets}),
parts AS (
    SELECT t.customer_id, p.*
    FROM targets t
    CROSS JOIN LATERAL (
        SELECT date_trunc('month', i.issued_on)::date AS month,
               h.amount AS revenue, h.amount - h.cost_of_goods AS margin, h.discount,
               0 AS visit_cost, 0 AS support_cost, 0 AS late_cost, 0 AS visits,
               0 AS partner_cost
        FROM crm_invoice i
        CROSS JOIN LATERAL ({house_amounts}) h
        WHERE i.customer_id = t.customer_id AND i.issued_on BETWEEN t.first_day AND t.last_day
        UNION ALL
        SELECT date_trunc('month', i.due_on)::date, 0, 0, 0, 0, 0,
               {late_cost},
               0, 0
        FROM crm_invoice i
        CROSS JOIN LATERAL ({house_amounts}) h
        WHERE i.customer_id = t.customer_id AND i.due_on BETWEEN t.first_day AND t.last_day
        UNION ALL
        SELECT r.month, 0, 0, 0,
               {visit_cost},
               0, 0, r.visits, 0
        FROM (
            SELECT v.salesperson_id,
                   date_trunc('month', v.visited_at AT TIME ZONE %(tz)s)::date AS month,
                   SUM(v.duration_minutes::bigint + v.travel_minutes) AS minutes,
                   SUM(v.distance_km) AS km,
                   SUM(v.expenses) AS expenses, COUNT(*) AS visits
            FROM visits_visit v
            WHERE v.customer_id = t.customer_id AND v.status = {done}
              AND v.visited_at >= (t.first_day::timestamp AT TIME ZONE %(tz)s)
              AND v.visited_at < ((t.last_day + 1)::timestamp AT TIME ZONE %(tz)s)
              AND v.visited_at < %(window_end_at)s
            GROUP BY 1, 2
        ) r
        JOIN accounts_user u ON u.id = r.salesperson_id
        UNION ALL
        SELECT date_trunc('month', s.opened_on)::date, 0, 0, 0, 0,
               {support_cost}, 0, 0, 0
        FROM crm_supportcase s
        WHERE s.customer_id = t.customer_id AND s.opened_on BETWEEN t.first_day AND t.last_day
        UNION ALL
        SELECT date_trunc('month', i.issued_on)::date, 0, 0, 0, 0, 0, 0, 0,
               {partner_charge}
        FROM crm_customer pc
        JOIN crm_partner p ON p.id = pc.partner_id
        JOIN crm_invoice i ON i.customer_id = pc.id
        CROSS JOIN LATERAL ({house_amounts}) h
        WHERE pc.id = t.customer_id AND pc.service_model = {partner}
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
){removed}
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
    WHERE {in_am} AND am.month >= %(months_start)s
      AND am.customer_id IN (SELECT t.customer_id FROM targets t)
      AND (am.customer_id, am.month) NOT IN (SELECT f.customer_id, f.month FROM fresh f)
)"""


# Months older than the 24 kept leave as the window moves on.
_MONTHS_EXPIRED = """
DELETE FROM crm_accountmonth am WHERE {in_am} AND am.month < %(months_start)s
"""


def monthly_window_start(as_of: dt.date) -> dt.date:
    """The first day of the oldest of the MONTHS_KEPT months up to `as_of`."""
    first = as_of.replace(day=1)
    for _ in range(MONTHS_KEPT - 1):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    return first


@functools.cache
def month_statements(scope: Scope) -> dict[str, Composed]:
    """For the batch `scope` picks: the full and the forward recomputation, the expiry of months
    older than those kept."""
    monthly = {
        "house_amounts": HOUSE_AMOUNTS_SQL,
        "late_cost": late_cost_sql(amount_days=_AMOUNT_DAYS_LATE),
        "visit_cost": visit_cost_sql(
            minutes=identifier("r", "minutes"),
            km=identifier("r", "km"),
            expenses=identifier("r", "expenses"),
            hourly_cost=identifier("u", "hourly_cost"),
        ),
        "support_cost": support_cost_sql(minutes=identifier("s", "minutes")),
        "partner_charge": partner_charge_sql(
            amount=identifier("h", "amount"),
            commission_percent=identifier("p", "commission_percent"),
            fee_per_order=identifier("p", "fee_per_order"),
        ),
        "done": VisitStatus.DONE,
        "partner": ServiceModel.PARTNER,
    }
    return {
        "full": compose(
            _MONTHLY,
            targets=compose(_TARGETS_FULL, in_c=scope.of("c", "id")),
            removed=compose(_REMOVED, in_am=scope.of("am")),
            **monthly,
        ),
        "forward": compose(
            _MONTHLY,
            targets=compose(_TARGETS_FORWARD, in_m=scope.of("m"), done=VisitStatus.DONE),
            removed=fragment(""),
            **monthly,
        ),
        "expired": compose(_MONTHS_EXPIRED, in_am=scope.of("am")),
    }
