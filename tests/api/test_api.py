"""/api/v1/: tokens, scope, errors, sync paging, writes through the pages' services, idempotency,
rate limits and the OpenAPI schema."""

import datetime as dt
import json

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.validation import validate_schema

from api.models import AccessToken, IdempotentRequest
from api.services import access_token_create, idempotent_requests_forget
from crm.selectors import customers_visible_to
from tests.factories import CustomerFactory, PlannedVisitFactory
from visits.models import Visit, VisitStatus

pytestmark = pytest.mark.django_db


def bearer(token_text: str) -> dict:
    return {"Authorization": f"Bearer {token_text}"}


@pytest.fixture
def rep_token(world) -> str:
    return access_token_create(user=world.rep_north, name="script")[1]


def test_a_token_is_shown_once_stored_as_a_fingerprint_and_revocable(client, world):
    client.force_login(world.rep_north)
    page = client.get(reverse("api_tokens"))
    key = page.text.split('name="submission" value="', 1)[1].split('"', 1)[0]
    created = client.post(
        reverse("api_tokens"), {"name": "ERP sync", "read_only": "on", "submission": key}
    )
    text = created.text.split('<code id="new-token">', 1)[1].split("<", 1)[0]
    assert text.startswith("cad_")
    token = AccessToken.objects.get(user=world.rep_north)
    assert token.read_only and token.name == "ERP sync" and text not in token.digest
    assert text not in client.get(reverse("api_tokens")).text, "shown once"
    api = Client()
    assert api.get("/api/v1/customers/", headers=bearer(text)).status_code == 200
    client.post(reverse("api_token_revoke", args=[token.pk]))
    refused = api.get("/api/v1/customers/", headers=bearer(text))
    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == "This token is revoked or expired."
    # Someone else's token is not theirs to revoke.
    client.force_login(world.rep_south)
    assert client.post(reverse("api_token_revoke", args=[token.pk])).status_code == 404


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ({}, "Authentication credentials were not provided."),
        ({"Authorization": "Bearer nonsense"}, "That is not a Cadence token."),
        ({"Authorization": "Bearer cad_00000000_x"}, "Unknown token."),
        ({"Authorization": "Bearer a b"}, "Send the token as"),
    ],
)
def test_without_a_good_token_a_401_with_the_one_error_body(world, header, message):
    answer = Client().get("/api/v1/customers/", headers=header)
    assert answer.status_code == 401
    body = answer.json()["error"]
    assert body["status"] == 401 and message in body["message"] and body["fields"] == {}


def test_expired_and_read_only_tokens(world):
    token, text = access_token_create(
        user=world.rep_north, name="t", expires_at=timezone.now() + dt.timedelta(days=1)
    )
    token.expires_at = timezone.now() - dt.timedelta(seconds=1)
    token.save()
    assert Client().get("/api/v1/customers/", headers=bearer(text)).status_code == 401
    _, reader = access_token_create(user=world.rep_north, name="r", read_only=True)
    api = Client()
    assert api.get("/api/v1/visits/", headers=bearer(reader)).status_code == 200
    refused = api.post(
        "/api/v1/visits/", {}, content_type="application/json", headers=bearer(reader)
    )
    assert refused.status_code == 403 and "read-only" in refused.json()["error"]["message"]


def test_a_token_sees_what_its_owner_sees(world, rep_token):
    api = Client()
    names = {
        row["name"]
        for row in api.get("/api/v1/customers/", headers=bearer(rep_token)).json()["results"]
    }
    assert "Northern Mills" in names and "Southern Bakes" not in names
    south = world.south_customer.pk
    answer = api.get(f"/api/v1/customers/{south}/", headers=bearer(rep_token))
    assert answer.status_code == 404 and "Southern Bakes" not in answer.text


def test_sync_pages_by_cursor_from_a_moment(world, rep_token):
    for _ in range(5):
        CustomerFactory(territory=world.north, owner=world.rep_north)
    api = Client()
    seen, url = [], "/api/v1/customers/?page_size=2"
    while url:
        page = api.get(url, headers=bearer(rep_token)).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
    visible = customers_visible_to(world.rep_north).count()
    assert len(seen) == len(set(seen)) == visible
    later = timezone.now() + dt.timedelta(seconds=1)
    changed = CustomerFactory(territory=world.north, owner=world.rep_north)
    type(changed).objects.filter(pk=changed.pk).update(updated_at=later)
    since = api.get(
        "/api/v1/customers/",
        {"updated_since": later.isoformat()},
        headers=bearer(rep_token),
    ).json()["results"]
    assert [row["id"] for row in since] == [changed.pk]
    bad = api.get("/api/v1/customers/?updated_since=yesterday", headers=bearer(rep_token))
    assert bad.status_code == 400 and "updated_since" in bad.json()["error"]["fields"]


def plan_body(world, **extra) -> dict:
    start = timezone.now().replace(microsecond=0) + dt.timedelta(days=1)
    return {
        "customer": world.north_customer.pk,
        "kind": "on_site",
        "start": start.isoformat(),
        "end": (start + dt.timedelta(hours=1)).isoformat(),
        "purpose": "Price review",
        **extra,
    }


def test_planning_through_the_api_is_idempotent_with_a_key(world, rep_token):
    api = Client()
    headers = {**bearer(rep_token), "Idempotency-Key": "5c0e7e4e-1"}
    first = api.post(
        "/api/v1/visits/", plan_body(world), content_type="application/json", headers=headers
    )
    assert first.status_code == 201, first.json()
    again = api.post(
        "/api/v1/visits/", plan_body(world), content_type="application/json", headers=headers
    )
    assert again.status_code == 201 and again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Visit.objects.filter(customer=world.north_customer).count() == 1
    visit_id = first.json()["id"]
    reused = api.post(
        f"/api/v1/visits/{visit_id}/cancel/",
        {"reason": "x"},
        content_type="application/json",
        headers=headers,
    )
    assert reused.status_code == 422
    assert Visit.objects.get(pk=visit_id).status == VisitStatus.PLANNED


def test_a_key_reused_with_another_body_is_refused_and_writes_nothing(world, rep_token):
    api = Client()
    headers = {**bearer(rep_token), "Idempotency-Key": "reused-body"}
    body = plan_body(world)
    first = api.post("/api/v1/visits/", body, content_type="application/json", headers=headers)
    assert first.status_code == 201
    # The same request with its keys in another order and other spacing is the same request.
    same = json.dumps(dict(reversed(list(body.items()))), indent=2)
    again = api.post("/api/v1/visits/", same, content_type="application/json", headers=headers)
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    other = api.post(
        "/api/v1/visits/",
        plan_body(world, purpose="Another meeting"),
        content_type="application/json",
        headers=headers,
    )
    assert other.status_code == 422, other.content
    assert "used for another request" in other.json()["error"]["message"]
    assert Visit.objects.filter(customer=world.north_customer).count() == 1
    patched = api.patch(
        f"/api/v1/customers/{world.north_customer.pk}/",
        {"phone": "0113 496 0000"},
        content_type="application/json",
        headers={**bearer(rep_token), "Idempotency-Key": "patch-key"},
    )
    assert patched.status_code == 200, patched.content
    changed = api.patch(
        f"/api/v1/customers/{world.north_customer.pk}/",
        {"phone": "0113 496 9999"},
        content_type="application/json",
        headers={**bearer(rep_token), "Idempotency-Key": "patch-key"},
    )
    assert changed.status_code == 422
    world.north_customer.refresh_from_db()
    assert world.north_customer.phone == "0113 496 0000"


def test_an_expired_key_never_replays(world, rep_token):
    api = Client()
    headers = {**bearer(rep_token), "Idempotency-Key": "a-day-old"}
    api.post("/api/v1/visits/", plan_body(world), content_type="application/json", headers=headers)
    IdempotentRequest.objects.update(created_at=timezone.now() - dt.timedelta(days=1, seconds=1))
    later = api.post(
        "/api/v1/visits/",
        plan_body(world, purpose="Next month"),
        content_type="application/json",
        headers=headers,
    )
    assert later.status_code == 201 and "Idempotent-Replayed" not in later
    assert later.json()["purpose"] == "Next month"
    assert Visit.objects.filter(customer=world.north_customer).count() == 2


def test_api_writes_follow_the_pages_rules(world, rep_token):
    api = Client()
    wrong = api.post(
        "/api/v1/visits/",
        plan_body(world, end="2020-01-01T00:00:00Z", customer=world.south_customer.pk),
        content_type="application/json",
        headers=bearer(rep_token),
    )
    assert wrong.status_code == 400
    fields = wrong.json()["error"]["fields"]
    assert "customer" in fields and not Visit.objects.exists()
    meeting = PlannedVisitFactory(customer=world.north_customer, salesperson=world.rep_north)
    logged = api.post(
        f"/api/v1/visits/{meeting.pk}/log/",
        {
            "kind": "on_site",
            "visited_at": timezone.now().replace(microsecond=0).isoformat(),
            "duration_minutes": 40,
            "notes": "Wants the new range",
        },
        content_type="application/json",
        headers=bearer(rep_token),
    )
    assert logged.status_code == 200, logged.json()
    meeting.refresh_from_db()
    assert meeting.status == VisitStatus.DONE and meeting.notes == "Wants the new range"
    twice = api.post(
        f"/api/v1/visits/{meeting.pk}/cancel/",
        {"reason": "late"},
        content_type="application/json",
        headers=bearer(rep_token),
    )
    assert twice.status_code == 409, "held meanwhile: a conflict, with the meeting as it is now"
    conflict = twice.json()["error"]
    assert "this one is done" in conflict["message"]
    assert conflict["current"]["status"] == "done" and conflict["current"]["id"] == meeting.pk
    south_meeting = PlannedVisitFactory(customer=world.south_customer, salesperson=world.rep_south)
    hidden = api.post(
        f"/api/v1/visits/{south_meeting.pk}/cancel/",
        {"reason": "mine now"},
        content_type="application/json",
        headers=bearer(rep_token),
    )
    assert hidden.status_code == 404


def test_each_token_has_its_own_rate_limit(world, rep_token, settings):
    settings.CADENCE_API_REQUESTS_PER_MINUTE = 3
    other = access_token_create(user=world.rep_north, name="other")[1]
    api = Client()
    codes = [api.get("/api/v1/visits/", headers=bearer(rep_token)).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert api.get("/api/v1/visits/", headers=bearer(other)).status_code == 200


def test_the_openapi_schema_is_valid_and_the_docs_load_without_a_cdn(world):
    api = Client()
    schema = api.get("/api/v1/schema/?format=json")
    assert schema.status_code == 200
    document = schema.json()
    validate_schema(document)
    assert {"/api/v1/customers/", "/api/v1/visits/", "/api/v1/visits/{id}/log/"} <= set(
        document["paths"]
    )
    docs = api.get("/api/v1/docs/")
    assert docs.status_code == 200
    assert "cdn" not in docs.text.lower() and "/static/drf_spectacular_sidecar/" in docs.text


def test_kept_answers_are_forgotten_after_a_day(world, rep_token):
    headers = {**bearer(rep_token), "Idempotency-Key": "old"}
    Client().post(
        "/api/v1/visits/", plan_body(world), content_type="application/json", headers=headers
    )
    kept = IdempotentRequest.objects.get()
    assert idempotent_requests_forget() == 0
    IdempotentRequest.objects.update(created_at=kept.created_at - dt.timedelta(days=1, seconds=1))
    assert idempotent_requests_forget() == 1
