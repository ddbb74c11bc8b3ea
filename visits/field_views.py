"""The field rep's own pages beyond the schedule: accounts near where they stand, and the day
as a route."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Role
from accounts.permissions import role_required
from accounts.services import user_home_base_set
from core.figures import with_account_figures
from core.http import AlreadySubmitted, HtmxHttpRequest, acting_once
from crm.selectors import NEAR_MAX_KM, NEAR_MAX_RESULTS, customers_near, with_overdue
from visits.day_plan import DayPlan, Place, apple_maps_url, day_plan, home_place, office_place
from visits.forms import HomeBaseForm, RouteForm
from visits.services import day_plan_schedule
from visits.travel import drive_estimate

NEAR_SHOWN = min(20, NEAR_MAX_RESULTS)


class NearForm(forms.Form):
    """Where the rep stands (from the browser, asked once, never stored) and how far to look."""

    lat = forms.FloatField(min_value=-90, max_value=90, label="Latitude")
    lng = forms.FloatField(min_value=-180, max_value=180, label="Longitude")
    km = forms.IntegerField(
        min_value=1, max_value=NEAR_MAX_KM, initial=10, required=False, label="Within (km)"
    )


@require_GET
def near(request: HtmxHttpRequest) -> HttpResponse:
    """The user's accounts nearest to a point, with overdue and profit badges and one tap to
    plan, log or get directions. The position comes in the query string and is not kept."""
    form = NearForm(request.GET or None)
    accounts = []
    if form.is_valid():
        data = form.cleaned_data
        accounts = customers_near(
            request.user,
            latitude=data["lat"],
            longitude=data["lng"],
            km=data["km"] or 10,
            limit=NEAR_SHOWN,
            prepare=lambda customers: with_account_figures(
                with_overdue(customers, today=timezone.localdate())
            ),
        )
    for customer in accounts:
        customer.drive_minutes, customer.drive_km = drive_estimate(customer.distance_km)
    points = []
    if accounts:
        data = form.cleaned_data
        points = [[data["lat"], data["lng"], "You are here", "here"]] + [
            [
                customer.latitude,
                customer.longitude,
                f"{customer.name} · {customer.distance_km:.1f} km",
                "overdue" if customer.is_overdue else "account",
            ]
            for customer in accounts
        ]
    return render(
        request,
        "visits/near.html",
        {
            "form": form,
            "accounts": accounts,
            "searched": form.is_valid(),
            "map_points": points,
            "tiles": settings.CADENCE_MAP_TILES,
            "attribution": settings.CADENCE_MAP_ATTRIBUTION,
        },
    )


def _places(user) -> dict:
    return {"home": home_place(user), "office": office_place(user)}


def _plan_from(form: RouteForm, user) -> DayPlan:
    data = form.cleaned_data
    here = Place("Where I was", data["lat"], data["lng"]) if data.get("lat") is not None else None
    places = {**form.places, "here": here}
    return day_plan(
        user,
        day=data["day"],
        start=places[data["start"]],
        end=places[data["end"]],
        opens=data["opens"],
        closes=data["closes"],
        detour_minutes=data["detour"],
        stop_minutes=data["stop_minutes"],
    )


ROUTE_QUESTION = ("day", "start", "end", "opens", "closes", "detour", "stop_minutes", "lat", "lng")


def _back_to_route(request: HtmxHttpRequest) -> str:
    """The route page asking the same question as the form just sent."""
    question = QueryDict(mutable=True)
    for name in ROUTE_QUESTION:
        if request.POST.get(name):
            question[name] = request.POST[name]
    return f"{reverse('visits:route')}?{question.urlencode()}"


def _question(form: RouteForm) -> dict[str, str]:
    """The route's question as the form's values, for the "add to my schedule" form to send."""
    data = form.cleaned_data
    question = {
        "day": data["day"].isoformat(),
        "start": data["start"],
        "end": data["end"],
        "opens": data["opens"].strftime("%H:%M"),
        "closes": data["closes"].strftime("%H:%M"),
        "detour": str(data["detour"]),
        "stop_minutes": str(data["stop_minutes"]),
    }
    if data.get("lat") is not None:
        question["lat"], question["lng"] = f"{data['lat']:.6f}", f"{data['lng']:.6f}"
    return question


def _map_points(plan: DayPlan) -> list[list]:
    """[latitude, longitude, label, kind] from the start through the stops to the end."""
    points = [[*plan.start.point, plan.start.label, "start"]]
    for number, stop in enumerate(plan.stops, start=1):
        kind = "suggested" if stop.suggested else "meeting" if stop.reachable else "unreachable"
        label = f"{number}. {timezone.localtime(stop.starts):%H:%M} {stop.customer.name}"
        points.append([stop.customer.latitude, stop.customer.longitude, label, kind])
    points.append([*plan.end.point, plan.end.label, "end"])
    return points


def _stop_links(plan: DayPlan) -> list[str]:
    """An Apple Maps link per leg: from the stop before (or the start) to this one."""
    links, previous = [], plan.start.point
    for stop in plan.stops:
        here = (stop.customer.latitude, stop.customer.longitude)
        links.append(apple_maps_url(previous, here))
        if stop.reachable:
            previous = here
    return links


def _todays_question(places: dict) -> QueryDict | None:
    """Opened without a question, the page shows today's route from the rep's home base (or
    office) with the form's defaults; with neither, it waits for "Where I am"."""
    place = "home" if places.get("home") else "office" if places.get("office") else None
    if place is None:
        return None
    fields = RouteForm.base_fields
    question = QueryDict(mutable=True)
    question.update(
        {
            "day": timezone.localdate().isoformat(),
            "start": place,
            "end": place,
            "opens": fields["opens"].initial.strftime("%H:%M"),
            "closes": fields["closes"].initial.strftime("%H:%M"),
            "detour": str(fields["detour"].initial),
            "stop_minutes": str(fields["stop_minutes"].initial),
        }
    )
    return question


@role_required(Role.SALESPERSON)
@require_GET
def route(request: HtmxHttpRequest) -> HttpResponse:
    """The day as a route: the meetings fixed, the overdue accounts worth the detour between
    them (VROOM), arrival times, km and driving; then one tap plans the chosen suggestions."""
    places = _places(request.user)
    form = RouteForm(request.GET or _todays_question(places), places=places)
    plan = _plan_from(form, request.user) if form.is_bound and form.is_valid() else None
    return render(
        request,
        "visits/route.html",
        {
            "form": form,
            "plan": plan,
            "places": places,
            "stops": list(zip(plan.stops, _stop_links(plan), strict=True)) if plan else [],
            "question": _question(form) if plan else {},
            "map_points": _map_points(plan) if plan else [],
            "tiles": settings.CADENCE_MAP_TILES,
            "attribution": settings.CADENCE_MAP_ATTRIBUTION,
        },
    )


@role_required(Role.SALESPERSON)
@require_POST
def route_schedule(request: HtmxHttpRequest) -> HttpResponse:
    """Plan the ticked suggestions at the route's times. The route is solved again from the
    same question (the solver is deterministic), so the times are the server's, not the
    browser's; a tick for a stop that no longer fits is reported, never planned elsewhere."""
    form = RouteForm(request.POST, places=_places(request.user))
    back = _back_to_route(request)
    if not form.is_valid():
        messages.error(request, "The route's question was not valid: build the route again.")
        return redirect(reverse("visits:route"))
    chosen = {int(pk) for pk in request.POST.getlist("stop") if pk.isdigit()}
    plan = _plan_from(form, request.user)
    offered = {stop.customer.pk for stop in plan.suggestions}
    gone = chosen - offered
    try:
        with acting_once(request):
            result = day_plan_schedule(user=request.user, plan=plan, chosen=chosen & offered)
    except AlreadySubmitted:
        messages.info(request, "These stops are already on your schedule.")
        return redirect(back)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(back)
    if gone:
        messages.warning(
            request,
            f"{len(gone)} ticked stop(s) no longer fit the day and were not planned: "
            "the route below is the day as it is now.",
        )
    if result.planned:
        names = ", ".join(visit.customer.name for visit in result.planned)
        count = len(result.planned)
        messages.success(
            request,
            f"{count} stop{pluralize(count)} added to your schedule on {plan.day:%a %d %b}: "
            f"{names}.",
        )
    elif not gone:
        messages.info(request, "No suggested stop was ticked: nothing was added.")
    return redirect(back)


@role_required(Role.SALESPERSON)
@require_http_methods(["POST"])
def route_home(request: HtmxHttpRequest) -> HttpResponse:
    """Save a position (the phone's, or typed) as the rep's home base."""
    form = HomeBaseForm(request.POST)
    day = request.POST.get("day", "")
    back = (
        f"{reverse('visits:route')}?{urlencode({'day': day})}" if day else reverse("visits:route")
    )
    if not form.is_valid():
        messages.error(request, "That position could not be saved: allow location and try again.")
        return redirect(back)
    data = form.cleaned_data
    user_home_base_set(
        user=request.user, label=data["label"], latitude=data["lat"], longitude=data["lng"]
    )
    messages.success(request, "Home base saved: your days start and end there by default.")
    return redirect(back)
