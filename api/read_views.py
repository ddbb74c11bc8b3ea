"""What the caller's pages show, read-only: their schedule, who to visit, flags and account
metrics, territories and people, each scoped by the pages' selectors."""

import datetime as dt

from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Territory, User
from accounts.selectors import territory_ids_managed_by, territory_ids_worked_by
from api.common import ERRORS, ByCustomer, ById, of_visible_customers
from api.field_pack import field_pack
from api.serializers import (
    FlagSerializer,
    MetricsSerializer,
    ScheduleItemSerializer,
    TerritorySerializer,
    UserSerializer,
    WhoToVisitSerializer,
)
from health.models import AccountFlag, AccountMetrics
from visits.selectors import schedule_visits, who_to_visit

MAX_SCHEDULE_DAYS = 31
WHO_TO_VISIT_LISTED = 200


def _day(request, name: str, default: dt.date) -> dt.date:
    raw = request.query_params.get(name)
    if not raw:
        return default
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ValidationError({name: ["Give a date as YYYY-MM-DD."]}) from None


class ScheduleView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("from", dt.date, description="First day (default: today)."),
            OpenApiParameter("days", int, description=f"1 to {MAX_SCHEDULE_DAYS} (default 7)."),
        ],
        responses={200: ScheduleItemSerializer(many=True), **ERRORS},
        description="The caller's meetings (led or attended) from a day, in their order.",
    )
    def get(self, request):
        first = _day(request, "from", timezone.localdate())
        raw_days = request.query_params.get("days", "7")
        if not raw_days.isdigit() or not 1 <= int(raw_days) <= MAX_SCHEDULE_DAYS:
            raise ValidationError({"days": [f"Give 1 to {MAX_SCHEDULE_DAYS} days."]})
        start = timezone.make_aware(dt.datetime.combine(first, dt.time.min))
        end = start + dt.timedelta(days=int(raw_days))
        visits = (
            schedule_visits(request.user, start=start, end=end)
            .prefetch_related("contacts")
            .order_by("moment", "id")
        )
        return Response(ScheduleItemSerializer(visits, many=True).data)


class FieldPackView(APIView):
    @extend_schema(
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
        description="What the offline app keeps: today's and tomorrow's meetings, each "
        "account's brief, who to visit and the rep's accounts (bounded: see `limits`).",
    )
    def get(self, request):
        pack = field_pack(request.user, now=timezone.now())
        meetings = pack["meetings"]
        pack["meetings"] = ScheduleItemSerializer(meetings, many=True).data
        for row, meeting in zip(pack["meetings"], meetings, strict=True):
            row["notes_truncated"] = meeting.notes_truncated
            row["url"] = reverse("visits:detail", args=[meeting.pk])
        return Response(pack)


class WhoToVisitView(APIView):
    @extend_schema(
        responses={200: WhoToVisitSerializer(many=True), **ERRORS},
        description="The caller's accounts overdue or due soon with nothing planned, most "
        f"overdue first (at most {WHO_TO_VISIT_LISTED}).",
    )
    def get(self, request):
        today = timezone.localdate()
        customers = who_to_visit(request.user, today=today)[:WHO_TO_VISIT_LISTED]
        return Response(WhoToVisitSerializer(customers, many=True).data)


@extend_schema(
    parameters=[
        OpenApiParameter(
            "open", bool, description="true: only flags still open; false: only resolved ones."
        )
    ],
    responses={200: FlagSerializer, **ERRORS},
)
class FlagViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = AccountFlag.objects.none()
    serializer_class = FlagSerializer
    pagination_class = ById

    def get_queryset(self):
        flags = of_visible_customers(self.request, AccountFlag.objects.all())
        wanted = self.request.query_params.get("open")
        if wanted not in (None, "true", "false"):
            raise ValidationError({"open": ["Give true or false."]})
        if wanted == "true":
            flags = flags.filter(resolved_at__isnull=True)
        elif wanted == "false":
            flags = flags.filter(resolved_at__isnull=False)
        return flags


@extend_schema(responses={200: MetricsSerializer, **ERRORS})
class MetricsViewSet(viewsets.ReadOnlyModelViewSet):
    """Each account's health figures (last 12 months) as of the last refresh; by customer id."""

    queryset = AccountMetrics.objects.none()
    serializer_class = MetricsSerializer
    pagination_class = ByCustomer

    def get_queryset(self):
        return of_visible_customers(self.request, AccountMetrics.objects.all())


@extend_schema(responses={200: TerritorySerializer, **ERRORS})
class TerritoryViewSet(viewsets.ReadOnlyModelViewSet):
    """Admins see every territory, managers those they manage, salespeople those they work."""

    queryset = Territory.objects.none()
    serializer_class = TerritorySerializer
    pagination_class = ById

    def get_queryset(self):
        user = self.request.user
        territories = Territory.objects.all()
        if user.is_cadence_admin:
            return territories
        if user.is_manager:
            return territories.filter(pk__in=territory_ids_managed_by(user))
        return territories.filter(pk__in=territory_ids_worked_by(user))


@extend_schema(responses={200: UserSerializer, **ERRORS})
class UserViewSet(viewsets.ReadOnlyModelViewSet):
    """The people the caller may see: admins everyone active, managers the people of their
    territories and themselves, everyone else themselves."""

    queryset = User.objects.none()
    serializer_class = UserSerializer
    pagination_class = ById

    def get_queryset(self):
        user = self.request.user
        people = User.objects.filter(is_active=True)
        if user.is_cadence_admin:
            return people
        if user.is_manager:
            members = people.filter(territories__in=territory_ids_managed_by(user)).values("pk")
            return people.filter(pk__in=members) | people.filter(pk=user.pk)
        return people.filter(pk=user.pk)
