"""The account review worklist: one recommendation per account, and what managers do about it.

Rules, first match wins, from the stored 12-month metrics (see the README, "Account review"):

1. move_remote  - unprofitable, and would be profitable without its visit cost (visits make
                  the loss): serve it by phone/video (inside sales).
2. hand_off     - unprofitable even without visit costs: hand it off or let it go.
3. visit_now    - profitable (profit >= 0), active and overdue for a visit.
4. reprice      - profitable but cost to serve takes at least half of the gross margin:
                  re-price or cut service.
5. grow         - net margin at least 40 % and cost to serve at most 10 % of gross margin.
6. keep         - everything else.
"""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, CharField, F, Q, QuerySet, Value, When

from accounts.models import User
from core.refresh import customers_refresh_request
from crm.models import Customer, CustomerStatus
from crm.services import customer_update
from health.models import AccountFlag
from health.services import flag_acknowledge, pending_refresh_run
from reports.models import ReviewAction, ReviewActionKind

GROW_MIN_MARGIN_SHARE = Decimal("0.40")
GROW_MAX_COST_SHARE = Decimal("0.10")
REPRICE_MIN_COST_SHARE = Decimal("0.50")

RECOMMENDATIONS = {
    "move_remote": "Move to inside sales / remote cadence",
    "hand_off": "Hand off or let go",
    "visit_now": "Visit now",
    "reprice": "Re-price or cut service",
    "grow": "Grow",
    "keep": "Keep",
}


def with_recommendation(customers: QuerySet[Customer]) -> QuerySet[Customer]:
    """Annotate `recommendation` (a key of RECOMMENDATIONS) in SQL, so the worklist can be
    filtered, counted and paginated over any number of accounts."""
    loss = Q(metrics__profit__lt=0)
    return customers.filter(metrics__isnull=False).annotate(
        recommendation=Case(
            When(
                loss & Q(metrics__profit__gte=-F("metrics__visit_cost")), then=Value("move_remote")
            ),
            When(loss, then=Value("hand_off")),
            When(
                status=CustomerStatus.ACTIVE, metrics__days_overdue__gt=0, then=Value("visit_now")
            ),
            When(
                metrics__gross_margin__gt=0,
                metrics__cost_to_serve__gte=F("metrics__gross_margin") * REPRICE_MIN_COST_SHARE,
                then=Value("reprice"),
            ),
            When(
                metrics__revenue__gt=0,
                metrics__gross_margin__gte=F("metrics__revenue") * GROW_MIN_MARGIN_SHARE,
                metrics__cost_to_serve__lte=F("metrics__gross_margin") * GROW_MAX_COST_SHARE,
                then=Value("grow"),
            ),
            default=Value("keep"),
            output_field=CharField(),
        )
    )


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
    elif action == ReviewActionKind.REMOTE:
        customer.remote_visits = data["remote_visits"]
        customer.save(update_fields=["remote_visits", "updated_at"])
        details = {"remote_visits": customer.remote_visits}
    elif action == ReviewActionKind.ACKNOWLEDGE:
        flag = AccountFlag.objects.get(pk=data["flag"], customer=customer, resolved_at__isnull=True)
        flag_acknowledge(flag=flag, user=user, reason=data["reason"], until=data["until"])
        details = {"flag": flag.kind, "reason": data["reason"], "until": data["until"].isoformat()}
    else:
        raise ValidationError(f"Unknown action {action!r}.")
    record = ReviewAction.objects.create(
        customer=customer, user=user, action=action, details=details
    )
    customers_refresh_request([customer.pk])
    pending_refresh_run(customer_ids=[customer.pk])
    return record
