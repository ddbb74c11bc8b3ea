"""Service models: each one's cost to serve on hand-computed figures, its cadence, and the pages
that read it (who to visit, the plan and log forms, the calendar feed)."""

import datetime as dt
import time
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar

from accounts.models import Role
from accounts.services import calendar_token_regenerate
from config.celery import app
from crm.models import Customer, Partner, ServiceCadence, ServiceModel
from crm.services import customers_due_refresh, partner_save, support_case_report
from health.models import AccountMetrics, AccountMonth
from health.services import health_refresh_everything
from tests.factories import (
    InvoiceFactory,
    PlannedVisitFactory,
    UserFactory,
    VisitFactory,
)
from tests.health.test_health import AS_OF, days_before, noon
from tests.health.test_health import customer as account
from visits.services import visit_log, visit_schedule

pytestmark = pytest.mark.django_db


@pytest.fixture
def inside(world):
    person = UserFactory(username="inside-one", role=Role.INSIDE_SALES)
    person.hourly_cost = Decimal("30.00")
    person.save()
    world.north.members.add(person)
    return person


@pytest.fixture
def partner(db):
    return Partner.objects.create(
        name="Dales Distribution", commission_percent=Decimal("10"), fee_per_order=Decimal("5")
    )


def test_inside_sales_calls_cost_their_own_hourly_cost_and_no_travel(world, inside):
    served = account(world, owner=inside, service_model=ServiceModel.INSIDE_SALES)
    VisitFactory(
        customer=served,
        salesperson=inside,
        kind="phone",
        visited_at=noon(days_before(3)),
        duration_minutes=20,
    )
    InvoiceFactory(
        customer=served,
        issued_on=days_before(40),
        paid_on=days_before(20),
        amount=Decimal("300"),
        cost_of_goods=Decimal("200"),
    )
    health_refresh_everything(as_of=AS_OF)
    m = AccountMetrics.objects.get(customer=served)
    assert m.visit_cost == Decimal("10.00")  # 20 min at 30 an hour, nothing travelled
    assert m.partner_cost == Decimal("0")
    assert m.cost_to_serve == Decimal("10.00") and m.profit == Decimal("90.00")


def test_a_partner_charges_its_commission_and_fee_on_orders_since_it_took_the_account(
    world, partner
):
    served = account(
        world,
        service_model=ServiceModel.PARTNER,
        partner=partner,
        service_since=days_before(100),
    )
    before = {"amount": Decimal("2000"), "cost_of_goods": Decimal("1000")}
    InvoiceFactory(customer=served, issued_on=days_before(150), paid_on=days_before(140), **before)
    InvoiceFactory(
        customer=served,
        issued_on=days_before(60),
        paid_on=days_before(30),
        amount=Decimal("1000"),
        cost_of_goods=Decimal("600"),
    )
    InvoiceFactory(
        customer=served,
        issued_on=days_before(20),
        paid_on=days_before(1),
        amount=Decimal("500"),
        cost_of_goods=Decimal("300"),
    )
    health_refresh_everything(as_of=AS_OF)
    health_refresh_everything(as_of=AS_OF, full=True)
    m = AccountMetrics.objects.get(customer=served)
    # 1000 x 10% + 5, and 500 x 10% + 5; the order before the partner took over is free.
    assert m.partner_cost == Decimal("160.00")
    assert m.gross_margin == Decimal("1600.00")  # 1000 + 400 + 200
    assert m.cost_to_serve == Decimal("160.00") and m.profit == Decimal("1440.00")
    monthly = {row.month: row.partner_cost for row in AccountMonth.objects.filter(customer=served)}
    assert monthly[days_before(60).replace(day=1)] == Decimal("105.00")
    assert monthly[days_before(20).replace(day=1)] == Decimal("55.00")
    assert sum(monthly.values()) == m.partner_cost


def test_partner_and_self_service_accounts_have_no_cadence_and_are_never_neglected(world, partner):
    never_visited = {"since": days_before(900)}
    by_partner = account(
        world, service_model=ServiceModel.PARTNER, partner=partner, **never_visited
    )
    online = account(world, service_model=ServiceModel.SELF_SERVICE, **never_visited)
    InvoiceFactory(
        customer=online,
        issued_on=days_before(200),
        due_on=days_before(170),
        paid_on=None,
        amount=Decimal("100"),
        cost_of_goods=Decimal("100"),
    )
    health_refresh_everything(as_of=AS_OF)
    for served in (by_partner, online):
        m = AccountMetrics.objects.get(customer=served)
        assert (m.cadence_days, m.next_due_on, m.days_overdue, m.is_neglected) == (
            None,
            None,
            None,
            False,
        )
    # Still watched for margin and late payment.
    online_flags = set(online.flags.values_list("kind", flat=True))
    assert online_flags == {"unprofitable", "late_payer"}


def test_remote_accounts_follow_the_remote_cadence_which_admins_may_change(world):
    called = account(world, service_model=ServiceModel.REMOTE)
    VisitFactory(
        customer=called, salesperson=world.rep_north, kind="phone", visited_at=noon(days_before(31))
    )
    health_refresh_everything(as_of=AS_OF)
    m = AccountMetrics.objects.get(customer=called)
    assert m.cadence_days == 30 and m.is_neglected
    ServiceCadence.objects.create(service_model=ServiceModel.REMOTE, days=45, kind="video")
    health_refresh_everything(as_of=AS_OF, full=True)
    m.refresh_from_db()
    assert m.cadence_days == 45 and not m.is_neglected


def test_a_remote_account_losing_money_on_visits_is_not_told_to_move_remote(world):
    for model in (ServiceModel.FIELD, ServiceModel.REMOTE):
        served = account(world, name=model, service_model=model)
        VisitFactory(
            customer=served,
            salesperson=world.rep_north,
            visited_at=noon(days_before(5)),
            duration_minutes=600,
        )
        InvoiceFactory(
            customer=served,
            issued_on=days_before(40),
            paid_on=days_before(20),
            amount=Decimal("500"),
            cost_of_goods=Decimal("400"),
        )
    health_refresh_everything(as_of=AS_OF)
    recommendations = dict(
        AccountMetrics.objects.filter(customer__name__in=ServiceModel.values).values_list(
            "customer__name", "recommendation"
        )
    )
    assert recommendations == {"field": "move_remote", "remote": "hand_off"}


def test_who_to_visit_asks_for_a_call_to_remote_accounts_and_never_lists_unvisited_ones(
    client, world, partner
):
    long_ago = {"since": timezone.localdate() - dt.timedelta(days=400)}
    remote = account(
        world, name="Remote Rovers", service_model="remote", phone="+44 113 000", **long_ago
    )
    account(world, name="Field Farms", **long_ago)
    account(world, name="Partner Parts", service_model="partner", partner=partner, **long_ago)
    account(world, name="Online Only", service_model="self_service", **long_ago)
    customers_due_refresh(customer_ids=Customer.objects.values_list("pk", flat=True))
    client.force_login(world.rep_north)
    page = client.get(reverse("visits:schedule")).content.decode()
    section = page.split('id="who-to-visit"')[1]
    assert "Remote Rovers" in section and "Field Farms" in section
    assert "Partner Parts" not in section and "Online Only" not in section
    remote_row = section.split("Remote Rovers")[1].split("</li>")[0]
    assert (
        ">call<" in remote_row
        and "Plan call" in remote_row
        and 'href="tel:+44 113 000"' in remote_row
    )

    form = client.get(reverse("visits:plan"), {"customer": remote.pk}).content.decode()
    assert '<option value="phone" selected>' in form
    field_form = client.get(reverse("visits:plan"), {"customer": remote.pk + 1}).content.decode()
    assert '<option value="on_site" selected>' in field_form


def test_the_log_form_asks_no_travel_for_remote_service(client, world):
    remote = account(world, service_model="remote")
    field = account(world)
    client.force_login(world.rep_north)
    remote_form = client.get(reverse("visits:log_ad_hoc"), {"customer": remote.pk}).content
    field_form = client.get(reverse("visits:log_ad_hoc"), {"customer": field.pk}).content
    assert b'name="travel_minutes"' not in remote_form and b"no travel to record" in remote_form
    assert b'<option value="phone" selected>' in remote_form
    assert b'name="travel_minutes"' in field_form


def test_inside_sales_plan_and_log_remote_kinds_only(client, world, inside):
    served = account(world, owner=inside, service_model=ServiceModel.INSIDE_SALES)
    start = timezone.now() + dt.timedelta(days=1)
    with pytest.raises(ValidationError) as refused:
        visit_schedule(
            user=inside,
            customer=served,
            kind="on_site",
            start=start,
            end=start + dt.timedelta(hours=1),
        )
    assert "field team" in str(refused.value)
    with pytest.raises(ValidationError):
        visit_log(
            user=inside,
            customer=served,
            kind="on_site",
            visited_at=timezone.now(),
            duration_minutes=30,
        )
    client.force_login(inside)
    form = client.get(reverse("visits:log_ad_hoc"), {"customer": served.pk}).content.decode()
    assert 'value="on_site"' not in form and 'value="phone"' in form
    response = client.post(
        reverse("visits:log_ad_hoc"),
        {
            "customer": served.pk,
            "kind": "on_site",
            "visited_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
            "duration_minutes": 20,
        },
    )
    assert response.status_code == 200 and served.visits.count() == 0


def test_the_calendar_feed_says_call_with_the_number(client, world):
    remote = account(world, name="Remote Rovers", service_model="remote", phone="+44 113 000")
    PlannedVisitFactory(customer=remote, salesperson=world.rep_north, kind="phone")
    token = calendar_token_regenerate(user=world.rep_north)
    feed = client.get(reverse("calendar_feed", args=[world.rep_north.pk, token])).content
    (event,) = Calendar.from_ical(feed).walk("VEVENT")
    assert str(event["summary"]) == "Call Remote Rovers +44 113 000"
    assert str(event["location"]) == "tel:+44 113 000"


def test_inside_sales_land_on_their_call_list(client, world, inside):
    due = account(
        world,
        name="Call Me Ltd",
        owner=inside,
        service_model=ServiceModel.INSIDE_SALES,
        phone="0113 496 0000",
        since=timezone.localdate() - dt.timedelta(days=90),
    )
    account(world, name="Not Mine", since=timezone.localdate() - dt.timedelta(days=90))
    customers_due_refresh(customer_ids=Customer.objects.values_list("pk", flat=True))
    client.force_login(inside)
    home = client.get("/", follow=True)
    assert home.redirect_chain[-1][0] == reverse("visits:calls")
    page = home.content.decode()
    assert "Call Me Ltd" in page and "Not Mine" not in page
    assert 'href="tel:0113 496 0000"' in page and "Log call" in page
    assert f'href="{reverse("visits:calls")}"' in page
    assert client.get(reverse("crm:customer_detail", args=[due.pk])).status_code == 200
    listing = client.get(reverse("crm:customer_list")).content.decode()
    assert "Call Me Ltd" in listing and "Not Mine" not in listing


def test_a_salesperson_logs_a_complaint_from_the_field_and_closes_it(client, world):
    served = account(world, name="Grumpy Grocers")
    client.force_login(world.rep_north)
    url = reverse("crm:support_case_new", args=[served.pk])
    refused = client.post(url, {"kind": "complaint", "note": "x", "minutes": "999999"})
    assert refused.status_code == 200 and "At most 100,000 minutes" in refused.text
    answer = client.post(
        url,
        {
            "kind": "complaint",
            "note": "Deliveries arrive late on Mondays",
            "minutes": "15",
            "opened_on": timezone.localdate().isoformat(),
        },
    )
    assert answer.status_code == 302
    case = served.support_cases.get()
    assert (case.is_open, case.reported_by, case.minutes) == (True, world.rep_north, 15)
    tab = client.get(served.get_absolute_url(), {"tab": "support"}).text
    assert ">open</span>" in tab and "Deliveries arrive late on Mondays" in tab
    client.post(reverse("crm:support_case_close", args=[served.pk, case.pk]))
    case.refresh_from_db()
    assert not case.is_open
    # Another territory's salesperson cannot log one here.
    client.force_login(world.rep_south)
    assert client.get(url).status_code == 404


def test_new_partner_terms_and_a_field_case_reach_the_figures_through_a_real_worker(
    world, celery_worker_queue, monkeypatch
):
    monkeypatch.setitem(app.conf, "task_default_queue", celery_worker_queue)
    partner = Partner.objects.create(name="Dales", commission_percent=Decimal("10"))
    served = account(
        world,
        service_model=ServiceModel.PARTNER,
        partner=partner,
        service_since=timezone.localdate() - dt.timedelta(days=60),
    )
    InvoiceFactory(
        customer=served,
        issued_on=timezone.localdate() - dt.timedelta(days=30),
        paid_on=timezone.localdate() - dt.timedelta(days=1),
        amount=Decimal("1000"),
        cost_of_goods=Decimal("500"),
    )
    health_refresh_everything(as_of=timezone.localdate())
    assert AccountMetrics.objects.get(customer=served).partner_cost == Decimal("100.00")

    partner.commission_percent = Decimal("20")
    partner_save(partner=partner)
    support_case_report(
        customer=served,
        user=world.rep_north,
        kind="complaint",
        note="Late delivery",
        minutes=60,
        opened_on=timezone.localdate(),
    )

    def figures():
        m = AccountMetrics.objects.get(customer=served)
        return m.partner_cost, m.support_cost

    deadline = time.monotonic() + 30
    while figures() != (Decimal("200.00"), Decimal("45.00")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert figures() == (Decimal("200.00"), Decimal("45.00"))


def test_a_new_remote_cadence_in_the_admin_moves_due_dates(client, world):
    called = account(world, service_model=ServiceModel.REMOTE, since=dt.date(2026, 1, 1))
    field = account(world, since=dt.date(2026, 1, 1))
    customers_due_refresh(customer_ids=[called.pk, field.pk])
    called.refresh_from_db()
    assert called.next_visit_due == dt.date(2026, 1, 31)
    client.force_login(world.admin)
    client.post(
        reverse("admin:crm_servicecadence_add"),
        {"service_model": "remote", "days": "45", "kind": "video"},
    )
    called.refresh_from_db()
    field.refresh_from_db()
    assert called.next_visit_due == dt.date(2026, 2, 15)
    assert field.next_visit_due == dt.date(2026, 1, 31)  # tier B, unchanged
    # Calls to remote accounts are now video calls by default.
    form = client.get(reverse("visits:plan"), {"customer": called.pk}).text
    assert '<option value="video" selected>' in form
