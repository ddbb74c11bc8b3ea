"""/api/v1/: the same data and the same rules as the pages, for integrations and the offline app.

Reads use the pages' selectors (a token sees what its owner sees); writes go through the pages'
forms and services. Lists page by cursor, oldest change first, and take `updated_since`
(ISO 8601) for sync."""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from api.errors import form_error_response
from api.idempotency import idempotent
from api.serializers import (
    CancelInput,
    CustomerSerializer,
    ErrorSerializer,
    LogInput,
    PlanInput,
    VisitSerializer,
)
from crm.models import Customer
from crm.selectors import customers_visible_to
from visits.forms import CancelForm, LogForm, PlanForm
from visits.models import Visit, VisitStatus
from visits.selectors import visits_editable_by, visits_visible_to
from visits.services import visit_cancel, visit_log, visit_schedule

UPDATED_SINCE = OpenApiParameter(
    "updated_since",
    str,
    description="Only rows changed at or after this moment (ISO 8601, e.g. 2026-12-01T00:00:00Z).",
)
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="Any unique string (a UUID): a retry with the same key returns the first answer.",
)
ERRORS = {400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}


class ByChange(CursorPagination):
    ordering = ("updated_at", "id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500


def updated_since(request, rows: QuerySet) -> QuerySet:
    raw = request.query_params.get("updated_since")
    if not raw:
        return rows
    moment = parse_datetime(raw.replace(" ", "+"))
    if moment is None:
        raise ValidationError({"updated_since": ["Give a date and time in ISO 8601."]})
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return rows.filter(updated_at__gte=moment)


def form_data(request) -> dict:
    """JSON lists (contacts) as a form reads them."""
    data = dict(request.data)
    if isinstance(data.get("contacts"), list):
        data["contacts"] = [str(value) for value in data["contacts"]]
    return data


@extend_schema(parameters=[UPDATED_SINCE], responses={200: CustomerSerializer, **ERRORS})
class CustomerViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Customer.objects.none()  # the schema's types; get_queryset scopes the rows
    serializer_class = CustomerSerializer
    pagination_class = ByChange

    def get_queryset(self):
        return updated_since(self.request, customers_visible_to(self.request.user))


class VisitViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Visit.objects.none()  # the schema's types; get_queryset scopes the rows
    serializer_class = VisitSerializer
    pagination_class = ByChange

    def get_queryset(self):
        visits = visits_visible_to(self.request.user).prefetch_related("contacts")
        return updated_since(self.request, visits)

    @extend_schema(parameters=[UPDATED_SINCE], responses={200: VisitSerializer, **ERRORS})
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request=PlanInput,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: VisitSerializer, **ERRORS},
        description="Plan a meeting, as the plan form does.",
    )
    def create(self, request, *args, **kwargs):
        def plan() -> Response:
            customers = customers_visible_to(request.user)
            form = PlanForm(form_data(request), customers=customers, user=request.user)
            if not form.is_valid():
                return form_error_response(form)
            data = form.cleaned_data
            result = visit_schedule(
                user=request.user,
                customer=data["customer"],
                kind=data["kind"],
                start=data["start"],
                end=data["end"],
                contacts=list(data["contacts"]),
                purpose=data["purpose"],
                **form.travel(),
            )
            return Response(VisitSerializer(result.visit).data, status.HTTP_201_CREATED)

        return idempotent(request, plan)

    def _editable(self, pk) -> Visit:
        return get_object_or_404(visits_editable_by(self.request.user), pk=pk)

    @extend_schema(
        request=LogInput,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: VisitSerializer, **ERRORS},
        description="Log a planned meeting as held, as the log form does.",
    )
    @action(detail=True, methods=["post"])
    def log(self, request, pk=None):
        def log_it() -> Response:
            planned = self._editable(pk)
            blank = Visit(
                customer=planned.customer, salesperson=request.user, status=VisitStatus.DONE
            )
            # The page's form always sends these (prefilled); the API may leave them out.
            data = {"travel_minutes": 0, "distance_km": 0, "expenses": 0, **form_data(request)}
            form = LogForm(
                data,
                instance=blank,
                customer=planned.customer,
                user=request.user,
            )
            if not form.is_valid():
                return form_error_response(form)
            result = visit_log(
                user=request.user,
                customer=planned.customer,
                visit=planned,
                **form.service_arguments(),
            )
            return Response(VisitSerializer(result.visit).data)

        return idempotent(request, log_it)

    @extend_schema(
        request=CancelInput,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: VisitSerializer, **ERRORS},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        def cancel_it() -> Response:
            visit = self._editable(pk)
            form = CancelForm(form_data(request))
            if not form.is_valid():
                return form_error_response(form)
            visit = visit_cancel(visit=visit, reason=form.cleaned_data["reason"])
            return Response(VisitSerializer(visit).data)

        return idempotent(request, cancel_it)
