from django.contrib import admin

from crm.models import Contact, Customer, Invoice, SupportCase


class ContactInline(admin.TabularInline):
    model = Contact
    extra = 0


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "tier", "status", "territory", "owner", "city", "since")
    list_select_related = ("territory", "owner")
    list_filter = ("tier", "status", "territory")
    search_fields = ("name", "code", "city", "postal_code")
    autocomplete_fields = ("owner",)
    show_full_result_count = False
    inlines = [ContactInline]


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ("name", "customer", "title", "email", "phone", "is_primary")
    list_select_related = ("customer",)
    list_filter = ("is_primary",)
    search_fields = ("name", "email", "customer__name", "customer__code")
    autocomplete_fields = ("customer",)
    show_full_result_count = False


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = ("number", "customer", "issued_on", "due_on", "paid_on", "amount", "currency")
    list_select_related = ("customer",)
    list_filter = ("issued_on", "paid_on")
    search_fields = ("number", "customer__name", "customer__code")
    date_hierarchy = "issued_on"
    autocomplete_fields = ("customer",)
    show_full_result_count = False


@admin.register(SupportCase)
class SupportCaseAdmin(admin.ModelAdmin):
    list_display = ("customer", "opened_on", "kind", "minutes")
    list_select_related = ("customer",)
    list_filter = ("kind", "opened_on")
    search_fields = ("customer__name", "customer__code", "note")
    autocomplete_fields = ("customer",)
    show_full_result_count = False
