from contextlib import contextmanager

from django.db import transaction
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from crm.services import form_submission_claim


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
