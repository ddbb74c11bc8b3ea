"""Webhooks: events (core.events) recorded as deliveries for each active webhook that wants them,
POSTed by a worker, signed, and retried with growing waits (docs/api.md: Webhooks).

Each delivery is a row first, so nothing is lost to a Redis outage: the worker's retries ride
on Celery (`retry(countdown=...)`), and a sweep every few minutes sends the deliveries whose
task never ran. A receiver sees the same delivery id again if an answer got lost: it should
treat the id as the event's identity."""

import datetime as dt
import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request

from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from api.models import DeliveryStatus, Webhook, WebhookDelivery, WebhookEvent
from api.serializers import VisitSerializer
from core.enqueue import enqueue
from health.models import AccountFlag
from visits.models import Visit

logger = logging.getLogger(__name__)

DELIVER_TASK = "api.tasks.webhook_deliver_task"
SIGNATURE_HEADER = "Cadence-Signature"
MAX_ATTEMPTS = 10
LONGEST_WAIT = dt.timedelta(hours=6)
FLAGS_PER_DELIVERY = 500
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
    """The delivery if it is due and no other worker is sending it; moves its next attempt past
    the send's timeout so the sweep leaves it alone meanwhile."""
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
        delivery.next_attempt_at = now + dt.timedelta(seconds=settings.CADENCE_WEBHOOK_TIMEOUT * 4)
        delivery.save(update_fields=["next_attempt_at"])
    return delivery


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
    request = urllib.request.Request(
        delivery.webhook.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Cadence-Webhooks/1",
            "Cadence-Event": delivery.event,
            "Cadence-Delivery": str(delivery.pk),
            SIGNATURE_HEADER: sign(delivery.webhook.secret, int(time.time()), body),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.CADENCE_WEBHOOK_TIMEOUT) as answer:
            return answer.status, ""
    except urllib.error.HTTPError as error:
        return error.code, f"HTTP {error.code}"
    except (OSError, ValueError) as error:  # refused, timed out, bad address
        return None, str(error)[:300]


def webhook_deliver(delivery_id: int) -> float | None:
    """Send one delivery now. Returns the seconds to wait before the next attempt, or None when
    there is nothing more to do (delivered, given up, or not due / someone else's)."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return None
    code, error = _post(delivery)
    delivery.attempts += 1
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


def on_import_finished(sender, *, summary: dict, **_) -> None:
    deliveries_record(WebhookEvent.IMPORT_FINISHED, [{"import": summary}])
