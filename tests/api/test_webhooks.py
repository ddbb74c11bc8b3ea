"""Webhooks: events recorded for the webhooks that want them, POSTed signed to a receiver (a
local HTTP server stands in for the ERP), retried with growing waits, given up in the end; one
journey through a real Celery worker."""

import datetime as dt
import hashlib
import hmac
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from celery import current_app
from django.utils import timezone

from api.models import DeliveryStatus, Webhook, WebhookDelivery, WebhookEvent
from api.services import webhook_save
from api.webhooks import (
    MAX_ATTEMPTS,
    SIGNATURE_HEADER,
    _claim,
    active_events,
    lost_deliveries_send,
    webhook_deliver,
)
from health.services import accounts_refresh
from tests.conftest import start_worker, stop_worker
from tests.factories import CustomerFactory
from tests.imports.test_import import run
from visits.services import visit_log


class Receiver:
    """An HTTP endpoint answering the statuses it is given in turn (then 200), keeping what it
    was sent."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.received: list[tuple[dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/cadence"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = Receiver()
    yield made
    made.close()


def hook(url: str, *events: str) -> Webhook:
    return webhook_save(webhook=Webhook(url=url, events=list(events) or list(WebhookEvent.values)))


def verified(headers: dict, body: bytes, secret: str) -> bool:
    """What the receiving system does: recompute the signature over the timestamp and body."""
    parts = dict(part.split("=", 1) for part in headers[SIGNATURE_HEADER].split(","))
    expected = hmac.new(
        secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256
    ).hexdigest()
    fresh = abs(time.time() - int(parts["t"])) < 300
    return fresh and hmac.compare_digest(expected, parts["v1"])


def _log(world, customer=None):
    return visit_log(
        user=world.rep_north,
        customer=customer or world.north_customer,
        kind="on_site",
        visited_at=timezone.now() - dt.timedelta(hours=1),
        duration_minutes=30,
        notes="Signed the renewal",
    ).visit


@pytest.mark.django_db(transaction=True)
def test_a_logged_visit_is_posted_signed_and_a_failure_retried_then_given_up(world, receiver):
    webhook = hook(receiver.url, WebhookEvent.VISIT_LOGGED)
    receiver.statuses = [503]
    visit = _log(world)
    delivery = WebhookDelivery.objects.get()
    assert delivery.event == "visit.logged" and delivery.payload["visit"]["id"] == visit.pk
    wait = webhook_deliver(delivery.pk)
    delivery.refresh_from_db()
    assert wait == 30 and delivery.attempts == 1 and delivery.last_status_code == 503
    assert delivery.status == DeliveryStatus.PENDING
    assert webhook_deliver(delivery.pk) is None, "not due yet: nothing sent"
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert webhook_deliver(delivery.pk) is None
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 2
    assert len(receiver.received) == 2
    headers, body = receiver.received[-1]
    assert verified(headers, body, webhook.secret)
    assert not verified(headers, body.replace(b"renewal", b"nothing"), webhook.secret)
    sent = json.loads(body)
    assert sent["event"] == "visit.logged" and sent["id"] == delivery.pk
    assert sent["data"]["visit"]["notes"] == "Signed the renewal"
    assert headers["Cadence-Delivery"] == str(delivery.pk)

    # A receiver that keeps failing: waits double, and after MAX_ATTEMPTS it is given up.
    receiver.statuses = [500] * MAX_ATTEMPTS
    _log(world)
    failing = WebhookDelivery.objects.exclude(pk=delivery.pk).get()
    waits = []
    for _ in range(MAX_ATTEMPTS):
        WebhookDelivery.objects.filter(pk=failing.pk).update(next_attempt_at=timezone.now())
        waits.append(webhook_deliver(failing.pk))
    failing.refresh_from_db()
    assert waits[:3] == [30, 60, 120] and waits[-1] is None
    assert failing.status == DeliveryStatus.FAILED and failing.attempts == MAX_ATTEMPTS


@pytest.mark.django_db(transaction=True)
def test_an_unreachable_receiver_is_retried_and_a_lost_task_swept(world, receiver, monkeypatch):
    hook("http://127.0.0.1:9/nobody-listens", WebhookEvent.VISIT_LOGGED)
    _log(world)
    delivery = WebhookDelivery.objects.get()
    assert webhook_deliver(delivery.pk) == 30
    delivery.refresh_from_db()
    assert delivery.last_status_code is None and delivery.last_error
    queued = []
    monkeypatch.setattr("api.webhooks.enqueue", lambda name, args: queued.append(args))
    assert lost_deliveries_send() == 0, "its retry is not due yet"
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - dt.timedelta(minutes=10)
    )
    assert lost_deliveries_send() == 1 and queued == [[delivery.pk]]


@pytest.mark.django_db(transaction=True)
def test_flags_and_imports_are_announced_only_to_the_webhooks_that_want_them(
    world, receiver, django_assert_num_queries
):
    silent = CustomerFactory(territory=world.north, owner=world.rep_north)
    # No webhook: an event costs no query beyond the first look.
    _log(world, silent)
    with django_assert_num_queries(0):
        assert active_events() == set()
    flags_hook = hook(receiver.url, WebhookEvent.FLAG_OPENED, WebhookEvent.FLAG_RESOLVED)
    imports_hook = hook(receiver.url + "?imports", WebhookEvent.IMPORT_FINISHED)
    neglected = CustomerFactory(
        territory=world.north,
        owner=world.rep_north,
        since=timezone.localdate() - dt.timedelta(days=400),
    )
    accounts_refresh(customer_ids=[neglected.pk], as_of=timezone.localdate())
    opened = WebhookDelivery.objects.get(event="flag.opened")
    assert opened.webhook == flags_hook
    assert [flag["customer"] for flag in opened.payload["flags"]] == [neglected.pk]
    assert opened.payload["flags"][0]["kind"] == "neglected"
    _log(world, neglected)
    accounts_refresh(customer_ids=[neglected.pk], as_of=timezone.localdate())
    resolved = WebhookDelivery.objects.get(event="flag.resolved")
    assert resolved.payload["flags"][0]["id"] == opened.payload["flags"][0]["id"]
    assert not WebhookDelivery.objects.filter(event="visit.logged").exists()

    job, _ = run(world, "customers", "Name,Code,Territory\nAcme Ltd,AC-1,North\nBeta,BE-2,North\n")
    finished = WebhookDelivery.objects.get(event="import.finished")
    assert finished.webhook == imports_hook
    assert finished.payload["import"] | {"finished_at": None} == {
        "id": job.pk,
        "kind": "customers",
        "file": "export.csv",
        "status": "done",
        "rows": 2,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
        "finished_at": None,
    }
    assert webhook_deliver(finished.pk) is None
    assert json.loads(receiver.received[-1][1])["data"]["import"]["id"] == job.pk


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_delivers_retries_and_delivers_once(world, monkeypatch):
    receiver = Receiver(statuses=[502])
    queue = f"test-webhooks-{time.monotonic_ns()}"
    worker = start_worker(queue, CADENCE_WEBHOOK_FIRST_WAIT="1")
    monkeypatch.setitem(current_app.conf, "task_default_queue", queue)
    try:
        webhook = hook(receiver.url, WebhookEvent.VISIT_LOGGED)
        visit = _log(world)
        deadline = time.monotonic() + 60
        while (
            time.monotonic() < deadline
            and not WebhookDelivery.objects.filter(status=DeliveryStatus.DELIVERED).exists()
        ):
            time.sleep(0.2)
        delivery = WebhookDelivery.objects.get()
        assert delivery.status == DeliveryStatus.DELIVERED, delivery.last_error
        assert delivery.attempts == 2 and len(receiver.received) == 2
        headers, body = receiver.received[-1]
        assert verified(headers, body, webhook.secret)
        assert json.loads(body)["data"]["visit"]["id"] == visit.pk
    finally:
        stop_worker(worker)
        receiver.close()


@pytest.mark.django_db
def test_an_admin_sets_a_webhook_up_in_the_admin(client, world, django_capture_on_commit_callbacks):
    assert active_events() == set()  # cached: nothing wanted yet
    client.force_login(world.admin)
    page = client.get("/admin/api/webhook/add/")
    assert page.status_code == 200 and 'value="visit.logged"' in page.text
    with django_capture_on_commit_callbacks(execute=True):
        saved = client.post(
            "/admin/api/webhook/add/",
            {
                "url": "https://erp.example.com/hooks/cadence",
                "events": ["visit.logged", "flag.opened"],
                "secret": "s" * 40,
                "is_active": "on",
            },
        )
    assert saved.status_code == 302
    webhook = Webhook.objects.get()
    assert sorted(webhook.events) == ["flag.opened", "visit.logged"]
    assert active_events() == {"flag.opened", "visit.logged"}, "the cache follows the save"
    refused = client.post(
        "/admin/api/webhook/add/",
        {"url": "ftp://erp.example.com/", "events": ["visit.logged"], "secret": "x"},
    )
    assert refused.status_code == 200 and Webhook.objects.count() == 1


class Trickler:
    """A receiver that reads the request, then answers one byte every `every` seconds: a
    per-read timeout never fires on it."""

    def __init__(self, every: float = 0.3):
        self.requests = 0
        self.closed = threading.Event()
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        self.listener = listener
        self.url = f"http://127.0.0.1:{listener.getsockname()[1]}/slow"
        self.every = every
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.closed.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._trickle, args=(connection,), daemon=True).start()

    def _trickle(self, connection):
        self.requests += 1
        with connection:
            connection.recv(65536)
            try:
                for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" * 100:
                    connection.sendall(bytes([byte]))
                    time.sleep(self.every)
            except OSError:
                return

    def close(self):
        self.closed.set()
        self.listener.close()


@pytest.mark.django_db(transaction=True)
def test_a_receiver_that_trickles_bytes_is_cut_off_at_the_deadline(world, settings):
    settings.CADENCE_WEBHOOK_TIMEOUT = 1
    trickler = Trickler()
    try:
        hook(trickler.url, WebhookEvent.VISIT_LOGGED)
        _log(world)
        delivery = WebhookDelivery.objects.get()
        started = time.monotonic()
        wait = webhook_deliver(delivery.pk)
        elapsed = time.monotonic() - started
    finally:
        trickler.close()
    delivery.refresh_from_db()
    assert elapsed < 2.5, f"the attempt took {elapsed:.1f} s against a 1 s deadline"
    assert wait == 30 and delivery.attempts == 1
    assert delivery.status == DeliveryStatus.PENDING and delivery.last_status_code is None
    assert "no complete answer within 1 s" in delivery.last_error


@pytest.mark.django_db(transaction=True)
def test_a_redirect_is_a_failed_attempt_saying_where_it_pointed(world):
    target = Receiver()
    redirects = []

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            redirects.append(self.path)
            self.send_response(302)
            self.send_header("Location", target.url)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        hook(f"http://127.0.0.1:{server.server_port}/old", WebhookEvent.VISIT_LOGGED)
        _log(world)
        delivery = WebhookDelivery.objects.get()
        assert webhook_deliver(delivery.pk) == 30
    finally:
        server.shutdown()
        server.server_close()
        target.close()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING and delivery.last_status_code == 302
    assert f"redirected to {target.url}, not followed" in delivery.last_error
    assert redirects == ["/old"] and target.received == [], "the redirect was not followed"


@pytest.mark.django_db(transaction=True)
def test_an_attempt_whose_worker_died_is_counted_and_the_delivery_given_up_in_the_end(world):
    hook("http://127.0.0.1:9/never-answers", WebhookEvent.VISIT_LOGGED)
    _log(world)
    delivery = WebhookDelivery.objects.get()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
        # A worker claims the delivery, then is killed (or hits its time limit) mid-send.
        assert _claim(delivery.pk) is not None
        delivery.refresh_from_db()
        assert delivery.attempts == attempt and delivery.next_attempt_at > timezone.now()
        assert "stopped before the receiver answered" in delivery.last_error
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert webhook_deliver(delivery.pk) is None
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == MAX_ATTEMPTS


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_slow_receiver_never_holds_up_a_refresh(world, monkeypatch):
    """The documented workers: one for everything but webhooks, one for webhooks. While a
    trickling receiver holds the webhooks worker, a refresh request is done at once."""
    trickler = Trickler(every=0.5)
    queue = f"test-lanes-{time.monotonic_ns()}"
    main = start_worker(queue, queues_args=("--exclude-queues", f"{queue}.webhooks"))
    hooks_worker = start_worker(
        queue, queues_args=("--queues", f"{queue}.webhooks"), CADENCE_WEBHOOK_TIMEOUT="20"
    )
    monkeypatch.setitem(current_app.conf, "task_default_queue", queue)
    try:
        hook(trickler.url, WebhookEvent.VISIT_LOGGED)
        _log(world)  # queues the delivery (webhooks lane) and the account's refresh
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and trickler.requests == 0:
            time.sleep(0.1)
        assert trickler.requests == 1, "the webhooks worker is sending"
        customer = CustomerFactory(territory=world.north, owner=world.rep_north)
        started = time.monotonic()
        _log(world, customer)
        while time.monotonic() < started + 20:
            if customer_refreshed(customer):
                break
            time.sleep(0.1)
        waited = time.monotonic() - started
        assert customer_refreshed(customer), "the refresh never ran"
        assert waited < 10, f"the refresh waited {waited:.1f} s behind a slow webhook"
        sending = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, attempts=1)
        assert sending.exists(), "the slow send is still in progress meanwhile"
    finally:
        stop_worker(main)
        stop_worker(hooks_worker)
        trickler.close()


def customer_refreshed(customer) -> bool:
    """The account's figures show its latest visit (its local day: a visit logged "an hour ago"
    just after midnight was yesterday)."""
    from health.models import AccountMetrics
    from visits.models import Visit

    metrics = AccountMetrics.objects.filter(customer=customer).first()
    latest = Visit.objects.filter(customer=customer).order_by("-visited_at").first()
    return (
        metrics is not None
        and latest is not None
        and metrics.last_visit_on == timezone.localdate(latest.visited_at)
    )
