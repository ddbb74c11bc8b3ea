"""A local stand-in for a browser's push service (FCM, Mozilla autopush): it takes Web Push
messages over HTTP as the real ones do, checks the VAPID signature, and decrypts each payload
with the device's own private key (RFC 8291, aes128gcm), so a test reads what the phone would
show. Devices whose endpoint path starts /gone/ answer 410, as a service does for a device that
unsubscribed."""

import base64
import json
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Device:
    name: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    @property
    def keys(self) -> dict[str, str]:
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"p256dh": _b64(public), "auth": _b64(self.auth)}

    def subscription(self) -> dict:
        """What the browser's PushSubscription.toJSON() gives the page."""
        return {"endpoint": self.endpoint, "expirationTime": None, "keys": self.keys}


@dataclass
class Received:
    device: str
    message: dict
    vapid_key: str
    claims: dict
    ttl: int


@dataclass
class PushService:
    origin: str
    devices: dict[str, Device] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def device(self, name: str, *, gone: bool = False) -> Device:
        path = ("gone/" if gone else "send/") + _b64(os.urandom(12))
        device = Device(
            name, f"{self.origin}/{path}", ec.generate_private_key(ec.SECP256R1()), os.urandom(16)
        )
        self.devices[path] = device
        return device

    def messages(self, device: Device) -> list[dict]:
        return [item.message for item in self.received if item.device == device.name]


def _verify_vapid(authorization: str, origin: str) -> tuple[str, dict]:
    """The VAPID header (RFC 8292): `vapid t=<ES256 JWT>, k=<public key>`; the token must be
    signed by that key, for this service (aud) and not expired."""
    scheme, _, rest = authorization.partition(" ")
    assert scheme == "vapid", authorization
    parts = dict(item.strip().split("=", 1) for item in rest.split(","))
    header, claims, signature = parts["t"].split(".")
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _unb64(parts["k"]))
    raw = _unb64(signature)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public.verify(der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    decoded = json.loads(_unb64(claims))
    assert json.loads(_unb64(header))["alg"] == "ES256"
    assert decoded["aud"] == origin and decoded["exp"] > time.time() and decoded["sub"]
    return parts["k"], decoded


def start(host: str = "127.0.0.1") -> tuple[PushService, ThreadingHTTPServer]:
    service = PushService(origin="")

    class Handler(BaseHTTPRequestHandler):
        # Keep-alive, as the real services allow: a sender reuses its connection.
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            path = self.path.lstrip("/")
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            device = service.devices.get(path)
            try:
                assert device is not None, f"no device at {path}"
                key, claims = _verify_vapid(self.headers["Authorization"], service.origin)
                assert self.headers["Content-Encoding"] == "aes128gcm"
                plain = http_ece.decrypt(
                    body,
                    private_key=device.private_key,
                    auth_secret=device.auth,
                    version="aes128gcm",
                )
            except (AssertionError, InvalidSignature, KeyError, ValueError) as error:
                service.refused.append(f"{path}: {error!r}")
                self.answer(400)
                return
            if path.startswith("gone/"):
                self.answer(410)
                return
            service.received.append(
                Received(device.name, json.loads(plain), key, claims, int(self.headers["TTL"]))
            )
            self.answer(201)

    server = ThreadingHTTPServer((host, 0), Handler)
    service.origin = f"http://{host}:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return service, server
