"""`Idempotency-Key` on a write: the first successful answer is kept a day under (user, key); the
same key again gets that answer back and writes nothing. A key reused for another request is
refused (422). Two requests with one key at once: the second waits for the first (an advisory
lock on the pair) and then gets its answer."""

from collections.abc import Callable

from django.db import connection, transaction
from rest_framework.response import Response

from api.errors import error_response
from api.models import IdempotentRequest
from core.locks import keyed_lock_id

MAX_KEY = 100


def idempotent(request, write: Callable[[], Response]) -> Response:
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        return write()
    if len(key) > MAX_KEY:
        return error_response(400, f"An Idempotency-Key is at most {MAX_KEY} characters.")
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s)",
                [keyed_lock_id("idempotency", request.user.pk, key)],
            )
        kept = IdempotentRequest.objects.filter(user=request.user, key=key).first()
        if kept is not None:
            if (kept.method, kept.path) != (request.method, request.path):
                return error_response(
                    422, "This Idempotency-Key was used for another request: use a new key."
                )
            response = Response(kept.body, kept.status_code)
            response["Idempotent-Replayed"] = "true"
            return response
        response = write()
        if 200 <= response.status_code < 300:
            IdempotentRequest.objects.create(
                user=request.user,
                key=key,
                method=request.method,
                path=request.path,
                status_code=response.status_code,
                body=response.data,
            )
        return response
