from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from crm.forms import CustomerFilterForm
from crm.http import HtmxHttpRequest
from crm.selectors import (
    customer_detail_context,
    customer_search,
    customer_with_last_visit,
    customers_visible_to,
)

CUSTOMERS_PER_PAGE = 25


@require_GET
@vary_on_headers("HX-Request")
def customer_list(request: HtmxHttpRequest) -> HttpResponse:
    form = CustomerFilterForm(request.GET)
    filters = form.filters()
    customers = customer_search(
        request.user,
        query=filters.get("q", ""),
        tier=filters.get("tier", ""),
        status=filters.get("status", ""),
    )
    page = Paginator(customer_with_last_visit(customers), CUSTOMERS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    query_without_page = request.GET.copy()
    query_without_page.pop("page", None)
    template = "crm/customer_list.html"
    if request.htmx and not request.htmx.boosted:
        template += "#results"
    return render(
        request,
        template,
        {"form": form, "page": page, "query_without_page": query_without_page.urlencode()},
    )


@require_GET
def customer_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    customer = get_object_or_404(customers_visible_to(request.user), pk=pk)
    context = customer_detail_context(request.user, customer, today=timezone.localdate())
    return render(request, "crm/customer_detail.html", context)
