"""What the offline app keeps on the phone (docs/offline.md): today's and tomorrow's meetings,
each account's brief (address, contacts with phones, the last visit's notes and next step, open
flags, overdue invoices, what the customer asked for and waits on), who to visit, and the basic
details of the rep's accounts, read in a fixed number of queries and bounded in size."""

import datetime as dt

from django.contrib.postgres.aggregates import ArrayAgg
from django.db.models import F, QuerySet, Window
from django.db.models.functions import Left, RowNumber
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from core.bounds import excerpt
from crm.models import Contact, Customer, Invoice
from crm.selectors import customers_visible_to, with_overdue
from health.models import AccountFlag
from visits.ask_selectors import OPEN_ASKS_SHOWN, open_asks_of
from visits.models import Visit, VisitStatus
from visits.selectors import schedule_visits, who_to_visit

# The pack's bounds: the phone keeps at most this many accounts (the meetings' and who-to-visit's
# first, then the rep's own, soonest due first), contacts per account and overdue invoices each.
MAX_ACCOUNTS = 500
MAX_WHO_TO_VISIT = 50
MAX_CONTACTS = 10
MAX_OVERDUE_INVOICES = 5
MAX_OPEN_ASKS = OPEN_ASKS_SHOWN
MAX_MEETINGS = 200
DAYS = 2
# Free text travels as an excerpt with a link to the whole (read with signal), so the pack is
# bounded in bytes as well as rows: every other field has a short max_length.
EXCERPT_CHARS = 400
# What the pack can come to with every field at its longest (tests/api: hostile notes).
MAX_PACK_BYTES = 2_000_000


def _account(customer: Customer, today: dt.date) -> dict:
    return {
        "id": customer.pk,
        "code": customer.code,
        "name": customer.name,
        "tier": customer.tier,
        "address": customer.address,
        "phone": customer.phone,
        "latitude": customer.latitude,
        "longitude": customer.longitude,
        "next_visit_due": customer.next_visit_due,
        # crm.selectors.days_overdue, annotated below: the phone shows it, never computes it.
        "days_overdue": customer.days_overdue,
        "contacts": [],
        "last_visit": None,
        "open_flags": [],
        "overdue_invoices": [],
        "open_asks": [],
    }


def _first_of_each(rows: QuerySet, order: tuple[str, ...], count: int) -> QuerySet:
    """The first `count` rows of each customer in `order`, ranked in the database."""
    ordering = [F(name[1:]).desc() if name.startswith("-") else F(name) for name in order]
    rank = Window(RowNumber(), partition_by=F("customer_id"), order_by=ordering)
    return rows.annotate(rank=rank).filter(rank__lte=count).order_by("customer_id", *order)


def field_pack(user: User, *, now: dt.datetime) -> dict:
    today = timezone.localdate(now)
    start = timezone.make_aware(dt.datetime.combine(today, dt.time.min))
    meetings = list(
        schedule_visits(user, start=start, end=start + dt.timedelta(days=DAYS))
        .prefetch_related("contacts")
        .defer("notes", "brief")
        .annotate(notes_start=Left("notes", EXCERPT_CHARS + 1))
        .order_by("moment", "id")[:MAX_MEETINGS]
    )
    who = list(who_to_visit(user, today=today)[:MAX_WHO_TO_VISIT])
    first_ids = [visit.customer_id for visit in meetings] + [customer.pk for customer in who]
    wanted = list(dict.fromkeys(first_ids))[:MAX_ACCOUNTS]
    visible = with_overdue(customers_visible_to(user), today=today)
    customers = {customer.pk: customer for customer in visible.filter(pk__in=wanted)}
    room = MAX_ACCOUNTS - len(customers)
    if room > 0:
        own = visible.filter(owner=user).exclude(pk__in=wanted)
        for customer in own.order_by("next_visit_due", "name", "id")[:room]:
            customers[customer.pk] = customer
    accounts = {pk: _account(customer, today) for pk, customer in customers.items()}
    ids = list(accounts)

    contacts = _first_of_each(
        Contact.objects.filter(customer_id__in=ids), ("-is_primary", "name", "id"), MAX_CONTACTS
    )
    for contact in contacts.only("customer_id", "name", "title", "phone", "email", "is_primary"):
        accounts[contact.customer_id]["contacts"].append(
            {
                "id": contact.pk,
                "name": contact.name,
                "title": contact.title,
                "phone": contact.phone,
                "email": contact.email,
                "is_primary": contact.is_primary,
            }
        )
    last_visits = (
        Visit.objects.filter(customer_id__in=ids, status=VisitStatus.DONE)
        .order_by("customer_id", "-visited_at", "-id")
        .distinct("customer_id")
        # One character past the excerpt tells whether there is more, without reading it all.
        .annotate(notes_start=Left("notes", EXCERPT_CHARS + 1))
        .values("id", "customer_id", "visited_at", "kind", "notes_start", "outcome", "next_step")
    )
    for last in last_visits:
        last["notes"], last["notes_truncated"] = excerpt(last.pop("notes_start"), EXCERPT_CHARS)
        last["url"] = reverse("visits:detail", args=[last["id"]])
        accounts[last.pop("customer_id")]["last_visit"] = last
    flags = (
        AccountFlag.objects.filter(customer_id__in=ids, resolved_at__isnull=True)
        .values("customer_id")
        .annotate(kinds=ArrayAgg("kind", order_by="kind"))
    )
    for row in flags:
        accounts[row["customer_id"]]["open_flags"] = row["kinds"]
    overdue = _first_of_each(
        Invoice.objects.filter(customer_id__in=ids, paid_on__isnull=True, due_on__lt=today),
        ("due_on", "id"),
        MAX_OVERDUE_INVOICES,
    )
    for invoice in overdue.only("customer_id", "number", "due_on", "amount", "currency"):
        accounts[invoice.customer_id]["overdue_invoices"].append(
            {
                "number": invoice.number,
                "due_on": invoice.due_on,
                "amount": invoice.amount,
                "currency": invoice.currency,
            }
        )
    for customer_id, asks in open_asks_of(ids, per_customer=MAX_OPEN_ASKS).items():
        accounts[customer_id]["open_asks"] = [
            {
                "id": ask.pk,
                "kind": ask.kind,
                "text": ask.text,
                "due_on": ask.due_on,
                "owner": ask.owner_id,
                "value": ask.value,
            }
            for ask in asks
        ]
    for meeting in meetings:
        # The serializer reads these: the pack carries excerpts (docs/offline.md).
        meeting.notes, meeting.notes_truncated = excerpt(meeting.notes_start, EXCERPT_CHARS)
    return {
        "generated_at": now,
        "today": today,
        "user": {"id": user.pk, "name": str(user)},
        "meetings": meetings,
        "who_to_visit": [customer.pk for customer in who if customer.pk in accounts],
        "accounts": list(accounts.values()),
        "limits": {
            "accounts": MAX_ACCOUNTS,
            "who_to_visit": MAX_WHO_TO_VISIT,
            "contacts": MAX_CONTACTS,
            "overdue_invoices": MAX_OVERDUE_INVOICES,
            "open_asks": MAX_OPEN_ASKS,
            "days": DAYS,
            "meetings": MAX_MEETINGS,
            "excerpt_chars": EXCERPT_CHARS,
        },
    }
