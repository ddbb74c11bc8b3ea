from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import reswap, retarget

from accounts.models import Role
from accounts.permissions import role_required
from crm.forms import (
    AcknowledgeForm,
    ContactForm,
    CustomerFilterForm,
    CustomerForm,
    add_service_error,
)
from crm.health import flag_acknowledge
from crm.http import AlreadySubmitted, HtmxHttpRequest, acting_once
from crm.models import Contact, Customer
from crm.selectors import (
    cadence_days_for,
    customer_contacts,
    customer_edit_choices,
    customer_health,
    customer_invoices,
    customer_search,
    customer_support_cases,
    customer_timeline,
    customer_upcoming,
    customers_visible_to,
)
from crm.services import (
    StaleEdit,
    contact_make_primary,
    contact_save,
    customer_update,
    editable_customer_fields,
)

CUSTOMERS_PER_PAGE = 25
TIMELINE_PAGE_SIZE = 10
TAB_ROWS = 50
TABS = ("timeline", "invoices", "support", "contacts")


@require_GET
@vary_on_headers("HX-Request")
def customer_list(request: HtmxHttpRequest) -> HttpResponse:
    form = CustomerFilterForm(request.GET)
    customers = customer_search(request.user, today=timezone.localdate(), **form.filters())
    page = Paginator(customers, CUSTOMERS_PER_PAGE).get_page(request.GET.get("page"))
    query_without_page = request.GET.copy()
    query_without_page.pop("page", None)
    template = "crm/customer_list.html"
    if request.htmx and not request.htmx.boosted:
        template += "#results"
    return render(
        request,
        template,
        {
            "form": form,
            "page": page,
            "today": timezone.localdate(),
            "query_without_page": query_without_page.urlencode(),
        },
    )


def _visible_customer(request: HtmxHttpRequest, pk: int) -> Customer:
    return get_object_or_404(customers_visible_to(request.user), pk=pk)


def _tab_context(request: HtmxHttpRequest, customer: Customer, tab: str) -> dict:
    """Only the open tab's rows are read: a closed tab costs no query."""
    if tab == "timeline":
        visits = customer_timeline(request.user, customer, now=timezone.now())
        page = Paginator(visits, TIMELINE_PAGE_SIZE).get_page(request.GET.get("page"))
        return {"timeline": page}
    if tab == "invoices":
        return {"invoices": customer_invoices(customer)[:TAB_ROWS]}
    if tab == "support":
        return {"support_cases": customer_support_cases(customer)[:TAB_ROWS]}
    return {"contacts": customer_contacts(customer), "contact_form": ContactForm()}


def _header_context(request: HtmxHttpRequest, customer: Customer) -> dict:
    today = timezone.localdate()
    return {
        "customer": customer,
        "today": today,
        "cadence_days": cadence_days_for(customer),
        "is_overdue": customer.status == "active"
        and customer.next_visit_due is not None
        and customer.next_visit_due < today,
        **customer_health(customer),
        "can_acknowledge": request.user.is_manager or request.user.is_cadence_admin,
        "upcoming": customer_upcoming(request.user, customer, now=timezone.now())[:3],
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
                    context = {"tab": "timeline"} | _header_context(request, customer)
                    return render(request, "crm/customer_detail.html#header", context)
                return redirect(customer)
        customer.refresh_from_db()
    else:
        form = CustomerForm(instance=customer, **form_options)
    template = "crm/customer_edit.html#form" if request.htmx else "crm/customer_edit.html"
    return render(request, template, {"form": form, "customer": customer})


def _contacts_tab(request: HtmxHttpRequest, customer: Customer, contact_form=None) -> HttpResponse:
    if not request.htmx:
        return redirect(f"{customer.get_absolute_url()}?tab=contacts")
    context = {
        "customer": customer,
        "tab": "contacts",
        "contacts": customer_contacts(customer),
        "contact_form": contact_form or ContactForm(),
    }
    response = render(request, "crm/customer_detail.html#tab", context)
    return retarget(reswap(response, "outerHTML"), "#tab-content")


@require_http_methods(["GET", "POST"])
def contact_new(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    customer = _visible_customer(request, pk)
    form = ContactForm(request.POST or None, instance=Contact(customer=customer))
    if request.method == "POST":
        if form.is_valid():
            try:
                with acting_once(request):
                    contact_save(contact=form.instance)
            except AlreadySubmitted:
                messages.info(request, f"Contact {form.instance.name} already added.")
            else:
                messages.success(request, f"Contact {form.instance.name} added.")
            return _contacts_tab(request, customer)
        if request.htmx:
            return _contacts_tab(request, customer, contact_form=form)
    return render(request, "crm/contact_form.html", {"form": form, "customer": customer})


@require_http_methods(["GET", "POST"])
def contact_edit(request: HtmxHttpRequest, pk: int, contact_pk: int) -> HttpResponse:
    customer = _visible_customer(request, pk)
    contact = get_object_or_404(customer.contacts, pk=contact_pk)
    form = ContactForm(request.POST or None, instance=contact)
    if request.method == "POST" and form.is_valid():
        contact_save(contact=form.instance)
        messages.success(request, f"Contact {contact.name} saved.")
        return _contacts_tab(request, customer)
    template = "crm/contact_form.html#form" if request.htmx else "crm/contact_form.html"
    return render(request, template, {"form": form, "customer": customer, "contact": contact})


@require_POST
def contact_primary(request: HtmxHttpRequest, pk: int, contact_pk: int) -> HttpResponse:
    customer = _visible_customer(request, pk)
    contact = get_object_or_404(customer.contacts, pk=contact_pk)
    contact_make_primary(contact=contact)
    messages.success(request, f"{contact.name} is now the primary contact.")
    return _contacts_tab(request, customer)


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
