"""Reads of asks, scoped at the source to the accounts the user may see."""

import datetime as dt

from django.db.models import (
    Aggregate,
    Count,
    F,
    FloatField,
    Func,
    IntegerField,
    Q,
    QuerySet,
    Sum,
    Window,
)
from django.db.models.functions import RowNumber, TruncDate, TruncMonth

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


def asks_asked_between(customers: QuerySet[Customer], *, first: dt.date, last: dt.date):
    """The asks of these customers asked in the months from `first` to `last` (first days)."""
    after_last = (last.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return Ask.objects.filter(
        customer__in=customers.values("pk"), asked_on__gte=first, asked_on__lt=after_last
    )


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


# A brief shows at most this many of an account's open asks (the list has them all).
OPEN_ASKS_SHOWN = 10


def open_asks_of(customer_ids, *, per_customer: int = OPEN_ASKS_SHOWN) -> dict[int, list[Ask]]:
    """Each account's first `per_customer` open asks, soonest due first, ranked in the database
    (for the meeting's brief, the morning e-mail and the field pack)."""
    by_customer: dict[int, list[Ask]] = {}
    rank = Window(RowNumber(), partition_by=F("customer_id"), order_by=[F("due_on"), F("id")])
    rows = (
        Ask.objects.filter(customer_id__in=customer_ids, answered_at__isnull=True)
        .select_related("owner")
        .annotate(rank=rank)
        .filter(rank__lte=per_customer)
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


class Median(Aggregate):
    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


# Local days from the ask to its answer: date minus date is whole days in PostgreSQL.
DAYS_TO_ANSWER = Func(
    TruncDate("answered_at"),
    F("asked_on"),
    template="(%(expressions)s)",
    arg_joiner=" - ",
    output_field=IntegerField(),
)

ASK_FIGURES = {
    "received": Count("id"),
    "answered": Count("id", filter=Q(answered_at__isnull=False)),
    "on_time": Count("id", filter=Q(answered_at__date__lte=F("due_on"))),
    "median_days": Median(DAYS_TO_ANSWER, filter=Q(answered_at__isnull=False)),
    "won": Count("id", filter=Q(outcome=QuoteOutcome.WON)),
    "lost": Count("id", filter=Q(outcome=QuoteOutcome.LOST)),
    "won_value": Sum("value", filter=Q(outcome=QuoteOutcome.WON)),
    "lost_value": Sum("value", filter=Q(outcome=QuoteOutcome.LOST)),
}


def ask_figures(asks: QuerySet[Ask]) -> dict:
    """What managers read of a set of asks: received, answered, answered by the due date (local
    day), the median days to answer, quotes won and lost with their value; in one query."""
    return asks.order_by().aggregate(**ASK_FIGURES)


def ask_figures_by_owner(asks: QuerySet[Ask]) -> list[dict]:
    """The same figures per owner (who answers), most asks first."""
    return list(
        asks.order_by()
        .values("owner", "owner__username", "owner__first_name", "owner__last_name")
        .annotate(**ASK_FIGURES)
        .order_by("-received", "owner__username")
    )


def asks_by_month_and_kind(asks: QuerySet[Ask]) -> list[dict]:
    """What customers ask for: per month asked and kind, the asks and the accounts asking."""
    rows = list(
        asks.order_by()
        .annotate(month=TruncMonth("asked_on"))
        .values("month", "kind")
        .annotate(asks=Count("id"), accounts=Count("customer", distinct=True))
        .order_by("-month", "kind")
    )
    for row in rows:
        row["kind_label"] = AskKind(row["kind"]).label
    return rows


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


def asks_by_territory_and_kind(asks: QuerySet[Ask]) -> list[dict]:
    """What customers ask for per territory: the asks of each kind (in AskKind's order), all
    asks and the accounts asking, the territories with most asks first; one grouped query."""
    rows = list(
        asks.order_by()
        .values("customer__territory_id", "customer__territory__name")
        .annotate(
            total=Count("id"),
            accounts=Count("customer", distinct=True),
            **{f"kind_{kind}": Count("id", filter=Q(kind=kind)) for kind in AskKind.values},
        )
        .order_by("-total", "customer__territory__name")
    )
    return [
        {
            "name": row["customer__territory__name"],
            "asks": row["total"],
            "accounts": row["accounts"],
            "by_kind": [row[f"kind_{kind}"] for kind in AskKind.values],
        }
        for row in rows
    ]
