"""Reads of asks, scoped at the source to the accounts the user may see."""

import datetime as dt
from statistics import median

from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone

from accounts.models import Role, User
from accounts.selectors import territory_children
from crm.models import Customer
from crm.selectors import customer_scope
from visits.models import Ask, AskKind, QuoteOutcome

ASK_SCOPES = {"mine": "Mine", "team": "Everyone's I can see"}
ASK_STATES = {"open": "Open", "overdue": "Overdue", "answered": "Answered", "all": "All"}


def asks_visible_to(user: User) -> QuerySet[Ask]:
    scope = customer_scope(user)
    asks = Ask.objects.select_related("customer", "owner", "raised_by")
    return asks if scope is None else asks.filter(customer__in=Customer.objects.filter(scope))


def asks_list(
    user: User, *, today: dt.date, scope: str = "mine", state: str = "open", kind: str = ""
) -> QuerySet[Ask]:
    """The asks list: the user's own (or every one they may see), open, overdue, answered or
    all, of a kind; open ones by due date, answered ones latest first."""
    asks = asks_visible_to(user)
    if scope != "team":
        asks = asks.filter(owner=user)
    if state == "open":
        asks = asks.filter(answered_at__isnull=True)
    elif state == "overdue":
        asks = asks.filter(answered_at__isnull=True, due_on__lt=today)
    elif state == "answered":
        asks = asks.filter(answered_at__isnull=False).order_by("-answered_at", "-id")
    if kind in AskKind.values:
        asks = asks.filter(kind=kind)
    return asks


def customer_asks(customer: Customer) -> QuerySet[Ask]:
    """The account's asks: open ones first, soonest due, then the answered, latest first."""
    return (
        Ask.objects.filter(customer=customer)
        .select_related("owner")
        .order_by(F("answered_at").desc(nulls_first=True), "due_on", "-id")
    )


def open_asks_of(customer_ids) -> dict[int, list[Ask]]:
    """Each account's open asks, soonest due first (for the brief and the field pack)."""
    by_customer: dict[int, list[Ask]] = {}
    rows = (
        Ask.objects.filter(customer_id__in=customer_ids, answered_at__isnull=True)
        .select_related("owner")
        .order_by("due_on", "id")
    )
    for ask in rows:
        by_customer.setdefault(ask.customer_id, []).append(ask)
    return by_customer


def asks_due_for(user: User, *, today: dt.date) -> QuerySet[Ask]:
    """The user's open asks due today or before: what the schedule shows as "Asks due"."""
    return (
        Ask.objects.filter(owner=user, answered_at__isnull=True, due_on__lte=today)
        .select_related("customer")
        .order_by("due_on", "id")
    )


def ask_figures(asks: QuerySet[Ask]) -> dict:
    """What managers read of a set of asks: received, answered, answered by the due date, the
    median days to answer, quotes won and lost with their value."""
    totals = asks.aggregate(
        received=Count("id"),
        answered=Count("id", filter=Q(answered_at__isnull=False)),
        won=Count("id", filter=Q(outcome=QuoteOutcome.WON)),
        lost=Count("id", filter=Q(outcome=QuoteOutcome.LOST)),
        won_value=Sum("value", filter=Q(outcome=QuoteOutcome.WON)),
        lost_value=Sum("value", filter=Q(outcome=QuoteOutcome.LOST)),
    )
    answered = list(
        asks.filter(answered_at__isnull=False).values_list("asked_on", "due_on", "answered_at")
    )
    days = [
        (timezone.localdate(answered_at) - asked_on).days for asked_on, _, answered_at in answered
    ]
    totals["on_time"] = sum(
        1 for _, due_on, answered_at in answered if timezone.localdate(answered_at) <= due_on
    )
    totals["median_days"] = median(days) if days else None
    return totals


def ask_owner_choices(customer: Customer) -> QuerySet[User]:
    """Who may own an ask on this account: whoever may see it (crm.selectors.customer_scope) -
    admins, the managers of its territory or one above it, the salespeople working its
    territory, and its owner (inside sales see the accounts they own)."""
    parents = {child: parent for parent, kids in territory_children().items() for child in kids}
    above, territory = set(), customer.territory_id
    while territory is not None and territory not in above:
        above.add(territory)
        territory = parents.get(territory)
    people = Q(role=Role.ADMIN) | Q(is_superuser=True)
    people |= Q(role=Role.MANAGER, managed_territories__in=above)
    people |= Q(role=Role.SALESPERSON, territories=customer.territory_id)
    people |= Q(pk=customer.owner_id)
    return User.objects.filter(people, is_active=True).distinct().order_by("first_name", "username")
