"""The account review worklist: one recommendation per account, and what managers do about it.

The recommendation is computed with the account's figures at every refresh (the rule, first
match wins, is health.figures.year.RECOMMENDATION_SQL; docs/user-guide.md, "Account review", says it
in words) and stored in AccountMetrics, so the worklist filters, counts and pages over any number
of accounts without evaluating it again.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, QuerySet, Sum

from accounts.models import User
from core.refresh import customers_refresh_request
from crm.models import Customer
from crm.services import customer_update
from health.models import AccountFlag, Recommendation, Segment
from health.services import flag_acknowledge, pending_refresh_run
from reports.handoff import figures_snapshot
from reports.models import ReviewAction, ReviewActionKind

RECOMMENDATIONS = dict(Recommendation.choices)


def with_recommendation(customers: QuerySet[Customer]) -> QuerySet[Customer]:
    """The customers with figures, annotated with their stored `recommendation` (a key of
    RECOMMENDATIONS)."""
    return customers.filter(metrics__isnull=False).annotate(
        recommendation=F("metrics__recommendation")
    )


def recommendation_counts(segments: QuerySet[Segment]) -> dict[str, int]:
    """Accounts per recommendation in these segments, summed from their rollups."""
    totals = segments.aggregate(
        **{key: Sum(f"figures__recommend_{key}") for key in RECOMMENDATIONS}
    )
    return {key: totals[key] or 0 for key in RECOMMENDATIONS}


def recommendation_reason(customer: Customer) -> str:
    """The numbers behind the recommendation, in words."""
    m = customer.metrics
    money = "{:,.0f}".format
    figures = (
        f"margin {money(m.gross_margin)} after discounts of {money(m.discount)}, "
        f"cost to serve {money(m.cost_to_serve)} (visits {money(m.visit_cost)}), "
        f"profit {money(m.profit)}"
    )
    if customer.recommendation == "visit_now":
        return f"{m.days_overdue} days overdue; {figures}"
    if customer.recommendation == "grow" and m.revenue:
        return f"{m.gross_margin / m.revenue:.0%} margin; {figures}"
    return figures


@transaction.atomic
def review_act(*, customer: Customer, user: User, action: str, data: dict) -> ReviewAction:
    """Apply one worklist action, record who did what, and refresh the account's figures at once
    (once: the refresh the change requested is answered here, so its task finds nothing left)."""
    figures = figures_snapshot(customer)
    if action == ReviewActionKind.REASSIGN:
        owner = data["owner"]
        customer_update(customer=customer, user=user, changes={"owner": owner})
        details = {"owner": owner.username if owner else None}
    elif action == ReviewActionKind.TIER:
        customer_update(customer=customer, user=user, changes={"tier": data["tier"]})
        details = {"tier": data["tier"]}
    elif action == ReviewActionKind.CADENCE:
        customer_update(
            customer=customer, user=user, changes={"cadence_days": data["cadence_days"]}
        )
        details = {"cadence_days": data["cadence_days"]}
    elif action == ReviewActionKind.ACKNOWLEDGE:
        flag = AccountFlag.objects.get(pk=data["flag"], customer=customer, resolved_at__isnull=True)
        flag_acknowledge(flag=flag, user=user, reason=data["reason"], until=data["until"])
        details = {"flag": flag.kind, "reason": data["reason"], "until": data["until"].isoformat()}
    else:
        raise ValidationError(f"Unknown action {action!r}.")
    record = ReviewAction.objects.create(
        customer=customer, user=user, action=action, details=details, figures=figures
    )
    customers_refresh_request([customer.pk])
    pending_refresh_run(customer_ids=[customer.pk])
    return record
