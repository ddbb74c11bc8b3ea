from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import reswap, retarget

from accounts.models import User
from core.forms import add_service_error
from core.http import AlreadySubmitted, HtmxHttpRequest, acting_once
from core.pagination import CappedPaginator
from crm.forms import ContactForm, CustomerFilterForm, MapViewForm, SupportCaseForm
from crm.models import Contact, Customer, SupportCaseKind
from crm.selectors import (
    MAP_STATES,
    customer_contacts,
    customer_map_shown,
    customer_search,
    customer_visible_or_404,
)
from crm.services import (
    contact_make_primary,
    contact_save,
    support_case_close,
    support_case_report,
)

CUSTOMERS_PER_PAGE = 25


@require_GET
@vary_on_headers("HX-Request")
def customer_list(request: HtmxHttpRequest) -> HttpResponse:
    form = CustomerFilterForm(request.GET)
    customers = customer_search(request.user, today=timezone.localdate(), **form.filters())
    page = CappedPaginator(customers, CUSTOMERS_PER_PAGE).get_page(request.GET.get("page"))
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
    return customer_visible_or_404(request.user, pk, today=timezone.localdate())


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


@require_http_methods(["GET", "POST"])
def support_case_new(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Log a case or complaint heard in the field (anyone who sees the account)."""
    customer = _visible_customer(request, pk)
    form = SupportCaseForm(
        request.POST or None,
        initial={"opened_on": timezone.localdate(), "kind": SupportCaseKind.COMPLAINT},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with acting_once(request):
                support_case_report(
                    customer=customer,
                    user=request.user,
                    kind=data["kind"],
                    note=data["note"],
                    minutes=data["minutes"],
                    opened_on=data["opened_on"],
                )
        except AlreadySubmitted:
            messages.info(request, "Case already logged.")
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"Case logged for {customer.name}.")
        if not form.errors:
            return redirect(f"{customer.get_absolute_url()}?tab=support")
    return render(request, "crm/support_case_form.html", {"form": form, "customer": customer})


@require_POST
def support_case_close_view(request: HtmxHttpRequest, pk: int, case_pk: int) -> HttpResponse:
    customer = _visible_customer(request, pk)
    case = get_object_or_404(customer.support_cases, pk=case_pk)
    support_case_close(case=case)
    messages.success(request, "Case closed.")
    return redirect(f"{customer.get_absolute_url()}?tab=support")


@require_GET
def customer_map(request: HtmxHttpRequest) -> HttpResponse:
    """The accounts on a map, with the account list's filters; the points come from
    customer_map_data (same query string)."""
    form = CustomerFilterForm(request.GET)
    form.filters()
    return render(
        request,
        "crm/customer_map.html",
        {
            "form": form,
            "query": request.GET.urlencode(),
            "tiles": settings.CADENCE_MAP_TILES,
            "attribution": settings.CADENCE_MAP_ATTRIBUTION,
            "by_rep": not request.user.serves_accounts,
        },
    )


@require_GET
def customer_map_data(request: HtmxHttpRequest) -> JsonResponse:
    """The map's accounts (crm.selectors.customer_map_shown), scoped and filtered like the account
    list, for the view on screen when one is given, as compact arrays."""
    view_form = MapViewForm(request.GET)
    if not view_form.is_valid():
        return JsonResponse({"errors": view_form.errors.get_json_data()}, status=400)
    today = timezone.localdate()
    filters = CustomerFilterForm(request.GET).filters()
    shown = customer_map_shown(
        customer_search(request.user, today=today, **filters), today=today, view=view_form.view()
    )
    owners = {owner for *_, owner, _ in shown["points"] if owner}
    names = dict(User.objects.filter(pk__in=owners).values_list("pk", "username")) if owners else {}
    return JsonResponse(
        {
            "states": MAP_STATES,
            "total": shown["total"],
            "extent": shown["extent"],
            "owners": {str(pk): name for pk, name in names.items()},
            "clusters": shown["clusters"],
            "points": [
                [pk, round(lat, 5), round(lng, 5), state, owner, name]
                for pk, lat, lng, state, owner, name in shown["points"]
            ],
        }
    )
