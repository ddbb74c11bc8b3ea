"""/healthz for load balancers and docker-compose, and the error pages that must render without
the database (so a database outage shows a clean 503, not a stack of secondary errors)."""

import sys

import redis
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
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


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a database that is down or restarting gets a 503 asking to retry."""
    error = sys.exc_info()[1]
    if isinstance(error, (OperationalError, InterfaceError)):
        response = HttpResponse(loader.get_template("503.html").render(), status=503)
        response["Retry-After"] = "30"
        return response
    return HttpResponse(loader.get_template("500.html").render(), status=500)
