"""Pages and jobs whose query count must not grow with the data: each is measured, the data grown
tenfold, and measured again. An N+1 (a query per row) fails here."""

import datetime as dt
from collections.abc import Callable

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.services import calendar_token_regenerate
from crm.models import Customer
from crm.services import customers_due_refresh
from health.models import AccountMetrics, AccountMonth, SegmentMember
from health.services import health_refresh_everything
from imports.models import ImportStatus
from tests.factories import (
    ContactFactory,
    CustomerFactory,
    ImportJobFactory,
    InvoiceFactory,
    PlannedVisitFactory,
    SupportCaseFactory,
    VisitFactory,
)
from visits.ask_services import AskInput, asks_record
from visits.models import Rhythm
from visits.rhythms import rhythm_set, series_book

pytestmark = pytest.mark.django_db


def queries(action: Callable[[], object]) -> int:
    with CaptureQueriesContext(connection) as captured:
        action()
    return len(captured.captured_queries)


def accounts(world, n: int, *, with_history: bool = True) -> None:
    """n customers of the North rep, overdue, unprofitable and late-paying, with contacts,
    visits, invoices, support cases and meetings ahead."""
    long_ago = timezone.localdate() - dt.timedelta(days=400)
    for _ in range(n):
        account = CustomerFactory(territory=world.north, owner=world.rep_north, since=long_ago)
        if not with_history:
            continue
        contact = ContactFactory(customer=account)
        visit = VisitFactory(customer=account, salesperson=world.rep_north, expenses=900)
        visit.contacts.add(contact)
        meeting = PlannedVisitFactory(customer=account, salesperson=world.rep_north)
        meeting.contacts.add(contact)
        InvoiceFactory(customer=account, cost_of_goods=990, issued_on=long_ago)
        SupportCaseFactory(customer=account, minutes=600)


def before_and_after(action: Callable[[], object], grow: Callable[[], object]) -> tuple[int, int]:
    """Queries `action` runs, then again once `grow` has added ten times the data."""
    small = queries(action)
    grow()
    return small, queries(action)


@pytest.mark.parametrize("kind", ["overdue", "unprofitable", "late_payer"])
@pytest.mark.parametrize("as_csv", [False, True])
def test_manager_lists_and_their_csv(client, world, kind, as_csv):
    accounts(world, 2)
    health_refresh_everything(as_of=timezone.localdate())
    client.force_login(world.north_manager)
    url = reverse("manage:account_list", args=[kind]) + ("?format=csv" if as_csv else "")

    def page():
        response = client.get(url)
        assert response.status_code == 200
        if as_csv:
            flag = "is_neglected" if kind == "overdue" else f"is_{kind}"
            listed = AccountMetrics.objects.filter(
                customer__territory__in=[world.north, world.north_coast], **{flag: True}
            )
            rows = b"".join(response.streaming_content).splitlines()
            assert len(rows) == listed.count() + 1

    def grow():
        accounts(world, 20)
        health_refresh_everything(as_of=timezone.localdate())

    small, large = before_and_after(page, grow)
    assert small == large <= 14, (small, large)


def test_import_pages(client, world):
    client.force_login(world.admin)
    job = ImportJobFactory(uploaded_by=world.admin, status=ImportStatus.DONE, created=3)

    def pages():
        assert client.get(reverse("imports:list")).status_code == 200
        assert client.get(reverse("imports:detail", args=[job.pk])).status_code == 200

    def grow():
        ImportJobFactory.create_batch(30, uploaded_by=world.admin, status=ImportStatus.DONE)

    small, large = before_and_after(pages, grow)
    assert small == large <= 24, (small, large)


def test_visit_detail(client, world):
    accounts(world, 1)
    visit = world.rep_north.visits.filter(status="done").first()
    client.force_login(world.rep_north)

    def page():
        assert client.get(reverse("visits:detail", args=[visit.pk])).status_code == 200

    def grow():
        for _ in range(10):
            visit.contacts.add(ContactFactory(customer=visit.customer))
        VisitFactory.create_batch(10, customer=visit.customer, salesperson=world.rep_north)

    small, large = before_and_after(page, grow)
    assert small == large <= 12, (small, large)


def test_day_plan_page_and_adding_its_stops(client, world):
    """The route page and "add to my schedule" with 10 times the meetings and candidates."""
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    client.force_login(world.rep_north)
    question = {
        "day": tomorrow.isoformat(),
        "start": "here",
        "end": "here",
        "lat": "53.80",
        "lng": "-1.55",
        "detour": "240",
        "closes": "23:00",
    }

    def located(n: int, meetings: int) -> None:
        for index in range(n):
            account = CustomerFactory(
                territory=world.north,
                owner=world.rep_north,
                latitude=53.80 + index * 0.002,
                longitude=-1.55,
            )
            InvoiceFactory(customer=account)
            if index < meetings:
                start = timezone.make_aware(
                    dt.datetime.combine(tomorrow, dt.time(6 + index % 12, 10 * (index // 12)))
                )
                PlannedVisitFactory(
                    customer=account,
                    salesperson=world.rep_north,
                    scheduled_start=start,
                    scheduled_end=start + dt.timedelta(minutes=5),
                )
        customers_due_refresh(customer_ids=list(Customer.objects.values_list("pk", flat=True)))
        health_refresh_everything(as_of=timezone.localdate())

    def page():
        answer = client.get(reverse("visits:route"), question)
        assert answer.status_code == 200 and "Stops in order" in answer.text
        assert 'name="stop"' in answer.text, "suggestions to add"

    located(2, meetings=1)
    small, large = before_and_after(page, lambda: located(20, meetings=10))
    assert small == large <= 14, (small, large)

    # Adding the stops: the same reads, one insert for all the stops and one refresh request,
    # and the travel of each of the day's 11 meetings.
    every = [str(pk) for pk in Customer.objects.values_list("pk", flat=True)]
    with CaptureQueriesContext(connection) as captured:
        answer = client.post(reverse("visits:route_schedule"), {**question, "stop": every})
    assert answer.status_code == 302
    planned = world.rep_north.visits.filter(purpose="From the day plan").count()
    assert planned >= 5 and len(captured.captured_queries) <= large + 8 + 11, (
        len(captured.captured_queries),
        planned,
    )


def test_data_overview(client, world):
    client.force_login(world.admin)

    def page():
        assert client.get(reverse("accounts:admin_home")).status_code == 200

    def grow():
        accounts(world, 10)
        for name in ("East", "West", "Central"):
            world.north.__class__.objects.create(name=name, parent=world.north)

    small, large = before_and_after(page, grow)
    assert small == large <= 16, (small, large)


def test_calendar_feed(client, world):
    accounts(world, 1)
    token = calendar_token_regenerate(user=world.rep_north)
    url = reverse("calendar_feed", args=[world.rep_north.pk, token])

    def feed():
        assert client.get(url).status_code == 200

    small, large = before_and_after(feed, lambda: accounts(world, 10))
    assert small == large <= 6, (small, large)


def test_rollup_and_monthly_jobs(world):
    accounts(world, 2)
    today = timezone.localdate()
    health_refresh_everything(as_of=today)

    def jobs():
        health_refresh_everything(as_of=today, full=True)

    def grow():
        accounts(world, 20)
        CustomerFactory.create_batch(5, territory=world.south, owner=world.rep_south)

    small, large = before_and_after(jobs, grow)
    assert small == large <= 41, (small, large)
    # The same statements covered the grown book: every new account has its months and segment.
    grown = set(
        Customer.objects.filter(owner=world.rep_north, invoices__isnull=False).values_list(
            "pk", flat=True
        )
    )
    with_months = set(AccountMonth.objects.values_list("customer_id", flat=True))
    rolled_up = set(SegmentMember.objects.values_list("customer_id", flat=True))
    assert len(grown) == 22 and grown <= with_months and grown <= rolled_up


def test_the_offline_field_pack(client, world):
    accounts(world, 2)
    health_refresh_everything(as_of=timezone.localdate())
    client.force_login(world.rep_north)

    def pack():
        answer = client.get("/api/v1/field-pack/")
        assert answer.status_code == 200 and answer.json()["accounts"]

    def grow():
        accounts(world, 20)
        health_refresh_everything(as_of=timezone.localdate())

    small, large = before_and_after(pack, grow)
    assert small == large <= 14, (small, large)


def _asks(world, n: int) -> None:
    accounts(world, n, with_history=False)
    for account in Customer.objects.filter(owner=world.rep_north).order_by("-pk")[:n]:
        asks_record(
            user=world.rep_north,
            customer=account,
            asks=[
                AskInput(kind="price", text="A price"),
                AskInput(kind="complaint", text="Late", due_on=timezone.localdate()),
            ],
        )


@pytest.mark.parametrize("who", ["rep", "manager"])
def test_asks_list_and_listening(client, world, who):
    _asks(world, 1)
    if who == "rep":
        client.force_login(world.rep_north)
        urls = [reverse("asks:list")]
    else:
        client.force_login(world.north_manager)
        urls = [
            reverse("asks:list") + "?scope=team&state=all",
            reverse("manage:listening"),
            reverse("manage:rep", args=[world.rep_north.pk]),
        ]
    for url in urls:

        def page(url=url):
            assert client.get(url).status_code == 200

        small, large = before_and_after(page, lambda: _asks(world, 10))
        assert small == large <= 20, (url, small, large)


def test_calendar_feed_with_booked_series_and_the_rhythm_page(client, world):
    def book(n: int) -> None:
        accounts(world, n, with_history=False)
        for account in Customer.objects.filter(owner=world.rep_north).order_by("-pk")[:n]:
            rhythm_set(
                user=world.rep_north,
                customer=account,
                rhythm=Rhythm(name="Review", interval=1, start_time=dt.time(9, 0)),
            )
            series_book(user=world.rep_north, customer=account, count=3)

    book(1)
    token = calendar_token_regenerate(user=world.rep_north)
    feed_url = reverse("calendar_feed", args=[world.rep_north.pk, token])
    rhythm_url = reverse("visits:rhythm", args=[world.north_customer.pk])
    client.force_login(world.rep_north)

    def both():
        assert client.get(feed_url).status_code == 200
        assert client.get(rhythm_url).status_code == 200

    small, large = before_and_after(both, lambda: book(10))
    assert small == large <= 20, (small, large)


@pytest.mark.parametrize("zoom, clustered", [(6, True), (9, False)])
def test_the_map_by_view(client, world, monkeypatch, zoom, clustered):
    """Clusters and the accounts alone in their cell, or the points of a close view: the same
    queries whatever the number of accounts in view."""
    monkeypatch.setattr("crm.selectors.MAP_MAX_POINTS", 3 if clustered else 1_000)

    def place(n: int) -> None:
        for i in range(n):
            CustomerFactory(
                territory=world.north,
                owner=world.rep_north,
                latitude=53.8 + (i % 7) * 0.3,
                longitude=-1.5 + (i % 5) * 0.0001,
            )

    place(4)
    CustomerFactory(territory=world.north, owner=world.rep_north, latitude=53.1, longitude=-2.9)
    client.force_login(world.north_manager)
    url = reverse("crm:customer_map_data")
    view = {"bbox": "-3,53,0,56", "zoom": zoom}

    def page():
        data = client.get(url, view).json()
        assert bool(data["clusters"]) == clustered and data["points"], "an account alone"

    assert before_and_after(page, lambda: place(40)) == (7, 7)
