"""What the API answers. Writes are validated by the pages' own forms and done by the same
services (api.account_views, api.visit_views), so the rules are the same whichever way a change
comes in."""

from rest_framework import serializers

from accounts.models import Territory, User
from core.bounds import MAX_TEXT_CHARS
from crm.models import Contact, Customer, Invoice, SupportCase
from health.models import AccountFlag, AccountMetrics
from visits.forms import MEETING_KINDS
from visits.models import (
    Ask,
    AskAnswerKind,
    AskKind,
    Outcome,
    QuoteOutcome,
    Visit,
    VisitKind,
)


class CustomerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = [
            "id",
            "code",
            "name",
            "tier",
            "status",
            "service_model",
            "territory",
            "owner",
            "address_line1",
            "address_line2",
            "postal_code",
            "city",
            "region",
            "country",
            "phone",
            "website",
            "industry",
            "latitude",
            "longitude",
            "last_visit_at",
            "next_visit_due",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class VisitSerializer(serializers.ModelSerializer):
    contacts = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    # Declared: a read-only model field loses allow_blank, and a visit not yet held has "".
    outcome = serializers.ChoiceField(choices=Outcome.choices, allow_blank=True, read_only=True)

    class Meta:
        model = Visit
        fields = [
            "id",
            "customer",
            "salesperson",
            "kind",
            "status",
            "scheduled_start",
            "scheduled_end",
            "purpose",
            "visited_at",
            "duration_minutes",
            "travel_minutes",
            "distance_km",
            "expenses",
            "contacts",
            "notes",
            "outcome",
            "next_step",
            "follow_up_on",
            "competitor",
            "cancel_reason",
            "client_uuid",
            "checked_in_at",
            "checked_out_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class AskSerializer(serializers.ModelSerializer):
    # Declared: a read-only model field loses allow_blank, and an open ask has "".
    answer_kind = serializers.ChoiceField(
        choices=AskAnswerKind.choices, allow_blank=True, read_only=True
    )
    outcome = serializers.ChoiceField(
        choices=QuoteOutcome.choices, allow_blank=True, read_only=True
    )

    class Meta:
        model = Ask
        fields = [
            "id",
            "customer",
            "visit",
            "raised_by",
            "owner",
            "kind",
            "text",
            "asked_on",
            "due_on",
            "value",
            "answered_at",
            "answered_by",
            "answer_kind",
            "answer",
            "outcome",
            "outcome_reason",
            "competitor",
            "decided_at",
            "updated_at",
        ]
        read_only_fields = fields


class AskInputSerializer(serializers.Serializer):
    """One ask: the kind, what was asked for; who answers (default: the caller), by when
    (default: the kind's days), a quote's value."""

    kind = serializers.ChoiceField(choices=AskKind.choices)
    text = serializers.CharField(max_length=500)
    owner = serializers.IntegerField(required=False)
    due_on = serializers.DateField(required=False)
    value = serializers.DecimalField(max_digits=14, decimal_places=2, required=False)


class AskCreateInput(AskInputSerializer):
    customer = serializers.IntegerField()


class AnswerInput(serializers.Serializer):
    answer_kind = serializers.ChoiceField(choices=AskAnswerKind.choices)
    answer = serializers.CharField(required=False, allow_blank=True, max_length=500)
    value = serializers.DecimalField(max_digits=14, decimal_places=2, required=False)


class DecideInput(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=QuoteOutcome.choices)
    outcome_reason = serializers.CharField(required=False, allow_blank=True, max_length=300)
    competitor = serializers.IntegerField(required=False)


class ContactSerializer(serializers.ModelSerializer):
    class Meta:
        model = Contact
        fields = ["id", "customer", "name", "title", "email", "phone", "is_primary", "notes"]
        read_only_fields = ["id", "customer"]


class InvoiceSerializer(serializers.ModelSerializer):
    class Meta:
        model = Invoice
        fields = [
            "id",
            "number",
            "customer",
            "issued_on",
            "due_on",
            "paid_on",
            "amount",
            "cost_of_goods",
            "discount",
            "currency",
            "exchange_rate",
        ]
        read_only_fields = fields


class SupportCaseSerializer(serializers.ModelSerializer):
    class Meta:
        model = SupportCase
        fields = [
            "id",
            "external_id",
            "customer",
            "opened_on",
            "kind",
            "minutes",
            "note",
            "is_open",
            "reported_by",
        ]
        read_only_fields = fields


class FlagSerializer(serializers.ModelSerializer):
    class Meta:
        model = AccountFlag
        fields = [
            "id",
            "customer",
            "kind",
            "inputs",
            "as_of",
            "opened_at",
            "raised_at",
            "resolved_at",
            "acknowledged_at",
            "acknowledged_reason",
            "acknowledged_until",
        ]
        read_only_fields = fields


class MetricsSerializer(serializers.ModelSerializer):
    class Meta:
        model = AccountMetrics
        exclude = []
        read_only_fields = [f.name for f in AccountMetrics._meta.fields]


class TerritorySerializer(serializers.ModelSerializer):
    class Meta:
        model = Territory
        fields = ["id", "name", "parent", "office_label", "office_latitude", "office_longitude"]
        read_only_fields = fields


class UserSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="get_full_name", read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "name", "role", "time_zone"]
        read_only_fields = fields


class ScheduleItemSerializer(VisitSerializer):
    customer_name = serializers.CharField(source="customer.name", read_only=True)

    class Meta(VisitSerializer.Meta):
        fields = [*VisitSerializer.Meta.fields, "customer_name"]
        read_only_fields = fields


class WhoToVisitSerializer(serializers.ModelSerializer):
    # crm.selectors.days_overdue, annotated by who_to_visit: 0 until due, never negative.
    days_overdue = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = Customer
        fields = ["id", "code", "name", "tier", "city", "next_visit_due", "days_overdue"]
        read_only_fields = fields


class UpsertResultSerializer(serializers.Serializer):
    """Rows written (created, updated) and every refused row with its index and field errors."""

    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    errors = serializers.ListField(child=serializers.DictField())


class InvoiceRowInput(serializers.Serializer):
    """One invoice of a batch; crm.upserts checks it."""

    number = serializers.CharField(max_length=64)
    customer_code = serializers.CharField(required=False, help_text="Or `customer`: Cadence's id.")
    customer = serializers.IntegerField(required=False)
    issued_on = serializers.DateField()
    due_on = serializers.DateField()
    paid_on = serializers.DateField(required=False, allow_null=True)
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    cost_of_goods = serializers.DecimalField(max_digits=14, decimal_places=2, required=False)
    discount = serializers.DecimalField(max_digits=14, decimal_places=2, required=False)
    currency = serializers.CharField(max_length=3, required=False)


class InvoiceBatchInput(serializers.Serializer):
    invoices = InvoiceRowInput(many=True)


class SupportCaseRowInput(serializers.Serializer):
    """One case of a batch; crm.upserts checks it."""

    external_id = serializers.CharField(max_length=64)
    customer_code = serializers.CharField(required=False, help_text="Or `customer`: Cadence's id.")
    customer = serializers.IntegerField(required=False)
    opened_on = serializers.DateField()
    kind = serializers.CharField(required=False)
    minutes = serializers.IntegerField()
    note = serializers.CharField(required=False, allow_blank=True)
    is_open = serializers.BooleanField(required=False)


class SupportCaseBatchInput(serializers.Serializer):
    support_cases = SupportCaseRowInput(many=True)


class SupportCaseInput(serializers.Serializer):
    """A case heard in the field, as the account page's form takes it."""

    customer = serializers.IntegerField()
    kind = serializers.CharField()
    note = serializers.CharField(required=False, allow_blank=True)
    minutes = serializers.IntegerField()
    opened_on = serializers.DateField()


class CheckInInput(serializers.Serializer):
    latitude = serializers.FloatField(required=False, allow_null=True)
    longitude = serializers.FloatField(required=False, allow_null=True)
    accuracy = serializers.FloatField(
        required=False,
        allow_null=True,
        min_value=0,
        help_text="The phone's reported accuracy of the position, in metres.",
    )
    at = serializers.DateTimeField(
        required=False, help_text="When it happened, for a check-in made offline (default: now)."
    )


class NoteInput(serializers.Serializer):
    text = serializers.CharField(max_length=2000)
    at = serializers.DateTimeField(required=False, help_text="When written (default: now).")


class RescheduleInput(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()


class CustomerChangesInput(serializers.Serializer):
    """Any of the fields the caller's role may change (others are refused with 403); `version`
    (the customer's updated_at as read) refuses a change made over a newer save with 409."""

    version = serializers.CharField(required=False)


class PlanInput(serializers.Serializer):
    """Documents the plan request; the plan form validates it."""

    client_uuid = serializers.UUIDField(
        required=False, help_text="Made by the client: the same UUID again returns this visit."
    )
    customer = serializers.IntegerField()
    kind = serializers.ChoiceField(
        choices=MEETING_KINDS,
        required=False,
        help_text="Default: on_site, or phone for a remote-served account and inside sales.",
    )
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    contacts = serializers.ListField(child=serializers.IntegerField(), required=False)
    purpose = serializers.CharField(required=False, allow_blank=True)
    travel_minutes = serializers.IntegerField(required=False)
    distance_km = serializers.DecimalField(max_digits=8, decimal_places=1, required=False)


class LogInput(serializers.Serializer):
    """Documents the log request; the log form validates it. Logging without a planned meeting
    (POST /visits/log/) also takes `customer` and `client_uuid`."""

    customer = serializers.IntegerField(required=False)
    client_uuid = serializers.UUIDField(required=False)
    plan_follow_up = serializers.BooleanField(
        required=False, help_text="Also plan the follow-up meeting on follow_up_on."
    )
    follow_up_time = serializers.TimeField(required=False, help_text="HH:MM, default 09:00.")
    kind = serializers.ChoiceField(choices=VisitKind.choices)
    visited_at = serializers.DateTimeField()
    duration_minutes = serializers.IntegerField()
    travel_minutes = serializers.IntegerField(required=False)
    distance_km = serializers.DecimalField(max_digits=8, decimal_places=1, required=False)
    expenses = serializers.DecimalField(max_digits=10, decimal_places=2, required=False)
    contacts = serializers.ListField(child=serializers.IntegerField(), required=False)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=MAX_TEXT_CHARS)
    outcome = serializers.ChoiceField(choices=Outcome.choices, required=False, allow_blank=True)
    next_step = serializers.CharField(required=False, allow_blank=True)
    follow_up_on = serializers.DateField(required=False)
    competitor = serializers.CharField(required=False, allow_blank=True)
    asks = AskInputSerializer(many=True, required=False, help_text="What the customer asked for.")


class CancelInput(serializers.Serializer):
    reason = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    """Every error: {"error": {"status", "message", "fields": {field: [messages]}}}."""

    error = serializers.DictField()
