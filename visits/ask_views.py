"""The asks pages: the list (/asks/), recording one on an account, answering, and a quote's
outcome. Thin: the rules are in visits.ask_services, the reads in visits.ask_selectors."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.forms import add_service_error
from core.http import AlreadySubmitted, HtmxHttpRequest, acting_once
from core.pagination import CappedPaginator
from core.params import query_id
from crm.selectors import customers_visible_to
from visits.ask_selectors import ask_owner_choices, asks_list, asks_visible_to
from visits.ask_services import ask_answer, ask_decide, asks_record
from visits.forms import AnswerForm, AskFilterForm, AskForm, DecideForm
from visits.models import AskAnswerKind

ASKS_PER_PAGE = 50


@require_GET
def asks(request: HtmxHttpRequest) -> HttpResponse:
    today = timezone.localdate()
    form = AskFilterForm(request.GET)
    rows = asks_list(request.user, today=today, **form.filters())
    page = CappedPaginator(rows, ASKS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "today": today, "query": query.urlencode()}
    template = "visits/asks.html#results" if request.htmx else "visits/asks.html"
    return render(request, template, context)


@require_http_methods(["GET", "POST"])
def ask_new(request: HtmxHttpRequest) -> HttpResponse:
    """Record what a customer asked for outside a visit (a call, an e-mail)."""
    customer_id = query_id(request.POST.get("customer") or request.GET.get("customer"))
    customer = get_object_or_404(customers_visible_to(request.user), pk=customer_id or 0)
    form = AskForm(request.POST or None, owners=ask_owner_choices(customer))
    if request.method == "POST" and form.is_valid():
        if (given := form.ask()) is None:
            form.add_error("text", "Say what the customer asked for.")
        else:
            try:
                with acting_once(request):
                    asks_record(user=request.user, customer=customer, asks=[given])
            except AlreadySubmitted:
                return redirect(customer.get_absolute_url())
            except ValidationError as error:
                add_service_error(form, error)
            else:
                messages.success(request, f"Ask recorded for {customer.name}.")
                return redirect(f"{customer.get_absolute_url()}?tab=asks")
    return render(request, "visits/ask_new.html", {"form": form, "customer": customer})


@require_http_methods(["GET", "POST"])
def answer(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    ask = get_object_or_404(asks_visible_to(request.user), pk=pk)
    form = AnswerForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            ask_answer(
                ask=ask,
                user=request.user,
                answer_kind=data["answer_kind"],
                answer=data["answer"],
                value=data["value"],
            )
        except PermissionDenied as error:
            form.add_error(None, str(error))
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"Answered: {ask.text}")
            return redirect("asks:list")
    context = {
        "ask": ask,
        "form": form,
        "decide": DecideForm() if ask.answer_kind == AskAnswerKind.PROPOSAL else None,
    }
    return render(request, "visits/ask_answer.html", context)


@require_POST
def decide(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    ask = get_object_or_404(asks_visible_to(request.user), pk=pk)
    form = DecideForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            ask_decide(
                ask=ask,
                user=request.user,
                outcome=data["outcome"],
                reason=data["outcome_reason"],
                competitor=data["competitor"],
            )
        except PermissionDenied as error:
            form.add_error(None, str(error))
        except ValidationError as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"Quote {data['outcome']}: {ask.text}")
            return redirect(ask.customer.get_absolute_url() + "?tab=asks")
    return render(
        request,
        "visits/ask_answer.html",
        {"ask": ask, "form": AnswerForm(), "decide": form},
        status=400,
    )
