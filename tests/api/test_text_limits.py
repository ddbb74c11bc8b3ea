"""Free text is bounded where it enters (pages, API, offline sync, imports), said by the field,
and the field pack is bounded in bytes: long notes travel as excerpts with a link to the whole."""

import datetime as dt
import json

import pytest
from django.utils import timezone

from api.field_pack import EXCERPT_CHARS, MAX_PACK_BYTES
from core.bounds import MAX_ACCOUNT_NOTES_CHARS, MAX_TEXT_CHARS
from crm.models import Customer
from tests.api_client import Api
from tests.factories import CustomerFactory, PlannedVisitFactory, VisitFactory
from tests.imports.test_import import counts, run
from visits.models import Visit, VisitStatus

pytestmark = pytest.mark.django_db


def test_a_visit_note_longer_than_the_limit_is_refused_by_the_field(world):
    rep = Api(world.rep_north)
    body = {
        "customer": world.north_customer.pk,
        "kind": "on_site",
        "visited_at": (timezone.now() - dt.timedelta(hours=1)).isoformat(),
        "duration_minutes": 30,
    }
    answer = rep.post("/api/v1/visits/log/", {**body, "notes": "x" * (MAX_TEXT_CHARS + 1)})
    assert answer.status_code == 400, answer.content
    assert "10000 characters" in json.dumps(answer.json()["error"]["fields"]["notes"])
    assert not Visit.objects.filter(status=VisitStatus.DONE).exists(), "nothing half-saved"
    fits = rep.post("/api/v1/visits/log/", {**body, "notes": "y" * MAX_TEXT_CHARS})
    assert fits.status_code == 201, fits.content


def test_the_log_page_says_the_limit_by_the_field(client, world):
    client.force_login(world.rep_north)
    page = client.post(
        f"/visits/log/?customer={world.north_customer.pk}",
        {
            "kind": "on_site",
            "visited_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
            "duration_minutes": 30,
            "travel_minutes": 0,
            "distance_km": 0,
            "expenses": 0,
            "notes": "z" * (MAX_TEXT_CHARS + 5),
        },
    )
    assert page.status_code == 200
    assert "at most 10000 characters" in page.text
    assert "z" * 100 in page.text, "what was typed is kept"


def test_an_account_note_is_refused_once_the_notes_are_full(world):
    Customer.objects.filter(pk=world.north_customer.pk).update(
        notes="n" * (MAX_ACCOUNT_NOTES_CHARS - 100)
    )
    rep = Api(world.rep_north)
    answer = rep.post(f"/api/v1/customers/{world.north_customer.pk}/note/", {"text": "m" * 200})
    assert answer.status_code == 400
    assert "notes are full" in json.dumps(answer.json())
    world.north_customer.refresh_from_db()
    assert len(world.north_customer.notes) == MAX_ACCOUNT_NOTES_CHARS - 100


def test_an_import_refuses_notes_over_the_limit_and_keeps_line_breaks(world):
    customer = world.north_customer
    long_note = "w" * (MAX_TEXT_CHARS + 1)
    text = (
        "Customer Code,Salesperson,Visited On,Type,Duration,Notes\n"
        f'{customer.code},rep-north,2026-11-02,Visit,45,"First line\nsecond line"\n'
        f"{customer.code},rep-north,2026-11-03,Visit,45,{long_note}\n"
    )
    job, _ = run(world, "visits", text)
    assert counts(job)[3] == 1, job.reject_samples
    assert "longer than 10000 characters" in job.reject_samples[0]["reason"]
    assert Visit.objects.get(customer=customer).notes == "First line\nsecond line"


def test_hostile_notes_leave_the_field_pack_small(world):
    """25 visits with 2.4 MB notes each (written straight to the table, as old data or a
    bypassed check could be) made one rep's pack 57.8 MB; now each travels as an excerpt."""
    huge = ("Told us everything about the quarter. " * 65_000)[:2_400_000]
    accounts = [CustomerFactory(territory=world.north, owner=world.rep_north) for _ in range(25)]
    for customer in accounts:
        VisitFactory(customer=customer, salesperson=world.rep_north)
        PlannedVisitFactory(
            customer=customer,
            salesperson=world.rep_north,
            scheduled_start=timezone.now() + dt.timedelta(hours=3),
        )
    Visit.objects.filter(customer__in=accounts).update(notes=huge, brief=huge)
    answer = Api(world.rep_north).get("/api/v1/field-pack/")
    assert answer.status_code == 200
    size = len(answer.content)
    assert size < 200_000 < MAX_PACK_BYTES, f"the pack is {size:,} bytes"
    pack = answer.json()
    brief = next(a for a in pack["accounts"] if a["id"] == accounts[0].pk)
    last = brief["last_visit"]
    assert last["notes_truncated"] and len(last["notes"]) <= EXCERPT_CHARS + 1
    assert last["notes"].startswith("Told us everything") and last["url"].startswith("/visits/")
    assert all(len(m["notes"]) <= EXCERPT_CHARS + 1 for m in pack["meetings"])
    assert all(m["notes_truncated"] for m in pack["meetings"])


def test_the_field_pack_carries_at_most_its_meetings_limit(world):
    from api.field_pack import MAX_MEETINGS

    soon = timezone.now() + dt.timedelta(hours=2)
    Visit.objects.bulk_create(
        Visit(
            customer=world.north_customer,
            salesperson=world.rep_north,
            kind="on_site",
            status=VisitStatus.PLANNED,
            scheduled_start=soon + dt.timedelta(minutes=n),
            scheduled_end=soon + dt.timedelta(minutes=n + 30),
        )
        for n in range(MAX_MEETINGS + 50)
    )
    pack = Api(world.rep_north).get("/api/v1/field-pack/").json()
    assert len(pack["meetings"]) == MAX_MEETINGS == pack["limits"]["meetings"]
