"""Reads for the admin's data pages."""

from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

from accounts.models import Territory, User
from crm.models import Contact, Customer, CustomerStatus, Invoice, SupportCase
from visits.models import Visit


def data_overview() -> dict:
    """What an admin sees first: how much data there is, by kind and by territory."""

    # One count per territory each, not a COUNT DISTINCT over customers x members joined.
    def count_of(rows) -> Coalesce:
        counted = rows.values("territory_id").annotate(n=Count("*")).values("n")
        return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))

    memberships = Territory.members.through.objects
    territories = (
        Territory.objects.annotate(
            customer_count=count_of(Customer.objects.filter(territory_id=OuterRef("pk"))),
            salesperson_count=count_of(memberships.filter(territory_id=OuterRef("pk"))),
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
