"""Reads for customers. Access rules live here, in `customers_visible_to`, and nowhere else."""

import datetime as dt

from django.db.models import Case, Count, Exists, F, OuterRef, Q, QuerySet, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Territory, User
from accounts.selectors import salespeople_visible_to, territory_ids_managed_by
from crm.health import flag_explanation
from crm.models import (
    DEFAULT_CADENCE_DAYS,
    AccountFlag,
    AccountMetrics,
    CadencePolicy,
    Contact,
    Customer,
    CustomerStatus,
    Invoice,
    Segment,
    SupportCase,
)
from visits.models import Visit, VisitStatus
from visits.selectors import visits_visible_to

WHO_TO_VISIT_HORIZON_DAYS = 14
CUSTOMER_SORTS = {
    "name": ("name", "id"),
    "last_visit": (F("last_visit_at").asc(nulls_first=True), "id"),
    "next_due": (F("next_visit_due").asc(nulls_last=True), "id"),
}


def customer_scope(user: User) -> Q | None:
    """The filter that limits customers to what `user` may see; None means everything.

    - admin: every customer;
    - manager: customers in the territories they manage, sub-territories included;
    - salesperson: customers they own, and customers of the territories they work.
    """
    if not user.is_authenticated or not user.is_active:
        return Q(pk__in=[])
    if user.is_cadence_admin:
        return None
    if user.is_manager:
        return Q(territory_id__in=territory_ids_managed_by(user))
    # A subquery, not a list: building the scope costs no query of its own.
    return Q(owner=user) | Q(territory_id__in=user.territories.values("id"))


def customers_visible_to(user: User) -> QuerySet[Customer]:
    scope = customer_scope(user)
    customers = Customer.objects.select_related("territory", "owner")
    return customers if scope is None else customers.filter(scope)


def segments_visible_to(user: User) -> QuerySet[Segment]:
    """The rollup segments of the customers `user` may see (the same rule as customers)."""
    scope = customer_scope(user)
    return Segment.objects.all() if scope is None else Segment.objects.filter(scope)


def customer_search(
    user: User,
    *,
    today: dt.date,
    query: str = "",
    tier: str = "",
    status: str = "",
    overdue: bool = False,
    sort: str = "name",
) -> QuerySet[Customer]:
    """Visible customers matching a free-text query (name, code or city) and filters."""
    customers = customers_visible_to(user)
    query = query.strip()
    if query:
        customers = customers.filter(
            Q(name__icontains=query) | Q(code__istartswith=query) | Q(city__icontains=query)
        )
    if tier:
        customers = customers.filter(tier=tier)
    if status:
        customers = customers.filter(status=status)
    if overdue:
        customers = customers.filter(status=CustomerStatus.ACTIVE, next_visit_due__lt=today)
    return customers.order_by(*CUSTOMER_SORTS.get(sort, CUSTOMER_SORTS["name"]))


def who_to_visit(user: User, *, today: dt.date) -> QuerySet[Customer]:
    """The user's active accounts overdue or due within two weeks that have no meeting planned
    from today on, most overdue first, then the most valuable tier."""
    start_of_today = timezone.make_aware(dt.datetime.combine(today, dt.time.min))
    planned = Visit.objects.filter(
        customer=OuterRef("pk"), status=VisitStatus.PLANNED, scheduled_start__gte=start_of_today
    )
    return (
        customers_visible_to(user)
        .filter(
            owner=user,
            status=CustomerStatus.ACTIVE,
            next_visit_due__lte=today + dt.timedelta(days=WHO_TO_VISIT_HORIZON_DAYS),
        )
        .exclude(Exists(planned))
        .order_by(
            "next_visit_due",
            "tier",
            F("metrics__revenue").desc(nulls_last=True),
            "name",
            "id",
        )
    )


def customer_edit_choices(user: User) -> dict:
    """Owners and territories a manager (their own) or admin (all) may assign a customer to."""
    territories = Territory.objects.all()
    if not user.is_cadence_admin:
        territories = territories.filter(pk__in=territory_ids_managed_by(user))
    return {"owners": salespeople_visible_to(user), "territories": territories}


def cadence_days_for(customer: Customer) -> int:
    if customer.cadence_days:
        return customer.cadence_days
    policy = CadencePolicy.objects.filter(tier=customer.tier).values_list("days", flat=True).first()
    return policy or DEFAULT_CADENCE_DAYS[customer.tier]


def customer_health(customer: Customer) -> dict:
    """The stored health figures and the open flags (each with its plain-words reason)."""
    flags = list(
        AccountFlag.objects.filter(customer=customer, resolved_at__isnull=True)
        .select_related("acknowledged_by")
        .order_by("kind")
    )
    for flag in flags:
        flag.explanation = flag_explanation(flag)
    return {
        "metrics": AccountMetrics.objects.filter(customer=customer).first(),
        "open_flags": flags,
    }


def customer_timeline(user: User, customer: Customer, *, now: dt.datetime) -> QuerySet[Visit]:
    """Visits to the customer the user may see: the meetings still ahead first, soonest first,
    then the history, newest first (a visit by when it was held, else when it was planned)."""
    ahead = Q(status=VisitStatus.PLANNED, scheduled_start__gte=now)
    return (
        visits_visible_to(user)
        .filter(customer=customer)
        .prefetch_related("contacts")
        .annotate(
            ahead_at=Case(When(ahead, then=F("scheduled_start"))),
            moment=Coalesce("visited_at", "scheduled_start"),
        )
        .order_by(F("ahead_at").asc(nulls_last=True), F("moment").desc(nulls_last=True), "-id")
    )


def customer_upcoming(user: User, customer: Customer, *, now: dt.datetime) -> QuerySet[Visit]:
    return (
        visits_visible_to(user)
        .filter(customer=customer, status=VisitStatus.PLANNED, scheduled_start__gte=now)
        .order_by("scheduled_start")
    )


def customer_invoices(customer: Customer) -> QuerySet[Invoice]:
    return customer.invoices.order_by("-issued_on", "-id")


def customer_support_cases(customer: Customer) -> QuerySet[SupportCase]:
    return customer.support_cases.order_by("-opened_on", "-id")


def customer_contacts(customer: Customer) -> QuerySet[Contact]:
    return customer.contacts.order_by("-is_primary", "name", "id")


def data_overview() -> dict:
    """What an admin sees first: how much data there is, by kind and by territory."""
    territories = (
        Territory.objects.annotate(
            customer_count=Count("customers", distinct=True),
            salesperson_count=Count("members", distinct=True),
        )
        .select_related("parent")
        .prefetch_related("managers")
    )
    return {
        "counts": [
            ("Customers", Customer.objects.count(), "admin:crm_customer_changelist"),
            ("Contacts", Contact.objects.count(), "admin:crm_contact_changelist"),
            ("Invoices", Invoice.objects.count(), "admin:crm_invoice_changelist"),
            ("Support cases", SupportCase.objects.count(), "admin:crm_supportcase_changelist"),
            ("Visits", Visit.objects.count(), "admin:visits_visit_changelist"),
            ("Users", User.objects.count(), "admin:accounts_user_changelist"),
        ],
        "status_counts": [
            (CustomerStatus(row["status"]).label, row["n"])
            for row in Customer.objects.values("status").annotate(n=Count("id")).order_by("status")
        ],
        "territories": territories,
    }
