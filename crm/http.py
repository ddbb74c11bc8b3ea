from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """Type of the request every view receives: HtmxMiddleware adds `request.htmx`."""

    htmx: HtmxDetails
