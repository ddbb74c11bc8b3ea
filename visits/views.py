"""The salesperson's day: schedule, planning, logging, and the calendar feed.

Forms open in the page's #panel region when htmx is on; a successful save answers with the
flash messages for the panel and the `visits-changed` event, on which the agenda, the "who to
visit" list and the account page regions reload themselves. Without JavaScript every form is a
page of its own and a save redirects back.
"""

import datetime as dt
import hashlib
import math

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.db.models import Count, Window
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import trigger_client_event

from accounts.services import calendar_token_regenerate
from core.cache import SCHEDULE_CACHE_SECONDS, schedule_generation
from core.forms import add_service_error
from core.http import AlreadySubmitted, HtmxHttpRequest, acting_once
from core.params import query_date, query_id, query_text
from core.ratelimit import client_ip, over_limit
from crm.models import Customer
from crm.selectors import customer_search, customers_visible_to
from visits.ask_selectors import asks_due_for, open_asks_of
from visits.calendar import calendar_feed
from visits.forms import (
    MEETING_LENGTH,
    MEETING_START,
    CancelForm,
    LogForm,
    PlanForm,
    RescheduleForm,
)
from visits.models import ON_SITE_METRES, Visit, VisitStatus
from visits.rhythms import pattern_describe, series_cancel_following, series_move_following
from visits.selectors import (
    agenda,
    agenda_day_counts,
    cadence_gaps_ahead,
    feed_follow_ups,
    feed_series,
    feed_user,
    feed_visits,
    visits_editable_by,
    visits_visible_to,
    who_to_visit,
)
from visits.services import (
    ScheduleResult,
    check_in_may_locate,
    customer_locate_from_check_in,
    visit_cancel,
    visit_check_in,
    visit_check_out,
    visit_log,
    visit_reschedule,
    visit_schedule,
)

VISITS_CHANGED = "visits-changed"
WHO_TO_VISIT_SHOWN = 15
ASKS_DUE_SHOWN = 10
GAPS_SHOWN = 7
# A day never lists more meetings than this; the rest are behind a "more" link to the day view.
AGENDA_PER_DAY = {"week": 12, "day": 60}
PICKER_RESULTS = 8
# The services name a meeting's times as the model does; the forms call them start and end.
MEETING_FIELDS = {"scheduled_start": "start", "scheduled_end": "end"}


def _week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def _day_bounds(first: dt.date, days: int) -> tuple[dt.datetime, dt.datetime]:
    start = timezone.make_aware(dt.datetime.combine(first, dt.time.min))
    end = timezone.make_aware(dt.datetime.combine(first + dt.timedelta(days=days), dt.time.min))
    return start, end


def _back_to(request: HtmxHttpRequest, default: str) -> str:
    """Where a plain (non-htmx) form goes after saving: ?next= if it is ours, else default."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default


def _saved(request: HtmxHttpRequest, default_next: str) -> HttpResponse:
    if request.htmx:
        response = render(request, "base.html#messages")
        return trigger_client_event(response, VISITS_CHANGED)
    return redirect(_back_to(request, default_next))


def _announce(request: HtmxHttpRequest, result: ScheduleResult, done: str) -> None:
    """Confirm a planned or moved meeting, warning about each meeting it overlaps."""
    visit = result.visit
    messages.success(
        request,
        f"Meeting with {visit.customer.name} {done} "
        f"{timezone.localtime(visit.scheduled_start):%a %d %b %H:%M}.",
    )
    for other in result.overlaps:
        messages.warning(
            request,
            f"It overlaps your meeting with {other.customer.name} at "
            f"{timezone.localtime(other.scheduled_start):%H:%M}.",
        )


def _form_response(request, template: str, context: dict) -> HttpResponse:
    return render(request, f"{template}#form" if request.htmx else template, context)


@require_GET
@vary_on_headers("HX-Request", "HX-Target")
def schedule(request: HtmxHttpRequest) -> HttpResponse:
    """The salesperson's home: the week (or a day) of meetings and who to visit next."""
    today = timezone.localdate()
    view = "day" if request.GET.get("view") == "day" else "week"
    chosen = query_date(request.GET.get("date")) or today
    first = chosen if view == "day" else _week_start(chosen)
    span = 1 if view == "day" else 7
    start, end = _day_bounds(first, span)
    per_day = AGENDA_PER_DAY[view]

    def days() -> list[tuple]:
        visits = list(agenda(request.user, start=start, end=end, per_day=per_day))
        counts = agenda_day_counts(request.user, start=start, end=end)
        listed = []
        for day in (first + dt.timedelta(days=offset) for offset in range(span)):
            shown = [v for v in visits if timezone.localdate(v.moment) == day]
            listed.append((day, shown, counts.get(day, 0) - len(shown)))
        return listed

    def candidates():
        return who_to_visit(request.user, today=today)

    step = dt.timedelta(days=span)
    # The meetings and the who-to-visit list are cached fragments of the template (keyed by the
    # user's schedule generation): `days` and who to visit are lazy objects, evaluated only
    # when the template renders those fragments, so a cached page runs none of their queries
    # (not even the one reading the territories that scope them).
    context = {
        "view": view,
        "days": SimpleLazyObject(days),
        "today": today,
        "first": first,
        "previous": first - step,
        "next": first + step,
        "who_to_visit": SimpleLazyObject(lambda: list(candidates()[:WHO_TO_VISIT_SHOWN])),
        "who_to_visit_count": SimpleLazyObject(lambda: candidates().count()),
        # Each row carries the whole count (a window): one query however many there are.
        "gaps_ahead": SimpleLazyObject(
            lambda: list(
                cadence_gaps_ahead(request.user, today=today).annotate(total=Window(Count("id")))[
                    :GAPS_SHOWN
                ]
            )
        ),
        "asks_due": SimpleLazyObject(
            lambda: list(asks_due_for(request.user, today=today)[:ASKS_DUE_SHOWN])
        ),
        "generation": schedule_generation(request.user.pk),
        "cache_seconds": SCHEDULE_CACHE_SECONDS,
        "tz": timezone.get_current_timezone_name(),
    }
    template = "visits/schedule.html"
    if request.htmx and request.htmx.target in ("agenda", "who-to-visit"):
        template += "#agenda" if request.htmx.target == "agenda" else "#who_to_visit"
    return render(request, template, context)


CALLS_AHEAD_DAYS = 7
CALLS_SHOWN = 50


@require_GET
@vary_on_headers("HX-Request")
def calls(request: HtmxHttpRequest) -> HttpResponse:
    """Inside sales' home (anyone may use it): who to call, by the same rules as who to visit,
    and the calls planned for the coming week."""
    today = timezone.localdate()
    start, end = _day_bounds(today, CALLS_AHEAD_DAYS)
    due = who_to_visit(request.user, today=today)
    context = {
        "today": today,
        "due": list(due[:CALLS_SHOWN]),
        "due_count": due.count(),
        "planned": list(
            agenda(request.user, start=start, end=end, per_day=AGENDA_PER_DAY["day"]).filter(
                status=VisitStatus.PLANNED
            )
        ),
    }
    template = "visits/calls.html#call_list" if request.htmx else "visits/calls.html"
    return render(request, template, context)


@require_http_methods(["GET", "POST"])
def plan(request: HtmxHttpRequest) -> HttpResponse:
    customers = customers_visible_to(request.user)
    if request.method == "POST":
        form = PlanForm(request.POST, customers=customers, user=request.user)
        if form.is_valid():
            data = form.cleaned_data
            try:
                with acting_once(request):
                    result = visit_schedule(
                        user=request.user,
                        customer=data["customer"],
                        kind=data["kind"],
                        start=data["start"],
                        end=data["end"],
                        contacts=list(data["contacts"]),
                        purpose=data["purpose"],
                        **form.travel(),
                    )
            except AlreadySubmitted:
                messages.info(request, f"Meeting with {data['customer'].name} already planned.")
                return _saved(request, reverse("visits:schedule"))
            except ValidationError as error:
                add_service_error(form, error, MEETING_FIELDS)
            else:
                _announce(request, result, "planned for")
                return _saved(request, reverse("visits:schedule"))
    else:
        form = PlanForm(
            initial=_plan_initial(request, customers), customers=customers, user=request.user
        )
    return _form_response(
        request,
        "visits/plan.html",
        {"form": form, "customer": form.chosen_customer(), "next": _back_to(request, "")},
    )


def _plan_initial(request: HtmxHttpRequest, customers) -> dict:
    """Prefill from the query string: ?customer=<id>&date=YYYY-MM-DD (9:00 to 10:00 that day)."""
    initial = {}
    if request.GET.get("customer"):
        # Like every other page, a customer the user may not see is a 404, not a blank form.
        initial["customer"] = get_object_or_404(
            customers, pk=query_id(request.GET["customer"]) or 0
        )
    day = query_date(request.GET.get("date")) or timezone.localdate() + dt.timedelta(days=1)
    start = timezone.make_aware(dt.datetime.combine(day, MEETING_START))
    initial["start"], initial["end"] = start, start + MEETING_LENGTH
    # "Near me" sends the estimated drive from where the rep stood; the form checks its bounds.
    for name in ("travel_minutes", "distance_km"):
        if request.GET.get(name):
            initial[name] = query_text(request.GET[name], max_length=10)
    return initial


@require_GET
def plan_customer_options(request: HtmxHttpRequest) -> HttpResponse:
    """Search-as-you-type for the plan form: visible customers only."""
    query = query_text(request.GET.get("q"))
    matches = (
        customer_search(request.user, today=timezone.localdate(), query=query)[:PICKER_RESULTS]
        if query
        else Customer.objects.none()
    )
    chosen = query_id(request.GET.get("customer"))
    if chosen and query and all(match.pk != chosen for match in matches):
        # The customer already chosen stays on the list (and checked) whatever the search.
        kept = customers_visible_to(request.user).filter(pk=chosen).first()
        matches = [kept, *matches] if kept else matches
    # The log form's choices open in the panel only where the form itself is in one.
    context = {
        "matches": matches,
        "query": query,
        "chosen": chosen,
        "in_panel": request.GET.get("panel") == "1",
    }
    if request.GET.get("for") == "log":
        return render(request, "visits/log.html#customer_choices", context)
    return render(request, "visits/plan.html#customer_options", context)


@require_GET
def plan_contact_options(request: HtmxHttpRequest) -> HttpResponse:
    """The chosen customer's contacts as checkboxes, for the plan form."""
    form = PlanForm(
        {"customer": request.GET.get("customer", "")},
        customers=customers_visible_to(request.user),
        user=request.user,
    )
    if form.chosen_customer() is None:
        raise Http404("No such customer.")
    return render(request, "visits/plan.html#contact_options", {"form": form})


def _editable_visit(request: HtmxHttpRequest, pk: int) -> Visit:
    return get_object_or_404(visits_editable_by(request.user), pk=pk)


@require_GET
def visit_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    visit = get_object_or_404(
        visits_visible_to(request.user).prefetch_related("contacts", "asks"), pk=pk
    )
    editable = visits_editable_by(request.user).filter(pk=pk).exists()
    return render(
        request,
        "visits/visit_detail.html",
        {
            "visit": visit,
            "editable": editable,
            "may_locate": editable and check_in_may_locate(visit),
            # A meeting still to hold shows what the customer is waiting on.
            "open_asks": open_asks_of([visit.customer_id]).get(visit.customer_id, [])
            if visit.is_planned
            else [],
            "today": timezone.localdate(),
        },
    )


@require_http_methods(["GET", "POST"])
def reschedule(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    visit = _editable_visit(request, pk)
    if request.method == "POST":
        form = RescheduleForm(request.POST)
        if form.is_valid():
            following = visit.series_id and form.cleaned_data["scope"] == "following"
            try:
                if following:
                    moved = series_move_following(visit=visit, start=form.cleaned_data["start"])
                else:
                    result = visit_reschedule(
                        visit=visit, start=form.cleaned_data["start"], end=form.cleaned_data["end"]
                    )
            except ValidationError as error:
                add_service_error(form, error, MEETING_FIELDS)
            else:
                if following:
                    messages.success(
                        request,
                        f"{moved.count} meetings with {visit.customer.name} moved: "
                        f"{pattern_describe(moved)}.",
                    )
                else:
                    _announce(request, result, "moved to")
                return _saved(request, reverse("visits:schedule"))
    else:
        form = RescheduleForm(initial={"start": visit.scheduled_start, "end": visit.scheduled_end})
    return _form_response(
        request,
        "visits/reschedule.html",
        {"form": form, "visit": visit, "next": _back_to(request, "")},
    )


@require_http_methods(["GET", "POST"])
def cancel(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    visit = _editable_visit(request, pk)
    form = CancelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        reason = form.cleaned_data["reason"]
        try:
            if visit.series_id and form.cleaned_data["scope"] == "following":
                cancelled = series_cancel_following(visit=visit, reason=reason)
            else:
                cancelled = visit_cancel(visit=visit, reason=reason) and 1
        except ValidationError as error:
            add_service_error(form, error, {"cancel_reason": "reason"})
        else:
            messages.success(
                request,
                f"Meeting with {visit.customer.name} cancelled."
                if cancelled == 1
                else f"{cancelled} meetings with {visit.customer.name} cancelled.",
            )
            return _saved(request, reverse("visits:schedule"))
    return _form_response(
        request, "visits/cancel.html", {"form": form, "visit": visit, "next": _back_to(request, "")}
    )


@require_http_methods(["GET", "POST"])
def log(request: HtmxHttpRequest, pk: int | None = None) -> HttpResponse:
    """Log a visit: closing planned meeting `pk`, or ad hoc for ?customer=<id>."""
    planned = _editable_visit(request, pk) if pk is not None else None
    if planned is not None and planned.status != VisitStatus.PLANNED and request.method == "GET":
        # A link to a meeting since logged or cancelled (an old tab, a second device).
        messages.info(
            request,
            f"This visit is {planned.get_status_display().lower()} already: nothing to log.",
        )
        return redirect("visits:detail", pk=planned.pk)
    if planned is not None:
        customer = planned.customer
    else:
        customer_id = query_id(request.POST.get("customer") or request.GET.get("customer"))
        if customer_id is None:
            return _form_response(request, "visits/log.html", {"choose_customer": True})
        customer = get_object_or_404(customers_visible_to(request.user), pk=customer_id)
    blank_visit = Visit(customer=customer, salesperson=request.user, status=VisitStatus.DONE)
    if request.method == "POST":
        form = LogForm(request.POST, instance=blank_visit, customer=customer, user=request.user)
        if form.is_valid():
            try:
                with acting_once(request):
                    result = visit_log(
                        user=request.user,
                        customer=customer,
                        visit=planned,
                        **form.service_arguments(),
                    )
            except AlreadySubmitted:
                messages.info(request, f"Visit to {customer.name} already logged.")
                return _saved(request, customer.get_absolute_url())
            except ValidationError as error:
                add_service_error(form, error)
            else:
                messages.success(request, f"Visit to {customer.name} logged.")
                if result.follow_up:
                    messages.success(
                        request,
                        "Follow-up meeting planned for "
                        f"{timezone.localtime(result.follow_up.scheduled_start):%a %d %b %H:%M}.",
                    )
                return _saved(request, customer.get_absolute_url())
    else:
        form = LogForm(
            instance=blank_visit,
            customer=customer,
            user=request.user,
            initial=_log_initial(planned),
        )
    return _form_response(
        request,
        "visits/log.html",
        {"form": form, "customer": customer, "planned": planned, "next": _back_to(request, "")},
    )


def _log_initial(planned: Visit | None) -> dict:
    now = timezone.now().replace(second=0, microsecond=0)
    if planned is None:
        return {"visited_at": now, "duration_minutes": 60}
    length = (planned.scheduled_end or planned.scheduled_start) - planned.scheduled_start
    started = min(planned.scheduled_start, now)
    if planned.checked_in_at:
        # Checked in (and out): the visit took what the phone saw.
        started = planned.checked_in_at.replace(second=0, microsecond=0)
        length = (planned.checked_out_at or timezone.now()) - planned.checked_in_at
    travel = {}
    if planned.travel_minutes or planned.distance_km:
        # The drive the day plan measured to this meeting; the rep may correct it.
        travel = {"travel_minutes": planned.travel_minutes, "distance_km": planned.distance_km}
    return {
        **travel,
        "kind": planned.kind,
        "visited_at": started,
        "duration_minutes": max(1, int(length.total_seconds() // 60))
        if planned.checked_in_at
        else int(length.total_seconds() // 60) or 60,
        "contacts": list(planned.contacts.all()),
    }


def _position(request: HtmxHttpRequest) -> tuple[float | None, float | None, float | None]:
    """The position the page's script put in the form, if the phone gave one, and the
    accuracy it reported (metres)."""
    try:
        latitude, longitude = float(request.POST["latitude"]), float(request.POST["longitude"])
    except (KeyError, ValueError):
        return None, None, None
    try:
        accuracy = float(request.POST.get("accuracy", ""))
    except ValueError:
        accuracy = None
    return (
        latitude,
        longitude,
        accuracy if accuracy is not None and math.isfinite(accuracy) else None,
    )


@require_POST
def check_in(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    visit = _editable_visit(request, pk)
    latitude, longitude, accuracy = _position(request)
    try:
        visit = visit_check_in(
            visit=visit, latitude=latitude, longitude=longitude, accuracy=accuracy
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        far = visit.check_in_distance_m
        where = (
            f", the phone's position {far / 1000:.1f} km from the address"
            if far is not None and far > ON_SITE_METRES
            else (
                " at the address, by the phone's position" if far is not None else " (no position)"
            )
        )
        messages.success(
            request, f"Checked in at {timezone.localtime(visit.checked_in_at):%H:%M}{where}."
        )
    return redirect("visits:detail", pk=pk)


@require_POST
def check_in_locate(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The rep confirms: the account is where they checked in."""
    visit = _editable_visit(request, pk)
    try:
        customer = customer_locate_from_check_in(visit=visit)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"{customer.name} is now placed where you checked in.")
    return redirect("visits:detail", pk=pk)


@require_POST
def check_out(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    visit = _editable_visit(request, pk)
    try:
        visit = visit_check_out(visit=visit)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request, f"Checked out at {timezone.localtime(visit.checked_out_at):%H:%M}."
        )
    return redirect("visits:detail", pk=pk)


@require_POST
def calendar_regenerate(request: HtmxHttpRequest) -> HttpResponse:
    calendar_token_regenerate(user=request.user)
    messages.success(request, "New calendar link created. The old link, if any, no longer works.")
    if request.htmx:
        return render(request, "visits/schedule.html#calendar_link")
    return redirect("visits:schedule")


@login_not_required
@require_GET
def calendar(request: HtmxHttpRequest, user_id: int, token: str) -> HttpResponse:
    """The user's meetings as iCalendar, for Google Calendar / Outlook subscriptions.

    A wrong token counts against the caller's address (so tokens cannot be guessed by volume;
    they are 43 random characters anyway); a right one against that feed only. So nobody can
    block a user's feed by hammering its (guessable) user id, and a calendar service fetching
    many users' feeds from one address is not throttled as one client."""
    limit = settings.CADENCE_FEED_REQUESTS_PER_MINUTE
    user = feed_user(user_id, token)
    if user is None:
        if over_limit(f"feed-ip:{client_ip(request)}", limit=limit, window_seconds=60):
            return _too_many_requests()
        raise Http404("No such calendar.")
    feed = hashlib.sha256(token.encode()).hexdigest()[:16]
    if over_limit(f"feed:{user.pk}:{feed}", limit=limit, window_seconds=60):
        return _too_many_requests()
    now = timezone.now()
    visits = list(feed_visits(user, now=now))
    body = calendar_feed(
        user,
        visits,
        feed_follow_ups(user, today=timezone.localdate(now)) if user.calendar_follow_ups else (),
        series=feed_series(visits),
    )
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="cadence.ics"'
    response["Cache-Control"] = "private, max-age=300"
    return response


def _too_many_requests() -> HttpResponse:
    response = HttpResponse("Too many requests; try again in a minute.", status=429)
    response["Retry-After"] = "60"
    return response
