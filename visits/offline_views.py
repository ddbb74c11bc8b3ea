"""The installable field app (docs/offline.md): its manifest, its service worker and the offline
page the worker shows when there is no signal. All three live under /visits/, the worker's
scope: the salesperson's pages."""

import functools
import hashlib
import json

from django.contrib.auth.decorators import login_not_required
from django.contrib.staticfiles import finders
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import get_template
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from accounts.models import Role
from accounts.permissions import role_required
from core.http import HtmxHttpRequest
from visits.models import AskKind

THEME_COLOUR = "#1f4e79"
# What the worker keeps for the offline page (besides the page itself).
OFFLINE_ASSETS = (
    "css/cadence.css",
    "vendor/htmx-2.0.11.min.js",
    "js/cadence.js",
    "js/field-store.js",
    "js/field.js",
    "js/field-form.js",
    "js/field-app.js",
    "favicon.svg",
    "icons/cadence-192.png",
)


# Rows for what the customer asked for in the offline log form.
OFFLINE_ASK_ROWS = 2

# The templates the offline page is made of: a change to them is a new version too.
OFFLINE_TEMPLATES = ("base.html", "visits/offline.html")


@functools.cache
def assets_version() -> str:
    """Changes when the offline page or any asset the worker keeps changes, so phones fetch
    the new ones (a new worker replaces the old cache)."""
    digest = hashlib.sha256()
    files = [(name, finders.find(name)) for name in OFFLINE_ASSETS]
    files += [(name, get_template(name).origin.name) for name in OFFLINE_TEMPLATES]
    for name, path in files:
        digest.update(name.encode())
        if path:
            with open(path, "rb") as file:
                digest.update(file.read())
    return digest.hexdigest()[:12]


@login_not_required
@require_GET
@cache_control(max_age=3600)
def manifest(request: HtmxHttpRequest) -> JsonResponse:
    icon = {"type": "image/png", "purpose": "any"}
    body = {
        "name": "Cadence",
        "short_name": "Cadence",
        "description": "Your meetings, accounts and visit logging, with or without signal.",
        "id": reverse("visits:schedule"),
        "start_url": reverse("visits:schedule"),
        "scope": reverse("visits:schedule").rsplit("schedule/", 1)[0],
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#ffffff",
        "theme_color": THEME_COLOUR,
        "icons": [
            {**icon, "src": static("icons/cadence-192.png"), "sizes": "192x192"},
            {**icon, "src": static("icons/cadence-512.png"), "sizes": "512x512"},
            {
                **icon,
                "src": static("icons/cadence-maskable-512.png"),
                "sizes": "512x512",
                "purpose": "maskable",
            },
        ],
    }
    return JsonResponse(body, content_type="application/manifest+json")


@login_not_required
@require_GET
@cache_control(no_cache=True)
def service_worker(request: HtmxHttpRequest) -> HttpResponse:
    config = {
        "version": assets_version(),
        "offlinePage": reverse("visits:offline"),
        "assets": [static(name) for name in OFFLINE_ASSETS],
        "store": static("js/field-store.js"),
        "icon": static("icons/cadence-192.png"),
    }
    response = render(
        request,
        "visits/service-worker.js",
        {"config": json.dumps(config)},
        content_type="text/javascript",
    )
    return response


@require_GET
@role_required(Role.SALESPERSON)
def offline(request: HtmxHttpRequest) -> HttpResponse:
    """The offline page: the worker keeps it and shows it for any page of the app when there
    is no signal; it renders the data kept on the phone (static/js/field-app.js). It is the same
    for every salesperson (no name, no token, no messages): the copy the worker keeps never
    carries one user's identity to the next on a shared phone."""
    return render(
        request,
        "visits/offline.html",
        {"app_shell": True, "ask_kinds": AskKind.choices, "ask_rows": range(OFFLINE_ASK_ROWS)},
    )
