"""The demo's agreed rhythms: each fixed demo salesperson's first three A-tier field accounts
agreed a quarterly business review (the first of a weekday, 10:00, an hour, on site), and the
first two of them have their next four meetings booked as a series with the agenda, so a
newcomer sees the rhythm, the series on the schedule and the repeating event in the feed."""

import datetime as dt

from django.conf import settings
from django.utils import timezone

from accounts.models import User
from crm.models import Customer, CustomerStatus, ServiceModel, Tier
from crm.services import customers_due_refresh
from health.services import accounts_refresh
from visits.models import MeetingSeries, Rhythm, RhythmFrequency, Visit, VisitKind, VisitStatus
from visits.rhythms import PATTERN_FIELDS, agenda_for, occurrences, rhythm_cadence_days

RHYTHMS_PER_REP = 3
SERIES_PER_REP = 2
SERIES_MEETINGS = 4


def seed_rhythms(*, people: list[User], today: dt.date) -> dict[str, int]:
    rhythms, booked = [], []
    for index, person in enumerate(people):
        accounts = Customer.objects.filter(
            owner=person,
            tier=Tier.A,
            service_model=ServiceModel.FIELD,
            status=CustomerStatus.ACTIVE,
        ).order_by("pk")[:RHYTHMS_PER_REP]
        for position, customer in enumerate(accounts):
            rhythm = Rhythm(
                customer=customer,
                name="Quarterly business review",
                frequency=RhythmFrequency.MONTHLY,
                interval=3,
                ordinal=1,
                weekday=(index + position) % 5,
                start_time=dt.time(10, 0),
                duration_minutes=60,
                kind=VisitKind.ON_SITE,
                time_zone=person.time_zone or settings.TIME_ZONE,
                replaced_cadence_days=customer.cadence_days,
                agreed_by=person,
                agreed_on=today - dt.timedelta(days=30 + 7 * position),
            )
            rhythms.append(rhythm)
            if position < SERIES_PER_REP:
                booked.append((rhythm, customer, person))
    Rhythm.objects.bulk_create(rhythms)
    for rhythm in rhythms:
        Customer.objects.filter(pk=rhythm.customer_id).update(
            cadence_days=rhythm_cadence_days(rhythm)
        )
    tomorrow = timezone.make_aware(dt.datetime.combine(today + dt.timedelta(days=1), dt.time.min))
    meetings = []
    for rhythm, customer, person in booked:
        starts = occurrences(rhythm, first=tomorrow, count=SERIES_MEETINGS)
        series = MeetingSeries.objects.create(
            customer=customer,
            salesperson=person,
            name=rhythm.name,
            first_start=starts[0],
            count=len(starts),
            **{field: getattr(rhythm, field) for field in PATTERN_FIELDS},
        )
        agenda = agenda_for(customer)
        length = dt.timedelta(minutes=rhythm.duration_minutes)
        meetings += [
            Visit(
                customer=customer,
                salesperson=person,
                kind=rhythm.kind,
                status=VisitStatus.PLANNED,
                scheduled_start=start,
                scheduled_end=start + length,
                purpose=rhythm.name,
                brief=agenda,
                series=series,
                occurrence_start=start,
            )
            for start in starts
        ]
    Visit.objects.bulk_create(meetings)
    ids = [rhythm.customer_id for rhythm in rhythms]
    customers_due_refresh(customer_ids=ids)
    accounts_refresh(customer_ids=ids, as_of=today)
    return {"rhythms": len(rhythms), "series": len(booked), "series_meetings": len(meetings)}
