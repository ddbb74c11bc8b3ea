"""/api/v1/asks/: what customers asked for, through the asks pages' forms and services (a
token sees the asks of the accounts its owner sees; who may not answer an ask gets a 403)."""

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from api.common import (
    CONFLICT,
    ERRORS,
    IDEMPOTENCY_KEY,
    UPDATED_SINCE,
    ByChange,
    customer_id,
    form_data,
    updated_since,
)
from api.errors import error_response, form_error_response
from api.idempotency import idempotent
from api.serializers import AnswerInput, AskCreateInput, AskSerializer, DecideInput
from crm.selectors import customers_visible_to
from visits.ask_selectors import ask_owner_choices, asks_list, asks_visible_to
from visits.ask_services import ask_answer, ask_decide, asks_record
from visits.forms import AnswerForm, AskFilterForm, AskForm, DecideForm

ASK_FILTERS = [
    OpenApiParameter("scope", str, enum=["mine", "team"], description="Default: mine."),
    OpenApiParameter(
        "state", str, enum=["open", "overdue", "answered", "all"], description="Default: open."
    ),
    OpenApiParameter("kind", str, description="One kind of ask."),
]


@extend_schema(parameters=[UPDATED_SINCE, *ASK_FILTERS], responses={200: AskSerializer, **ERRORS})
class AskViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = AskSerializer
    pagination_class = ByChange

    def get_queryset(self):
        if self.action != "list":
            return asks_visible_to(self.request.user)
        filters = AskFilterForm(self.request.query_params).filters()
        rows = asks_list(self.request.user, today=timezone.localdate(), **filters)
        return updated_since(self.request, rows.order_by())

    @extend_schema(
        request=AskCreateInput,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: AskSerializer, **ERRORS},
        description="Record what a customer asked for outside a visit (asks at a visit go with "
        "its log).",
    )
    def create(self, request, *args, **kwargs):
        def record() -> Response:
            customer = get_object_or_404(
                customers_visible_to(request.user), pk=customer_id(request)
            )
            form = AskForm(
                form_data(request, AskForm, besides=("customer",)),
                owners=ask_owner_choices(customer),
            )
            if not form.is_valid():
                return form_error_response(form)
            if (given := form.ask()) is None:
                form.add_error("text", "Say what the customer asked for.")
                return form_error_response(form)
            (ask,) = asks_record(user=request.user, customer=customer, asks=[given])
            return Response(AskSerializer(ask).data, status.HTTP_201_CREATED)

        return idempotent(request, record)

    @extend_schema(
        request=AnswerInput,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: AskSerializer, **ERRORS, **CONFLICT},
        description="Say what was done about the ask; an ask already answered is a 409.",
    )
    @action(detail=True, methods=["post"])
    def answer(self, request, pk=None):
        def answer_it() -> Response:
            ask = get_object_or_404(asks_visible_to(request.user), pk=pk)
            form = AnswerForm(form_data(request, AnswerForm))
            if not form.is_valid():
                return form_error_response(form)
            if not ask.is_open:
                return error_response(status.HTTP_409_CONFLICT, "This ask was already answered.")
            answered = ask_answer(ask=ask, user=request.user, **form.cleaned_data)
            return Response(AskSerializer(answered).data)

        return idempotent(request, answer_it)

    @extend_schema(
        request=DecideInput,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: AskSerializer, **ERRORS},
        description="A quote sent in answer is won or lost (with why, or the competitor).",
    )
    @action(detail=True, methods=["post"])
    def decide(self, request, pk=None):
        def decide_it() -> Response:
            ask = get_object_or_404(asks_visible_to(request.user), pk=pk)
            form = DecideForm(form_data(request, DecideForm))
            if not form.is_valid():
                return form_error_response(form)
            data = form.cleaned_data
            decided = ask_decide(
                ask=ask,
                user=request.user,
                outcome=data["outcome"],
                reason=data["outcome_reason"],
                competitor=data["competitor"],
            )
            return Response(AskSerializer(decided).data)

        return idempotent(request, decide_it)
