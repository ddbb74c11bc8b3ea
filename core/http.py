from contextlib import contextmanager

from django.db import transaction
from django.http import HttpRequest
from django.utils.cache import patch_vary_headers
from django_htmx.middleware import HtmxDetails

from core.services import form_submission_claim


class HtmxHttpRequest(HttpRequest):
    """Type of the request every view receives: HtmxMiddleware adds `request.htmx`."""

    htmx: HtmxDetails


class AlreadySubmitted(Exception):
    """The form's one-time key was used before: this request is a resend."""


@contextmanager
def acting_once(request: HttpRequest):
    """`with acting_once(request): <the write>` runs the write in one transaction with the
    claim of the form's one-time key; raises AlreadySubmitted (writing nothing) when a form
    with that key was already acted on. A write that fails releases the key with it."""
    with transaction.atomic():
        if not form_submission_claim(key=request.POST.get("submission"), user=request.user):
            raise AlreadySubmitted
        yield


class _WholePage(HtmxDetails):
    """htmx details of a history-restore request: falsy, so every view answers it as it answers
    a plain request, with the whole page."""

    def __bool__(self) -> bool:
        return False


class HistoryRestoreMiddleware:
    """Back, Forward and reload after htmx navigation: when htmx has no snapshot of the page it
    asks the server again with HX-History-Restore-Request, and must get the whole page, not the
    fragment the same URL answers to an htmx swap (a bare fragment would replace the page).
    Every response varies on HX-Request, so no cache serves one for the other."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.headers.get("HX-History-Restore-Request") == "true":
            request.htmx = _WholePage(request)
        response = self.get_response(request)
        patch_vary_headers(response, ("HX-Request",))
        return response
