"""`Idempotency-Key` on a write: the first successful answer is kept a day under (user, key); the
same key again with the same request gets that answer back and writes nothing. A key reused for
another request — another method, path or body — is refused (422). A key older than a day is
forgotten when it is looked up, so it never replays. Two requests with one key at once: the
second waits for the first (an advisory lock on the pair) and then gets its answer."""

import contextlib
import hashlib
import json
from collections.abc import Callable

from django.db import connection, transaction
from django.utils import timezone
from rest_framework.response import Response

from api.errors import error_response
from api.models import IdempotentRequest
from api.services import IDEMPOTENCY_KEPT
from core.locks import keyed_lock_id

MAX_KEY = 100


def body_hash(request) -> str:
    """SHA-256 of the body; a JSON body in canonical form (key order and spacing do not make
    another request)."""
    raw = request.body
    # Not JSON after all: the raw bytes are the request.
    if request.content_type == "application/json":
        with contextlib.suppress(ValueError, RecursionError):
            raw = json.dumps(
                json.loads(raw), sort_keys=True, separators=(",", ":"), ensure_ascii=False
            ).encode()
    return hashlib.sha256(raw).hexdigest()


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
        digest = body_hash(request)
        kept = IdempotentRequest.objects.filter(user=request.user, key=key).first()
        if kept is not None and kept.created_at < timezone.now() - IDEMPOTENCY_KEPT:
            kept.delete()
            kept = None
        if kept is not None:
            # Answers kept before bodies were hashed have none: method and path decide.
            if (kept.method, kept.path) != (request.method, request.path) or kept.body_hash not in (
                "",
                digest,
            ):
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
                body_hash=digest,
                status_code=response.status_code,
                body=response.data,
            )
        return response
