"""/api/v1/customers/ and /api/v1/contacts/: the account pages' forms and services, for
integrations and the offline app (a token sees and edits what its owner may)."""

from django.core.exceptions import PermissionDenied
from django.forms.models import model_to_dict
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_datetime
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
    ById,
    customer_id,
    form_data,
    of_visible_customers,
    updated_since,
)
from api.errors import error_response, form_error_response
from api.idempotency import idempotent
from api.serializers import (
    ContactSerializer,
    CustomerChangesInput,
    CustomerSerializer,
    NoteInput,
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
