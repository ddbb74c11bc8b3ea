"""/api/v1/visits/: plan, log, reschedule, check in and cancel through the schedule's forms and
services; a `client_uuid` makes a write from the offline app happen once."""

import uuid

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from api.common import (
    CONFLICT,
    ERRORS,
    IDEMPOTENCY_KEY,
    UPDATED_SINCE,
    ByChange,
    asks_given,
    customer_id,
    form_data,
    updated_since,
)
from api.errors import form_error_response
from api.idempotency import idempotent
from api.serializers import (
    CancelInput,
    CheckInInput,
    LogInput,
    PlanInput,
    RescheduleInput,
    VisitSerializer,
)
from crm.models import Customer
from crm.selectors import customers_visible_to
from visits.forms import CancelForm, LogForm, PlanForm, RescheduleForm, ask_formset_data
from visits.models import Visit, VisitStatus
from visits.selectors import visits_editable_by, visits_visible_to_listed
from visits.services import (
    visit_cancel,
    visit_check_in,
    visit_log,
    visit_once,
    visit_reschedule,
    visit_schedule,
)


def _client_uuid(request) -> uuid.UUID | None:
    raw = request.data.get("client_uuid")
    if raw in (None, ""):
        return None
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise ValidationError({"client_uuid": ["Give a UUID."]}) from None


def _visit_once(request, write) -> Response:
    """A write that may carry the visit's `client_uuid`: the first sending makes the visit,
    every later one (the offline app retrying) gets that visit back, never a second one."""
    client_uuid = _client_uuid(request)
    if client_uuid is None:
        return idempotent(request, lambda: write(None))
    existing, made = visit_once(
        user=request.user,
        client_uuid=client_uuid,
        make=lambda: idempotent(request, lambda: write(client_uuid)),
    )
    if existing is None:
        return made
    response = Response(VisitSerializer(existing).data)
    response["Idempotent-Replayed"] = "true"
    return response


class VisitViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Visit.objects.none()  # the schema's types; get_queryset scopes the rows
    serializer_class = VisitSerializer
    pagination_class = ByChange

    def get_queryset(self):
        visits = visits_visible_to_listed(self.request.user).prefetch_related("contacts")
        return updated_since(self.request, visits)

    @extend_schema(parameters=[UPDATED_SINCE], responses={200: VisitSerializer, **ERRORS})
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request=PlanInput,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: VisitSerializer, 200: VisitSerializer, **ERRORS, **CONFLICT},
        description="Plan a meeting, as the plan form does. With `client_uuid`, sending it "
        "again returns the meeting first made (200), never a second one.",
    )
    def create(self, request, *args, **kwargs):
        def plan(client_uuid) -> Response:
            customers = customers_visible_to(request.user)
            form = PlanForm(form_data(request, PlanForm), customers=customers, user=request.user)
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
                client_uuid=client_uuid,
                **form.travel(),
            )
            return Response(VisitSerializer(result.visit).data, status.HTTP_201_CREATED)

        return _visit_once(request, plan)

    def _editable(self, pk) -> Visit:
        return get_object_or_404(visits_editable_by(self.request.user), pk=pk)

    def _logged(self, request, planned: Visit | None, customer: Customer, client_uuid) -> Response:
        blank = Visit(customer=customer, salesperson=request.user, status=VisitStatus.DONE)
        # The page's form always sends these (prefilled); the API may leave them out.
        data = {
            "travel_minutes": 0,
            "distance_km": 0,
            "expenses": 0,
            **form_data(request, LogForm, besides=("asks",)),
            **ask_formset_data(asks_given(request)),
        }
        form = LogForm(data, instance=blank, customer=customer, user=request.user)
        if not form.is_valid():
            return form_error_response(form)
        result = visit_log(
            user=request.user,
            customer=customer,
            visit=planned,
            client_uuid=client_uuid,
            **form.service_arguments(),
        )
        body = VisitSerializer(result.visit).data
        if result.follow_up is not None:
            body["follow_up"] = VisitSerializer(result.follow_up).data
        return Response(body, status.HTTP_200_OK if planned else status.HTTP_201_CREATED)

    @extend_schema(
        request=LogInput,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: VisitSerializer, **ERRORS, **CONFLICT},
        description="Log a planned meeting as held, as the log form does. A meeting no longer "
        "planned (held or cancelled meanwhile) is a 409 with its current version.",
    )
    @action(detail=True, methods=["post"])
    def log(self, request, pk=None):
        def log_it() -> Response:
            planned = self._editable(pk)
            return self._logged(request, planned, planned.customer, None)

        return idempotent(request, log_it)

    @extend_schema(
        request=LogInput,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: VisitSerializer, 200: VisitSerializer, **ERRORS, **CONFLICT},
        description="Log a visit that was not planned (give `customer`); with `client_uuid`, "
        "sending it again returns the visit first logged.",
        operation_id="visits_log_unplanned",
    )
    @action(detail=False, methods=["post"], url_path="log")
    def log_unplanned(self, request):
        def log_it(client_uuid) -> Response:
            customer = get_object_or_404(
                customers_visible_to(request.user), pk=customer_id(request)
            )
            return self._logged(request, None, customer, client_uuid)

        return _visit_once(request, log_it)

    @extend_schema(
        request=RescheduleInput,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: VisitSerializer, **ERRORS, **CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def reschedule(self, request, pk=None):
        def move() -> Response:
            visit = self._editable(pk)
            form = RescheduleForm(form_data(request, RescheduleForm))
            if not form.is_valid():
                return form_error_response(form)
            result = visit_reschedule(
                visit=visit, start=form.cleaned_data["start"], end=form.cleaned_data["end"]
            )
            return Response(VisitSerializer(result.visit).data)

        return idempotent(request, move)

    @extend_schema(
        request=CheckInInput,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: VisitSerializer, **ERRORS, **CONFLICT},
        description="Check in at the meeting (once; a second check-in keeps the first). `at` "
        "is when it happened, for one made offline.",
    )
    @action(detail=True, methods=["post"], url_path="check-in")
    def check_in(self, request, pk=None):
        def arrive() -> Response:
            visit = self._editable(pk)
            checked = CheckInInput(data=request.data)
            checked.is_valid(raise_exception=True)
            visit = visit_check_in(visit=visit, **checked.validated_data)
            return Response(VisitSerializer(visit).data)

        return idempotent(request, arrive)

    @extend_schema(
        request=CancelInput,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: VisitSerializer, **ERRORS, **CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        def cancel_it() -> Response:
            visit = self._editable(pk)
            form = CancelForm(form_data(request, CancelForm))
            if not form.is_valid():
                return form_error_response(form)
            visit = visit_cancel(visit=visit, reason=form.cleaned_data["reason"])
            return Response(VisitSerializer(visit).data)

        return idempotent(request, cancel_it)
