"""The flags a year's figures raise (neglected, unprofitable, late payer, unanswered
complaint, cooling), kept in step with crm_accountmetrics by four statements per batch, run after
its upsert: resolve the flags whose condition no longer holds, raise again those whose
acknowledgement expired, bring the inputs of open flags up to date, open flags for conditions
that hold (ON CONFLICT DO NOTHING against the one-open-flag-per-kind index, so overlapping runs
cannot duplicate a flag)."""

import functools

from core.sql import Composed, compose, identifier, joined
from health.figures.batch import Scope
from health.models import FlagKind


def _holds(kind: Composed) -> Composed:
    """The condition of a flag kind."""
    return compose(
        """(CASE {kind} WHEN {neglected} THEN m.is_neglected
                       WHEN {unprofitable} THEN m.is_unprofitable
                       WHEN {complaint} THEN m.complaints_overdue > 0
                       WHEN {cooling} THEN m.is_cooling
                       ELSE m.is_late_payer END)""",
        kind=kind,
        neglected=FlagKind.NEGLECTED,
        unprofitable=FlagKind.UNPROFITABLE,
        complaint=FlagKind.UNANSWERED_COMPLAINT,
        cooling=FlagKind.COOLING,
    )


def _inputs(kind: Composed) -> Composed:
    """The figures kept with a flag (numbers as 2-decimal strings)."""
    return compose(
        """(CASE {kind}
    WHEN {neglected} THEN jsonb_build_object(
        'last_visit_on', m.last_visit_on::text,
        'days_since_visit', ROUND(m.days_since_visit::numeric, 2)::text,
        'cadence_days', ROUND(m.cadence_days::numeric, 2)::text,
        'tier', c.tier, 'own_cadence', c.cadence_days IS NOT NULL)
    WHEN {unprofitable} THEN jsonb_build_object(
        'revenue', m.revenue::text, 'gross_margin', m.gross_margin::text,
        'visit_cost', m.visit_cost::text, 'support_cost', m.support_cost::text,
        'late_payment_cost', m.late_payment_cost::text,
        'partner_cost', m.partner_cost::text,
        'cost_to_serve', m.cost_to_serve::text, 'profit', m.profit::text)
    WHEN {complaint} THEN jsonb_build_object(
        'complaints_overdue', m.complaints_overdue::text,
        'oldest_due_on', m.oldest_complaint_due_on::text)
    WHEN {cooling} THEN jsonb_build_object('outcomes', m.recent_outcomes)
    ELSE jsonb_build_object(
        'oldest_unpaid_days_late', ROUND(m.oldest_unpaid_days_late::numeric, 2)::text,
        'average_days_late', ROUND(m.average_days_late, 2)::text,
        'unpaid_threshold_days', ROUND(%(late_unpaid_days)s::numeric, 2)::text,
        'average_threshold_days', ROUND(%(late_average_days)s::numeric, 2)::text)
    END)""",
        kind=kind,
        neglected=FlagKind.NEGLECTED,
        unprofitable=FlagKind.UNPROFITABLE,
        complaint=FlagKind.UNANSWERED_COMPLAINT,
        cooling=FlagKind.COOLING,
    )


_RESOLVE = """
UPDATE crm_accountflag f SET resolved_at = %(now)s
FROM crm_accountmetrics m
WHERE f.customer_id = m.customer_id AND f.resolved_at IS NULL AND {in_f}
  AND NOT {holds}
RETURNING f.kind, f.id
"""

_RERAISE = """
UPDATE crm_accountflag f
SET acknowledged_by_id = NULL, acknowledged_at = NULL, acknowledged_reason = '',
    acknowledged_until = NULL, raised_at = %(now)s
WHERE f.resolved_at IS NULL AND f.acknowledged_until < %(as_of)s AND {in_f}
RETURNING f.kind
"""

_UPDATE_INPUTS = """
UPDATE crm_accountflag f SET inputs = {inputs}, as_of = %(as_of)s
FROM crm_accountmetrics m JOIN crm_customer c ON c.id = m.customer_id
WHERE f.customer_id = m.customer_id AND f.resolved_at IS NULL AND {in_f}
  AND (f.inputs, f.as_of) IS DISTINCT FROM ({inputs}, %(as_of)s::date)
"""

_OPEN = """
INSERT INTO crm_accountflag (
    customer_id, kind, inputs, as_of, opened_at, raised_at, resolved_at, acknowledged_by_id,
    acknowledged_at, acknowledged_reason, acknowledged_until
)
SELECT m.customer_id, k.kind, {inputs}, %(as_of)s, %(now)s, %(now)s, NULL,
       earlier.acknowledged_by_id, earlier.acknowledged_at,
       COALESCE(earlier.acknowledged_reason, ''), earlier.acknowledged_until
FROM crm_accountmetrics m
JOIN crm_customer c ON c.id = m.customer_id
CROSS JOIN (VALUES {kinds}) AS k (kind)
-- An acknowledgement still running carries over to a flag raised again before its end.
LEFT JOIN LATERAL (
    SELECT p.acknowledged_by_id, p.acknowledged_at, p.acknowledged_reason, p.acknowledged_until
    FROM crm_accountflag p
    WHERE p.customer_id = m.customer_id AND p.kind = k.kind AND p.acknowledged_until >= %(as_of)s
    ORDER BY p.acknowledged_until DESC
    LIMIT 1
) earlier ON true
WHERE {in_m} AND {holds}
ON CONFLICT (customer_id, kind) WHERE resolved_at IS NULL DO NOTHING
RETURNING kind, id
"""


@functools.cache
def flag_statements(scope: Scope) -> dict[str, Composed]:
    """The four statements for the batch `scope` picks, in the order they run."""
    flag_kind, new_kind = identifier("f", "kind"), identifier("k", "kind")
    return {
        "resolve": compose(_RESOLVE, in_f=scope.of("f"), holds=_holds(flag_kind)),
        "reraise": compose(_RERAISE, in_f=scope.of("f")),
        "update_inputs": compose(_UPDATE_INPUTS, in_f=scope.of("f"), inputs=_inputs(flag_kind)),
        "open": compose(
            _OPEN,
            inputs=_inputs(new_kind),
            kinds=joined(compose("({kind})", kind=kind) for kind in FlagKind),
            in_m=scope.of("m"),
            holds=_holds(new_kind),
        ),
    }
