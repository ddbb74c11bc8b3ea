"""The demo's phones with notifications on: one per fixed demo salesperson, so the Reminders
page and the admin show a device. Their push service is under `.invalid` (a name that never
resolves) and not among CADENCE_PUSH_SERVICES, so Cadence never posts to them; a rep who turns
notifications on in a real browser adds a real device beside it."""

import base64
import hashlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from accounts.models import PushSubscription, User

DEMO_PUSH_ORIGIN = "https://push.cadence-demo.invalid/send/"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def seed_push_devices(*, people: list[User], seed: int) -> int:
    """A phone for each of `people`, its keys derived from the seed (reproducible)."""
    devices = []
    for person in people:
        digest = hashlib.sha256(f"{seed}:{person.username}".encode()).digest()
        key = ec.derive_private_key(int.from_bytes(digest, "big"), ec.SECP256R1())
        public = key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        devices.append(
            PushSubscription(
                user=person,
                endpoint=f"{DEMO_PUSH_ORIGIN}cadence-demo-{_b64(digest[:12])}",
                p256dh=_b64(public),
                auth=_b64(digest[16:]),
                device="Demo phone (not a real device: never sent to)",
            )
        )
    return len(PushSubscription.objects.bulk_create(devices))
