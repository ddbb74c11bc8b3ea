"""/api/v1/: asks with a logged visit, the asks resource, the field pack's open asks and the
ask webhooks (issue 28)."""

import datetime as dt

import pytest
from django.utils import timezone

from api.models import WebhookDelivery, WebhookEvent
from tests.api.test_webhooks import hook
from tests.api_client import Api
from visits.ask_services import asks_overdue_announce
from visits.models import Ask, AskKind, QuoteOutcome

pytestmark = pytest.mark.django_db


def _log_body(customer, asks) -> dict:
    return {
        "customer": customer.pk,
        "kind": "on_site",
        "visited_at": (timezone.now() - dt.timedelta(hours=1)).isoformat(),
        "duration_minutes": 30,
        "notes": "Asked for prices",
        "asks": asks,
    }


def test_a_visit_logged_with_asks_through_the_api_records_them(world):
    rep = Api(world.rep_north)
    response = rep.post(
        "/api/v1/visits/log/",
        _log_body(
            world.north_customer,
            [
                {"kind": "price", "text": "Price for 200 crates", "value": 4100},
                {"kind": "complaint", "text": "Damaged delivery", "owner": world.north_manager.pk},
            ],
        ),
    )
    assert response.status_code == 201, response.json()
    asks = {ask.kind: ask for ask in Ask.objects.all()}
    assert asks[AskKind.PRICE].visit_id == response.json()["id"]
    assert asks[AskKind.COMPLAINT].owner == world.north_manager
    pack = rep.get("/api/v1/field-pack/").json()
    brief = next(a for a in pack["accounts"] if a["id"] == world.north_customer.pk)
    assert [ask["text"] for ask in brief["open_asks"]] == [
        "Damaged delivery",
        "Price for 200 crates",
    ]


@pytest.mark.parametrize(
    ("asks", "field", "message"),
    [
        ("a price", "asks", "Give a list of objects"),
        ([["price", "x"]], "asks", "Give a list of objects"),
        ([{"kind": "price", "text": {"x": 1}}], "asks", "Give a list of objects"),
        ([{"kind": "price", "text": "x", "colour": "red"}], "asks", "Give a list of objects"),
        ([{"kind": "", "text": "x"}], "asks[0].kind", "Choose what kind of ask this is."),
        ([{"kind": "price", "text": "x", "owner": 999999}], "asks[0].owner", "valid choice"),
        ([{"kind": "price", "text": "x"}] * 11, "asks", "10"),
    ],
)
def test_asks_of_the_wrong_shape_are_refused_and_nothing_is_written(world, asks, field, message):
    response = Api(world.rep_north).post(
        "/api/v1/visits/log/", _log_body(world.north_customer, asks)
    )
    assert response.status_code == 400, response.json()
    fields = response.json()["error"]["fields"]
    assert message in " ".join(fields[field]), fields
    assert not Ask.objects.exists()


def test_the_asks_resource(world):
    rep = Api(world.rep_north)
    made = rep.post(
        "/api/v1/asks/",
        {"customer": world.north_customer.pk, "kind": "product", "text": "A quote for pumps"},
    )
    assert made.status_code == 201, made.json()
    ask = made.json()
    assert ask["owner"] == world.rep_north.pk and ask["answer_kind"] == ""
    assert [row["id"] for row in rep.get("/api/v1/asks/").json()["results"]] == [ask["id"]]
    assert rep.get("/api/v1/asks/", {"state": "answered"}).json()["results"] == []
    url = f"/api/v1/asks/{ask['id']}/"
    answered = rep.post(url + "answer/", {"answer_kind": "proposal", "answer": "Q-9", "value": 80})
    assert answered.status_code == 200 and answered.json()["value"] == "80.00"
    again = rep.post(url + "answer/", {"answer_kind": "done"})
    assert again.status_code == 409
    lost = rep.post(url + "decide/", {"outcome": "lost"})
    assert lost.status_code == 400 and "outcome_reason" in lost.json()["error"]["fields"]
    won = rep.post(url + "decide/", {"outcome": "won"})
    assert won.json()["outcome"] == QuoteOutcome.WON
    south = Api(world.rep_south)
    assert south.get(url).status_code == 404
    assert south.post(url + "answer/", {"answer_kind": "done"}).status_code == 404
    refused = south.post(
        "/api/v1/asks/", {"customer": world.north_customer.pk, "kind": "price", "text": "x"}
    )
    assert refused.status_code == 404


def test_asks_are_announced_to_the_webhooks_that_want_them(
    world, django_capture_on_commit_callbacks
):
    hook("http://receiver.invalid/", WebhookEvent.ASK_CREATED, WebhookEvent.ASK_ANSWERED)
    rep = Api(world.rep_north)
    with django_capture_on_commit_callbacks(execute=True):
        ask = rep.post(
            "/api/v1/asks/",
            {"customer": world.north_customer.pk, "kind": "information", "text": "Lead times"},
        ).json()
        rep.post(f"/api/v1/asks/{ask['id']}/answer/", {"answer_kind": "done", "answer": "Sent"})
    created = WebhookDelivery.objects.get(event="ask.created")
    answered = WebhookDelivery.objects.get(event="ask.answered")
    assert created.payload["ask"]["text"] == "Lead times"
    assert created.payload["customer_name"] == world.north_customer.name
    assert answered.payload["ask"]["answer"] == "Sent"


def test_an_ask_past_its_due_date_is_announced_once(world, django_capture_on_commit_callbacks):
    hook("http://receiver.invalid/", WebhookEvent.ASK_OVERDUE)
    today = timezone.localdate()
    late, on_time = (
        Ask.objects.create(
            customer=world.north_customer,
            raised_by=world.rep_north,
            owner=world.rep_north,
            kind=AskKind.COMPLAINT,
            text=text,
            asked_on=today - dt.timedelta(days=5),
            due_on=due_on,
        )
        for text, due_on in (("Broken seal", today - dt.timedelta(days=1)), ("Info", today))
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert asks_overdue_announce(today=today) == 1
        assert asks_overdue_announce(today=today) == 0, "once"
    (delivery,) = WebhookDelivery.objects.filter(event="ask.overdue")
    assert delivery.payload["ask"]["id"] == late.pk
    on_time.refresh_from_db()
    assert on_time.overdue_announced_on is None
