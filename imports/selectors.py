"""Reads for the admin's data pages."""

from collections import defaultdict

from django.db.models import Count, IntegerField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from accounts.models import Territory, User
from core.counting import table_count
from crm.models import Contact, Customer, CustomerStatus, Invoice, SupportCase
from health.models import Segment
from visits.models import Visit


def data_overview() -> dict:
    """What an admin sees first: how much data there is, by kind and by territory. The
    customers are counted exactly; the long histories (contacts, invoices, cases, visits) from
    the statistics once they pass core.counting.EXACT_COUNT_BELOW rows (shown as estimates);
    customers by status and territory from the segments' rollups, which every refresh
    rewrites (a customer joins them with its first refresh, seconds after it is saved)."""
    by_territory = defaultdict(int)
    by_status = defaultdict(int)
    rolled_up = (
        Segment.objects.order_by()
        .values_list("territory_id", "status")
        .annotate(accounts=Sum("figures__accounts"))
    )
    for territory_id, status, accounts in rolled_up:
        by_territory[territory_id] += accounts or 0
        by_status[status] += accounts or 0
    memberships = Territory.members.through.objects
    salespeople = Subquery(
        memberships.filter(territory_id=OuterRef("pk"))
        .values("territory_id")
        .annotate(n=Count("*"))
        .values("n"),
        output_field=IntegerField(),
    )
    territories = list(
        Territory.objects.annotate(salesperson_count=Coalesce(salespeople, Value(0)))
        .select_related("parent")
        .prefetch_related("managers")
    )
    for territory in territories:
        territory.customer_count = by_territory[territory.pk]
    counts = [("Customers", Customer.objects.count(), True, "admin:crm_customer_changelist")]
    for label, model, admin_url in (
        ("Contacts", Contact, "admin:crm_contact_changelist"),
        ("Invoices", Invoice, "admin:crm_invoice_changelist"),
        ("Support cases", SupportCase, "admin:crm_supportcase_changelist"),
        ("Visits", Visit, "admin:visits_visit_changelist"),
        ("Users", User, "admin:accounts_user_changelist"),
    ):
        counts.append((label, *table_count(model), admin_url))
    return {
        "counts": counts,
        "status_counts": [
            (CustomerStatus(status).label, by_status[status])
            for status in sorted(by_status)
            if by_status[status]
        ],
        "territories": territories,
    }
