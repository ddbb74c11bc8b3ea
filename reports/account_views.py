"""The account page: one customer's header (dates, health, flags, next meetings) and its tabs
(timeline, invoices, support, contacts, asks), for every role. It lives above health because it
shows the account's figures and flags beside the crm and visits data."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from accounts.models import Role
from accounts.permissions import role_required
from core.forms import add_service_error
from core.http import HtmxHttpRequest
from crm.cadence import cadence_days_for
from crm.forms import ContactForm, CustomerForm
from crm.models import Customer
from crm.selectors import (
    customer_contacts,
    customer_edit_choices,
    customer_invoices,
    customer_support_cases,
    customer_visible_or_404,
)
from crm.services import StaleEdit, customer_update, editable_customer_fields
from health.selectors import consistency_by_month, customer_health
from health.services import flag_acknowledge
from reports.forms import AcknowledgeForm
from visits.ask_selectors import customer_asks
from visits.selectors import customer_rhythm, customer_timeline, customer_upcoming

TIMELINE_PAGE_SIZE = 10
TAB_ROWS = 50
TABS = ("timeline", "invoices", "support", "contacts", "asks")


def _visible_customer(request: HtmxHttpRequest, pk: int) -> Customer:
    return customer_visible_or_404(request.user, pk, today=timezone.localdate())


def _tab_context(request: HtmxHttpRequest, customer: Customer, tab: str) -> dict:
    """Only the open tab's rows are read: a closed tab costs no query."""
    if tab == "timeline":
        visits = customer_timeline(request.user, customer, now=timezone.now())
        page = Paginator(visits, TIMELINE_PAGE_SIZE).get_page(request.GET.get("page"))
        return {"timeline": page}
    if tab == "invoices":
        return {"invoices": customer_invoices(customer, today=timezone.localdate())[:TAB_ROWS]}
    if tab == "support":
        return {"support_cases": customer_support_cases(customer)[:TAB_ROWS]}
    if tab == "asks":
        return {"asks": customer_asks(customer)[:TAB_ROWS]}
    return {"contacts": customer_contacts(customer), "contact_form": ContactForm()}


def _header_context(request: HtmxHttpRequest, customer: Customer) -> dict:
    today = timezone.localdate()
    return {
        "customer": customer,
        "today": today,
        "cadence_days": cadence_days_for(customer),
        "is_overdue": customer.is_overdue,
        **customer_health(customer),
        "consistency_trend": consistency_by_month([customer.pk], today=today),
        "can_acknowledge": request.user.is_manager or request.user.is_cadence_admin,
        "upcoming": customer_upcoming(request.user, customer, now=timezone.now())[:3],
        "rhythm": customer_rhythm(customer),
        "can_edit_account": bool(editable_customer_fields(request.user)),
    }


@require_GET
@vary_on_headers("HX-Request", "HX-Target")
def customer_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    customer = _visible_customer(request, pk)
    tab = request.GET.get("tab") if request.GET.get("tab") in TABS else "timeline"
    context = {"tab": tab, "customer": customer, "today": timezone.localdate()}
    partial = {"tab-content": "tab", "timeline-more": "timeline_rows", "account-header": "header"}
    target = request.htmx.target if request.htmx else None
    if target != "tab-content" and target != "timeline-more":
        context |= _header_context(request, customer)
    if target != "account-header":
        context |= _tab_context(request, customer, tab)
    template = "crm/customer_detail.html"
    if target in partial:
        template += "#" + partial[target]
    return render(request, template, context)


@require_http_methods(["GET", "POST"])
def customer_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    customer = _visible_customer(request, pk)
    form_options = {
        "editable": editable_customer_fields(request.user),
        **customer_edit_choices(request.user),
    }
    if request.method == "POST":
        form = CustomerForm(request.POST, instance=customer, **form_options)
        if form.is_valid():
            try:
                customer_update(
                    customer=customer,
                    user=request.user,
                    changes=form.changes(),
                    seen_version=form.seen_version(),
                )
            except StaleEdit as error:
                form = form.reopened(_visible_customer(request, pk))
                form.is_valid()
                form.add_error(None, error)
            except ValidationError as error:
                add_service_error(form, error)
            except PermissionDenied as error:
                form.add_error(None, str(error))
            else:
                messages.success(request, "Account saved.")
                if request.htmx:
                    # Read again: the edit may have moved the due date, and with it `is_overdue`.
                    saved = _visible_customer(request, pk)
                    context = {"tab": "timeline"} | _header_context(request, saved)
                    return render(request, "crm/customer_detail.html#header", context)
                return redirect(customer)
        customer.refresh_from_db()
    else:
        form = CustomerForm(instance=customer, **form_options)
    template = "crm/customer_edit.html#form" if request.htmx else "crm/customer_edit.html"
    return render(request, template, {"form": form, "customer": customer})


@require_POST
@role_required(Role.MANAGER, Role.ADMIN)
def flag_acknowledge_view(request: HtmxHttpRequest, pk: int, flag_pk: int) -> HttpResponse:
    customer = _visible_customer(request, pk)
    flag = get_object_or_404(customer.flags.filter(resolved_at__isnull=True), pk=flag_pk)
    form = AcknowledgeForm(request.POST)
    if form.is_valid():
        try:
            flag_acknowledge(
                flag=flag,
                user=request.user,
                reason=form.cleaned_data["reason"],
                until=form.cleaned_data["until"],
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, f"{flag.get_kind_display()} flag acknowledged.")
    else:
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))
    if request.htmx:
        context = {"tab": "timeline"} | _header_context(request, customer)
        return render(request, "crm/customer_detail.html#header", context)
    return redirect(customer)
