"""Hostile and malformed requests to every API write: a clear 4xx with the one error body,
never a 5xx, and nothing written."""

import pytest
from django.test import Client
from django.urls import reverse

from api.services import access_token_create
from crm.models import Contact, Invoice, SupportCase
from tests.factories import PlannedVisitFactory
from visits.models import Visit

pytestmark = pytest.mark.django_db

HOSTILE_BODIES = [
    "[]",
    '"text"',
    "123",
    "null",
    "{",
    '{"customer": {"nested": [1, 2, {"deep": true}]}}',
    '{"customer": "1 OR 1=1", "start": "yesterday", "end": 5}',
    '{"customer": 1e309, "kind": null, "contacts": "all"}',
    '{"customer": -1, "contacts": [null, "x", 1.5], "visited_at": "2026-13-45T99:99"}',
    '{"invoices": {"number": "x"}, "support_cases": "all"}',
    '{"invoices": [[]], "support_cases": [null]}',
    '{"text": ' + '"' + "x" * 5000 + '"}',
    '{"latitude": "north", "longitude": 1e400, "at": "soon"}',
    '{"tier": ["A"], "owner": "someone", "version": "not a time", "name": null}',
    '{"client_uuid": {"a": 1}, "customer": true}',
]


def _writes(meeting, customer) -> list[tuple[str, str]]:
    return [
        ("post", reverse("api:visit-list")),
        ("post", reverse("api:visit-log-unplanned")),
        ("post", reverse("api:visit-log", args=[meeting.pk])),
        ("post", reverse("api:visit-reschedule", args=[meeting.pk])),
        ("post", reverse("api:visit-cancel", args=[meeting.pk])),
        ("post", reverse("api:contact-list")),
        ("post", reverse("api:support-case-list")),
        ("post", reverse("api:invoice-upsert")),
        ("post", reverse("api:support-case-upsert")),
        ("post", reverse("api:customer-note", args=[customer.pk])),
        ("patch", reverse("api:customer-detail", args=[customer.pk])),
    ]


@pytest.mark.parametrize("who", ["rep_north", "north_manager", "admin"])
def test_hostile_bodies_get_a_clear_4xx_and_write_nothing(world, who):
    meeting = PlannedVisitFactory(customer=world.north_customer, salesperson=world.rep_north)
    token = access_token_create(user=getattr(world, who), name="abuse")[1]
    api = Client()
    before = (Visit.objects.count(), Contact.objects.count(), SupportCase.objects.count())
    problems = []
    for method, url in _writes(meeting, world.north_customer):
        for body in HOSTILE_BODIES:
            answer = getattr(api, method)(
                url,
                body,
                content_type="application/json",
                headers={"Authorization": f"Bearer {token}"},
            )
            if answer.status_code >= 500 or answer.status_code < 400:
                problems.append(f"{method} {url} {body[:60]!r} -> {answer.status_code}")
            elif "error" not in answer.json():
                problems.append(f"{method} {url} {body[:60]!r}: not the error body")
    assert not problems, "\n".join(problems)
    assert (Visit.objects.count(), Contact.objects.count(), SupportCase.objects.count()) == before
    assert not Invoice.objects.exists()
    meeting.refresh_from_db()
    assert meeting.status == "planned"
    # A check-in takes nothing but an optional position and time: the rest is ignored, and
    # a position that is not one is refused.
    check_in = reverse("api:visit-check-in", args=[meeting.pk])
    for body in ('{"latitude": "north"}', '{"longitude": 1e400}', '{"at": "soon"}', "[]"):
        answer = api.post(
            check_in,
            body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code in {400, 404}, (body, answer.status_code)


def test_a_body_over_the_size_limit_is_refused_not_fatal(world, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    token = access_token_create(user=world.admin, name="big")[1]
    rows = [{"number": f"N{index}", "customer": 1} for index in range(1000)]
    answer = Client().post(
        reverse("api:invoice-upsert"),
        {"invoices": rows},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code in {400, 413}
    assert not Invoice.objects.exists()


@pytest.mark.parametrize(
    "query",
    ["page_size=-1", "page_size=abc", "cursor=%00%ff", "cursor=bm90IGEgY3Vyc29y", "page_size=9999"],
)
def test_hostile_paging_is_a_4xx_or_a_page(world, query):
    token = access_token_create(user=world.rep_north, name="paging")[1]
    for name in ("api:customer-list", "api:visit-list", "api:invoice-list", "api:flag-list"):
        answer = Client().get(
            f"{reverse(name)}?{query}", headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code in {200, 400, 404}, (name, query, answer.status_code)
