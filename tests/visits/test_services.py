import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from crm.models import CadencePolicy
from tests.factories import ContactFactory, PlannedVisitFactory, VisitFactory
from visits.models import VisitKind, VisitStatus
from visits.services import (
    customer_cadence_refresh,
    visit_cancel,
    visit_log,
    visit_reschedule,
    visit_schedule,
)
from visits.tasks import customers_refresh_cadence

pytestmark = pytest.mark.django_db


def at(days: float, hour: int = 10) -> dt.datetime:
    day = timezone.localdate() + dt.timedelta(days=days)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def test_schedule_plans_a_meeting_and_reports_overlaps(world):
    contact = ContactFactory(customer=world.north_customer)
    first = visit_schedule(
        user=world.rep_north,
        customer=world.north_customer,
        kind="on_site",
        start=at(1, 10),
        end=at(1, 11),
        contacts=[contact],
        purpose="Review",
    )
    assert first.overlaps == []
    assert first.visit.status == VisitStatus.PLANNED
    assert list(first.visit.contacts.all()) == [contact]
    second = visit_schedule(
        user=world.rep_north,
        customer=world.south_customer_owned_by_rep_north,
        kind="phone",
        start=at(1, 10) + dt.timedelta(minutes=30),
        end=at(1, 12),
    )
    assert second.overlaps == [first.visit]


def test_schedule_rejects_end_before_start_and_foreign_contacts(world):
    with pytest.raises(ValidationError, match="end after it starts"):
        visit_schedule(
            user=world.rep_north,
            customer=world.north_customer,
            kind="on_site",
            start=at(1, 11),
            end=at(1, 10),
        )
    stranger = ContactFactory(customer=world.south_customer, name="Stranger")
    with pytest.raises(ValidationError, match="Stranger"):
        visit_schedule(
            user=world.rep_north,
            customer=world.north_customer,
            kind="on_site",
            start=at(1, 10),
            end=at(1, 11),
            contacts=[stranger],
        )


def test_reschedule_moves_the_meeting_and_bumps_its_calendar_sequence(world):
    visit = PlannedVisitFactory(customer=world.north_customer, salesperson=world.rep_north)
    result = visit_reschedule(visit=visit, start=at(3, 14), end=at(3, 15))
    visit.refresh_from_db()
    assert (visit.scheduled_start, visit.scheduled_end, visit.sequence) == (at(3, 14), at(3, 15), 1)
    assert result.overlaps == []


def test_cancel_needs_a_reason_and_only_planned_meetings_can_be_changed(world):
    visit = PlannedVisitFactory(customer=world.north_customer, salesperson=world.rep_north)
    with pytest.raises(ValidationError, match="Say why"):
        visit_cancel(visit=visit, reason="  ")
    visit_cancel(visit=visit, reason="Customer closed for stocktaking")
    visit.refresh_from_db()
    assert visit.status == VisitStatus.CANCELLED and visit.sequence == 1
    with pytest.raises(ValidationError, match="Only planned meetings"):
        visit_reschedule(visit=visit, start=at(3, 14), end=at(3, 15))


def test_logging_a_planned_meeting_marks_it_done_and_moves_the_next_due_date(world):
    customer = world.north_customer
    customer_cadence_refresh(customer_ids=[customer.pk])
    planned = PlannedVisitFactory(
        customer=customer,
        salesperson=world.rep_north,
        scheduled_start=timezone.now() - dt.timedelta(hours=2),
    )
    visited_at = timezone.now() - dt.timedelta(hours=2)
    result = visit_log(
        user=world.rep_north,
        customer=customer,
        visit=planned,
        kind="on_site",
        visited_at=visited_at,
        duration_minutes=50,
        travel_minutes=30,
        distance_km=Decimal("22.5"),
        expenses=Decimal("12.40"),
        notes="Wants a quote",
        outcome="positive",
        next_step="Send quote",
    )
    planned.refresh_from_db()
    customer.refresh_from_db()
    assert result.visit.pk == planned.pk
    assert planned.status == VisitStatus.DONE and planned.notes == "Wants a quote"
    assert customer.last_visit_at == visited_at
    assert customer.next_visit_due == timezone.localdate(visited_at) + dt.timedelta(days=30)


def test_logging_with_a_follow_up_plans_the_next_meeting_in_the_same_step(world):
    follow_up_at = at(10, 9)
    result = visit_log(
        user=world.rep_north,
        customer=world.north_customer,
        kind="video",
        visited_at=timezone.now(),
        duration_minutes=20,
        next_step="Demo the range",
        follow_up_on=follow_up_at.date(),
        plan_follow_up_at=follow_up_at,
    )
    assert result.follow_up.status == VisitStatus.PLANNED
    assert result.follow_up.scheduled_start == follow_up_at
    assert result.follow_up.purpose == "Demo the range"
    assert result.follow_up.kind == VisitKind.VIDEO


def test_visits_cannot_be_logged_in_the_future(world):
    with pytest.raises(ValidationError, match="future"):
        visit_log(
            user=world.rep_north,
            customer=world.north_customer,
            kind="on_site",
            visited_at=timezone.now() + dt.timedelta(days=1),
            duration_minutes=30,
        )


def test_emails_do_not_keep_the_cadence(world):
    customer = world.north_customer
    VisitFactory(
        customer=customer,
        salesperson=world.rep_north,
        visited_at=timezone.now() - dt.timedelta(days=40),
    )
    visit_log(
        user=world.rep_north,
        customer=customer,
        kind="email",
        visited_at=timezone.now(),
        duration_minutes=5,
    )
    customer.refresh_from_db()
    assert timezone.localdate(customer.last_visit_at) == timezone.localdate() - dt.timedelta(
        days=40
    )


def test_cadence_refresh_uses_override_policy_and_since_and_is_idempotent(world):
    never_visited = world.north_customer
    override = world.coast_customer
    override.cadence_days = 7
    override.save()
    VisitFactory(
        customer=override,
        salesperson=world.rep_coast,
        visited_at=timezone.now() - dt.timedelta(days=3),
    )
    CadencePolicy.objects.filter(tier="B").update(days=45)

    assert customer_cadence_refresh() >= 2
    assert customer_cadence_refresh() == 0

    never_visited.refresh_from_db()
    override.refresh_from_db()
    assert never_visited.last_visit_at is None
    assert never_visited.next_visit_due == never_visited.since + dt.timedelta(days=45)
    assert override.next_visit_due == timezone.localdate() - dt.timedelta(days=3) + dt.timedelta(
        days=7
    )


def test_nightly_cadence_job_fixes_rows_written_outside_the_services(world):
    VisitFactory(
        customer=world.north_customer,
        salesperson=world.rep_north,
        visited_at=timezone.now() - dt.timedelta(days=2),
    )
    assert customers_refresh_cadence.apply().get() >= 1
    world.north_customer.refresh_from_db()
    assert timezone.localdate(world.north_customer.last_visit_at) == (
        timezone.localdate() - dt.timedelta(days=2)
    )
    assert customers_refresh_cadence.apply().get() == 0


def test_a_handed_meeting_becomes_the_kind_the_plan_form_proposes(world):
    """A remote-served account whose service model an admin set to video: the plan form
    proposes video, and a meeting handed to another person turns into video too (not phone)."""
    from crm.models import RemoteKind, ServiceCadence, ServiceModel
    from visits.forms import PlanForm
    from visits.services import visit_reassign

    ServiceCadence.objects.create(service_model=ServiceModel.REMOTE, days=30, kind=RemoteKind.VIDEO)
    customer = world.north_customer
    customer.service_model = ServiceModel.REMOTE
    customer.save(update_fields=["service_model"])
    form = PlanForm(
        initial={"customer": customer.pk},
        customers=type(customer).objects.filter(pk=customer.pk),
        user=world.rep_north,
    )
    assert form.fields["kind"].initial == VisitKind.VIDEO
    meeting = PlannedVisitFactory(customer=customer, salesperson=world.rep_north, kind="on_site")
    handed = visit_reassign(visit=meeting, salesperson=world.rep_coast)
    assert handed.kind == VisitKind.VIDEO


@pytest.mark.django_db(transaction=True)
def test_a_client_uuid_makes_one_visit_whoever_sends_it_and_however_often(world):
    import uuid

    from visits.services import ClientUUIDTaken, visit_once, visit_schedule

    made = uuid.uuid4()
    start = timezone.now() + dt.timedelta(days=1)

    def plan():
        return visit_schedule(
            user=world.rep_north,
            customer=world.north_customer,
            kind="on_site",
            start=start,
            end=start + dt.timedelta(hours=1),
            client_uuid=made,
        ).visit

    existing, first = visit_once(user=world.rep_north, client_uuid=made, make=plan)
    assert existing is None and first.client_uuid == made
    again, nothing = visit_once(user=world.rep_north, client_uuid=made, make=plan)
    assert again == first and nothing is None
    with pytest.raises(ClientUUIDTaken):
        visit_once(user=world.rep_coast, client_uuid=made, make=plan)
