"""The heavy pages (the managers' and admin's views over a whole territory or book) get at most
CADENCE_HEAVY_PAGES_PER_PROCESS of a web process's threads at once, so however many managers
open their dashboards together, the reps' fast pages always find a free thread (issue 29). A
heavy read that finds no slot waits up to CADENCE_HEAVY_PAGE_WAIT seconds, then is told to try
again (503 with Retry-After): nothing is lost. Writes (a review action, a hand-off) are never
held back: they are short, and a refused one would have to be typed again."""

import fnmatch
import functools
import logging
import threading

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


@functools.cache
def heavy_slots(size: int) -> threading.BoundedSemaphore:
    """The process's slots for heavy pages (one semaphore per process and size)."""
    return threading.BoundedSemaphore(size)


def is_heavy(view_name: str) -> bool:
    return any(fnmatch.fnmatchcase(view_name, pattern) for pattern in settings.CADENCE_HEAVY_VIEWS)


class HeavyPageThrottleMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            return self.get_response(request)
        finally:
            slots = getattr(request, "_heavy_slots", None)
            if slots is not None:
                slots.release()

    def process_view(self, request, view_func, view_args, view_kwargs):
        match = request.resolver_match
        if request.method not in ("GET", "HEAD") or match is None or not is_heavy(match.view_name):
            return None
        slots = heavy_slots(settings.CADENCE_HEAVY_PAGES_PER_PROCESS)
        if not slots.acquire(timeout=settings.CADENCE_HEAVY_PAGE_WAIT):
            logger.warning("heavy page refused, every slot busy: %s", match.view_name)
            response = HttpResponse(render_to_string("busy.html", request=request), status=503)
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        request._heavy_slots = slots
        return None
