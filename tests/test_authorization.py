"""The authorization matrix: every URL pattern of the project, requested by every kind of
visitor, with objects in and out of their scope, by GET and POST, as a full page and as htmx.

- anonymous: sent to log in (public pages excepted);
- a role the page is not for: 403 or 404 (405 for a method the page does not take);
- an object outside the visitor's territories: 404;
- never a 500, and never another territory's customer name in a response.

ROUTES must name every URL pattern, so a new view cannot escape this test."""

from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.push import vapid_key_new

pytestmark = pytest.mark.django_db

SALES, MANAGER, ADMIN = "salesperson", "manager", "admin"
EVERYONE = {SALES, MANAGER, ADMIN}


@dataclass(frozen=True)
class Route:
    roles: set[str]
    # Builds the URL kwargs from one side's objects (None: the URL takes no objects).
    kwargs: object = None
    public: bool = False
    # Builds a query string's parameters naming one side's objects.
    query: object = None
    # Whether kwargs / query name objects of a territory (else they are the same for everyone).
    scoped: bool = True
    # The API: anonymous callers get a 401 (JSON), not the log-in page.
    api: bool = False

    @property
    def names_objects(self) -> bool:
        return self.scoped and (self.kwargs is not None or self.query is not None)


def _customer(side):
    return {"pk": side["customer"].pk}


ROUTES = {
    "home": Route(EVERYONE),
    "login": Route(EVERYONE, public=True),
    "logout": Route(EVERYONE),
    "healthz": Route(EVERYONE, public=True),
    "crm:customer_list": Route(EVERYONE),
    "crm:customer_map": Route(EVERYONE),
    "crm:customer_map_data": Route(EVERYONE),
    "crm:customer_detail": Route(EVERYONE, _customer),
    "crm:customer_edit": Route(EVERYONE, _customer),
    "crm:contact_new": Route(EVERYONE, _customer),
    "crm:support_case_new": Route(EVERYONE, _customer),
    "crm:support_case_close": Route(
        EVERYONE, lambda s: {"pk": s["customer"].pk, "case_pk": s["case"].pk}
    ),
    "crm:contact_edit": Route(
        EVERYONE, lambda s: {"pk": s["customer"].pk, "contact_pk": s["contact"].pk}
    ),
    "crm:contact_primary": Route(
        EVERYONE, lambda s: {"pk": s["customer"].pk, "contact_pk": s["contact"].pk}
    ),
    "crm:flag_acknowledge": Route(
        {MANAGER, ADMIN}, lambda s: {"pk": s["customer"].pk, "flag_pk": s["flag"].pk}
    ),
    "visits:schedule": Route(EVERYONE),
    "visits:manifest": Route(EVERYONE, public=True),
    "visits:service_worker": Route(EVERYONE, public=True),
    "visits:offline": Route({SALES}),
    "visits:calls": Route(EVERYONE),
    "visits:near": Route(EVERYONE),
    "visits:route": Route({SALES}),
    "visits:route_schedule": Route({SALES}),
    "visits:route_home": Route({SALES}),
    "visits:plan": Route(EVERYONE, query=lambda s: {"customer": s["customer"].pk}),
    "visits:plan_customer_options": Route(EVERYONE),
    "visits:plan_contact_options": Route(EVERYONE, query=lambda s: {"customer": s["customer"].pk}),
    "visits:log_ad_hoc": Route(EVERYONE, query=lambda s: {"customer": s["customer"].pk}),
    "visits:detail": Route(EVERYONE, lambda s: {"pk": s["visit"].pk}),
    "visits:log": Route(EVERYONE, lambda s: {"pk": s["visit"].pk}),
    "visits:reschedule": Route(EVERYONE, lambda s: {"pk": s["visit"].pk}),
    "visits:cancel": Route(EVERYONE, lambda s: {"pk": s["visit"].pk}),
    "visits:check_in": Route(EVERYONE, lambda s: {"pk": s["visit"].pk}),
    "visits:check_in_locate": Route(EVERYONE, lambda s: {"pk": s["visit"].pk}),
    "visits:check_out": Route(EVERYONE, lambda s: {"pk": s["visit"].pk}),
    "visits:calendar_regenerate": Route(EVERYONE),
    "visits:rhythm": Route(EVERYONE, _customer),
    "visits:rhythm_end": Route(EVERYONE, _customer),
    "visits:series_book": Route(EVERYONE, _customer),
    "asks:list": Route(EVERYONE),
    "asks:new": Route(EVERYONE, query=lambda s: {"customer": s["customer"].pk}),
    "asks:answer": Route(EVERYONE, lambda s: {"pk": s["ask"].pk}),
    "asks:decide": Route(EVERYONE, lambda s: {"pk": s["ask"].pk}),
    "manage:dashboard": Route({MANAGER, ADMIN}),
    "manage:account_list": Route({MANAGER, ADMIN}, lambda s: {"kind": "overdue"}, scoped=False),
    "manage:profitability": Route({MANAGER, ADMIN}),
    "manage:team_schedule": Route({MANAGER, ADMIN}),
    "manage:review": Route({MANAGER, ADMIN}),
    "manage:review_action": Route({MANAGER, ADMIN}, _customer),
    "manage:hand_off": Route({MANAGER, ADMIN}, query=lambda s: {"ids": s["customer"].pk}),
    "manage:outcomes": Route({MANAGER, ADMIN}),
    "manage:competitors": Route({MANAGER, ADMIN}),
    "manage:review_cycle": Route({MANAGER, ADMIN}),
    "manage:listening": Route({MANAGER, ADMIN}),
    "manage:consistency_target": Route({MANAGER, ADMIN}, lambda s: {"pk": s["rep"].pk}),
    "manage:rep": Route({MANAGER, ADMIN}, lambda s: {"pk": s["rep"].pk}),
    "manage:let_go": Route({MANAGER, ADMIN}, query=lambda s: {"ids": s["customer"].pk}),
    "accounts:admin_home": Route({ADMIN}),
    "imports:list": Route({ADMIN}),
    "imports:detail": Route({ADMIN}, lambda s: {"pk": s["job"].pk}),
    "imports:mapping": Route({ADMIN}, lambda s: {"pk": s["job"].pk}),
    "imports:preset": Route({ADMIN}, lambda s: {"pk": s["job"].pk}),
    "imports:rejects": Route({ADMIN}, lambda s: {"pk": s["job"].pk}),
    "imports:revert": Route({ADMIN}, lambda s: {"pk": s["job"].pk}),
    "api:customer-list": Route(EVERYONE, api=True),
    "api:customer-detail": Route(EVERYONE, _customer, api=True),
    "api:visit-list": Route(EVERYONE, api=True),
    "api:visit-detail": Route(EVERYONE, lambda s: {"pk": s["visit"].pk}, api=True),
    "api:visit-log": Route(EVERYONE, lambda s: {"pk": s["visit"].pk}, api=True),
    "api:visit-cancel": Route(EVERYONE, lambda s: {"pk": s["visit"].pk}, api=True),
    "api:visit-reschedule": Route(EVERYONE, lambda s: {"pk": s["visit"].pk}, api=True),
    "api:visit-log-unplanned": Route(EVERYONE, api=True),
    "api:visit-check-in": Route(EVERYONE, lambda s: {"pk": s["visit"].pk}, api=True),
    "api:customer-note": Route(EVERYONE, _customer, api=True),
    "api:field_pack": Route(EVERYONE, api=True),
    "api:contact-list": Route(EVERYONE, api=True),
    "api:ask-list": Route(EVERYONE, api=True),
    "api:ask-detail": Route(EVERYONE, lambda s: {"pk": s["ask"].pk}, api=True),
    "api:ask-answer": Route(EVERYONE, lambda s: {"pk": s["ask"].pk}, api=True),
    "api:ask-decide": Route(EVERYONE, lambda s: {"pk": s["ask"].pk}, api=True),
    "api:contact-detail": Route(EVERYONE, lambda s: {"pk": s["contact"].pk}, api=True),
    "api:invoice-list": Route(EVERYONE, api=True),
    "api:invoice-detail": Route(EVERYONE, lambda s: {"pk": s["invoice"].pk}, api=True),
    "api:invoice-upsert": Route({ADMIN}, api=True),
    "api:support-case-list": Route(EVERYONE, api=True),
    "api:support-case-detail": Route(EVERYONE, lambda s: {"pk": s["case"].pk}, api=True),
    "api:support-case-upsert": Route({ADMIN}, api=True),
    "api:flag-list": Route(EVERYONE, api=True),
    "api:flag-detail": Route(EVERYONE, lambda s: {"pk": s["flag"].pk}, api=True),
    "api:metrics-list": Route(EVERYONE, api=True),
    "api:metrics-detail": Route(EVERYONE, _customer, api=True),
    "api:territory-list": Route(EVERYONE, api=True),
    "api:territory-detail": Route(EVERYONE, lambda s: {"pk": s["customer"].territory_id}, api=True),
    "api:user-list": Route(EVERYONE, api=True),
    "api:user-detail": Route(EVERYONE, lambda s: {"pk": s["rep"].pk}, api=True),
    "api:schedule": Route(EVERYONE, api=True),
    "api:who_to_visit": Route(EVERYONE, api=True),
    "api:schema": Route(EVERYONE, public=True),
    "api:docs": Route(EVERYONE, public=True),
    "api_tokens": Route(EVERYONE),
    "reminders": Route(EVERYONE),
    "push_subscribe": Route(EVERYONE),
    "push_unsubscribe": Route(EVERYONE),
    "push_test": Route(EVERYONE),
    "api_token_revoke": Route(EVERYONE, lambda s: {"pk": s["api_token"].pk}),
    "calendar_feed": Route(
        EVERYONE, lambda s: {"user_id": s["rep"].pk, "token": s["token"]}, public=True
    ),
}


def project_url_names(resolver=None, prefix=""):
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            if entry.app_name == "admin":
                continue
            namespace = f"{prefix}{entry.namespace}:" if entry.namespace else prefix
            yield from project_url_names(entry, namespace)
        elif isinstance(entry, URLPattern):
            assert entry.name, f"unnamed URL pattern {entry.pattern}: name it and list it here"
            yield prefix + entry.name


def test_every_url_pattern_is_in_the_matrix():
    assert sorted(set(project_url_names())) == sorted(ROUTES)


def visitors(world):
    """(label, user or None, role, the side it may see, the side it must not, names it must
    never be shown)."""
    south_names = ["Southern Bakes"]
    north_names = ["Northern Mills", "Coastal Fish"]
    return [
        ("anonymous", None, None, None, "north", north_names + south_names),
        ("salesperson", world.rep_north, SALES, "north", "south", south_names),
        ("manager of another territory", world.south_manager, MANAGER, None, "north", north_names),
        ("manager", world.north_manager, MANAGER, "north", "south", south_names),
        ("admin", world.admin, ADMIN, "north", None, []),
    ]


ALLOWED = {200, 204, 302, 400}
HTMX = {"HX-Request": "true"}


def request(client, method, url, htmx, data):
    headers = HTMX if htmx else {}
    if method == "GET":
        return client.get(url, headers=headers)
    return client.post(url, data, headers=headers)


def test_authorization_matrix(world, sides, settings):
    settings.CADENCE_VAPID_PRIVATE_KEY = vapid_key_new()
    # Every visitor asks for the feeds from one address here: the rate limit is not the subject.
    settings.CADENCE_FEED_REQUESTS_PER_MINUTE = 10_000
    failures = []
    for label, user, role, own, foreign, hidden in visitors(world):
        client = Client()
        if user is not None:
            client.force_login(user)
        for name, route in sorted(ROUTES.items()):
            if route.names_objects:
                cases = [(own or foreign, "own" if own else "foreign")]
                if own and foreign:
                    cases.append((foreign, "foreign"))
            else:
                cases = [("north", "own")]
            for side_name, relation in cases:
                side = sides[side_name]
                url = reverse(name, kwargs=route.kwargs(side) if route.kwargs else {})
                if route.query:
                    url += "?" + urlencode(route.query(side))
                for method in ("GET", "POST"):
                    for htmx in (False, True):
                        data = route.query(side) if route.query else {}
                        response = request(client, method, url, htmx, data)
                        status = response.status_code
                        expected = _expected(route, name, user, role, relation, method, status)
                        raw = (
                            b"".join(response.streaming_content)
                            if response.streaming
                            else response.content
                        )
                        body = raw.decode(errors="replace")
                        # A valid feed token shows its owner's meetings to whoever holds it.
                        shown = [] if name == "calendar_feed" else hidden
                        leaked = [n for n in shown if n in body]
                        to_login = response.get("Location", "").startswith("/login/?next=")
                        if user is None and not (route.public or route.api) and not to_login:
                            leaked.append("(not sent to the login page)")
                        if status not in expected or leaked:
                            failures.append(
                                f"{label} {method}{' htmx' if htmx else ''} {url} "
                                f"({relation}) -> {status}"
                                + (f", shows {leaked}" if leaked else "")
                                + f"; expected {sorted(expected)}"
                            )
                # The POSTs above may have logged the visitor out or changed their token.
                if name in {"logout", "visits:calendar_regenerate"} and user is not None:
                    client.force_login(user)
                    sides["north"]["token"] = sides["north"]["rep"].calendar_token
                    sides["south"]["token"] = sides["south"]["rep"].calendar_token
    assert not failures, "\n".join(failures)


def _expected(route, name, user, role, relation, method, status):
    if name == "calendar_feed":
        # Token, not login: the current token gives the feed (GET only), anything else a 404.
        return {200, 404} if method == "GET" else {405}
    if route.public:
        return {200, 302, 405} if name == "login" else ({200} if method == "GET" else {405})
    if user is None:
        return {401} if route.api else {302}
    if name == "api_token_revoke":
        # Only the token's owner (the side's rep) revokes it; anyone else: 404.
        return {302, 404, 405}
    if role not in route.roles:
        return {403, 404, 405}
    if relation == "foreign":
        # A foreign id posted in a form is an invalid choice of that form (re-rendered with
        # the error, nothing about the record shown); in a URL it is a 404.
        return {200, 400, 404, 405} if method == "POST" and route.query else {404, 405, 415}
    # The API takes JSON: the matrix's form-encoded POST is refused as such.
    return ALLOWED | {405} | ({415} if route.api else set())


def test_the_django_admin_is_for_admins_only(world):
    for user, expected in (
        (world.rep_north, 302),
        (world.north_manager, 302),
        (world.admin, 200),
    ):
        client = Client()
        client.force_login(user)
        for url in ("/admin/", "/admin/crm/customer/", "/admin/imports/importjob/"):
            assert client.get(url).status_code == expected, (user.username, url)
