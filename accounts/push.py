"""Web Push to the devices where a user turned notifications on (RFC 8030, 8291, 8292).

pywebpush encrypts each payload for the device's keys (aes128gcm) and signs a VAPID token with
CADENCE_VAPID_PRIVATE_KEY; the public key the browser subscribes with is derived from it, so
the two can never disagree. A push the service answers 404 or 410 removes the subscription.
"""

import base64
import functools
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

from accounts.models import PushSubscription, User

logger = logging.getLogger(__name__)
# Seconds a push service has to accept one message; a pass sends to hundreds of devices.
PUSH_TIMEOUT = 5
# Messages in flight at once: sending is waiting on push services, not work for this process.
PUSH_THREADS = 16
# A reminder is worth nothing after its moment: the push service drops it after this long.
PUSH_TTL = 6 * 3600
GONE = (404, 410)
# Devices one person keeps notifications on for at once.
MAX_DEVICES = 10
MAX_TITLE = 120
MAX_BODY = 300


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def vapid_key_new() -> str:
    """A new VAPID private key, base64url, for CADENCE_VAPID_PRIVATE_KEY."""
    key = ec.generate_private_key(ec.SECP256R1())
    return _b64(key.private_numbers().private_value.to_bytes(32, "big"))


@functools.cache
def _vapid(private_key: str) -> tuple[Vapid, str]:
    vapid = Vapid.from_string(private_key=private_key)
    public = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return vapid, _b64(public)


def vapid_public_key() -> str | None:
    """What the browser subscribes with (applicationServerKey); None: push is not set up."""
    if not settings.CADENCE_VAPID_PRIVATE_KEY:
        return None
    return _vapid(settings.CADENCE_VAPID_PRIVATE_KEY)[1]


def push_service_allowed(endpoint: str) -> bool:
    """Whether `endpoint` belongs to a push service of CADENCE_PUSH_SERVICES."""
    parts = urlsplit(endpoint)
    host = (parts.hostname or "").lower()
    if not host:
        return False
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    for service in settings.CADENCE_PUSH_SERVICES:
        service = service.lower().rstrip("/")
        if "://" in service:
            if origin == service:
                return True
        elif parts.scheme == "https" and (host == service or host.endswith("." + service)):
            return True
    return False


def _key(text: str, size: int, name: str) -> str:
    try:
        raw = _unb64(text.strip())
    except (ValueError, TypeError):
        raw = b""
    if len(raw) != size:
        raise ValidationError(f"The device's {name} key is not a valid push key.")
    return text.strip()


def push_subscription_save(
    *, user: User, endpoint: str, p256dh: str, auth: str, device: str = ""
) -> PushSubscription:
    """Turn notifications on for one device (the same endpoint again updates its keys and
    owner: a shared phone follows whoever signed in last)."""
    endpoint = (endpoint or "").strip()
    if len(endpoint) > 1000 or not push_service_allowed(endpoint):
        raise ValidationError("This browser's push service is not one Cadence sends to.")
    keys = {"p256dh": _key(p256dh or "", 65, "encryption"), "auth": _key(auth or "", 16, "auth")}
    subscription, _ = PushSubscription.objects.update_or_create(
        endpoint=endpoint,
        defaults={"user": user, "device": " ".join((device or "").split())[:200], **keys},
    )
    # A person has a few devices; beyond MAX_DEVICES the longest-standing go, so no one can
    # make each reminder fan out to an endless list of endpoints.
    kept = PushSubscription.objects.filter(user=user).order_by("-created_at", "-pk")
    PushSubscription.objects.filter(user=user, pk__in=kept.values("pk")[MAX_DEVICES:]).delete()
    return subscription


def push_subscription_remove(*, user: User, endpoint: str) -> int:
    return PushSubscription.objects.filter(user=user, endpoint=(endpoint or "").strip()).delete()[0]


@dataclass
class PushResult:
    delivered: int = 0
    gone: int = 0
    failed: int = 0
    # Devices whose push service is not (or no longer) in CADENCE_PUSH_SERVICES: never posted
    # to, kept (the user turns notifications on again; the demo's phones are such).
    skipped: int = 0


@dataclass(frozen=True)
class Push:
    """One notification for the devices of one person."""

    title: str
    body: str
    url: str
    tag: str

    def payload(self) -> str:
        return json.dumps(
            {
                "title": self.title[:MAX_TITLE],
                "body": self.body[:MAX_BODY],
                "url": self.url,
                "tag": self.tag[:64],
            }
        )


_sessions = threading.local()


def _deliver(subscription: PushSubscription, payload: str, vapid: Vapid) -> str:
    """ "delivered", "gone" or "failed": one message to one device, over this thread's
    keep-alive session."""
    if not hasattr(_sessions, "session"):
        _sessions.session = requests.Session()
    try:
        webpush(
            {
                "endpoint": subscription.endpoint,
                "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
            },
            data=payload,
            vapid_private_key=vapid,
            vapid_claims={"sub": settings.CADENCE_VAPID_SUBJECT},
            timeout=PUSH_TIMEOUT,
            ttl=PUSH_TTL,
            requests_session=_sessions.session,
        )
    except WebPushException as error:
        status = getattr(error.response, "status_code", None)
        if status in GONE:
            return "gone"
        logger.warning("push to subscription %s failed: %s", subscription.pk, status)
        return "failed"
    except Exception as error:
        logger.warning("push to subscription %s failed: %s", subscription.pk, type(error))
        return "failed"
    return "delivered"


def push_send_many[Key](
    pushes: list[tuple[Key, list[PushSubscription], Push]],
) -> dict[Key, PushResult]:
    """Send each push to each of its devices, PUSH_THREADS at a time (a push service answers in
    tens to hundreds of milliseconds; a morning holds thousands); returns a PushResult per key.
    Devices the service says are gone are removed; the others note when they were reached."""
    results: dict[Key, PushResult] = {key: PushResult() for key, _, _ in pushes}
    if not settings.CADENCE_VAPID_PRIVATE_KEY:
        return results
    vapid, _ = _vapid(settings.CADENCE_VAPID_PRIVATE_KEY)
    jobs = []
    for key, devices, push in pushes:
        for device in devices:
            if push_service_allowed(device.endpoint):
                jobs.append((key, device, push.payload()))
            else:
                results[key].skipped += 1
    if not jobs:
        return results
    with ThreadPoolExecutor(max_workers=min(PUSH_THREADS, len(jobs))) as pool:
        outcomes = list(pool.map(lambda job: _deliver(job[1], job[2], vapid), jobs))
    devices: dict[str, set[int]] = {"delivered": set(), "gone": set(), "failed": set()}
    for (key, device, _), outcome in zip(jobs, outcomes, strict=True):
        setattr(results[key], outcome, getattr(results[key], outcome) + 1)
        devices[outcome].add(device.pk)
    delivered, gone = devices["delivered"], devices["gone"]
    if delivered:
        PushSubscription.objects.filter(pk__in=delivered).update(last_sent_at=timezone.now())
    if gone:
        PushSubscription.objects.filter(pk__in=gone).delete()
    return results


def push_send(
    subscriptions: list[PushSubscription], *, title: str, body: str, url: str, tag: str
) -> PushResult:
    """One notification to each of these devices. Tapping it opens `url`; a newer one with
    the same `tag` replaces it on the device."""
    return push_send_many([(tag, subscriptions, Push(title, body, url, tag))])[tag]
