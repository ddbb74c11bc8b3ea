"""/api/v1/: the same data and the same rules as the pages, for integrations and the offline app.

Reads use the pages' selectors (a token sees what its owner sees); writes go through the pages'
forms and services. Lists page by cursor, oldest change first, and take `updated_since`
(ISO 8601) for sync."""

import uuid

from django import forms
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.forms.models import model_to_dict
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from api.errors import error_response, form_error_response
from api.idempotency import idempotent
from api.serializers import (
    CancelInput,
    CheckInInput,
    ContactSerializer,
    CustomerChangesInput,
    CustomerSerializer,
    ErrorSerializer,
    LogInput,
    NoteInput,
    PlanInput,
    RescheduleInput,
    VisitSerializer,
)
from crm.forms import ContactForm, CustomerForm
from crm.models import Contact, Customer
from crm.selectors import customer_edit_choices, customers_visible_to
from crm.services import (
    StaleEdit,
    contact_save,
    customer_note_add,
    customer_update,
    editable_customer_fields,
)
from visits.forms import CancelForm, LogForm, PlanForm, RescheduleForm
from visits.models import Visit, VisitStatus
from visits.selectors import visits_editable_by, visits_visible_to
from visits.services import (
    visit_cancel,
    visit_check_in,
    visit_log,
    visit_once,
    visit_reschedule,
    visit_schedule,
)

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
CONFLICT = {409: ErrorSerializer}


class ByChange(CursorPagination):
    ordering = ("updated_at", "id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request):
        """`page_size` 1 to 500, or absent; anything else is a 400, not silently ignored."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError(
                {self.page_size_query_param: [f"Give a number from 1 to {self.max_page_size}."]}
            )
        return int(raw)


class ById(ByChange):
    """For rows that are written once or replaced whole (invoices, flags): by id."""

    ordering = ("id",)


class ByCustomer(ByChange):
    ordering = ("customer_id",)


def of_visible_customers(request, rows: QuerySet) -> QuerySet:
    """Rows that belong to a customer (contacts, invoices, cases, flags, metrics): those of the
    customers the caller sees."""
    return rows.filter(customer__in=customers_visible_to(request.user).values("pk"))


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


def _as_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def form_data(request, form_class) -> dict:
    """The JSON object as a submitted form holds it: text values, and a list of texts for a
    field that takes several (`contacts`), so the pages' forms validate it as theirs. A value
    of the wrong shape for `form_class`'s field — an object, a list where one value goes, true
    or false for anything but a yes/no field — is refused here, never stored as its repr."""
    fields = form_class.base_fields
    data, errors = {}, {}
    for name, value in request.data.items():
        field = fields.get(name)
        several = isinstance(field, forms.MultipleChoiceField | forms.ModelMultipleChoiceField)
        yes_no = isinstance(field, forms.BooleanField)
        if isinstance(value, list) and several and all(_is_scalar(item) for item in value):
            data[name] = [_as_text(item) for item in value]
        elif isinstance(value, dict | list):
            errors[name] = ["Give a list of ids." if several else "Give a single value."]
        elif isinstance(value, bool) and field is not None and not yes_no:
            errors[name] = ["Give text or a number, not true or false."]
        else:
            data[name] = _as_text(value)
    if errors:
        raise ValidationError(errors)
    return data


def _is_scalar(value) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def customer_id(request) -> int:
    raw = request.data.get("customer")
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise ValidationError({"customer": ["Give the customer's id."]})
    return raw


def _version(raw) -> str:
    """The customer's updated_at as the API showed it ("...Z"), as crm.services compares it."""
    if not raw:
        return ""
    moment = parse_datetime(str(raw))
    if moment is None:
        raise ValidationError({"version": ["Give the customer's updated_at as read."]})
    return moment.isoformat()


@extend_schema(parameters=[UPDATED_SINCE], responses={200: CustomerSerializer, **ERRORS})
class CustomerViewSet(mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Customer.objects.none()  # the schema's types; get_queryset scopes the rows
    serializer_class = CustomerSerializer
    pagination_class = ByChange
    http_method_names = ["get", "patch", "post", "head", "options"]
    integration_reads = ("list", "retrieve")

    def get_queryset(self):
        return updated_since(self.request, customers_visible_to(self.request.user))

    @extend_schema(
        request=CustomerChangesInput,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: CustomerSerializer, **ERRORS, **CONFLICT},
        description="Change the fields the caller's role may change, as the edit page does: "
        "salespeople the address and contact details, managers and admins also name, tier, "
        "status, owner, territory, cadence_days and since.",
    )
    def partial_update(self, request, *args, **kwargs):
        def change() -> Response:
            customer = get_object_or_404(customers_visible_to(request.user), pk=kwargs["pk"])
            editable = editable_customer_fields(request.user)
            sent = {name for name in request.data if name != "version"}
            forbidden = sent - editable
            if forbidden:
                raise PermissionDenied(f"You may not change: {', '.join(sorted(forbidden))}.")
            current = {
                name: value
                for name, value in model_to_dict(customer, fields=sorted(editable)).items()
                if value is not None
            }
            data = current | form_data(request, CustomerForm)
            data["version"] = _version(request.data.get("version"))
            form = CustomerForm(
                data,
                instance=customer,
                editable=editable,
                **customer_edit_choices(request.user),
            )
            if not form.is_valid():
                return form_error_response(form)
            try:
                saved = customer_update(
                    customer=customer,
                    user=request.user,
                    changes=form.changes(),
                    seen_version=form.seen_version(),
                )
            except StaleEdit as error:
                return error_response(409, " ".join(error.messages))
            return Response(CustomerSerializer(saved).data)

        return idempotent(request, change)

    @extend_schema(exclude=True)
    def update(self, request, *args, **kwargs):
        return self.partial_update(request, *args, **kwargs)

    @extend_schema(
        request=NoteInput,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: CustomerSerializer, **ERRORS},
        description="Add a dated, signed note to the account's notes (never overwrites them).",
    )
    @action(detail=True, methods=["post"])
    def note(self, request, pk=None):
        def add() -> Response:
            customer = get_object_or_404(customers_visible_to(request.user), pk=pk)
            checked = NoteInput(data=request.data)
            checked.is_valid(raise_exception=True)
            at = min(checked.validated_data.get("at") or timezone.now(), timezone.now())
            saved = customer_note_add(
                customer=customer, user=request.user, text=checked.validated_data["text"], at=at
            )
            return Response(CustomerSerializer(saved).data)

        return idempotent(request, add)


@extend_schema(responses={200: ContactSerializer, **ERRORS})
class ContactViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Contacts of the customers the caller sees; `?customer=<id>` for one account's."""

    queryset = Contact.objects.none()
    serializer_class = ContactSerializer
    pagination_class = ById

    def get_queryset(self):
        contacts = of_visible_customers(self.request, Contact.objects.all()).order_by(
            "customer_id", "-is_primary", "name", "id"
        )
        customer = self.request.query_params.get("customer", "")
        if customer:
            if not customer.isdigit():
                raise ValidationError({"customer": ["Give a customer's id."]})
            contacts = contacts.filter(customer_id=int(customer))
        return contacts

    @extend_schema(
        request=ContactSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: ContactSerializer, **ERRORS},
        description="Add a contact to an account the caller sees (give `customer`).",
    )
    def create(self, request, *args, **kwargs):
        def add() -> Response:
            customer = get_object_or_404(
                customers_visible_to(request.user), pk=customer_id(request)
            )
            form = ContactForm(form_data(request, ContactForm), instance=Contact(customer=customer))
            if not form.is_valid():
                return form_error_response(form)
            contact = contact_save(contact=form.instance)
            return Response(ContactSerializer(contact).data, status.HTTP_201_CREATED)

        return idempotent(request, add)


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
        visits = visits_visible_to(self.request.user).prefetch_related("contacts")
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
        data = {"travel_minutes": 0, "distance_km": 0, "expenses": 0, **form_data(request, LogForm)}
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
