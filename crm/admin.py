from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from crm.models import (
    CadencePolicy,
    Competitor,
    Contact,
    Customer,
    ExchangeRate,
    Invoice,
    Partner,
    ServiceCadence,
    SupportCase,
)
from crm.services import (
    cadence_policy_delete,
    cadence_policy_save,
    contact_delete,
    contact_save,
    customer_admin_save,
    customers_delete,
    exchange_rate_on,
    invoice_delete,
    invoice_save,
    partner_save,
    service_cadence_delete,
    service_cadence_save,
    support_case_delete,
    support_case_save,
)


class ContactInlineForm(forms.ModelForm):
    """Skips the one-primary check: `contact_save` demotes the previous primary, so an admin can
    tick a new primary in one step, as on the contact pages."""

    def validate_constraints(self):
        try:
            self.instance.validate_constraints(
                exclude=self._get_validation_exclusions() | {"is_primary"}
            )
        except ValidationError as error:
            self._update_errors(error)


class ContactInline(admin.TabularInline):
    model = Contact
    form = ContactInlineForm
    extra = 0


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "code",
        "tier",
        "status",
        "service_model",
        "territory",
        "owner",
        "city",
        "since",
    )
    list_select_related = ("territory", "owner")
    # "Location: none" with the geocoding error column: the addresses geocoding could not place.
    list_filter = ("tier", "status", "service_model", "location_source", "territory")
    readonly_fields = ("geocode_attempts", "geocode_error")
    search_fields = ("name", "code", "city", "postal_code")
    autocomplete_fields = ("owner",)
    show_full_result_count = False
    inlines = [ContactInline]

    def save_model(self, request, obj, form, change):
        customer_admin_save(customer=obj)

    def delete_model(self, request, obj):
        customers_delete(customer_ids=[obj.pk])

    def delete_queryset(self, request, queryset):
        customers_delete(customer_ids=list(queryset.values_list("pk", flat=True)))

    def save_formset(self, request, form, formset, change):
        # The contacts inline: each contact through the service, like the contact pages.
        for contact in formset.save(commit=False):
            contact_save(contact=contact)
        for contact in formset.deleted_objects:
            contact_delete(contact=contact)
        formset.save_m2m()


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ("name", "customer", "title", "email", "phone", "is_primary")
    list_select_related = ("customer",)
    list_filter = ("is_primary",)
    search_fields = ("name", "email", "customer__name", "customer__code")
    autocomplete_fields = ("customer",)
    show_full_result_count = False

    def save_model(self, request, obj, form, change):
        # Through the service: making one contact primary demotes the customer's other one.
        contact_save(contact=obj)

    def delete_model(self, request, obj):
        contact_delete(contact=obj)

    def delete_queryset(self, request, queryset):
        for contact in queryset.select_related("customer"):
            contact_delete(contact=contact)


class InvoiceAdminForm(forms.ModelForm):
    """Says so by the field when the invoice's currency has no rate for its date (the service
    would refuse it; the admin must not answer 500)."""

    class Meta:
        model = Invoice
        fields = [
            "customer",
            "number",
            "issued_on",
            "due_on",
            "paid_on",
            "amount",
            "cost_of_goods",
            "discount",
            "currency",
        ]

    def clean(self):
        cleaned = super().clean()
        currency, issued_on = cleaned.get("currency"), cleaned.get("issued_on")
        if currency and issued_on and exchange_rate_on(currency=currency, day=issued_on) is None:
            self.add_error(
                "currency", f"No exchange rate for {currency.upper()} on or before {issued_on}."
            )
        return cleaned


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    form = InvoiceAdminForm
    list_display = (
        "number",
        "customer",
        "issued_on",
        "due_on",
        "paid_on",
        "amount",
        "currency",
        "exchange_rate",
    )
    list_select_related = ("customer",)
    list_filter = ("issued_on", "paid_on")
    search_fields = ("number", "customer__name", "customer__code")
    date_hierarchy = "issued_on"
    autocomplete_fields = ("customer",)
    show_full_result_count = False

    def save_model(self, request, obj, form, change):
        invoice_save(invoice=obj)

    def delete_model(self, request, obj):
        invoice_delete(invoice=obj)

    def delete_queryset(self, request, queryset):
        for invoice in queryset:
            invoice_delete(invoice=invoice)


@admin.register(SupportCase)
class SupportCaseAdmin(admin.ModelAdmin):
    list_display = ("customer", "opened_on", "kind", "minutes")
    list_select_related = ("customer",)
    list_filter = ("kind", "opened_on")
    search_fields = ("customer__name", "customer__code", "note")
    autocomplete_fields = ("customer",)
    show_full_result_count = False

    def save_model(self, request, obj, form, change):
        support_case_save(case=obj)

    def delete_model(self, request, obj):
        support_case_delete(case=obj)

    def delete_queryset(self, request, queryset):
        for case in queryset:
            support_case_delete(case=case)


@admin.register(CadencePolicy)
class CadencePolicyAdmin(admin.ModelAdmin):
    """A tier's new cadence moves its customers' due dates and neglect flags (the service)."""

    list_display = ("tier", "days")
    list_editable = ("days",)

    def save_model(self, request, obj, form, change):
        cadence_policy_save(policy=obj)

    def delete_model(self, request, obj):
        cadence_policy_delete(policy=obj)

    def delete_queryset(self, request, queryset):
        for policy in queryset:
            cadence_policy_delete(policy=policy)


@admin.register(ServiceCadence)
class ServiceCadenceAdmin(admin.ModelAdmin):
    """How often remote and inside-sales accounts are called; a change moves their due dates."""

    list_display = ("service_model", "days", "kind")

    def save_model(self, request, obj, form, change):
        service_cadence_save(cadence=obj)

    def delete_model(self, request, obj):
        service_cadence_delete(cadence=obj)

    def delete_queryset(self, request, queryset):
        for cadence in queryset:
            service_cadence_delete(cadence=cadence)


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    """Partners that serve accounts; their terms are part of those accounts' cost to serve.
    A partner still serving accounts cannot be deleted (hand the accounts back first)."""

    list_display = ("name", "contact_name", "email", "phone", "commission_percent", "fee_per_order")
    search_fields = ("name", "contact_name", "email")

    def save_model(self, request, obj, form, change):
        partner_save(partner=obj)


@admin.register(ExchangeRate)
class ExchangeRateAdmin(admin.ModelAdmin):
    list_display = ("currency", "on_date", "rate")
    list_filter = ("currency",)
    date_hierarchy = "on_date"


@admin.register(Competitor)
class CompetitorAdmin(admin.ModelAdmin):
    """The competitors the visit form suggests and the competitor report counts."""

    list_display = ("name", "aliases")
    search_fields = ("name", "aliases")
