"""Invoices and support cases: read like everything else (scoped to the caller); pushed in batches
by the ERP and the helpdesk (admins' tokens and integration tokens only), upserted by invoice
number / the helpdesk's case id (crm.upserts). Support cases heard in the field are reported by
anyone who sees the account, as on its page."""

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from api.common import (
    ERRORS,
    IDEMPOTENCY_KEY,
    ById,
    customer_id,
    form_data,
    of_visible_customers,
)
from api.errors import error_response, form_error_response
from api.idempotency import idempotent
from api.serializers import (
    InvoiceBatchInput,
    InvoiceSerializer,
    SupportCaseBatchInput,
    SupportCaseInput,
    SupportCaseSerializer,
    UpsertResultSerializer,
)
from crm.forms import SupportCaseForm
from crm.models import Invoice, SupportCase
from crm.selectors import customers_visible_to
from crm.services import support_case_report
from crm.upserts import MAX_BATCH, UpsertResult, invoices_upsert, support_cases_upsert


def _batch(request, key: str, upsert) -> Response:
    if not request.user.is_cadence_admin:
        raise PermissionDenied("Only an admin's or an integration token may push these.")
    rows = request.data.get(key) if isinstance(request.data, dict) else None
    if not isinstance(rows, list) or not rows:
        raise ValidationError({key: [f"Give a list of 1 to {MAX_BATCH:,} rows."]})
    if len(rows) > MAX_BATCH:
        raise ValidationError({key: [f"At most {MAX_BATCH:,} rows a batch: split it."]})

    def write() -> Response:
        result: UpsertResult = upsert(rows)
        body = {"created": result.created, "updated": result.updated, "errors": result.errors}
        if result.errors and not (result.created or result.updated):
            return error_response(400, "No row could be written.", {key: result.errors})
        return Response(body)

    return idempotent(request, write)


@extend_schema(responses={200: InvoiceSerializer, **ERRORS})
class InvoiceViewSet(viewsets.ReadOnlyModelViewSet):
    """Invoices of the customers the caller sees."""

    queryset = Invoice.objects.none()
    serializer_class = InvoiceSerializer
    pagination_class = ById
    integration_actions = ("upsert",)

    def get_queryset(self):
        return of_visible_customers(self.request, Invoice.objects.all())

    @extend_schema(
        request=InvoiceBatchInput,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: UpsertResultSerializer, **ERRORS},
        description=f"Up to {MAX_BATCH:,} invoices by number: new numbers are added, known "
        "ones updated (paid, corrected). Good rows are written, bad ones come back in `errors` "
        "with their index; a batch with no good row is a 400.",
    )
    @action(detail=False, methods=["post"])
    def upsert(self, request):
        return _batch(request, "invoices", invoices_upsert)


@extend_schema(responses={200: SupportCaseSerializer, **ERRORS})
class SupportCaseViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Support cases of the customers the caller sees."""

    queryset = SupportCase.objects.none()
    serializer_class = SupportCaseSerializer
    pagination_class = ById
    integration_actions = ("upsert",)

    def get_queryset(self):
        return of_visible_customers(self.request, SupportCase.objects.all())

    @extend_schema(
        request=SupportCaseInput,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: SupportCaseSerializer, **ERRORS},
        description="Report a case heard in the field (open until someone closes it).",
    )
    def create(self, request, *args, **kwargs):
        def report() -> Response:
            customer = get_object_or_404(
                customers_visible_to(request.user), pk=customer_id(request)
            )
            data = {
                "opened_on": timezone.localdate().isoformat(),
                **form_data(request, SupportCaseForm),
            }
            form = SupportCaseForm(data)
            if not form.is_valid():
                return form_error_response(form)
            case = support_case_report(customer=customer, user=request.user, **form.cleaned_data)
            return Response(SupportCaseSerializer(case).data, status.HTTP_201_CREATED)

        return idempotent(request, report)

    @extend_schema(
        request=SupportCaseBatchInput,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: UpsertResultSerializer, **ERRORS},
        description=f"Up to {MAX_BATCH:,} cases by the helpdesk's id (`external_id`): new ones "
        "added, known ones updated. Bad rows come back in `errors` with their index.",
    )
    @action(detail=False, methods=["post"])
    def upsert(self, request):
        return _batch(request, "support_cases", support_cases_upsert)
