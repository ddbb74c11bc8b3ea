"""/api/v1/ resources by role: visits by client UUID, reschedule and conflicts; customer changes
by role; contacts; schedule and who-to-visit; invoices and support cases pushed in batches;
flags, metrics, territories and people read in scope."""

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.utils import timezone

from api.services import access_token_create
from core.models import PendingRefresh
from crm.models import Contact, Customer, ExchangeRate, Invoice, SupportCase
from crm.selectors import customers_visible_to
from health.models import AccountFlag, FlagKind
from health.services import accounts_refresh
from tests.api_client import Api
from tests.factories import (
    ContactFactory,
    CustomerFactory,
    InvoiceFactory,
    PlannedVisitFactory,
    VisitFactory,
)
from visits.models import Visit, VisitStatus

pytestmark = pytest.mark.django_db


def _soon(hours: int = 24) -> dt.datetime:
    return timezone.now().replace(microsecond=0) + dt.timedelta(hours=hours)


def _plan(customer, client_uuid=None, **extra) -> dict:
    start = _soon()
    body = {
        "customer": customer.pk,
        "kind": "on_site",
        "start": start.isoformat(),
        "end": (start + dt.timedelta(hours=1)).isoformat(),
        **extra,
    }
    return body | ({"client_uuid": str(client_uuid)} if client_uuid else {})


def test_a_visit_sent_twice_with_its_client_uuid_is_made_once(world):
    rep = Api(world.rep_north)
    made = uuid.uuid4()
    first = rep.post("/api/v1/visits/", _plan(world.north_customer, made))
    assert first.status_code == 201, first.json()
    assert first.json()["client_uuid"] == str(made)
    again = rep.post("/api/v1/visits/", _plan(world.north_customer, made, purpose="retry"))
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert Visit.objects.filter(client_uuid=made).count() == 1
    # Someone else's UUID never hands them that visit.
    other = Api(world.rep_south).post("/api/v1/visits/", _plan(world.south_customer, made))
    assert other.status_code == 409 and "someone else" in other.json()["error"]["message"]
    bad = rep.post("/api/v1/visits/", _plan(world.north_customer, "not-a-uuid"))
    assert bad.status_code == 400 and "client_uuid" in bad.json()["error"]["fields"]


def test_an_unplanned_visit_logged_offline_arrives_once_with_its_follow_up(world):
    rep = Api(world.rep_north)
    contact = ContactFactory(customer=world.north_customer)
    made = uuid.uuid4()
    body = {
        "customer": world.north_customer.pk,
        "client_uuid": str(made),
        "kind": "on_site",
        "visited_at": (timezone.now() - dt.timedelta(hours=2)).replace(microsecond=0).isoformat(),
        "duration_minutes": 30,
        "contacts": [contact.pk],
        "notes": "Asked for samples",
        "next_step": "Bring samples",
        "follow_up_on": (timezone.localdate() + dt.timedelta(days=7)).isoformat(),
        "plan_follow_up": True,
        "follow_up_time": "10:00",
    }
    first = rep.post("/api/v1/visits/log/", body)
    assert first.status_code == 201, first.json()
    assert first.json()["status"] == "done" and first.json()["contacts"] == [contact.pk]
    assert first.json()["follow_up"]["status"] == "planned"
    assert rep.post("/api/v1/visits/log/", body).status_code == 200
    assert Visit.objects.filter(customer=world.north_customer, status=VisitStatus.DONE).count() == 1
    assert Visit.objects.filter(customer=world.north_customer).count() == 2, "visit + follow-up"
    world.north_customer.refresh_from_db()
    assert world.north_customer.last_visit_at is not None
    hidden = rep.post(
        "/api/v1/visits/log/",
        body | {"customer": world.south_customer.pk, "client_uuid": str(uuid.uuid4())},
    )
    assert hidden.status_code == 404
    future = rep.post(
        "/api/v1/visits/log/",
        body | {"client_uuid": str(uuid.uuid4()), "visited_at": _soon().isoformat()},
    )
    assert future.status_code == 400 and "visited_at" in future.json()["error"]["fields"]


def test_a_follow_up_without_a_time_takes_the_log_forms_default_as_documented(world):
    """docs/api.md: follow_up_time "default 09:00" — left out, the follow-up is at 09:00, as
    the page's prefilled field would have it; sent empty, it is asked for."""
    from visits.forms import FOLLOW_UP_TIME

    rep = Api(world.rep_north)
    next_week = timezone.localdate() + dt.timedelta(days=7)
    body = {
        "customer": world.north_customer.pk,
        "kind": "on_site",
        "visited_at": (timezone.now() - dt.timedelta(hours=2)).replace(microsecond=0).isoformat(),
        "duration_minutes": 30,
        "follow_up_on": next_week.isoformat(),
        "plan_follow_up": True,
    }
    logged = rep.post("/api/v1/visits/log/", body)
    assert logged.status_code == 201, logged.json()
    follow_up = Visit.objects.get(pk=logged.json()["follow_up"]["id"])
    assert timezone.localtime(follow_up.scheduled_start).time() == FOLLOW_UP_TIME
    emptied = rep.post("/api/v1/visits/log/", body | {"follow_up_time": ""})
    assert emptied.status_code == 400
    assert "follow_up_time" in emptied.json()["error"]["fields"]


def test_reschedule_and_a_meeting_cancelled_meanwhile_is_a_conflict_with_both_versions(world):
    rep = Api(world.rep_north)
    meeting = PlannedVisitFactory(customer=world.north_customer, salesperson=world.rep_north)
    start = _soon(48)
    moved = rep.post(
        f"/api/v1/visits/{meeting.pk}/reschedule/",
        {"start": start.isoformat(), "end": (start + dt.timedelta(minutes=45)).isoformat()},
    )
    assert moved.status_code == 200, moved.json()
    meeting.refresh_from_db()
    assert meeting.scheduled_start == start and meeting.sequence == 1
    backwards = rep.post(
        f"/api/v1/visits/{meeting.pk}/reschedule/",
        {"start": start.isoformat(), "end": (start - dt.timedelta(hours=1)).isoformat()},
    )
    assert backwards.status_code == 400 and "end" in backwards.json()["error"]["fields"]
    # The manager cancels it; the rep's offline log then arrives.
    Api(world.north_manager).post(f"/api/v1/visits/{meeting.pk}/cancel/", {"reason": "Closed"})
    late = rep.post(
        f"/api/v1/visits/{meeting.pk}/log/",
        {"kind": "on_site", "visited_at": timezone.now().isoformat(), "duration_minutes": 20},
    )
    assert late.status_code == 409
    error = late.json()["error"]
    assert (
        error["current"]["status"] == "cancelled" and error["current"]["cancel_reason"] == "Closed"
    )
    meeting.refresh_from_db()
    assert meeting.status == VisitStatus.CANCELLED and meeting.duration_minutes == 0


def test_customer_changes_follow_the_roles_fields(world):
    customer = world.north_customer
    rep = Api(world.rep_north)
    phoned = rep.patch(f"/api/v1/customers/{customer.pk}/", {"phone": "+44 20 7946 0000"})
    assert phoned.status_code == 200, phoned.json()
    customer.refresh_from_db()
    assert customer.phone == "+44 20 7946 0000" and customer.name == "Northern Mills"
    refused = rep.patch(f"/api/v1/customers/{customer.pk}/", {"tier": "A"})
    assert refused.status_code == 403 and "tier" in refused.json()["error"]["message"]
    manager = Api(world.north_manager)
    version = manager.get(f"/api/v1/customers/{customer.pk}/").json()["updated_at"]
    changed = manager.patch(f"/api/v1/customers/{customer.pk}/", {"tier": "A", "version": version})
    assert changed.status_code == 200 and changed.json()["tier"] == "A"
    stale = manager.patch(f"/api/v1/customers/{customer.pk}/", {"tier": "B", "version": version})
    assert stale.status_code == 409
    nonsense = manager.patch(f"/api/v1/customers/{customer.pk}/", {"tier": "Z", "name": ""})
    assert nonsense.status_code == 400
    assert set(nonsense.json()["error"]["fields"]) == {"tier", "name"}
    assert Customer.objects.get(pk=customer.pk).tier == "A"
    elsewhere = Api(world.south_manager).patch(f"/api/v1/customers/{customer.pk}/", {"tier": "C"})
    assert elsewhere.status_code == 404


def test_contacts_in_scope_added_through_the_pages_form(world):
    ContactFactory(customer=world.north_customer, name="Ann North")
    ContactFactory(customer=world.south_customer, name="Sam South")
    rep = Api(world.rep_north)
    names = {row["name"] for row in rep.get("/api/v1/contacts/").json()["results"]}
    assert "Ann North" in names and "Sam South" not in names
    one = rep.get("/api/v1/contacts/", {"customer": world.north_customer.pk}).json()["results"]
    assert [row["name"] for row in one] == ["Ann North"]
    assert rep.get("/api/v1/contacts/", {"customer": "x"}).status_code == 400
    added = rep.post(
        "/api/v1/contacts/",
        {
            "customer": world.north_customer.pk,
            "name": "Bo Buyer",
            "phone": "0123",
            "is_primary": True,
        },
        key="contact-1",
    )
    assert added.status_code == 201, added.json()
    assert (
        rep.post(
            "/api/v1/contacts/",
            {
                "customer": world.north_customer.pk,
                "name": "Bo Buyer",
                "phone": "0123",
                "is_primary": True,
            },
            key="contact-1",
        ).json()
        == added.json()
    )
    assert Contact.objects.filter(name="Bo Buyer").count() == 1
    bad = rep.post("/api/v1/contacts/", {"customer": world.north_customer.pk, "email": "no"})
    assert bad.status_code == 400 and {"name", "email"} <= set(bad.json()["error"]["fields"])
    hidden = rep.post("/api/v1/contacts/", {"customer": world.south_customer.pk, "name": "X"})
    assert hidden.status_code == 404


def test_my_schedule_and_who_to_visit(world):
    mine = PlannedVisitFactory(
        customer=world.north_customer, salesperson=world.rep_north, scheduled_start=_soon(3)
    )
    PlannedVisitFactory(customer=world.south_customer, salesperson=world.rep_south)
    overdue = CustomerFactory(name="Overdue Ltd", territory=world.north, owner=world.rep_north)
    Customer.objects.filter(pk=overdue.pk).update(
        next_visit_due=timezone.localdate() - dt.timedelta(days=9)
    )
    rep = Api(world.rep_north)
    week = rep.get("/api/v1/schedule/").json()
    assert [row["id"] for row in week] == [mine.pk]
    assert week[0]["customer_name"] == "Northern Mills"
    assert rep.get("/api/v1/schedule/", {"from": "2000-01-01", "days": "3"}).json() == []
    assert rep.get("/api/v1/schedule/", {"days": "400"}).status_code == 400
    assert rep.get("/api/v1/schedule/", {"from": "monday"}).status_code == 400
    who = rep.get("/api/v1/who-to-visit/").json()
    assert who[0]["name"] == "Overdue Ltd" and who[0]["days_overdue"] == 9
    assert "Northern Mills" not in {row["name"] for row in who}, "a meeting is planned"


def _invoice(customer, number, **extra) -> dict:
    return {
        "number": number,
        "customer_code": customer.code,
        "issued_on": "2026-11-01",
        "due_on": "2026-12-01",
        "amount": "1200.50",
        "cost_of_goods": "700",
        **extra,
    }


def test_the_erp_pushes_invoices_in_batches_upserted_by_number(world):
    assert (
        Api(world.rep_north).post("/api/v1/invoices/upsert/", {"invoices": []}).status_code == 403
    )
    erp = Api(world.admin, integration=True)
    ExchangeRate.objects.create(currency="USD", on_date=dt.date(2026, 1, 1), rate=Decimal("0.8"))
    batch = [
        _invoice(world.north_customer, "INV-1"),
        _invoice(world.south_customer, "INV-2", currency="usd"),
        _invoice(world.north_customer, "INV-3", due_on="2026-10-01"),
        _invoice(world.north_customer, "INV-4", currency="JPY"),
        _invoice(world.north_customer, "INV-5", customer_code="NOPE"),
        _invoice(world.north_customer, "INV-1"),
        {"number": "INV-6"},
        "not an object",
    ]
    first = erp.post("/api/v1/invoices/upsert/", {"invoices": batch})
    assert first.status_code == 200, first.json()
    body = first.json()
    assert (body["created"], body["updated"]) == (2, 0)
    refused = {error["index"]: error["fields"] for error in body["errors"]}
    assert set(refused) == {2, 3, 4, 5, 6, 7}
    assert "due_on" in refused[2] and "currency" in refused[3]
    assert "customer_code" in refused[4] and "number" in refused[5]
    assert {"issued_on", "due_on", "amount", "customer_code"} <= set(refused[6])
    usd = Invoice.objects.get(number="INV-2")
    assert usd.currency == "USD" and usd.exchange_rate == Decimal("0.8")
    assert usd.customer == world.south_customer
    paid = erp.post(
        "/api/v1/invoices/upsert/",
        {"invoices": [_invoice(world.north_customer, "INV-1", paid_on="2026-11-20")]},
    )
    assert (paid.json()["created"], paid.json()["updated"]) == (0, 1)
    assert Invoice.objects.get(number="INV-1").paid_on == dt.date(2026, 11, 20)
    assert Invoice.objects.count() == 2
    # Booked to the wrong customer, then corrected: both customers' figures are refreshed.
    PendingRefresh.objects.all().delete()
    moved = erp.post(
        "/api/v1/invoices/upsert/",
        {"invoices": [_invoice(world.coast_customer, "INV-1", paid_on="2026-11-20")]},
    )
    assert moved.json()["updated"] == 1
    assert set(PendingRefresh.objects.values_list("customer_id", flat=True)) == {
        world.north_customer.pk,
        world.coast_customer.pk,
    }
    nothing = erp.post("/api/v1/invoices/upsert/", {"invoices": [{"number": ""}]})
    assert nothing.status_code == 400 and nothing.json()["error"]["fields"]["invoices"]
    too_many = erp.post("/api/v1/invoices/upsert/", {"invoices": [{}] * 1001})
    assert too_many.status_code == 400 and "split" in str(too_many.json())
    # An integration token pushes; it does not read visits or plan meetings.
    assert erp.get("/api/v1/visits/").status_code == 403
    assert erp.get("/api/v1/customers/").status_code == 200
    assert erp.post("/api/v1/visits/", _plan(world.north_customer)).status_code == 403


def test_only_admins_make_integration_tokens(world):
    with pytest.raises(Exception, match="Only an admin"):
        access_token_create(user=world.north_manager, name="erp", integration=True)


def test_the_helpdesk_upserts_cases_and_the_field_reports_them(world):
    helpdesk = Api(world.admin)
    rows = [
        {"external_id": "HD-1", "customer_code": world.north_customer.code,
         "opened_on": "2026-11-02", "kind": "complaint", "minutes": 30, "is_open": True},
        {"external_id": "HD-2", "customer": world.south_customer.pk, "opened_on": "2026-11-03",
         "minutes": 10**9},
    ]  # fmt: skip
    first = helpdesk.post("/api/v1/support-cases/upsert/", {"support_cases": rows}).json()
    assert first["created"] == 1 and first["errors"][0]["index"] == 1
    assert "minutes" in first["errors"][0]["fields"]
    closed = [rows[0] | {"minutes": 90, "is_open": False}]
    again = helpdesk.post("/api/v1/support-cases/upsert/", {"support_cases": closed}).json()
    assert again["updated"] == 1
    case = SupportCase.objects.get(external_id="HD-1")
    assert case.minutes == 90 and not case.is_open
    rep = Api(world.rep_north)
    assert rep.post("/api/v1/support-cases/upsert/", {"support_cases": rows}).status_code == 403
    reported = rep.post(
        "/api/v1/support-cases/",
        {
            "customer": world.north_customer.pk,
            "kind": "request",
            "note": "Wants a call",
            "minutes": 5,
        },
    )
    assert reported.status_code == 201, reported.json()
    assert reported.json()["is_open"] and reported.json()["reported_by"] == world.rep_north.pk
    listed = {row["external_id"] for row in rep.get("/api/v1/support-cases/").json()["results"]}
    assert listed == {"HD-1", ""}
    bad = rep.post("/api/v1/support-cases/", {"customer": world.north_customer.pk, "kind": "x"})
    assert bad.status_code == 400 and {"kind", "minutes"} <= set(bad.json()["error"]["fields"])


def test_flags_metrics_territories_and_people_in_scope(world):
    InvoiceFactory(customer=world.north_customer)
    VisitFactory(customer=world.south_customer, salesperson=world.rep_south)
    accounts_refresh(
        customer_ids=list(Customer.objects.values_list("pk", flat=True)),
        as_of=timezone.localdate(),
    )
    rep, manager, admin = Api(world.rep_north), Api(world.north_manager), Api(world.admin)
    metrics = {row["customer"] for row in rep.get("/api/v1/metrics/").json()["results"]}
    assert world.north_customer.pk in metrics and world.south_customer.pk not in metrics
    flagged = {row["customer"] for row in admin.get("/api/v1/flags/").json()["results"]}
    assert {row["customer"] for row in rep.get("/api/v1/flags/").json()["results"]} <= (
        set(customers_visible_to(world.rep_north).values_list("pk", flat=True)) & flagged
    )
    assert {row["name"] for row in rep.get("/api/v1/territories/").json()["results"]} == {"North"}
    assert {row["name"] for row in manager.get("/api/v1/territories/").json()["results"]} == {
        "North",
        "North-Coast",
    }
    people = {row["username"] for row in manager.get("/api/v1/users/").json()["results"]}
    assert people == {"north-manager", "rep-north", "rep-coast"}
    assert [row["username"] for row in rep.get("/api/v1/users/").json()["results"]] == ["rep-north"]
    assert len(admin.get("/api/v1/users/").json()["results"]) == 6


def test_check_in_made_offline_keeps_its_time_and_a_note_never_overwrites(world):
    rep = Api(world.rep_north)
    meeting = PlannedVisitFactory(customer=world.north_customer, salesperson=world.rep_north)
    earlier = (timezone.now() - dt.timedelta(hours=3)).replace(microsecond=0)
    arrived = rep.post(
        f"/api/v1/visits/{meeting.pk}/check-in/",
        {"latitude": 51.5, "longitude": -0.12, "accuracy": 24.6, "at": earlier.isoformat()},
    )
    assert arrived.status_code == 200, arrived.json()
    meeting.refresh_from_db()
    assert meeting.checked_in_at == earlier and meeting.check_in_latitude == 51.5
    assert meeting.check_in_accuracy_m == 25
    other = PlannedVisitFactory(customer=world.north_customer, salesperson=world.rep_north)
    future = rep.post(f"/api/v1/visits/{other.pk}/check-in/", {"at": _soon().isoformat()})
    assert future.status_code == 400 and "at" in future.json()["error"]["fields"]

    world.north_customer.notes = "Gate code 1234"
    world.north_customer.save()
    for text in ("Moving to a new site in March", "Ask for Jo"):
        assert (
            rep.post(
                f"/api/v1/customers/{world.north_customer.pk}/note/", {"text": text}
            ).status_code
            == 200
        )
    notes = Customer.objects.get(pk=world.north_customer.pk).notes
    assert notes.startswith("Gate code 1234") and "Moving to a new site" in notes
    assert notes.rstrip().endswith("Ask for Jo") and str(world.rep_north) in notes
    empty = rep.post(f"/api/v1/customers/{world.north_customer.pk}/note/", {"text": ""})
    assert empty.status_code == 400


def test_the_field_pack_holds_the_briefs_bounded_and_in_a_fixed_number_of_queries(
    world, django_assert_max_num_queries
):
    from api.field_pack import MAX_CONTACTS

    customer = world.north_customer
    meeting = PlannedVisitFactory(
        customer=customer, salesperson=world.rep_north, scheduled_start=_soon(2)
    )
    VisitFactory(
        customer=customer, salesperson=world.rep_north, notes="Liked the samples",
        next_step="Send the price list",
    )  # fmt: skip
    for index in range(MAX_CONTACTS + 3):
        ContactFactory(customer=customer, name=f"Person {index:02d}", phone=f"0100{index}")
    InvoiceFactory(
        customer=customer, number="LATE-1", issued_on=dt.date(2026, 1, 1),
        due_on=dt.date(2026, 2, 1), paid_on=None,
    )  # fmt: skip
    AccountFlag.objects.create(
        customer=customer, kind=FlagKind.LATE_PAYER, inputs={}, as_of=timezone.localdate(),
        opened_at=timezone.now(), raised_at=timezone.now(),
    )  # fmt: skip
    south_meeting = PlannedVisitFactory(customer=world.south_customer, salesperson=world.rep_south)
    rep = Api(world.rep_north)
    with django_assert_max_num_queries(16):
        pack = rep.get("/api/v1/field-pack/").json()
    assert [row["id"] for row in pack["meetings"]] == [meeting.pk]
    assert south_meeting.pk not in {row["id"] for row in pack["meetings"]}
    brief = next(account for account in pack["accounts"] if account["id"] == customer.pk)
    assert len(brief["contacts"]) == MAX_CONTACTS and brief["contacts"][0]["phone"]
    assert brief["last_visit"]["notes"] == "Liked the samples"
    assert brief["last_visit"]["next_step"] == "Send the price list"
    assert [invoice["number"] for invoice in brief["overdue_invoices"]] == ["LATE-1"]
    assert brief["open_flags"] == ["late_payer"]
    assert world.south_customer.pk not in {account["id"] for account in pack["accounts"]}
    assert pack["limits"]["accounts"] == 500
