import datetime as dt

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from crm.http import HtmxHttpRequest
from crm.selectors import customer_with_last_visit, customers_visible_to
from visits.selectors import planned_visits_between

WEEK_ACCOUNTS_SHOWN = 10


@require_GET
def my_week(request: HtmxHttpRequest) -> HttpResponse:
    """The salesperson's home: planned meetings of the next seven days, and their accounts."""
    today = timezone.localdate()
    start = timezone.make_aware(dt.datetime.combine(today, dt.time.min))
    visits = list(
        planned_visits_between(request.user, start=start, end=start + dt.timedelta(days=7))
    )
    days = [
        (day, [v for v in visits if timezone.localdate(v.scheduled_start) == day])
        for day in (today + dt.timedelta(days=offset) for offset in range(7))
    ]
    accounts = customer_with_last_visit(
        customers_visible_to(request.user).filter(owner=request.user)
    )
    return render(
        request,
        "visits/my_week.html",
        {
            "days": days,
            "accounts": accounts.order_by("name", "id")[:WEEK_ACCOUNTS_SHOWN],
            "account_count": accounts.count(),
        },
    )
