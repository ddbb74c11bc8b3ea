"""Per-segment rollups for the managers' pages.

A segment is one combination of the dashboard filters: territory, owner, tier and status. The
dashboard, the period figures, the trend, the whale curve and the quadrant's medians sum a few
rows per segment instead of one row per customer, so they cost the same at 1k or 100k
customers. The rollups are derived from AccountMetrics, AccountMonth, the open flags and the
visits of this week and next, and are rewritten whole for each affected segment:

- `rollup_refresh_customers(ids)` after those customers' metrics were refreshed (the per-change
  task and the worklist actions): the segments the customers are in now and the ones they were
  rolled into before (SegmentMember remembers), so a reassigned account leaves its old row;
- `rollup_rebuild()` at the end of the nightly refresh and of seed_demo: every segment.

- `rollup_refresh_segments(ids)` after customers were deleted (`customers_delete`), with the
  segments read before the delete.

One transaction-scoped advisory lock serialises the writers, so two refreshes of one segment
cannot interleave their delete and insert. A customer deleted with raw SQL, outside
`customers_delete`, leaves its old segment stale until the nightly rebuild.
"""

import datetime as dt
import logging

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.isolation import run_isolating
from core.locks import ROLLUP_LOCK
from core.sql import compose, fragment, identifier, joined, literal
from crm.models import CustomerStatus
from health.models import AccountMetrics, FlagKind, Recommendation, RollupRebuild
from visits.models import VisitStatus

logger = logging.getLogger(__name__)


MONEY_BAND_RATIO = 1.05
MARGIN_BANDS_PER_UNIT = 200

_ENSURE_SEGMENTS = """
INSERT INTO crm_segment (territory_id, owner_id, tier, status)
SELECT DISTINCT c.territory_id, c.owner_id, c.tier, c.status FROM crm_customer c WHERE {where}
ON CONFLICT DO NOTHING
"""

# COALESCE(owner, 0) on both sides keeps the join hashable (IS NOT DISTINCT FROM is not). Only
# customers whose segment changed are written: one anti-join instead of a conflict check each.
_MEMBERS = """
INSERT INTO crm_segmentmember (customer_id, segment_id)
SELECT c.id, s.id
FROM crm_customer c
JOIN crm_segment s ON s.territory_id = c.territory_id AND s.tier = c.tier
     AND s.status = c.status AND COALESCE(s.owner_id, 0) = COALESCE(c.owner_id, 0)
WHERE {where}
  AND NOT EXISTS (
      SELECT 1 FROM crm_segmentmember kept WHERE kept.customer_id = c.id AND kept.segment_id = s.id
  )
ON CONFLICT (customer_id) DO UPDATE SET segment_id = EXCLUDED.segment_id
WHERE crm_segmentmember.segment_id <> EXCLUDED.segment_id
"""

_FIGURES = """
INSERT INTO crm_segmentfigures (
    segment_id, accounts, active, covered, overdue, overdue_days, unprofitable, late_payers,
    follow_ups_overdue, visits_done, visit_minutes, unprofitable_minutes, revenue, gross_margin,
    discount, cost_to_serve, profit, open_neglected, open_unprofitable, open_late_payer,
    open_unanswered_complaint, open_cooling,
    intervals, intervals_on_cadence, follow_ups_promised, follow_ups_kept,
    {recommend_columns}
)
SELECT s.id, COUNT(*),
       COUNT(m.customer_id) FILTER (WHERE s.status = {active}),
       COUNT(*) FILTER (WHERE s.status = {active} AND m.days_overdue <= 0),
       COUNT(*) FILTER (WHERE s.status = {active} AND m.days_overdue > 0),
       COALESCE(SUM(m.days_overdue)
                FILTER (WHERE s.status = {active} AND m.days_overdue > 0), 0),
       COUNT(*) FILTER (WHERE m.is_unprofitable),
       COUNT(*) FILTER (WHERE m.is_late_payer),
       COUNT(m.follow_up_overdue_on),
       COALESCE(SUM(m.visits_done), 0),
       COALESCE(SUM(m.visit_minutes), 0),
       COALESCE(SUM(m.visit_minutes) FILTER (WHERE m.is_unprofitable), 0),
       COALESCE(SUM(m.revenue), 0), COALESCE(SUM(m.gross_margin), 0),
       COALESCE(SUM(m.discount), 0),
       COALESCE(SUM(m.cost_to_serve), 0), COALESCE(SUM(m.profit), 0),
       COALESCE(SUM(f.neglected), 0), COALESCE(SUM(f.unprofitable), 0),
       COALESCE(SUM(f.late_payer), 0), COALESCE(SUM(f.unanswered_complaint), 0),
       COALESCE(SUM(f.cooling), 0),
       COALESCE(SUM(m.intervals), 0), COALESCE(SUM(m.intervals_on_cadence), 0),
       COALESCE(SUM(m.follow_ups_promised), 0), COALESCE(SUM(m.follow_ups_kept), 0),
       {recommendation_counts}
FROM crm_segment s
JOIN crm_segmentmember sm ON sm.segment_id = s.id
LEFT JOIN crm_accountmetrics m ON m.customer_id = sm.customer_id
LEFT JOIN (
    SELECT flag.customer_id,
           COUNT(*) FILTER (WHERE flag.kind = {neglected}) AS neglected,
           COUNT(*) FILTER (WHERE flag.kind = {unprofitable}) AS unprofitable,
           COUNT(*) FILTER (WHERE flag.kind = {late_payer}) AS late_payer,
           COUNT(*) FILTER (WHERE flag.kind = {complaint}) AS unanswered_complaint,
           COUNT(*) FILTER (WHERE flag.kind = {cooling}) AS cooling
    FROM crm_accountflag flag
    JOIN crm_segmentmember member ON member.customer_id = flag.customer_id
    WHERE flag.resolved_at IS NULL AND member.segment_id = ANY(%(segments)s)
    GROUP BY flag.customer_id
) f ON f.customer_id = sm.customer_id
WHERE s.id = ANY(%(segments)s)
GROUP BY s.id
"""

_MONTHS_SQL = """
INSERT INTO crm_segmentmonth (segment_id, month, revenue, gross_margin, discount, cost_to_serve)
SELECT sm.segment_id, am.month, SUM(am.revenue), SUM(am.gross_margin), SUM(am.discount),
       SUM(am.visit_cost + am.support_cost + am.late_payment_cost + am.partner_cost)
FROM crm_segmentmember sm
JOIN crm_accountmonth am ON am.customer_id = sm.customer_id
WHERE sm.segment_id = ANY(%(segments)s)
GROUP BY sm.segment_id, am.month
"""

_WEEKS = """
INSERT INTO crm_segmentweek (segment_id, week, planned, done)
SELECT sm.segment_id, date_trunc('week', v.scheduled_start AT TIME ZONE %(tz)s)::date,
       COUNT(*) FILTER (WHERE v.status IN ({done}, {planned})),
       COUNT(*) FILTER (WHERE v.status = {done})
FROM crm_segmentmember sm
JOIN visits_visit v ON v.customer_id = sm.customer_id
WHERE sm.segment_id = ANY(%(segments)s)
  AND v.scheduled_start >= %(weeks_start)s AND v.scheduled_start < %(weeks_end)s
GROUP BY 1, 2
"""

# Money measures fall in 5 %-wide bands on a log scale, split at zero (so the whale curve's peak,
# where profit turns negative, is exact); the margin ratio in bands of half a point.
_BANDS = """
INSERT INTO crm_segmentband (segment_id, measure, band, accounts, total)
SELECT sm.segment_id, b.measure,
       CASE WHEN b.measure = 'margin' THEN FLOOR(b.value * {margin_bands})
            ELSE SIGN(b.value) * CEIL(LN(1 + ABS(b.value)) / LN({band_ratio})) END,
       COUNT(*), SUM(b.value)
FROM crm_segmentmember sm
JOIN crm_accountmetrics m ON m.customer_id = sm.customer_id
CROSS JOIN LATERAL (VALUES
    ('profit', m.profit::numeric),
    ('cost', CASE WHEN m.revenue > 0 THEN m.cost_to_serve END),
    ('margin', CASE WHEN m.revenue > 0 THEN m.gross_margin / m.revenue END)
) AS b (measure, value)
WHERE sm.segment_id = ANY(%(segments)s) AND b.value IS NOT NULL
GROUP BY 1, 2, 3
"""

_FIGURES_SQL = compose(
    _FIGURES,
    recommend_columns=joined(identifier(f"recommend_{key}") for key in Recommendation.values),
    active=CustomerStatus.ACTIVE,
    recommendation_counts=joined(
        compose("COUNT(*) FILTER (WHERE m.recommendation = {key})", key=literal(key))
        for key in Recommendation.values
    ),
    neglected=FlagKind.NEGLECTED,
    unprofitable=FlagKind.UNPROFITABLE,
    late_payer=FlagKind.LATE_PAYER,
    complaint=FlagKind.UNANSWERED_COMPLAINT,
    cooling=FlagKind.COOLING,
)
_WEEKS_SQL = compose(_WEEKS, done=VisitStatus.DONE, planned=VisitStatus.PLANNED)
_BANDS_SQL = compose(_BANDS, margin_bands=MARGIN_BANDS_PER_UNIT, band_ratio=MONEY_BAND_RATIO)
_IN_CUSTOMERS = fragment("c.id = ANY(%(ids)s)")
_EVERY_CUSTOMER = fragment("true")

ROLLUP_TABLES = ("crm_segmentfigures", "crm_segmentmonth", "crm_segmentweek", "crm_segmentband")


def _week_bounds(today: dt.date) -> dict:
    tz = timezone.get_default_timezone()
    monday = today - dt.timedelta(days=today.weekday())
    return {
        "tz": settings.TIME_ZONE,
        "weeks_start": dt.datetime.combine(monday, dt.time.min, tzinfo=tz),
        "weeks_end": dt.datetime.combine(monday + dt.timedelta(days=14), dt.time.min, tzinfo=tz),
    }


def _recompute(cursor, segments: list[int]) -> None:
    bounds = _week_bounds(timezone.localdate())
    # Rebuilding every segment groups a million monthly rows and 300k band values: with the
    # default 4 MB the hash aggregates spill to disk in 30-40 batches (3.5 s instead of 2 at
    # 100k customers). For this transaction only.
    cursor.execute("SET LOCAL work_mem = '64MB'")

    def rewrite(part: list[int]) -> None:
        params = {"segments": part} | bounds
        for table in ROLLUP_TABLES:
            cursor.execute(
                compose(
                    "DELETE FROM {table} WHERE segment_id = ANY(%(segments)s)",
                    table=identifier(table),
                ),
                params,
            )
        for sql in (_FIGURES_SQL, _MONTHS_SQL, _WEEKS_SQL, _BANDS_SQL):
            cursor.execute(sql, params)

    run_isolating(segments, rewrite, what="rollup", unit="segment")


def _segments_of(cursor, customer_ids: list[int]) -> set[int]:
    cursor.execute(
        "SELECT DISTINCT segment_id FROM crm_segmentmember WHERE customer_id = ANY(%s)",
        [customer_ids],
    )
    return {segment for (segment,) in cursor.fetchall()}


def _segments_drop(cursor, segments: list[int]) -> None:
    """Segments left without accounts, with their rollups (whose keys do not cascade)."""
    for table in ROLLUP_TABLES:
        cursor.execute(
            compose("DELETE FROM {table} WHERE segment_id = ANY(%s)", table=identifier(table)),
            [segments],
        )
    cursor.execute("DELETE FROM crm_segment WHERE id = ANY(%s)", [segments])


@transaction.atomic
def rollup_refresh_customers(*, customer_ids: list[int]) -> int:
    """Rewrite the rollups of the segments these customers are in now or were in before.
    Returns the number of segments rewritten."""
    ids = sorted(set(customer_ids))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ROLLUP_LOCK])
        segments = _segments_of(cursor, ids)
        cursor.execute(compose(_ENSURE_SEGMENTS, where=_IN_CUSTOMERS), {"ids": ids})
        cursor.execute(compose(_MEMBERS, where=_IN_CUSTOMERS), {"ids": ids})
        segments |= _segments_of(cursor, ids)
        _recompute(cursor, sorted(segments))
    return len(segments)


def rollup_segments_of(*, customer_ids: list[int]) -> set[int]:
    """The segments these customers are rolled up into (read before deleting them)."""
    with connection.cursor() as cursor:
        return _segments_of(cursor, sorted(set(customer_ids)))


@transaction.atomic
def rollup_refresh_segments(*, segment_ids: set[int]) -> int:
    """Rewrite these segments' rollups, e.g. after customers in them were deleted."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ROLLUP_LOCK])
        _recompute(cursor, sorted(segment_ids))
    return len(segment_ids)


def rollups_behind_metrics() -> bool:
    """Whether account metrics were written after the last full rebuild began (or there has
    never been one)."""
    started = RollupRebuild.objects.values_list("started_at", flat=True).first()
    return started is None or AccountMetrics.objects.filter(computed_at__gt=started).exists()


@transaction.atomic
def rollup_rebuild() -> int:
    """Rewrite every segment's rollups from the stored metrics; drops empty segments.
    Returns the number of segments."""
    # The metrics' computed_at comes from the same (application) clock.
    RollupRebuild.objects.update_or_create(pk=1, defaults={"started_at": timezone.now()})
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ROLLUP_LOCK])
        cursor.execute(compose(_ENSURE_SEGMENTS, where=_EVERY_CUSTOMER))
        # The four-column match of customers to segments is estimated at 5 % of its rows (the
        # columns are correlated), which picks a nested loop scanning the customers once per
        # segment: 4 s at 100k instead of 0.3 s for one hash or merge join over all of them.
        cursor.execute("SET LOCAL enable_nestloop = off")
        cursor.execute(compose(_MEMBERS, where=_EVERY_CUSTOMER))
        cursor.execute("SET LOCAL enable_nestloop = on")
        cursor.execute(
            "SELECT id FROM crm_segment s WHERE NOT EXISTS "
            "(SELECT 1 FROM crm_segmentmember sm WHERE sm.segment_id = s.id)"
        )
        _segments_drop(cursor, [segment for (segment,) in cursor.fetchall()])
        cursor.execute("SELECT id FROM crm_segment")
        segments = [segment for (segment,) in cursor.fetchall()]
        _recompute(cursor, segments)
    return len(segments)
