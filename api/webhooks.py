"""Webhooks: events (core.events) recorded as deliveries for each active webhook that wants them,
POSTed by a worker, signed, and retried with growing waits (docs/api.md: Webhooks).

Each delivery is a row first, so nothing is lost to a Redis outage: the worker's retries ride
on Celery (`retry(countdown=...)`), and a sweep every few minutes sends the deliveries whose
task never ran. A receiver sees the same delivery id again if an answer got lost: it should
treat the id as the event's identity."""

import contextlib
import datetime as dt
import hashlib
import hmac
import http.client
import json
import logging
import socket
import ssl
import threading
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from api.models import DeliveryStatus, Webhook, WebhookDelivery, WebhookEvent
from api.serializers import AskSerializer, VisitSerializer
from core.enqueue import enqueue
from health.models import AccountFlag
from visits.models import Ask, Visit

logger = logging.getLogger(__name__)

DELIVER_TASK = "api.tasks.webhook_deliver_task"
SIGNATURE_HEADER = "Cadence-Signature"
MAX_ATTEMPTS = 10
LONGEST_WAIT = dt.timedelta(hours=6)
FLAGS_PER_DELIVERY = 500
# Bytes of a receiver's answer read (and dropped): the status is what counts.
RECEIVER_ANSWER_READ = 64 * 1024
# A delivery still pending this long after it was due lost its task (Redis was down).
LOST_AFTER = dt.timedelta(minutes=2)
_ACTIVE_EVENTS_KEY = "webhooks:active-events"


def active_events() -> set[str]:
    """The events some active webhook wants; cached, so an event nobody wants costs no query."""
    events = cache.get(_ACTIVE_EVENTS_KEY)
    if events is None:
        events = set()
        for wanted in Webhook.objects.filter(is_active=True).values_list("events", flat=True):
            events.update(wanted)
        cache.set(_ACTIVE_EVENTS_KEY, events, 3600)
    return events


def webhooks_changed() -> None:
    cache.delete(_ACTIVE_EVENTS_KEY)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix time>,v1=<hex HMAC-SHA256 of "<t>." + body>`: the receiver recomputes it with
    the secret and refuses old timestamps (replays)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def deliveries_record(event: str, payloads: list[dict]) -> list[int]:
    """A delivery per payload for each active webhook that wants `event`, queued at once."""
    if event not in active_events():
        return []
    hooks = list(Webhook.objects.filter(is_active=True, events__contains=[event]))
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(webhook=hook, event=event, payload=payload)
        for hook in hooks
        for payload in payloads
    )
    ids = [delivery.pk for delivery in deliveries]
    transaction.on_commit(lambda: [enqueue(DELIVER_TASK, [pk]) for pk in ids])
    return ids


def _wait_after(attempts: int) -> dt.timedelta:
    first = dt.timedelta(seconds=settings.CADENCE_WEBHOOK_FIRST_WAIT)
    return min(first * 2 ** (attempts - 1), LONGEST_WAIT)


def _claim(delivery_id: int) -> WebhookDelivery | None:
    """The delivery if it is due and no other worker is sending it, with this attempt counted
    before it is made: a worker killed mid-send (or a task past its time limit) has used an
    attempt, and the next one waits as a failure's would, so no receiver is retried forever."""
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .select_related("webhook")
            .filter(pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
            .first()
        )
        if delivery is None:
            return None
        delivery.attempts += 1
        if delivery.attempts > MAX_ATTEMPTS:
            delivery.attempts = MAX_ATTEMPTS
            delivery.status = DeliveryStatus.FAILED
            delivery.last_error = (delivery.last_error or "the sending worker stopped")[:300]
            delivery.save(update_fields=["attempts", "status", "last_error"])
            return None
        delivery.next_attempt_at = now + max(
            _wait_after(delivery.attempts),
            dt.timedelta(seconds=settings.CADENCE_WEBHOOK_TIMEOUT * 2),
        )
        delivery.last_error = "the sending worker stopped before the receiver answered"
        delivery.save(update_fields=["attempts", "next_attempt_at", "last_error"])
    return delivery


def _send_within(url: str, body: bytes, headers: dict, deadline: float) -> tuple[int, str]:
    """POST `body` and read the answer's status and Location, all within `deadline` seconds.

    A socket timeout bounds each read, not the request: a receiver that trickles a byte every
    few seconds would never time out (nor would httpx's or urllib's timeouts, which are per
    operation too). So the request runs in a thread, and when the deadline passes the socket is
    shut from outside, which ends whatever read is waiting. http.client never follows
    redirects: a 3xx comes back as it is."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) address: {url}")
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=deadline, context=ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=deadline)
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    outcome: dict = {}

    def send() -> None:
        try:
            connection.request("POST", path, body=body, headers=headers)
            answer = connection.getresponse()
            answer.read(RECEIVER_ANSWER_READ)
            outcome["answer"] = (answer.status, answer.getheader("Location") or "")
        except Exception as error:
            outcome["error"] = error

    sender = threading.Thread(target=send, name="webhook-send", daemon=True)
    sender.start()
    sender.join(deadline)
    if sender.is_alive():
        if connection.sock is not None:
            with contextlib.suppress(OSError):
                connection.sock.shutdown(socket.SHUT_RDWR)
        connection.close()
        sender.join(1)
        raise TimeoutError(f"no complete answer within {deadline:g} s")
    connection.close()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["answer"]


def _post(delivery: WebhookDelivery) -> tuple[int | None, str]:
    body = json.dumps(
        {
            "id": delivery.pk,
            "event": delivery.event,
            "created_at": delivery.created_at,
            "data": delivery.payload,
        },
        cls=DjangoJSONEncoder,
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Cadence-Webhooks/1",
        "Cadence-Event": delivery.event,
        "Cadence-Delivery": str(delivery.pk),
        SIGNATURE_HEADER: sign(delivery.webhook.secret, int(time.time()), body),
    }
    try:
        code, location = _send_within(
            delivery.webhook.url, body, headers, settings.CADENCE_WEBHOOK_TIMEOUT
        )
    except (OSError, ValueError, http.client.HTTPException) as error:
        # refused, timed out, a broken answer, a bad address
        return None, (str(error) or type(error).__name__)[:300]
    if 300 <= code < 400:
        return code, f"HTTP {code}: redirected to {location or '(no Location)'}, not followed"[:300]
    if not 200 <= code < 300:
        return code, f"HTTP {code}"
    return code, ""


def webhook_deliver(delivery_id: int) -> float | None:
    """Send one delivery now. Returns the seconds to wait before the next attempt, or None when
    there is nothing more to do (delivered, given up, or not due / someone else's)."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return None
    code, error = _post(delivery)
    delivery.last_status_code = code
    delivery.last_error = error
    now = timezone.now()
    wait = None
    if code is not None and 200 <= code < 300:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = now
    elif delivery.attempts >= MAX_ATTEMPTS:
        delivery.status = DeliveryStatus.FAILED
        logger.warning("webhook delivery %s given up after %s attempts", delivery.pk, MAX_ATTEMPTS)
    else:
        pause = _wait_after(delivery.attempts)
        delivery.next_attempt_at = now + pause
        wait = pause.total_seconds()
    delivery.save(
        update_fields=[
            "attempts",
            "last_status_code",
            "last_error",
            "status",
            "delivered_at",
            "next_attempt_at",
        ]
    )
    return wait


def lost_deliveries_send() -> int:
    """Queue the deliveries due a while ago whose task never ran (Redis was down)."""
    cutoff = timezone.now() - LOST_AFTER
    ids = list(
        WebhookDelivery.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lt=cutoff
        ).values_list("pk", flat=True)[:1000]
    )
    for pk in ids:
        enqueue(DELIVER_TASK, [pk])
    return len(ids)


def _flag_payload(flag: AccountFlag) -> dict:
    return {
        "id": flag.pk,
        "customer": flag.customer_id,
        "customer_name": flag.customer.name,
        "kind": flag.kind,
        "opened_at": flag.opened_at,
        "resolved_at": flag.resolved_at,
        "inputs": flag.inputs,
    }


def on_flags_changed(sender, *, opened: list[int], resolved: list[int], **_) -> None:
    for event, ids in ((WebhookEvent.FLAG_OPENED, opened), (WebhookEvent.FLAG_RESOLVED, resolved)):
        if not ids or event not in active_events():
            continue
        flags = list(AccountFlag.objects.filter(pk__in=ids).select_related("customer"))
        chunks = [
            {"flags": [_flag_payload(flag) for flag in flags[at : at + FLAGS_PER_DELIVERY]]}
            for at in range(0, len(flags), FLAGS_PER_DELIVERY)
        ]
        deliveries_record(event, chunks)


def on_visit_logged(sender, *, visit_id: int, **_) -> None:
    if WebhookEvent.VISIT_LOGGED not in active_events():
        return
    visit = (
        Visit.objects.select_related("customer").prefetch_related("contacts").filter(pk=visit_id)
    ).first()
    if visit is None:
        return
    payload = {"visit": VisitSerializer(visit).data, "customer_name": visit.customer.name}
    deliveries_record(WebhookEvent.VISIT_LOGGED, [payload])


def on_asks_changed(
    sender, *, created: list[int], answered: list[int], overdue: list[int], **_
) -> None:
    for event, ids in (
        (WebhookEvent.ASK_CREATED, created),
        (WebhookEvent.ASK_ANSWERED, answered),
        (WebhookEvent.ASK_OVERDUE, overdue),
    ):
        if not ids or event not in active_events():
            continue
        asks = Ask.objects.filter(pk__in=ids).select_related("customer").order_by("pk")
        deliveries_record(
            event,
            [{"ask": AskSerializer(ask).data, "customer_name": ask.customer.name} for ask in asks],
        )


def on_import_finished(sender, *, summary: dict, **_) -> None:
    deliveries_record(WebhookEvent.IMPORT_FINISHED, [{"import": summary}])
