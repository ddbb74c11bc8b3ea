"""Review cycles: every manager reviews their accounts at a regular interval (quarterly by
default). The review list holds the accounts that need a decision since the cycle began:

- a flag raised since then and still open, not acknowledged;
- a recommendation that changed since then to anything but "keep";
- an acknowledgement running out before the review is due (the flag comes back).

Until a manager marks a review done (or chooses an interval), the cycle is the calendar quarter.
Marking the review done starts the next cycle. The dashboard says when it is due and how many
accounts wait; the daily digest reminds in the last week and once it is overdue.
"""

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from accounts.models import User
from crm.models import Customer
from health.models import (
    REVIEW_EVERY_DAYS,
    AccountFlag,
    AccountMetrics,
    Recommendation,
    ReviewCycle,
)

REMIND_DAYS_BEFORE = 7


def default_cycle(manager: User, *, today: dt.date) -> ReviewCycle:
    """The cycle of a manager who never marked a review done: the calendar quarter (unsaved;
    saved when they mark it done or choose their interval)."""
    first_month = (today.month - 1) // 3 * 3 + 1
    started = dt.date(today.year, first_month, 1)
    following = dt.date(today.year + (first_month + 3 > 12), (first_month + 2) % 12 + 1, 1)
    return ReviewCycle(
        manager=manager,
        every_days=REVIEW_EVERY_DAYS,
        started_on=started,
        due_on=following - dt.timedelta(days=1),
    )


def review_cycle_for(manager: User, *, today: dt.date, save: bool = False) -> ReviewCycle:
    """The manager's cycle (read only unless `save`: the managers' pages read from a replica)."""
    cycle = ReviewCycle.objects.filter(manager=manager).first()
    if cycle is None:
        cycle = default_cycle(manager, today=today)
        if save:
            cycle.save()
    return cycle


def _day_after(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min))


def needs_decision_q(cycle: ReviewCycle, *, today: dt.date) -> Q:
    """The rule of the review list, as a filter on customers: two sets of customer ids, each
    read once (hashed), rather than a join and two probes per account of the manager's book."""
    flagged = AccountFlag.objects.filter(resolved_at__isnull=True).filter(
        Q(raised_at__gte=_day_after(cycle.started_on), acknowledged_until__isnull=True)
        | Q(acknowledged_until__range=(today, cycle.due_on))
    )
    changed = AccountMetrics.objects.filter(recommendation_since__gt=cycle.started_on).exclude(
        recommendation=Recommendation.KEEP
    )
    return Q(pk__in=changed.values("customer_id")) | Q(pk__in=flagged.values("customer_id"))


def review_list(customers: QuerySet[Customer], cycle: ReviewCycle, *, today: dt.date):
    """Of these customers, those needing a decision in this cycle."""
    return customers.filter(needs_decision_q(cycle, today=today))


def review_list_counts(
    cycles: dict[int, ReviewCycle], territories: dict[int, set[int]], *, today: dt.date
) -> dict[int, int]:
    """How many accounts wait in each manager's review list (cycles and territory ids by
    manager id), in one query whatever the number of managers."""
    if not cycles:
        return {}
    counts = Customer.objects.aggregate(
        **{
            f"m{pk}": Count(
                "pk",
                filter=Q(territory_id__in=territories.get(pk, set()))
                & needs_decision_q(cycle, today=today),
            )
            for pk, cycle in cycles.items()
        }
    )
    return {pk: counts[f"m{pk}"] for pk in cycles}


def reminder_due(cycle: ReviewCycle, *, today: dt.date) -> bool:
    return cycle.due_on - today <= dt.timedelta(days=REMIND_DAYS_BEFORE)


@transaction.atomic
def review_cycle_complete(*, cycle: ReviewCycle, today: dt.date) -> ReviewCycle:
    """The review is done: the next cycle starts today."""
    cycle.started_on = today
    cycle.due_on = today + dt.timedelta(days=cycle.every_days)
    cycle.save(update_fields=["started_on", "due_on"])
    return cycle


@transaction.atomic
def review_cycle_configure(*, cycle: ReviewCycle, every_days: int) -> ReviewCycle:
    """Review every `every_days` days: the current cycle's due date moves with it."""
    if not 7 <= every_days <= 366:
        raise ValidationError({"every_days": "Review every 7 to 366 days."})
    cycle.every_days = every_days
    cycle.due_on = cycle.started_on + dt.timedelta(days=every_days)
    cycle.full_clean()
    cycle.save(update_fields=["every_days", "due_on"])
    return cycle
