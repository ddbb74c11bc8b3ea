"""Hand-offs and letting go (reports.handoff) and the what-if (health.whatif), through the
services and the page."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from crm.models import CustomerStatus, Partner, ServiceModel
from health.models import AccountMetrics
from health.services import health_refresh_everything
from health.whatif import what_if
from reports.handoff import HandOffPlan, MeetingsChoice, accounts_hand_off, accounts_let_go
from reports.models import ReviewAction
from tests.factories import (
    ContactFactory,
    CustomerFactory,
    InvoiceFactory,
    PlannedVisitFactory,
    UserFactory,
    VisitFactory,
)
from visits.models import Visit, VisitStatus
from visits.selectors import agenda, feed_visits

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate


def tomorrow_at(hour: int) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(TODAY() + dt.timedelta(days=1), dt.time(hour)))


@pytest.fixture
def inside(world):
    person = UserFactory(username="inside-one", role=Role.INSIDE_SALES, email="inside@example.com")
    person.hourly_cost = Decimal("30")
    person.save()
    world.north.members.add(person)
    return person


@pytest.fixture
def smiths(world):
    """Three accounts that lose money on on-site visits: 4 visits of 60 minutes with 30 minutes
    and 20 km of travel each at 60 an hour (4 x (90 + 10) = 400), margin 300."""
    world.rep_north.hourly_cost = Decimal("60")
    world.rep_north.email = "rep@example.com"
    world.rep_north.save()
    accounts = []
    for n in range(3):
        customer = CustomerFactory(
            name=f"Smith {n}", territory=world.north, owner=world.rep_north, tier="B"
        )
        ContactFactory(customer=customer, name=f"Buyer {n}", is_primary=True)
        InvoiceFactory(
            customer=customer,
            issued_on=TODAY() - dt.timedelta(days=40),
            paid_on=TODAY() - dt.timedelta(days=20),
            amount=Decimal("1000"),
            cost_of_goods=Decimal("700"),
        )
        for week in range(4):
            VisitFactory(
                customer=customer,
                salesperson=world.rep_north,
                visited_at=timezone.now() - dt.timedelta(days=7 * week + 1),
                duration_minutes=60,
                travel_minutes=30,
                distance_km=Decimal("20"),
                notes=f"Wants a lower price {n}-{week}",
                next_step="Send the price list",
                follow_up_on=TODAY() + dt.timedelta(days=10),
            )
        accounts.append(customer)
    health_refresh_everything(as_of=TODAY())
    return accounts


def test_the_what_if_uses_the_accounts_own_visits_and_the_cost_rules(smiths, inside, world):
    (field,) = what_if(customer_ids=[smiths[0].pk], service_model=ServiceModel.FIELD, cadence=14)
    # 27 visits a year (365 / 14, rounded up), each like the account's own: 60 minutes at 60
    # an hour, and 30 minutes plus 20 km at 0.50 of travel.
    assert (field.contacts, field.visit_cost, field.travel_cost) == (
        27,
        Decimal("1620.00"),
        Decimal("1080.00"),
    )
    (inside_sales,) = what_if(
        customer_ids=[smiths[0].pk],
        service_model=ServiceModel.INSIDE_SALES,
        cadence=30,
        hourly_cost=inside.hourly_cost,
    )
    # 13 calls of the assumed 20 minutes (the account had none) at 30 an hour, no travel.
    assert (inside_sales.contacts, inside_sales.visit_cost, inside_sales.travel_cost) == (
        13,
        Decimal("130.00"),
        Decimal("0"),
    )
    metrics = AccountMetrics.objects.get(customer=smiths[0])
    assert metrics.cost_to_serve == Decimal("400.00") and metrics.profit == Decimal("-100.00")
    assert inside_sales.cost_to_serve_was == Decimal("400.00")
    assert inside_sales.profit == Decimal("170.00") and inside_sales.profit_was == Decimal(
        "-100.00"
    )
    partner = Partner.objects.create(name="Dales", commission_percent=Decimal("12.5"))
    (by_partner,) = what_if(
        customer_ids=[smiths[0].pk], service_model=ServiceModel.PARTNER, partner=partner
    )
    assert (by_partner.contacts, by_partner.commission, by_partner.profit) == (
        0,
        Decimal("125.00"),
        Decimal("175.00"),
    )


def test_handing_accounts_to_inside_sales_plans_introductions_and_moves_meetings(
    smiths, inside, world, django_capture_on_commit_callbacks
):
    first = smiths[0]
    kept = PlannedVisitFactory(
        customer=first, salesperson=world.rep_north, scheduled_start=tomorrow_at(15)
    )
    with django_capture_on_commit_callbacks(execute=True):
        result = accounts_hand_off(
            customers=smiths,
            user=world.north_manager,
            plan=HandOffPlan(
                service_model=ServiceModel.INSIDE_SALES,
                owner=inside,
                cadence_days=30,
                meetings=MeetingsChoice.REASSIGN,
                introduction_at=tomorrow_at(10),
            ),
        )
    first.refresh_from_db()
    assert (first.service_model, first.owner, first.cadence_days, first.service_since) == (
        ServiceModel.INSIDE_SALES,
        inside,
        30,
        TODAY(),
    )
    kept.refresh_from_db()
    assert (kept.salesperson, kept.kind, kept.status) == (inside, "phone", VisitStatus.PLANNED)
    assert result.reassigned == 1 and result.cancelled == 0
    starts = [visit.scheduled_start for visit in result.introductions]
    assert starts == [tomorrow_at(10) + dt.timedelta(minutes=30 * n) for n in range(3)]
    introduction = result.introductions[0]
    assert introduction.salesperson == inside and introduction.kind == "phone"
    assert [c.name for c in introduction.contacts.all()] == ["Buyer 0"]
    assert "Wants a lower price 0-0" in introduction.brief
    assert "Open follow-up" in introduction.brief and "Unprofitable since" in introduction.brief
    # On both schedules and both calendars.
    window = {"start": timezone.now(), "end": timezone.now() + dt.timedelta(days=3)}
    for person in (inside, world.rep_north):
        person.refresh_from_db()
        assert introduction in agenda(person, per_day=12, **window)
        assert introduction in feed_visits(person, now=timezone.now())
    # Both told, once per account; the figures at the time kept with the action.
    assert len(mail.outbox) == 3
    assert set(mail.outbox[0].to) == {"rep@example.com", "inside@example.com"}
    action = ReviewAction.objects.get(customer=first, action="hand_off")
    assert action.figures["profit"] == "-100.00"
    assert action.details["to"] == "inside_sales" and action.details["reassigned"] == 1
    # The figures follow at once: calls at the inside-sales rate from now on.
    assert not first.flags.filter(kind="neglected", resolved_at__isnull=True).exists()


def test_cancelling_meetings_and_a_partner_hand_off(smiths, world):
    account = smiths[0]
    planned = PlannedVisitFactory(
        customer=account, salesperson=world.rep_north, scheduled_start=tomorrow_at(15)
    )
    partner = Partner.objects.create(name="Dales", commission_percent=Decimal("10"))
    result = accounts_hand_off(
        customers=[account],
        user=world.north_manager,
        plan=HandOffPlan(
            service_model=ServiceModel.PARTNER,
            owner=None,
            partner=partner,
            meetings=MeetingsChoice.REASSIGN,
            introduction_at=tomorrow_at(9),
        ),
    )
    planned.refresh_from_db()
    # Nobody on the team serves a partner account: its meetings are cancelled whatever asked.
    assert (planned.status, planned.cancel_reason) == (VisitStatus.CANCELLED, "handed off")
    account.refresh_from_db()
    assert (account.service_model, account.partner, account.owner) == (
        "partner",
        partner,
        world.rep_north,
    )
    (introduction,) = result.introductions
    assert introduction.salesperson == world.rep_north and introduction.kind == "video"
    assert "Dales" in introduction.purpose
    metrics = AccountMetrics.objects.get(customer=account)
    # Commission only on orders from today: none yet. No cadence any more.
    assert (metrics.partner_cost, metrics.cadence_days, metrics.is_neglected) == (
        Decimal("0.00"),
        None,
        False,
    )


def test_a_hand_off_that_breaks_a_rule_changes_nothing(smiths, inside, world):
    with pytest.raises(ValidationError) as refused:
        accounts_hand_off(
            customers=smiths,
            user=world.north_manager,
            plan=HandOffPlan(
                service_model=ServiceModel.INSIDE_SALES,
                owner=world.rep_coast,
                introduction_at=tomorrow_at(10),
            ),
        )
    assert "inside-sales person" in str(refused.value)
    with pytest.raises(ValidationError) as refused:
        accounts_hand_off(
            customers=smiths,
            user=world.north_manager,
            plan=HandOffPlan(
                service_model=ServiceModel.INSIDE_SALES,
                owner=inside,
                introduction_at=timezone.now() - dt.timedelta(hours=1),
            ),
        )
    assert "future" in str(refused.value)
    assert {c.service_model for c in smiths} == {"field"}
    assert not Visit.objects.filter(status="planned").exists()
    assert not ReviewAction.objects.exists()


def test_letting_go_closes_meetings_and_flags(smiths, world):
    account = smiths[0]
    assert account.flags.filter(resolved_at__isnull=True).exists()
    planned = PlannedVisitFactory(
        customer=account, salesperson=world.rep_north, scheduled_start=tomorrow_at(15)
    )
    accounts_let_go(customers=[account], user=world.north_manager, reason="Declined a price rise")
    account.refresh_from_db()
    planned.refresh_from_db()
    assert (account.status, account.status_reason) == (
        CustomerStatus.LOST,
        "Declined a price rise",
    )
    assert planned.status == VisitStatus.CANCELLED
    assert planned.cancel_reason == "let go: Declined a price rise"
    assert not account.flags.filter(resolved_at__isnull=True).exists()
    assert ReviewAction.objects.get(customer=account).action == "let_go"


def test_the_page_shows_the_summed_what_if_then_hands_off(client, smiths, inside, world):
    client.force_login(world.north_manager)
    url = reverse("manage:hand_off")
    ids = ",".join(str(c.pk) for c in smiths)
    question = {
        "ids": ids,
        "service_model": "inside_sales",
        "owner": inside.pk,
        "cadence_days": 30,
    }
    page = client.get(url, question)
    assert page.status_code == 200
    # Three accounts: 3 x 130 of calls instead of 3 x 400 of visits.
    assert "If 3 accounts had been served by inside sales" in page.text
    assert "<strong>390</strong>" in page.text and "instead of -300" in page.text
    partial = client.get(url, question, headers={"HX-Request": "true"})
    assert partial.text.lstrip().startswith('<div id="what-if">')

    refused = client.post(url, question | {"owner": world.rep_coast.pk})
    assert refused.status_code == 200 and "inside-sales person" in refused.text
    answer = client.post(
        url,
        question
        | {"introduction_at": tomorrow_at(10).strftime("%Y-%m-%dT%H:%M"), "meetings": "cancel"},
    )
    assert answer.status_code == 302 and answer["Location"] == reverse("manage:review")
    assert {c.owner for c in type(smiths[0]).objects.filter(pk__in=[c.pk for c in smiths])} == {
        inside
    }
    assert client.get(reverse("manage:review")).status_code == 200


def test_the_page_refuses_accounts_of_other_territories(client, world, smiths):
    client.force_login(world.south_manager)
    assert client.get(reverse("manage:hand_off"), {"ids": smiths[0].pk}).status_code == 404
    answer = client.post(
        reverse("manage:let_go"), {"ids": smiths[0].pk, "reason": "not mine to let go"}
    )
    assert answer.status_code == 200 and "not one of yours" in answer.text
    smiths[0].refresh_from_db()
    assert smiths[0].status == CustomerStatus.ACTIVE


def test_the_page_query_count_does_not_grow_with_the_selection(
    client, world, inside, smiths, django_assert_max_num_queries
):
    client.force_login(world.north_manager)
    question = {"service_model": "inside_sales", "owner": inside.pk}
    with django_assert_max_num_queries(30) as small:
        client.get(reverse("manage:hand_off"), question | {"ids": smiths[0].pk})
    with django_assert_max_num_queries(len(small.captured_queries)):
        client.get(
            reverse("manage:hand_off"), question | {"ids": ",".join(str(c.pk) for c in smiths)}
        )


def test_reassigning_across_inside_sales_is_a_hand_off_not_a_reassign(client, world, inside):
    account = CustomerFactory(territory=world.north, owner=world.rep_north)
    phoned = CustomerFactory(
        territory=world.north, owner=inside, service_model=ServiceModel.INSIDE_SALES
    )
    health_refresh_everything(as_of=TODAY())
    client.force_login(world.north_manager)
    # The review's reassign menus offer only owners the account may have.
    page = client.get(reverse("manage:review"), {"q": account.name}).text
    menu = page.split(f'id="review-{account.pk}"', 1)[-1].split("</select>", 1)[0]
    assert f'value="{world.rep_north.pk}"' in menu and f'value="{inside.pk}"' not in menu
    page = client.get(reverse("manage:review"), {"q": phoned.name}).text
    menu = page.split(f'id="review-{phoned.pk}"', 1)[-1].split("</select>", 1)[0]
    assert f'value="{inside.pk}"' in menu and f'value="{world.rep_north.pk}"' not in menu
    answer = client.post(
        reverse("manage:review_action", args=[account.pk]),
        {"action": "reassign", "owner": inside.pk},
        headers={"HX-Request": "true"},
    )
    assert "Hand the account off to inside sales instead" in answer.text
    account.refresh_from_db()
    assert account.owner == world.rep_north
