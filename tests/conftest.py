import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from accounts.models import Role, Territory, User
from accounts.services import calendar_token_regenerate
from api.services import access_token_create
from crm.models import Customer
from health.models import AccountFlag, FlagKind
from health.services import accounts_refresh
from imports.engine import media_path
from imports.models import ImportJob
from tests.factories import (
    ContactFactory,
    CustomerFactory,
    InvoiceFactory,
    PlannedVisitFactory,
    SupportCaseFactory,
    TerritoryFactory,
    UserFactory,
)
from visits.ask_services import AskInput, asks_record

# Playwright's sync API runs an event loop in the test thread; Django's live_server ORM calls
# from that thread are safe here because the test itself makes them, not the loop.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
# The service worker's requests pass through the context's routes, so a test can cut the phone
# off the network entirely (tests/test_offline.py).
os.environ.setdefault("PW_EXPERIMENTAL_SERVICE_WORKER_NETWORK_EVENTS", "1")


def pytest_collection_modifyitems(items):
    """Every test that starts a Celery worker through the fixture carries the worker marker,
    so `scripts/test --fast` leaves it out."""
    for item in items:
        if "celery_worker_queue" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.worker)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """A test database of this run's own (test_cadence_<pid>), so two runs on one server (a
    developer's and CI's) never drop each other's database. CADENCE_TEST_DB_SUFFIX names it
    instead, e.g. to run the suite with --reuse-db on a database an older version migrated
    (docs/architecture.md)."""
    from pytest_django.fixtures import _set_suffix_to_test_databases

    _set_suffix_to_test_databases(suffix=os.environ.get("CADENCE_TEST_DB_SUFFIX", str(os.getpid())))


@pytest.fixture(autouse=True, scope="session")
def as_of_test_day():
    """CADENCE_TEST_DAY=2026-12-06 runs the suite as if it were 10:30 on that day (or
    2026-12-06T23:50 for that time; the clock ticks on from there), to prove no test depends on
    the weekday, the date or the hour it runs:
    `for d in 06 07 31; do CADENCE_TEST_DAY=2026-12-$d scripts/test --fast; done`. Processes
    the tests start (the worker, the browser's server) and PostgreSQL's now() keep the real
    clock, so the fast lane is the one to run this way."""
    day = os.environ.get("CADENCE_TEST_DAY")
    if not day:
        yield None
        return
    moment = dt.datetime.fromisoformat(day if "T" in day else f"{day}T10:30")
    with time_machine.travel(timezone.make_aware(moment), tick=True):
        yield moment


@pytest.fixture(autouse=True)
def primary_reads_only(settings):
    """Tests run inside a transaction the replica's connection cannot see: only the tests of
    tests/test_replica.py (committed data) read from it."""
    settings.CADENCE_REPLICA_READS = False


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def cache_of_its_own(settings):
    """Each test caches under its own key prefix, so no test sees another's cached pages."""
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}
    }


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    """Rate-limit counters live in Redis for a minute; no test inherits another's."""
    url = settings.REDIS_URL  # before a test points the setting elsewhere
    yield
    import redis

    client = redis.Redis.from_url(url)
    for key in client.scan_iter(f"{settings.CADENCE_CACHE_PREFIX}:rate:*"):
        client.delete(key)


@pytest.fixture(autouse=True)
def redis_breakers_closed():
    """A test that made Redis fail does not leave the next test skipping Redis."""
    yield
    from core.cache import _breakers

    for breaker in _breakers.values():
        breaker.reset()


@pytest.fixture(scope="session")
def media_root(tmp_path_factory):
    return tmp_path_factory.mktemp("media")


@pytest.fixture(autouse=True)
def uploads_in_a_temporary_directory(settings, media_root):
    """Uploaded files and rejects files go to a directory of this test session (and the
    Celery worker the tests start is told the same)."""
    settings.MEDIA_ROOT = media_root


@dataclass
class World:
    """Two regions: North (with a sub-territory, North-Coast) and South, one person per role."""

    north: Territory
    north_coast: Territory
    south: Territory
    admin: User
    north_manager: User
    south_manager: User
    rep_north: User
    rep_coast: User
    rep_south: User
    north_customer: Customer
    coast_customer: Customer
    south_customer: Customer
    south_customer_owned_by_rep_north: Customer


@pytest.fixture
def world(db) -> World:
    north = TerritoryFactory(name="North")
    north_coast = TerritoryFactory(name="North-Coast", parent=north)
    south = TerritoryFactory(name="South")
    admin = UserFactory(username="the-admin", role=Role.ADMIN, is_staff=True, is_superuser=True)
    north_manager = UserFactory(username="north-manager", role=Role.MANAGER)
    south_manager = UserFactory(username="south-manager", role=Role.MANAGER)
    rep_north = UserFactory(username="rep-north")
    rep_coast = UserFactory(username="rep-coast")
    rep_south = UserFactory(username="rep-south")
    north.managers.add(north_manager)
    south.managers.add(south_manager)
    north.members.add(rep_north)
    north_coast.members.add(rep_coast)
    south.members.add(rep_south)
    return World(
        north=north,
        north_coast=north_coast,
        south=south,
        admin=admin,
        north_manager=north_manager,
        south_manager=south_manager,
        rep_north=rep_north,
        rep_coast=rep_coast,
        rep_south=rep_south,
        north_customer=CustomerFactory(name="Northern Mills", territory=north, owner=rep_north),
        coast_customer=CustomerFactory(name="Coastal Fish", territory=north_coast, owner=rep_coast),
        south_customer=CustomerFactory(name="Southern Bakes", territory=south, owner=rep_south),
        south_customer_owned_by_rep_north=CustomerFactory(
            name="Southern Outpost", territory=south, owner=rep_north
        ),
    )


def database_url_for_subprocess() -> str:
    """A DATABASE_URL naming the test database, for processes the tests start."""
    from django.db import connection

    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_worker(
    queue: str, loglevel: str = "WARNING", *, queues_args: tuple = (), **env_extra: str
) -> subprocess.Popen:
    """A real Celery worker process (solo pool) consuming `queue` and its lanes (or what
    `queues_args` names, e.g. ("--queues", f"{queue}.webhooks")) from the real Redis broker and
    writing to the test database; what it logs at `loglevel` shows in a failed test's output."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_subprocess(),
        "DJANGO_DEBUG": "false",
        "CADENCE_SITE_URL": "https://cadence.example.com",
        "DJANGO_SECRET_KEY": "test-worker-secret",
        "CELERY_QUEUE": queue,
        "DJANGO_MEDIA_ROOT": str(settings.MEDIA_ROOT),
        **env_extra,
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool",
            "solo",
            *queues_args,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            loglevel,
        ],
        cwd=settings_base_dir(),
        env=env,
    )


def stop_worker(worker: subprocess.Popen) -> None:
    if worker.poll() is not None:
        return
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=15)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


@pytest.fixture
def celery_worker_queue(transactional_db):
    """A real Celery worker consuming a queue of its own. Yields the queue name."""
    queue = f"test-{uuid.uuid4().hex[:12]}"
    worker = start_worker(queue)
    try:
        yield queue
    finally:
        stop_worker(worker)


def settings_base_dir() -> str:
    from django.conf import settings

    return str(settings.BASE_DIR)


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by Playwright (never Playwright's own download)."""
    from playwright.sync_api import sync_playwright

    executable = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")
    if not executable:
        pytest.fail(
            "Chromium is not installed: scripts/test installs it (apt-get install chromium)"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# Messages Chromium itself prints that no page can prevent: Playwright's contexts are
# incognito, where Chrome has no Push API and says so (by design it cannot be detected first).
BROWSER_OWN_ERRORS = ("does not support the Push API in incognito mode",)


def _browser_page(browser, width: int, height: int, **context_options):
    context = browser.new_context(viewport={"width": width, "height": height}, **context_options)
    page = context.new_page()
    page.set_default_timeout(10_000)
    blocked, errors, failed = [], [], []
    page.on(
        "console",
        lambda message: (
            blocked.append(message.text)
            if "Content Security Policy" in message.text
            else errors.append(message.text)
            if message.type == "error"
            and not any(own in message.text for own in BROWSER_OWN_ERRORS)
            else None
        ),
    )
    page.on(
        "response",
        lambda response: failed.append(response.url) if response.status >= 500 else None,
    )
    yield page
    context.close()
    assert not blocked, f"the Content-Security-Policy blocked something: {blocked}"
    assert not errors, f"the browser console showed errors: {errors}"
    assert not failed, f"the server answered 5xx: {failed}"


@pytest.fixture
def phone_page(browser):
    """A page the size of a small phone screen (375 px wide)."""
    yield from _browser_page(browser, 375, 740)


# Leeds city centre: where the located phone stands.
LEEDS = {"latitude": 53.7997, "longitude": -1.5492}


@pytest.fixture
def phone_in_leeds(browser):
    """A phone that lets the site read its position (Leeds city centre)."""
    yield from _browser_page(browser, 375, 740, geolocation=LEEDS, permissions=["geolocation"])


@pytest.fixture
def desktop_page(browser):
    yield from _browser_page(browser, 1280, 900)


def browser_login(page, live_server, username: str, password: str = "secret-pass-123") -> None:
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


@pytest.fixture
def sides(world):
    """Objects of the North (where rep-north and north-manager work) and of the South."""
    made = {}
    for name, customer, rep in (
        ("north", world.north_customer, world.rep_north),
        ("south", world.south_customer, world.rep_south),
    ):
        made[name] = {
            "customer": customer,
            "rep": rep,
            "contact": ContactFactory(customer=customer),
            "case": SupportCaseFactory(customer=customer, is_open=True),
            "invoice": InvoiceFactory(customer=customer),
            "ask": asks_record(
                user=rep, customer=customer, asks=[AskInput(kind="price", text=f"{name} price")]
            )[0],
            "flag": AccountFlag.objects.create(
                customer=customer,
                kind=FlagKind.NEGLECTED,
                inputs={"days_since_visit": "99.00", "cadence_days": "30.00", "tier": "B"},
                as_of=timezone.localdate(),
                opened_at=timezone.now(),
                raised_at=timezone.now(),
            ),
            "visit": PlannedVisitFactory(
                customer=customer,
                salesperson=rep,
                scheduled_start=timezone.now() + dt.timedelta(days=2),
            ),
            "token": calendar_token_regenerate(user=rep),
            "api_token": access_token_create(user=rep, name=f"{name} script")[0],
            "job": ImportJob.objects.create(
                kind="customers",
                original_name=f"{name}.csv",
                stored_name=f"{name}.csv",
                size=1,
                file_format="csv",
                headers=["Name"],
                rejects_name=f"rejects-{name}.csv",
                uploaded_by=world.admin,
            ),
        }
        accounts_refresh(customer_ids=[customer.pk], as_of=timezone.localdate())
        rejects = media_path(f"rejects-{name}.csv")
        rejects.parent.mkdir(parents=True, exist_ok=True)
        rejects.write_text("Name,error\nX,bad\n")
    return made
