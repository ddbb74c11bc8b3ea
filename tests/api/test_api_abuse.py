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
    assert answer.status_code == 413
    assert answer.json()["error"]["message"] == "The request body is too large."
    assert not Invoice.objects.exists()


@pytest.mark.parametrize(
    "query",
    ["page_size=-1", "page_size=abc", "cursor=%00%ff", "cursor=bm90IGEgY3Vyc29y", "page_size=9999"],
)
def test_hostile_paging_is_a_4xx_or_a_page(world, query):
    """(Wrong types are a 400 since the outside run; see the test below.)"""
    token = access_token_create(user=world.rep_north, name="paging")[1]
    for name in ("api:customer-list", "api:visit-list", "api:invoice-list", "api:flag-list"):
        answer = Client().get(
            f"{reverse(name)}?{query}", headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code in {200, 400, 404}, (name, query, answer.status_code)


@pytest.mark.parametrize(
    ("name", "query", "field"),
    [
        ("api:customer-list", "page_size=abc", "page_size"),
        ("api:visit-list", "page_size=0", "page_size"),
        ("api:invoice-list", "page_size=501", "page_size"),
        ("api:flag-list", "open=maybe", "open"),
        ("api:schedule", "days=lots", "days"),
        ("api:customer-list", "updated_since=yesterday", "updated_since"),
    ],
)
def test_query_parameters_of_the_wrong_type_are_a_400(world, name, query, field):
    token = access_token_create(user=world.rep_north, name="params")[1]
    answer = Client().get(f"{reverse(name)}?{query}", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 400, answer.content
    assert field in answer.json()["error"]["fields"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("patch", "/api/v1/customers/abc/"),
        ("post", "/api/v1/visits/abc/log/"),
        ("post", "/api/v1/visits/abc/cancel/"),
        ("post", "/api/v1/visits/abc/reschedule/"),
        ("post", "/api/v1/visits/abc/check-in/"),
        ("post", "/api/v1/customers/abc/note/"),
        ("get", "/api/v1/metrics/abc/"),
        ("get", "/api/v1/customers/99999999999999999999999/"),
        ("get", "/api/v1/no-such-thing/"),
        ("post", "/api/v1/visits/1.5/log/"),
    ],
)
def test_ids_that_are_not_numbers_and_unknown_paths_are_a_json_404(world, method, path):
    token = access_token_create(user=world.rep_north, name="ids")[1]
    answer = getattr(Client(raise_request_exception=False), method)(
        path, {}, content_type="application/json", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 404, (path, answer.status_code)
    assert answer["Content-Type"] == "application/json"
    assert answer.json() == {"error": {"status": 404, "message": "No such resource.", "fields": {}}}


def test_deeply_nested_json_is_a_400(world):
    token = access_token_create(user=world.rep_north, name="nested")[1]
    for body in ("[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000):
        answer = Client(raise_request_exception=False).post(
            reverse("api:visit-list"),
            body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "deep"},
        )
        assert answer.status_code == 400, answer.status_code
        assert "nested too deeply" in answer.json()["error"]["message"]


def test_a_server_error_and_a_database_outage_answer_the_api_error_body(rf):
    from django.db import OperationalError

    from core.status import server_error

    request = rf.get("/api/v1/customers/")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        crashed = server_error(request)
    assert crashed.status_code == 500 and crashed["Content-Type"] == "application/json"
    try:
        raise OperationalError("the database is restarting")
    except OperationalError:
        down = server_error(request)
    assert down.status_code == 503 and down["Retry-After"] == "30"
    assert "retry" in down.content.decode()
    page = server_error(rf.get("/visits/schedule/"))
    assert page["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    ("url_name", "body", "field"),
    [
        ("api:customer-detail", {"phone": {"a": [1, 2]}}, "phone"),
        ("api:customer-detail", {"phone": True}, "phone"),
        ("api:customer-detail", {"city": ["Leeds"]}, "city"),
        ("api:visit-list", {"purpose": {"x": 1}}, "purpose"),
        ("api:contact-list", {"name": False}, "name"),
        ("api:visit-list", {"contacts": [[1]]}, "contacts"),
    ],
)
def test_objects_lists_and_booleans_for_text_fields_are_refused(world, url_name, body, field):
    token = access_token_create(user=world.rep_north, name="shapes")[1]
    customer = world.north_customer
    url = reverse(url_name, args=[customer.pk]) if "detail" in url_name else reverse(url_name)
    method = "patch" if "detail" in url_name else "post"
    answer = getattr(Client(), method)(
        url,
        body if method == "patch" else {"customer": customer.pk, **body},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 400, answer.content
    assert field in answer.json()["error"]["fields"]
    customer.refresh_from_db()
    assert "{" not in customer.phone and customer.phone != "true"


def test_wrong_tokens_are_limited_per_address(world, settings, django_assert_max_num_queries):
    settings.CADENCE_API_FAILED_AUTH_PER_MINUTE = 5
    good = access_token_create(user=world.rep_north, name="good")[1]
    api = Client(REMOTE_ADDR="203.0.113.7")
    answers = [
        api.get(
            reverse("api:customer-list"), headers={"Authorization": f"Bearer cad_x{n}_guess"}
        ).status_code
        for n in range(5)
    ]
    assert answers == [401] * 5
    with django_assert_max_num_queries(0):
        limited = api.get(
            reverse("api:customer-list"), headers={"Authorization": "Bearer cad_abc_guess"}
        )
    assert limited.status_code == 429 and "wrong tokens" in limited.json()["error"]["message"]
    assert limited["Retry-After"] == "60"
    # Another address is unaffected; so is the right token from it.
    elsewhere = Client(REMOTE_ADDR="198.51.100.9").get(
        reverse("api:customer-list"), headers={"Authorization": f"Bearer {good}"}
    )
    assert elsewhere.status_code == 200
