"""What the API answers. Writes are validated by the pages' own forms and done by the same
services (api.views), so the rules are the same whichever way a change comes in."""

from rest_framework import serializers

from crm.models import Customer
from visits.models import Visit


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
            "checked_in_at",
            "checked_out_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class PlanInput(serializers.Serializer):
    """Documents the plan request; the plan form validates it."""

    customer = serializers.IntegerField()
    kind = serializers.CharField(required=False)
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    contacts = serializers.ListField(child=serializers.IntegerField(), required=False)
    purpose = serializers.CharField(required=False, allow_blank=True)
    travel_minutes = serializers.IntegerField(required=False)
    distance_km = serializers.DecimalField(max_digits=8, decimal_places=1, required=False)


class LogInput(serializers.Serializer):
    """Documents the log request; the log form validates it."""

    kind = serializers.CharField()
    visited_at = serializers.DateTimeField()
    duration_minutes = serializers.IntegerField()
    travel_minutes = serializers.IntegerField(required=False)
    distance_km = serializers.DecimalField(max_digits=8, decimal_places=1, required=False)
    expenses = serializers.DecimalField(max_digits=10, decimal_places=2, required=False)
    contacts = serializers.ListField(child=serializers.IntegerField(), required=False)
    notes = serializers.CharField(required=False, allow_blank=True)
    outcome = serializers.CharField(required=False, allow_blank=True)
    next_step = serializers.CharField(required=False, allow_blank=True)
    follow_up_on = serializers.DateField(required=False)
    competitor = serializers.CharField(required=False, allow_blank=True)


class CancelInput(serializers.Serializer):
    reason = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    """Every error: {"error": {"status", "message", "fields": {field: [messages]}}}."""

    error = serializers.DictField()
