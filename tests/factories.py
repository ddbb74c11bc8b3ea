import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone

from accounts.models import Role, Territory, User
from crm.models import Contact, Customer, CustomerStatus, Invoice, SupportCase, Tier
from imports.models import ImportJob
from visits.models import Visit, VisitKind, VisitStatus


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    role = Role.SALESPERSON
    password = factory.django.Password("secret-pass-123")


class TerritoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Territory

    name = factory.Sequence(lambda n: f"Territory {n}")


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Sequence(lambda n: f"Customer {n} Ltd")
    code = factory.Sequence(lambda n: f"CUST{n:05d}")
    territory = factory.SubFactory(TerritoryFactory)
    tier = Tier.B
    status = CustomerStatus.ACTIVE
    city = "Leeds"
    since = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=400))


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    customer = factory.SubFactory(CustomerFactory)
    name = factory.Sequence(lambda n: f"Contact {n}")
    email = factory.Sequence(lambda n: f"contact{n}@example.com")


class VisitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Visit

    customer = factory.SubFactory(CustomerFactory)
    salesperson = factory.SubFactory(UserFactory)
    kind = VisitKind.ON_SITE
    status = VisitStatus.DONE
    visited_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=3))
    duration_minutes = 60


class PlannedVisitFactory(VisitFactory):
    status = VisitStatus.PLANNED
    visited_at = None
    duration_minutes = 0
    scheduled_start = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=1))
    scheduled_end = factory.LazyAttribute(lambda v: v.scheduled_start + dt.timedelta(hours=1))


class InvoiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Invoice

    customer = factory.SubFactory(CustomerFactory)
    number = factory.Sequence(lambda n: f"INV{n:06d}")
    issued_on = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=40))
    due_on = factory.LazyAttribute(lambda i: i.issued_on + dt.timedelta(days=30))
    amount = Decimal("1000.00")
    cost_of_goods = Decimal("700.00")


class SupportCaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SupportCase

    customer = factory.SubFactory(CustomerFactory)
    opened_on = factory.LazyFunction(timezone.localdate)
    kind = "request"
    minutes = 30


class ImportJobFactory(factory.django.DjangoModelFactory):
    """An uploaded file's job, as the upload leaves it (no file is written)."""

    class Meta:
        model = ImportJob

    kind = "customers"
    original_name = factory.LazyAttribute(lambda job: job.stored_name)
    stored_name = factory.Sequence(lambda n: f"upload-{n}.csv")
    size = 1
    file_format = "csv"
    uploaded_by = factory.SubFactory(UserFactory, role=Role.ADMIN)
