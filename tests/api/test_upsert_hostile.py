"""ERP and helpdesk pushes with hostile rows: every row is checked before any SQL, a bad row
comes back in `errors` and the good ones are stored; two pushes of the same numbers in opposite
orders never deadlock."""

import threading

import pytest
from django.db import connection

from crm.models import Invoice, SupportCase
from tests.api_client import Api

pytestmark = pytest.mark.django_db


def invoice(customer, key, **extra):
    return {
        "number": key,
        "customer_code": customer.code,
        "issued_on": "2026-10-01",
        "due_on": "2026-10-31",
        "amount": "1200.00",
        **extra,
    }


def case(customer, key, **extra):
    return {
        "external_id": key,
        "customer_code": customer.code,
        "opened_on": "2026-10-01",
        "kind": "complaint",
        "minutes": 30,
        "note": "Late delivery",
        **extra,
    }


HOSTILE_INVOICE_FIELDS = [
    {"currency": "EU\x00"},
    {"customer_code": "C\x00DE"},
    {"number": "INV\x00X"},
    {"amount": "1e999999999"},
    {"amount": "-1e999999999"},
    {"amount": "1e-999999999"},
    {"amount": "NaN"},
    {"cost_of_goods": "Infinity"},
    {"discount": "1e400"},
    {"amount": 1e308},
    {"paid_on": "2026-09-01"},
    {"issued_on": "2026-10-01\x00"},
    {"number": ["a", "list"]},
    {"amount": {"an": "object"}},
    {"number": True},
    {"currency": False},
    {"customer_code": None, "customer": True},
]


def test_one_hostile_row_fails_alone_and_the_rest_are_stored(world):
    erp = Api(world.admin, integration=True)
    good = [
        invoice(world.north_customer, f"GOOD-{n}")
        for n in range(1000 - len(HOSTILE_INVOICE_FIELDS))
    ]
    bad = [
        {**invoice(world.north_customer, f"BAD-{n}"), **fields}
        for n, fields in enumerate(HOSTILE_INVOICE_FIELDS)
    ]
    answer = erp.post("/api/v1/invoices/upsert/", {"invoices": good + bad})
    assert answer.status_code == 200, answer.content[:2000]
    body = answer.json()
    refused = {error["index"] for error in body["errors"]}
    # 1e-999999999 rounds to 0.00, a real (if odd) amount; every other hostile row is refused.
    assert len(refused) == len(HOSTILE_INVOICE_FIELDS) - 1, body["errors"]
    assert body["created"] == len(good) + 1
    assert Invoice.objects.filter(number__startswith="GOOD-").count() == len(good)
    paid_early = next(e for e in body["errors"] if e["number"] == "BAD-10")
    assert "paid_on" in paid_early["fields"]


def test_one_hostile_case_fails_alone(world):
    helpdesk = Api(world.admin, integration=True)
    rows = [
        case(world.north_customer, "CASE-1"),
        case(world.north_customer, "CASE-2", note="Broken\x00pallet"),
        case(world.north_customer, "CASE-3", customer_code="X\x00"),
        {**case(world.north_customer, "CASE-4"), "external_id": "CASE-4\x00"},
        case(world.north_customer, "CASE-5", minutes="1e999999999"),
        case(world.north_customer, "CASE-6", note="Two lines\nare fine"),
    ]
    answer = helpdesk.post("/api/v1/support-cases/upsert/", {"support_cases": rows})
    assert answer.status_code == 200, answer.content[:2000]
    body = answer.json()
    assert {e["index"] for e in body["errors"]} == {1, 2, 3, 4}
    assert body["created"] == 2
    assert SupportCase.objects.get(external_id="CASE-6").note == "Two lines\nare fine"


@pytest.mark.django_db(transaction=True)
def test_two_pushes_of_the_same_numbers_in_opposite_orders_never_deadlock(world):
    numbers = [f"RACE-{n:04d}" for n in range(400)]
    rows = [invoice(world.north_customer, number) for number in numbers]
    erp = Api(world.admin, integration=True)
    erp.post("/api/v1/invoices/upsert/", {"invoices": rows})  # they exist: both pushes update

    def push(batch, answers):
        api = Api(world.admin, integration=True)
        answers.append(api.post("/api/v1/invoices/upsert/", {"invoices": batch}).status_code)
        connection.close()

    for trial in range(4):
        answers = []

        forward = [dict(row, amount=f"{trial + 1}00.00") for row in rows]
        threads = [
            threading.Thread(target=push, args=(forward, answers)),
            threading.Thread(target=push, args=(list(reversed(forward)), answers)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert answers == [200, 200], f"trial {trial}: {answers}"
