"""Reads for customers. Access rules live here, in `customers_visible_to`, and nowhere else."""

import datetime as dt

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from accounts.models import Territory, User
from accounts.selectors import territory_ids_managed_by
from crm.models import (
    DEFAULT_CADENCE_DAYS,
    Contact,
    Customer,
    CustomerStatus,
    Invoice,
    SupportCase,
)
from visits.models import CADENCE_VISIT_KINDS, Visit, VisitStatus
from visits.selectors import visits_visible_to


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
    member_of = list(user.territories.values_list("id", flat=True))
    return Q(owner=user) | Q(territory_id__in=member_of)


def customers_visible_to(user: User) -> QuerySet[Customer]:
    scope = customer_scope(user)
    customers = Customer.objects.select_related("territory", "owner")
    return customers if scope is None else customers.filter(scope)


def customer_search(
    user: User, *, query: str = "", tier: str = "", status: str = ""
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
    return customers.order_by("name", "id")


def customer_with_last_visit(customers: QuerySet[Customer]) -> QuerySet[Customer]:
    last_done = (
        Visit.objects.filter(customer=OuterRef("pk"), status=VisitStatus.DONE)
        .order_by("-visited_at")
        .values("visited_at")[:1]
    )
    return customers.annotate(last_visit_at=Subquery(last_done))


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


def customer_detail_context(user: User, customer: Customer, *, today: dt.date) -> dict:
    """Everything the account page shows, each list already limited and joined."""
    visits = visits_visible_to(user).filter(customer=customer)
    last_visit = (
        visits.filter(status=VisitStatus.DONE, kind__in=CADENCE_VISIT_KINDS)
        .order_by("-visited_at")
        .values_list("visited_at", flat=True)
        .first()
    )
    cadence = customer.cadence_days or DEFAULT_CADENCE_DAYS[customer.tier]
    if last_visit:
        counted_from = timezone.localdate(last_visit)
    else:
        counted_from = customer.since or timezone.localdate(customer.created_at)
    next_due = counted_from + dt.timedelta(days=cadence)
    return {
        "customer": customer,
        "contacts": customer.contacts.all(),
        "recent_visits": visits.exclude(status=VisitStatus.PLANNED)
        .prefetch_related("contacts")
        .order_by("-visited_at", "-scheduled_start")[:10],
        "upcoming_visits": visits.filter(
            status=VisitStatus.PLANNED, scheduled_start__date__gte=today
        ).order_by("scheduled_start")[:5],
        "invoices": customer.invoices.all()[:12],
        "support_cases": customer.support_cases.all()[:10],
        "cadence_days": cadence,
        "last_visit_at": last_visit,
        "next_due": next_due,
        "is_overdue": customer.status == CustomerStatus.ACTIVE and next_due < today,
        "today": today,
    }
