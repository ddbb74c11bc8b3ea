"""The honest floor of the nightly job: read-only queries over the same rows, under the same
rules, that produce the same per-customer figures as the refresh (metrics and flags' conditions,
and the monthly figures), written independently of health/figures/.
tests/test_bench_floor.py proves they agree with the refresh on demo data.

Rules (docs/account-health.md): done visits; last visit from on-site/phone/video visits of all
time; costs over the 365 days up to as-of: visit minutes (duration + travel) at the salesperson's
hourly cost, km at the km rate, expenses; support minutes at the support rate; late payment as
amount (house currency, at the invoice's rate) x days late / 365 x the cost of capital for
invoices due in the window; a partner's commission and fee on the orders (invoices) of a partner
account issued since its service began; the oldest unpaid invoice; a follow-up passed with
nothing since and nothing planned; complaints (asks) unanswered past their due date; the last
three outcomes of the year cooling (two negative, or a negative right after a positive, unless
the newest is positive); the cadence of the service model (none for partner and
self-service accounts, 30 days or ServiceCadence's for remote and inside sales, the tier's for
field accounts, an account's own first); monthly figures for the 24 months up to as-of.
"""

import datetime as dt

from django.conf import settings
from django.db import connection
from django.utils import timezone

from health.models import HealthSettings

METRICS_FLOOR_SQL = """
WITH house AS (
    SELECT i.customer_id, i.issued_on, i.due_on, i.paid_on,
           ROUND(i.amount * i.exchange_rate, 2) AS amount,
           ROUND(i.cost_of_goods * i.exchange_rate, 2) AS cogs,
           ROUND(i.discount * i.exchange_rate, 2) AS discount,
           GREATEST(0, LEAST(COALESCE(i.paid_on, %(as_of)s), %(as_of)s) - i.due_on) AS days_late
    FROM crm_invoice i
    WHERE i.issued_on <= %(as_of)s
),
invoices AS (
    SELECT customer_id,
           SUM(amount) FILTER (WHERE issued_on >= %(start)s) AS revenue,
           SUM(amount - cogs) FILTER (WHERE issued_on >= %(start)s) AS margin,
           SUM(discount) FILTER (WHERE issued_on >= %(start)s) AS discount,
           SUM(amount * days_late) FILTER (WHERE due_on BETWEEN %(start)s AND %(as_of)s)
               AS amount_days,
           SUM(amount) FILTER (WHERE due_on BETWEEN %(start)s AND %(as_of)s) AS amount_due,
           MAX(days_late) FILTER (WHERE (paid_on IS NULL OR paid_on > %(as_of)s)
                                        AND due_on < %(as_of)s) AS oldest_unpaid
    FROM house GROUP BY customer_id
),
partner AS (
    SELECT h.customer_id,
           SUM(h.amount * p.commission_percent / 100.0 + p.fee_per_order) AS cost
    FROM house h
    JOIN crm_customer c ON c.id = h.customer_id AND c.service_model = 'partner'
    JOIN crm_partner p ON p.id = c.partner_id
    WHERE h.issued_on >= %(start)s AND h.issued_on >= COALESCE(c.service_since, h.issued_on)
    GROUP BY h.customer_id
),
by_rep AS (
    -- Per customer and salesperson first: the hourly cost applies to summed minutes.
    SELECT v.customer_id, v.salesperson_id,
           MAX(v.visited_at) FILTER (WHERE v.kind IN ('on_site', 'phone', 'video')) AS last_at,
           MAX(v.visited_at) AS last_any_at,
           COUNT(*) FILTER (WHERE v.visited_at >= %(start_at)s) AS done,
           SUM(v.duration_minutes::bigint + v.travel_minutes)
               FILTER (WHERE v.visited_at >= %(start_at)s) AS minutes,
           SUM(v.distance_km * %(cost_per_km)s + v.expenses)
               FILTER (WHERE v.visited_at >= %(start_at)s) AS other_cost
    FROM visits_visit v
    WHERE v.status = 'done' AND v.visited_at < %(end_at)s
    GROUP BY v.customer_id, v.salesperson_id
),
visits AS (
    SELECT r.customer_id, MAX(r.last_at) AS last_at, MAX(r.last_any_at) AS last_any_at,
           SUM(r.done) AS done, SUM(r.minutes) AS minutes,
           SUM(COALESCE(r.minutes, 0) / 60.0 * u.hourly_cost + COALESCE(r.other_cost, 0)) AS cost
    FROM by_rep r JOIN accounts_user u ON u.id = r.salesperson_id
    GROUP BY r.customer_id
),
follow_ups AS (
    SELECT DISTINCT ON (v.customer_id) v.customer_id, v.visited_at AS asked_at, v.follow_up_on
    FROM visits_visit v
    WHERE v.status = 'done' AND v.follow_up_on IS NOT NULL AND v.visited_at < %(end_at)s
    ORDER BY v.customer_id, v.visited_at DESC
),
gaps AS (
    SELECT customer_id,
           day - LAG(day) OVER (PARTITION BY customer_id ORDER BY visited_at) AS gap
    FROM (SELECT customer_id, visited_at, (visited_at AT TIME ZONE %(tz)s)::date AS day
          FROM visits_visit
          WHERE status = 'done' AND kind IN ('on_site', 'phone', 'video')
            AND visited_at >= %(start_at)s AND visited_at < %(end_at)s) contacts
),
cadences AS (
    SELECT c.id,
           CASE WHEN c.service_model IN ('partner', 'self_service') THEN NULL
                WHEN c.service_model = 'field'
                    THEN COALESCE(c.cadence_days, p.days,
                                  CASE c.tier WHEN 'A' THEN 14 WHEN 'B' THEN 30 WHEN 'C' THEN 60
                                              ELSE 90 END)
                ELSE COALESCE(c.cadence_days, sc.days, 30) END AS days
    FROM crm_customer c
    LEFT JOIN crm_cadencepolicy p ON p.tier = c.tier
    LEFT JOIN crm_servicecadence sc ON sc.service_model = c.service_model
),
rhythm AS (
    SELECT g.customer_id, COUNT(g.gap) AS intervals,
           COUNT(g.gap) FILTER (WHERE g.gap <= cd.days) AS on_cadence
    FROM gaps g JOIN cadences cd ON cd.id = g.customer_id
    GROUP BY g.customer_id
),
promised AS (
    SELECT a.customer_id, COUNT(*) AS promised,
           COUNT(*) FILTER (WHERE EXISTS (
               SELECT 1 FROM visits_visit b
               WHERE b.customer_id = a.customer_id AND b.status = 'done'
                 AND b.visited_at > a.visited_at
                 AND (b.visited_at AT TIME ZONE %(tz)s)::date <= a.follow_up_on)) AS kept
    FROM visits_visit a
    WHERE a.status = 'done' AND a.follow_up_on >= %(start)s AND a.follow_up_on < %(as_of)s
      AND a.visited_at < %(end_at)s
    GROUP BY a.customer_id
),
support AS (
    SELECT customer_id, SUM(minutes) AS minutes
    FROM crm_supportcase WHERE opened_on BETWEEN %(start)s AND %(as_of)s
    GROUP BY customer_id
),
complaints AS (
    SELECT customer_id, COUNT(*) AS overdue, MIN(due_on) AS oldest
    FROM visits_ask
    WHERE kind = 'complaint' AND answered_at IS NULL AND due_on < %(as_of)s
    GROUP BY customer_id
),
outcomes AS (
    -- The last three contacts of the year with an outcome, newest first, side by side.
    SELECT customer_id,
           MAX(outcome) FILTER (WHERE n = 1) AS newest,
           MAX(outcome) FILTER (WHERE n = 2) AS before,
           COUNT(*) FILTER (WHERE outcome = 'negative') AS negatives
    FROM (SELECT customer_id, outcome,
                 RANK() OVER (PARTITION BY customer_id ORDER BY visited_at DESC, id DESC) AS n
          FROM visits_visit
          WHERE status = 'done' AND outcome <> ''
            AND visited_at >= %(start_at)s AND visited_at < %(end_at)s) ranked
    WHERE n <= 3
    GROUP BY customer_id
)
SELECT c.id,
       COALESCE(i.revenue, 0) AS revenue,
       COALESCE(i.margin, 0) AS gross_margin,
       COALESCE(i.discount, 0) AS discount,
       ROUND(COALESCE(v.cost, 0), 2) AS visit_cost,
       ROUND(COALESCE(s.minutes, 0) / 60.0 * %(support_rate)s, 2) AS support_cost,
       ROUND(COALESCE(i.amount_days, 0) / 365.0 * %(capital)s, 2) AS late_payment_cost,
       ROUND(COALESCE(pa.cost, 0), 2) AS partner_cost,
       COALESCE(v.done, 0) AS visits_done,
       COALESCE(v.minutes, 0) AS visit_minutes,
       COALESCE(s.minutes, 0) AS support_minutes,
       i.oldest_unpaid AS oldest_unpaid_days_late,
       ROUND(i.amount_days / NULLIF(i.amount_due, 0), 2) AS average_days_late,
       (v.last_at AT TIME ZONE %(tz)s)::date AS last_visit_on,
       %(as_of)s::date - COALESCE((v.last_at AT TIME ZONE %(tz)s)::date, c.since,
                                  (c.created_at AT TIME ZONE %(tz)s)::date) AS days_since_visit,
       cd.days AS cadence_days,
       c.status,
       COALESCE(rh.intervals, 0) AS intervals,
       COALESCE(rh.on_cadence, 0) AS intervals_on_cadence,
       COALESCE(pr.promised, 0) AS follow_ups_promised,
       COALESCE(pr.kept, 0) AS follow_ups_kept,
       CASE WHEN f.asked_at = v.last_any_at AND f.follow_up_on < %(as_of)s
                 AND NOT EXISTS (SELECT 1 FROM visits_visit planned
                                 WHERE planned.customer_id = c.id AND planned.status = 'planned'
                                   AND planned.scheduled_start
                                       >= (f.follow_up_on::timestamp AT TIME ZONE %(tz)s))
            THEN f.follow_up_on END AS follow_up_overdue_on,
       COALESCE(co.overdue, 0) AS complaints_overdue,
       co.oldest AS oldest_complaint_due_on,
       COALESCE(o.newest <> 'positive'
                AND (o.negatives >= 2 OR (o.newest = 'negative' AND o.before = 'positive')),
                false) AS is_cooling
FROM crm_customer c
JOIN cadences cd ON cd.id = c.id
LEFT JOIN rhythm rh ON rh.customer_id = c.id
LEFT JOIN invoices i ON i.customer_id = c.id
LEFT JOIN partner pa ON pa.customer_id = c.id
LEFT JOIN promised pr ON pr.customer_id = c.id
LEFT JOIN visits v ON v.customer_id = c.id
LEFT JOIN support s ON s.customer_id = c.id
LEFT JOIN follow_ups f ON f.customer_id = c.id
LEFT JOIN complaints co ON co.customer_id = c.id
LEFT JOIN outcomes o ON o.customer_id = c.id
"""

MONTHLY_FLOOR_SQL = """
SELECT customer_id, month, SUM(revenue) AS revenue, SUM(margin) AS gross_margin,
       SUM(discount) AS discount, ROUND(SUM(visit_cost), 2) AS visit_cost,
       ROUND(SUM(support_cost), 2) AS support_cost, ROUND(SUM(late_cost), 2) AS late_payment_cost,
       SUM(visits) AS visits_done, ROUND(SUM(partner_cost), 2) AS partner_cost
FROM (
    SELECT i.customer_id, date_trunc('month', i.issued_on)::date AS month,
           ROUND(i.amount * i.exchange_rate, 2) AS revenue,
           ROUND(i.amount * i.exchange_rate, 2) - ROUND(i.cost_of_goods * i.exchange_rate, 2)
               AS margin,
           ROUND(i.discount * i.exchange_rate, 2) AS discount,
           0 AS visit_cost, 0 AS support_cost, 0 AS late_cost, 0 AS visits, 0 AS partner_cost
    FROM crm_invoice i WHERE i.issued_on BETWEEN %(months_start)s AND %(as_of)s
    UNION ALL
    SELECT i.customer_id, date_trunc('month', i.due_on)::date, 0, 0, 0, 0, 0,
           ROUND(i.amount * i.exchange_rate, 2)
               * GREATEST(0, LEAST(COALESCE(i.paid_on, %(as_of)s), %(as_of)s) - i.due_on)
               / 365.0 * %(capital)s,
           0, 0
    FROM crm_invoice i WHERE i.due_on BETWEEN %(months_start)s AND %(as_of)s
      AND i.issued_on <= %(as_of)s
    UNION ALL
    SELECT r.customer_id, r.month, 0, 0, 0,
           r.minutes / 60.0 * u.hourly_cost + r.other_cost, 0, 0, r.visits, 0
    FROM (
        SELECT v.customer_id, v.salesperson_id,
               date_trunc('month', v.visited_at AT TIME ZONE %(tz)s)::date AS month,
               SUM(v.duration_minutes::bigint + v.travel_minutes) AS minutes,
               SUM(v.distance_km * %(cost_per_km)s + v.expenses) AS other_cost,
               COUNT(*) AS visits
        FROM visits_visit v
        WHERE v.status = 'done' AND v.visited_at >= %(months_start_at)s
          AND v.visited_at < %(end_at)s
        GROUP BY 1, 2, 3
    ) r JOIN accounts_user u ON u.id = r.salesperson_id
    UNION ALL
    SELECT s.customer_id, date_trunc('month', s.opened_on)::date, 0, 0, 0, 0,
           s.minutes / 60.0 * %(support_rate)s, 0, 0, 0
    FROM crm_supportcase s WHERE s.opened_on BETWEEN %(months_start)s AND %(as_of)s
    UNION ALL
    SELECT i.customer_id, date_trunc('month', i.issued_on)::date, 0, 0, 0, 0, 0, 0, 0,
           ROUND(i.amount * i.exchange_rate, 2) * p.commission_percent / 100.0 + p.fee_per_order
    FROM crm_invoice i
    JOIN crm_customer c ON c.id = i.customer_id AND c.service_model = 'partner'
    JOIN crm_partner p ON p.id = c.partner_id
    WHERE i.issued_on BETWEEN %(months_start)s AND %(as_of)s
      AND i.issued_on >= COALESCE(c.service_since, i.issued_on)
) parts
GROUP BY customer_id, month
"""


def floor_parameters(as_of: dt.date, *, incremental: bool = False) -> dict:
    """The floor queries' parameters; `incremental` keeps the monthly figures to the current
    month (floor_run says why)."""
    rates = HealthSettings.objects.filter(pk=1).first() or HealthSettings()
    tz = timezone.get_default_timezone()
    start = as_of - dt.timedelta(days=364)
    months_start = as_of.replace(day=1)
    for _ in range(0 if incremental else 23):
        months_start = (months_start - dt.timedelta(days=1)).replace(day=1)

    def at(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time.min, tzinfo=tz)

    return {
        "as_of": as_of,
        "tz": settings.TIME_ZONE,
        "start": start,
        "start_at": at(start),
        "end_at": at(as_of + dt.timedelta(days=1)),
        "months_start": months_start,
        "months_start_at": at(months_start),
        "cost_per_km": rates.cost_per_km,
        "support_rate": rates.support_hourly_cost,
        "capital": rates.annual_cost_of_capital,
    }


def _rows(sql: str, params: dict) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def floor_metrics(as_of: dt.date) -> list[dict]:
    return _rows(METRICS_FLOOR_SQL, floor_parameters(as_of))


def floor_months(as_of: dt.date, *, incremental: bool = False) -> list[dict]:
    return _rows(MONTHLY_FLOOR_SQL, floor_parameters(as_of, incremental=incremental))


def floor_run(as_of: dt.date, *, incremental: bool = False) -> int:
    """Both floor queries computed in full inside PostgreSQL (every column of every row, as the
    refresh computes them), without shipping the rows to Python: what the bench times.

    `incremental`: the floor of a night that carries closed months forward, as the job does:
    every customer's 12-month figures (the window slides each day) but the monthly figures of
    the current month only, the customer-months a night without new rows changes (it leaves
    out the late-payment cost that open invoices accrue in earlier months, which the job does
    recompute: a floor a little below the true one)."""
    params = floor_parameters(as_of, incremental=incremental)
    rows = 0
    with connection.cursor() as cursor:
        for sql in (METRICS_FLOOR_SQL, MONTHLY_FLOOR_SQL):
            cursor.execute(
                f"SELECT COUNT(*) FILTER (WHERE q IS NOT NULL), COUNT(*) FROM ({sql}) q", params
            )
            rows += cursor.fetchone()[1]
    return rows
