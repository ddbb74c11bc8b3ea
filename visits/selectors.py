"""Reads for visits, scoped to the user: the one place that says whose visits you may see."""

import datetime as dt

from django.db.models import Q, QuerySet

from accounts.models import User
from accounts.selectors import territory_ids_managed_by
from visits.models import Visit, VisitStatus


def visits_visible_to(user: User) -> QuerySet[Visit]:
    """Admins see every visit; managers the visits to customers of their territories;
    salespeople their own visits and the whole visit history of the customers they own."""
    visits = Visit.objects.select_related("customer", "salesperson")
    if not user.is_authenticated or not user.is_active:
        return visits.none()
    if user.is_cadence_admin:
        return visits
    if user.is_manager:
        return visits.filter(customer__territory_id__in=territory_ids_managed_by(user))
    return visits.filter(Q(salesperson=user) | Q(customer__owner=user))


def planned_visits_between(user: User, *, start: dt.datetime, end: dt.datetime) -> QuerySet[Visit]:
    """The user's own planned meetings starting in [start, end), earliest first."""
    return (
        visits_visible_to(user)
        .filter(
            salesperson=user,
            status=VisitStatus.PLANNED,
            scheduled_start__gte=start,
            scheduled_start__lt=end,
        )
        .prefetch_related("contacts")
        .order_by("scheduled_start", "id")
    )
