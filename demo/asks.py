"""The demo's asks: what customers asked for at about one visit in five of the last 120 days,
of every kind and state - answered on time or late, quotes won and lost, and some still open
past their due date (complaints among them, so the flag shows). Set-based and reproducible:
everything follows from the visits' ids and the day the demo is seeded."""

import datetime as dt

from django.conf import settings
from django.db import connection

from core.sql import compose, joined
from visits.models import (
    DEFAULT_ASK_DUE_DAYS,
    AskAnswerKind,
    AskKind,
    QuoteOutcome,
    VisitStatus,
)

DAYS_BACK = 120
# What customers ask for, by kind: three ways of saying it each.
TEXTS = {
    AskKind.PRODUCT: (
        "A quote for the new range",
        "Samples of the premium line",
        "A quote for 500 units",
    ),
    AskKind.PRICE: (
        "A better price on repeat orders",
        "Volume discount above 1,000",
        "Price list for next year",
    ),
    AskKind.SERVICE: ("Deliveries before 8 am", "A second drop on Fridays", "Shorter lead times"),
    AskKind.COMPLAINT: (
        "Damaged pallets on the last delivery",
        "Invoice sent to the wrong address",
        "Late delivery twice this month",
    ),
    AskKind.INFORMATION: (
        "Spec sheets for the new line",
        "Certificates for the audit",
        "How returns work",
    ),
    AskKind.OTHER: (
        "An introduction to the regional manager",
        "A visit from the technician",
        "Training for new staff",
    ),
}
KINDS = list(TEXTS)

_INSERT = """
INSERT INTO visits_ask (
    customer_id, visit_id, raised_by_id, owner_id, kind, text, asked_on, due_on, value,
    answered_at, answered_by_id, answer_kind, answer, outcome, outcome_reason, competitor_id,
    decided_at, created_at, updated_at
)
SELECT s.customer_id, s.id, s.salesperson_id, s.salesperson_id, s.kind, s.text, s.day,
       s.day + s.days::integer, s.value,
       CASE WHEN s.answered THEN s.answered_at END,
       CASE WHEN s.answered THEN s.salesperson_id END,
       CASE WHEN NOT s.answered THEN ''
            WHEN s.kind IN ({product}, {price}) THEN {proposal}
            WHEN s.kind = {complaint} THEN {case}
            ELSE {done} END,
       CASE WHEN s.answered THEN 'Done: ' || lower(s.text) ELSE '' END,
       CASE WHEN s.decided AND MOD(s.id / 30, 3) = 0 THEN {won}
            WHEN s.decided AND MOD(s.id / 30, 3) = 1 THEN {lost} ELSE '' END,
       CASE WHEN s.decided AND MOD(s.id / 30, 3) = 1 THEN 'Their price was lower' ELSE '' END,
       CASE WHEN s.decided AND MOD(s.id / 30, 3) = 1
            THEN (SELECT c.id FROM crm_competitor c ORDER BY c.id
                  OFFSET MOD(s.id, GREATEST((SELECT COUNT(*) FROM crm_competitor), 1)) LIMIT 1)
       END,
       CASE WHEN s.decided AND MOD(s.id / 30, 3) IN (0, 1)
            THEN s.answered_at + interval '12 days' END,
       s.visited_at, s.visited_at
FROM (
    SELECT v.id, v.customer_id, v.salesperson_id, v.visited_at, d.day, k.kind, k.days,
           (ARRAY[{texts}])[k.slot * 3 + MOD(v.id, 3) + 1] AS text,
           CASE WHEN k.kind IN ({product}, {price}) THEN 500 + MOD(v.id * 37, 9500) END AS value,
           -- Six in seven answered once they are due and three days more; the others wait.
           d.day + k.days::integer < %(today)s - 3 AND MOD(v.id / 5, 7) <> 0 AS answered,
           ((d.day + MOD(v.id, k.days + 3)::integer)::timestamp + interval '11 hours')
               AT TIME ZONE %(tz)s AS answered_at,
           k.kind IN ({product}, {price}) AND d.day < %(today)s - 30 AND MOD(v.id / 5, 7) <> 0
               AS decided
    FROM visits_visit v
    CROSS JOIN LATERAL (SELECT (v.visited_at AT TIME ZONE %(tz)s)::date AS day) d
    JOIN (VALUES {kinds}) AS k (slot, kind, days) ON k.slot = MOD(v.id / 5, {kind_count})
    WHERE v.status = {done_visit} AND v.visited_at >= %(since)s AND v.visited_at < %(now)s
      AND MOD(v.id, 5) = 0
) s
"""


def seed_asks(*, today: dt.date) -> int:
    """Asks at about one visit in five of the last DAYS_BACK days; returns how many."""
    statement = compose(
        _INSERT,
        texts=[text for kind in KINDS for text in TEXTS[kind]],
        kinds=joined(
            compose(
                "({slot}, {kind}, {days})",
                slot=slot,
                kind=kind,
                days=DEFAULT_ASK_DUE_DAYS[kind],
            )
            for slot, kind in enumerate(KINDS)
        ),
        kind_count=len(KINDS),
        product=AskKind.PRODUCT,
        price=AskKind.PRICE,
        complaint=AskKind.COMPLAINT,
        proposal=AskAnswerKind.PROPOSAL,
        case=AskAnswerKind.CASE,
        done=AskAnswerKind.DONE,
        won=QuoteOutcome.WON,
        lost=QuoteOutcome.LOST,
        done_visit=VisitStatus.DONE,
    )
    start = dt.datetime.combine(today - dt.timedelta(days=DAYS_BACK), dt.time.min)
    with connection.cursor() as cursor:
        cursor.execute(
            statement,
            {
                "today": today,
                "tz": settings.TIME_ZONE,
                "since": start.replace(tzinfo=dt.UTC),
                "now": dt.datetime.combine(
                    today + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC
                ),
            },
        )
        return cursor.rowcount
