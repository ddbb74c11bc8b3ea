"""/healthz for load balancers and docker-compose, and the error pages that must render without
the database (so a database outage shows a clean 503, not a stack of secondary errors)."""

import sys

import redis
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.cache import redis_breaker, redis_client

_migrations_checked = False


def _database() -> str:
    global _migrations_checked
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    if not _migrations_checked:
        # Building the migration graph costs tens of milliseconds: once it has matched, this
        # process's code and the schema agree until the next deployment restarts it.
        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            return "migrations not applied"
        _migrations_checked = True
    return "ok"


def _redis() -> str:
    breaker = redis_breaker(settings.REDIS_URL)
    if breaker.is_open:
        return "error: unavailable (not retried for a few seconds)"
    try:
        redis_client().ping()
    except (redis.RedisError, OSError):
        breaker.trip()
        raise
    return "ok"


@require_GET
@login_not_required
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {}
    for name, check in (("database", _database), ("redis", _redis)):
        try:
            checks[name] = check()
        except (DatabaseError, redis.RedisError, OSError) as exc:
            checks[name] = f"error: {type(exc).__name__}"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", **checks}, status=200 if healthy else 503
    )


API_PREFIX = "/api/"


def api_error_body(status: int, message: str, fields: dict | None = None) -> dict:
    """The API's one error shape (docs/api.md), for the API's own answers (api.errors) and for
    the errors Django answers before the API sees the request."""
    return {"error": {"status": status, "message": message, "fields": fields or {}}}


def _api_error(status: int, message: str) -> JsonResponse:
    return JsonResponse(api_error_body(status, message), status=status)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a database that is down or restarting gets a 503 asking to retry."""
    error = sys.exc_info()[1]
    if isinstance(error, (OperationalError, InterfaceError)):
        if _is_api(request):
            response = _api_error(503, "The database is not answering: retry in a little while.")
        else:
            response = HttpResponse(loader.get_template("503.html").render(), status=503)
        response["Retry-After"] = "30"
        return response
    if _is_api(request):
        return _api_error(500, "Something went wrong on our side; it has been logged.")
    return HttpResponse(loader.get_template("500.html").render(), status=500)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler404: JSON under /api/, the site's page elsewhere."""
    if _is_api(request):
        return _api_error(404, "No such resource.")
    return defaults.page_not_found(request, exception)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler400: a body over DATA_UPLOAD_MAX_MEMORY_SIZE is 413 under /api/ (and says so)."""
    if _is_api(request):
        if isinstance(exception, RequestDataTooBig):
            return _api_error(413, "The request body is too large.")
        return _api_error(400, "Bad request.")
    return defaults.bad_request(request, exception)
