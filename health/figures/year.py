"""A year's figures of each account (crm_accountmetrics): visits, orders, support and partner
costs over the WINDOW_DAYS up to the as-of day, the cadence, the three flag conditions and the
review's recommendation, in one upsert per batch of customers (health.figures.refresh runs it).
The model (window, rates, thresholds) is documented in docs/account-health.md."""

import functools
from decimal import Decimal

from core.sql import Composed, compose, fragment, identifier
from crm.cadence import cadence_days_sql, cadence_start_sql
from crm.models import CustomerStatus, ServiceModel
from health.costs import (
    HOUSE_AMOUNTS_SQL,
    late_cost_sql,
    partner_charge_sql,
    support_cost_sql,
    visit_cost_sql,
)
from health.figures.batch import Scope
from health.models import Recommendation
from visits.models import CADENCE_VISIT_KINDS, AskKind, Outcome, VisitStatus

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
RECOMMENDATION_SQL = compose(
    """CASE
    WHEN profit < 0 AND profit >= -visit_cost AND service_model = {field}
        THEN {move_remote}
    WHEN profit < 0 THEN {hand_off}
    WHEN status = {active} AND days_since > cadence
        THEN {visit_now}
    WHEN margin > 0 AND cost_to_serve >= margin * {reprice_share}
        THEN {reprice}
    WHEN revenue > 0 AND margin >= revenue * {grow_margin}
         AND cost_to_serve <= margin * {grow_cost} THEN {grow}
    ELSE {keep} END""",
    field=ServiceModel.FIELD,
    move_remote=Recommendation.MOVE_REMOTE,
    hand_off=Recommendation.HAND_OFF,
    active=CustomerStatus.ACTIVE,
    visit_now=Recommendation.VISIT_NOW,
    reprice_share=REPRICE_MIN_COST_SHARE,
    reprice=Recommendation.REPRICE,
    grow_margin=GROW_MIN_MARGIN_SHARE,
    grow_cost=GROW_MAX_COST_SHARE,
    grow=Recommendation.GROW,
    keep=Recommendation.KEEP,
)

_METRICS = """
WITH scope AS (
    SELECT c.id, c.status, c.since, c.created_at,
           c.service_model, c.partner_id, c.service_since,
           {cadence} AS cadence
    FROM crm_customer c
    WHERE {in_c}
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
           MAX(v.visited_at) FILTER (WHERE v.kind IN ({cadence_kinds})) AS last_visit_at,
           MAX(v.visited_at) AS last_any_at,
           COUNT(*) FILTER (WHERE v.visited_at >= %(window_start_at)s) AS visits_done,
           SUM(v.duration_minutes::bigint + v.travel_minutes)
               FILTER (WHERE v.visited_at >= %(window_start_at)s) AS minutes,
           SUM(v.distance_km) FILTER (WHERE v.visited_at >= %(window_start_at)s) AS km,
           SUM(v.expenses) FILTER (WHERE v.visited_at >= %(window_start_at)s) AS expenses
    FROM visits_visit v
    WHERE {in_v}
      AND v.status = {done}
      AND v.visited_at < %(window_end_at)s
    GROUP BY v.customer_id, v.salesperson_id
),
visit_totals AS (
    SELECT r.customer_id,
           MAX(r.last_visit_at) AS last_visit_at,
           MAX(r.last_any_at) AS last_any_at,
           SUM(r.visits_done) AS visits_done,
           SUM(r.minutes) AS minutes,
           SUM({visit_cost}) AS cost
    FROM visits_by_rep r
    JOIN accounts_user u ON u.id = r.salesperson_id
    GROUP BY r.customer_id
),
last_follow_up AS (
    -- The latest visit that asked for a follow-up; it counts only if it is also the latest
    -- visit of all (a later visit supersedes it), which figures.last_any_at tells.
    SELECT DISTINCT ON (v.customer_id) v.customer_id, v.visited_at, v.follow_up_on
    FROM visits_visit v
    WHERE {in_v}
      AND v.status = {done}
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
        WHERE {in_v}
          AND v.status = {done} AND v.kind IN ({cadence_kinds})
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
               WHERE k.customer_id = p.customer_id AND k.status = {done}
                 AND k.visited_at > p.visited_at
                 AND k.visited_at < ((p.follow_up_on + 1)::timestamp AT TIME ZONE %(tz)s))) AS kept
    FROM visits_visit p
    WHERE {in_p}
      AND p.status = {done}
      AND p.follow_up_on BETWEEN %(window_start)s AND %(as_of)s::date - 1
      AND p.visited_at < %(window_end_at)s
    GROUP BY p.customer_id
),
complaints AS (
    -- Complaints the customer made that are still unanswered past their due date.
    SELECT a.customer_id, COUNT(*) AS overdue, MIN(a.due_on) AS oldest_due_on
    FROM visits_ask a
    WHERE {in_a} AND a.kind = {complaint} AND a.answered_at IS NULL AND a.due_on < %(as_of)s
    GROUP BY a.customer_id
),
recent AS (
    -- The last three contacts of the year with an outcome, newest first.
    SELECT r.customer_id,
           COUNT(*) FILTER (WHERE r.outcome = {negative}) AS negatives,
           jsonb_agg(jsonb_build_object('visited_on', r.day::text, 'outcome', r.outcome,
                                        'notes', left(r.notes, 200))
                     ORDER BY r.n) AS outcomes,
           array_agg(r.outcome ORDER BY r.n) AS newest_first
    FROM (
        SELECT v.customer_id, v.outcome, v.notes,
               (v.visited_at AT TIME ZONE %(tz)s)::date AS day,
               ROW_NUMBER() OVER (PARTITION BY v.customer_id
                                  ORDER BY v.visited_at DESC, v.id DESC) AS n
        FROM visits_visit v
        WHERE {in_v} AND v.status = {done} AND v.outcome <> ''
          AND v.visited_at >= %(window_start_at)s AND v.visited_at < %(window_end_at)s
    ) r
    WHERE r.n <= 3
    GROUP BY r.customer_id
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
    CROSS JOIN LATERAL ({house_amounts}) h
    CROSS JOIN LATERAL (
        SELECT GREATEST(0, COALESCE(CASE WHEN i.paid_on <= %(as_of)s THEN i.paid_on END,
                                    %(as_of)s::date) - i.due_on) AS days,
               (i.paid_on IS NULL OR i.paid_on > %(as_of)s) AND i.due_on < %(as_of)s AS unpaid
    ) late
    WHERE {in_i}
      AND i.issued_on <= %(as_of)s
    GROUP BY i.customer_id
),
support_totals AS (
    SELECT s.customer_id, SUM(s.minutes) AS minutes
    FROM crm_supportcase s
    WHERE {in_s}
      AND s.opened_on BETWEEN %(window_start)s AND %(as_of)s
    GROUP BY s.customer_id
),
partner_totals AS (
    -- A partner's charge on the orders (invoices) of the year issued since it took the account.
    SELECT scope.id AS customer_id,
           SUM({partner_charge}) AS cost
    FROM scope
    JOIN crm_partner p ON p.id = scope.partner_id
    JOIN crm_invoice i ON i.customer_id = scope.id
    CROSS JOIN LATERAL ({house_amounts}) h
    WHERE scope.service_model = {partner}
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
           %(as_of)s::date - {cadence_start} AS days_since,
           COALESCE(it.revenue, 0) AS revenue,
           COALESCE(it.margin, 0) AS margin,
           COALESCE(it.discount, 0) AS discount,
           ROUND(COALESCE(vt.cost, 0), 2) AS visit_cost,
           ROUND({support_cost}, 2) AS support_cost,
           ROUND({late_cost}, 2) AS late_cost,
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
           COALESCE(co.overdue, 0) AS complaints_overdue,
           co.oldest_due_on AS oldest_complaint_due_on,
           COALESCE(rc.outcomes, '[]'::jsonb) AS recent_outcomes,
           -- A positive newest contact means it is warming again, whatever came before.
           COALESCE(rc.newest_first[1] <> {positive}
                    AND (rc.negatives >= 2
                         OR (rc.newest_first[1] = {negative}
                             AND rc.newest_first[2] = {positive})),
                    false) AS is_cooling,
           CASE WHEN lf.visited_at = vt.last_any_at AND lf.follow_up_on < %(as_of)s
                     AND NOT EXISTS (
                    SELECT 1 FROM visits_visit planned
                    WHERE planned.customer_id = scope.id
                      AND planned.status = {planned}
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
    LEFT JOIN complaints co ON co.customer_id = scope.id
    LEFT JOIN recent rc ON rc.customer_id = scope.id
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
    intervals, intervals_on_cadence, follow_ups_promised, follow_ups_kept,
    complaints_overdue, oldest_complaint_due_on, recent_outcomes, is_cooling
)
SELECT customer_id, %(as_of)s, last_visit_on, days_since, cadence,
       %(as_of)s::date - days_since + cadence, days_since - cadence,
       revenue, margin, discount, visit_cost, support_cost, late_cost, partner_cost,
       cost_to_serve, profit, visits_done, visit_minutes, support_minutes, average_days_late,
       oldest_unpaid_days,
       -- No cadence (partner, self-service): never neglected.
       COALESCE(status = {active} AND days_since > cadence, false),
       status = {active} AND profit < 0,
       -- Prospects owe nothing yet; accounts let go (lost) are no longer watched.
       status NOT IN ({prospect}, {lost})
           AND (COALESCE(oldest_unpaid_days, 0) > %(late_unpaid_days)s
                OR COALESCE(average_days_late, 0) > %(late_average_days)s),
       follow_up_overdue_on,
       {recommendation},
       -- Set when the recommendation changes (below); a first one is not a change.
       NULL,
       %(months_as_of)s::date,
       %(now)s,
       intervals, intervals_on_cadence, follow_ups_promised, follow_ups_kept,
       complaints_overdue, oldest_complaint_due_on, recent_outcomes, is_cooling
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
    follow_ups_kept = EXCLUDED.follow_ups_kept,
    complaints_overdue = EXCLUDED.complaints_overdue,
    oldest_complaint_due_on = EXCLUDED.oldest_complaint_due_on,
    recent_outcomes = EXCLUDED.recent_outcomes,
    is_cooling = EXCLUDED.is_cooling
WHERE (m.as_of, m.last_visit_on, m.days_since_visit, m.cadence_days, m.revenue, m.gross_margin,
       m.discount, m.visit_cost, m.support_cost, m.late_payment_cost, m.partner_cost,
       m.visits_done,
       m.visit_minutes, m.support_minutes, m.average_days_late, m.oldest_unpaid_days_late,
       m.is_neglected, m.is_unprofitable, m.is_late_payer, m.follow_up_overdue_on,
       m.recommendation, m.months_as_of, m.intervals, m.intervals_on_cadence,
       m.follow_ups_promised, m.follow_ups_kept, m.complaints_overdue,
       m.oldest_complaint_due_on, m.recent_outcomes, m.is_cooling)
  IS DISTINCT FROM
      (EXCLUDED.as_of, EXCLUDED.last_visit_on, EXCLUDED.days_since_visit, EXCLUDED.cadence_days,
       EXCLUDED.revenue, EXCLUDED.gross_margin, EXCLUDED.discount, EXCLUDED.visit_cost,
       EXCLUDED.support_cost, EXCLUDED.late_payment_cost, EXCLUDED.partner_cost,
       EXCLUDED.visits_done,
       EXCLUDED.visit_minutes, EXCLUDED.support_minutes, EXCLUDED.average_days_late,
       EXCLUDED.oldest_unpaid_days_late, EXCLUDED.is_neglected, EXCLUDED.is_unprofitable,
       EXCLUDED.is_late_payer, EXCLUDED.follow_up_overdue_on, EXCLUDED.recommendation,
       COALESCE(EXCLUDED.months_as_of, m.months_as_of), EXCLUDED.intervals,
       EXCLUDED.intervals_on_cadence, EXCLUDED.follow_ups_promised, EXCLUDED.follow_ups_kept,
       EXCLUDED.complaints_overdue, EXCLUDED.oldest_complaint_due_on,
       EXCLUDED.recent_outcomes, EXCLUDED.is_cooling)
"""


@functools.cache
def metrics_statement(scope: Scope) -> Composed:
    """The year's upsert for the batch `scope` picks."""
    return compose(
        _METRICS,
        in_c=scope.of("c", "id"),
        in_v=scope.of("v"),
        in_p=scope.of("p"),
        in_i=scope.of("i"),
        in_s=scope.of("s"),
        in_a=scope.of("a"),
        complaint=AskKind.COMPLAINT,
        negative=Outcome.NEGATIVE,
        positive=Outcome.POSITIVE,
        done=VisitStatus.DONE,
        planned=VisitStatus.PLANNED,
        cadence_kinds=list(CADENCE_VISIT_KINDS),
        partner=ServiceModel.PARTNER,
        active=CustomerStatus.ACTIVE,
        prospect=CustomerStatus.PROSPECT,
        lost=CustomerStatus.LOST,
        cadence=cadence_days_sql("c"),
        house_amounts=HOUSE_AMOUNTS_SQL,
        cadence_start=cadence_start_sql("scope", identifier("vt", "last_visit_at")),
        visit_cost=visit_cost_sql(
            minutes=fragment("COALESCE(r.minutes, 0)"),
            km=fragment("COALESCE(r.km, 0)"),
            expenses=fragment("COALESCE(r.expenses, 0)"),
            hourly_cost=identifier("u", "hourly_cost"),
        ),
        partner_charge=partner_charge_sql(
            amount=identifier("h", "amount"),
            commission_percent=identifier("p", "commission_percent"),
            fee_per_order=identifier("p", "fee_per_order"),
        ),
        support_cost=support_cost_sql(minutes=fragment("COALESCE(st.minutes, 0)")),
        late_cost=late_cost_sql(amount_days=fragment("COALESCE(it.amount_days, 0)")),
        recommendation=RECOMMENDATION_SQL,
    )
