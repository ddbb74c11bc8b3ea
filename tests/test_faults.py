"""Faults against real services: Redis stopped under visit logging, a Celery worker killed in
the middle of the nightly refresh, PostgreSQL restarted under a running web server."""

import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import redis
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from config.celery import app
from core.cache import _breakers
from core.models import PendingRefresh
from core.refresh import customers_refresh_request as health_refresh_request
from crm.models import Customer
from crm.services import customer_update
from demo.generator import demo_data_seed
from health.models import AccountFlag, AccountMetrics, SegmentFigures
from health.services import _FORGET_ANSWERED_SQL, health_refresh_everything, pending_refresh_run
from health.tasks import health_refresh_nightly, health_refresh_pending
from imports.engine import IMPORT_LOCK
from imports.models import ImportJob, ImportStatus
from imports.progress import progress_read
from imports.reverts import import_revert
from imports.runs import (
    customers_refresh_after_import,
    import_claim,
    import_customer_ids,
    import_queue,
    import_run,
    imports_stalled_reclaim,
)
from imports.services import import_configure
from tests.conftest import settings_base_dir, start_worker, stop_worker
from tests.factories import CustomerFactory, ImportJobFactory, PlannedVisitFactory
from tests.imports.test_import import upload
from visits.models import Visit, VisitStatus

pytestmark = pytest.mark.faults


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrivateRedis:
    """A redis-server of this test's own, which it can stop, start again on the same port, or
    pause (SIGSTOP: it accepts connections and never answers, like a hung server)."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)

    def fail(self, outage: str) -> None:
        if outage == "paused":
            self.process.send_signal(signal.SIGSTOP)
        else:
            self.stop()

    def recover(self, outage: str) -> None:
        if outage == "paused":
            self.process.send_signal(signal.SIGCONT)
        else:
            self.start()
        for breaker in _breakers.values():
            breaker.reset()

    def remove(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.stop()


@pytest.fixture
def private_redis(monkeypatch, settings):
    """Everything Cadence keeps in Redis goes to a server of the test's own: the Celery
    broker, the cache, rate limits and import progress."""
    server = PrivateRedis()
    server.start()
    monkeypatch.setitem(app.conf, "broker_url", server.url)
    monkeypatch.setattr(app, "_pool", None)
    monkeypatch.setattr(app.amqp, "_producer_pool", None)
    settings.REDIS_URL = server.url
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": server.url}}
    try:
        yield server
    finally:
        server.remove()
        app._pool = None
        app.amqp._producer_pool = None


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def visit_form(when: dt.datetime) -> dict:
    return {
        "kind": "on_site",
        "visited_at": timezone.localtime(when).strftime("%Y-%m-%dT%H:%M"),
        "duration_minutes": 30,
        "travel_minutes": 0,
        "distance_km": "0",
        "expenses": "0",
        "notes": "Logged while Redis was failing",
    }


@pytest.mark.django_db
@pytest.mark.parametrize("outage", ["refused", "paused"])
def test_writes_answer_fast_and_keep_their_refresh_while_redis_fails(
    outage, client, world, private_redis, django_capture_on_commit_callbacks
):
    start = timezone.now() - dt.timedelta(hours=2)
    planned = PlannedVisitFactory(
        customer=world.north_customer, salesperson=world.rep_north, scheduled_start=start
    )
    client.force_login(world.rep_north)
    private_redis.fail(outage)

    posts = [(reverse("visits:log", args=[planned.pk]), visit_form(start))] + [
        (
            reverse("visits:log_ad_hoc") + f"?customer={world.north_customer.pk}",
            visit_form(timezone.now() - dt.timedelta(hours=hours)),
        )
        for hours in (3, 4, 5)
    ]
    for url, data in posts:
        started = time.monotonic()
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(url, data)
        seconds = time.monotonic() - started
        assert response.status_code == 302, response.content.decode()[:500]
        assert seconds < 1, f"a write took {seconds:.2f} s"
    for page in (reverse("visits:schedule"), reverse("healthz")):
        response, seconds = timed(lambda p=page: client.get(p))
        assert response.status_code in (200, 503) and seconds < 1, f"{page}: {seconds:.2f} s"

    planned.refresh_from_db()
    assert planned.status == VisitStatus.DONE
    assert world.north_customer.visits.filter(status=VisitStatus.DONE).count() == 4
    assert PendingRefresh.objects.filter(customer=world.north_customer).exists()
    assert not AccountMetrics.objects.filter(customer=world.north_customer).exists()

    private_redis.recover(outage)
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=5)):
        assert health_refresh_pending.apply().get() == 1
    assert not PendingRefresh.objects.exists()
    assert AccountMetrics.objects.get(customer=world.north_customer).visits_done == 4


@pytest.mark.django_db
def test_the_worker_forgets_only_the_requests_it_answered(world):
    account = world.north_customer
    health_refresh_request([account.pk])
    assert pending_refresh_run(customer_ids=[account.pk]) == 1
    assert not PendingRefresh.objects.exists(), "the request it answered is gone"

    health_refresh_request([account.pk])
    answered = list(PendingRefresh.objects.values_list("customer_id", "requested_at"))
    health_refresh_request([account.pk])  # a newer request lands while the refresh runs
    with connection.cursor() as cursor:
        customers, times = zip(*answered, strict=True)
        cursor.execute(_FORGET_ANSWERED_SQL, [list(customers), list(times)])
    assert PendingRefresh.objects.filter(customer=account).exists(), "the newer one stays"


@pytest.mark.django_db
def test_an_import_that_cannot_be_queued_fails_with_a_message(
    world, private_redis, django_capture_on_commit_callbacks
):
    job = ImportJobFactory(status=ImportStatus.UPLOADED, uploaded_by=world.admin)
    private_redis.fail("paused")
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        import_queue(job=job, dry_run=False)
    seconds = time.monotonic() - started
    job.refresh_from_db()
    assert seconds < 1, f"took {seconds:.2f} s"
    assert job.status == ImportStatus.FAILED
    assert "not answering" in job.error


def wait_until(condition, seconds: float, what: str, progress=None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    where = f" ({progress()})" if progress else ""
    raise AssertionError(f"timed out waiting for {what}{where}")


def test_a_worker_killed_mid_refresh_converges_when_the_refresh_runs_again(
    transactional_db, monkeypatch
):
    demo_data_seed(customers=300, seed=11)
    total = Customer.objects.count()
    AccountFlag.objects.all().delete()
    AccountMetrics.objects.all().delete()
    SegmentFigures.objects.all().delete()
    queue = f"test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setitem(app.conf, "task_default_queue", queue)
    small_batches = {"CADENCE_BATCH_SIZE": "5"}

    worker = start_worker(queue, **small_batches)
    try:
        health_refresh_nightly.apply_async(queue=queue)
        wait_until(lambda: AccountMetrics.objects.count() >= total // 4, 60, "the refresh to start")
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        stop_worker(worker)
    halfway = AccountMetrics.objects.count()
    assert 0 < halfway < total, "the worker died with the refresh half done"
    assert not SegmentFigures.objects.exists(), "the chord never finished"

    # At INFO the worker logs each batch and the rollup: a hang shows where it stopped.
    worker = start_worker(queue, loglevel="INFO", **small_batches)
    try:
        health_refresh_nightly.apply_async(queue=queue)
        wait_until(
            lambda: SegmentFigures.objects.exists() and AccountMetrics.objects.count() == total,
            120,
            "the second refresh to finish",
            progress=lambda: (
                f"{AccountMetrics.objects.count()} of {total} accounts computed, "
                f"rollups {'written' if SegmentFigures.objects.exists() else 'not written'}"
            ),
        )
    finally:
        stop_worker(worker)

    flags = set(AccountFlag.objects.values_list("customer_id", "kind", "resolved_at"))
    clean = health_refresh_everything(as_of=timezone.localdate())
    assert clean.customers == 0, "a clean run finds no metrics to change"
    assert not clean.opened and not clean.resolved and not clean.reraised
    assert set(AccountFlag.objects.values_list("customer_id", "kind", "resolved_at")) == flags
    assert not AccountFlag.objects.filter(resolved_at__isnull=False).exists()


class PrivatePostgres:
    """A PostgreSQL cluster of this test's own (initdb in a temporary directory), which it can
    stop and start under a running web server."""

    def __init__(self):
        # scripts/test finds (or installs) the server binaries, as for a project-local cluster.
        self.bindir = Path(
            os.environ.get("CADENCE_PG_BINDIR")
            or subprocess.run(
                ["pg_config", "--bindir"], capture_output=True, text=True, check=True
            ).stdout.strip()
        )
        self.base = Path(tempfile.mkdtemp(prefix="cadence-pg-"))
        self.base.chmod(0o755)
        self.data = self.base / "data"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/cadence"
        self.runas = []
        if os.geteuid() == 0:
            # postgres refuses to run as root.
            shutil.chown(self.base, "postgres")
            self.runas = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8")

    def _run(self, program: str, *args: str) -> None:
        subprocess.run(
            [*self.runas, str(self.bindir / program), *args],
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def start(self) -> None:
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.base / "log"),
            "-w",
            "-o",
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1",
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        subprocess.run(
            [
                *self.runas,
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.data),
                "-m",
                "immediate",
                "stop",
            ],
            capture_output=True,
        )
        shutil.rmtree(self.base, ignore_errors=True)


HTTPS_PROXY_HEADERS = {"X-Forwarded-Proto": "https"}


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def get(url: str, cookie: str = "", data: bytes | None = None) -> tuple[int, str, list[str]]:
    """Status, body and Set-Cookie headers; redirects are not followed."""
    headers = {**HTTPS_PROXY_HEADERS, "Referer": url.replace("http://", "https://", 1)}
    if cookie:
        headers["Cookie"] = cookie
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with _opener.open(request, timeout=10) as response:
            return (
                response.status,
                response.read().decode(),
                response.headers.get_all("Set-Cookie", []),
            )
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), error.headers.get_all("Set-Cookie", [])


def test_postgres_restarted_under_the_web_server(tmp_path):
    postgres = PrivatePostgres()
    server = None
    try:
        postgres.start()
        subprocess.run(
            [
                *postgres.runas,
                str(postgres.bindir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(postgres.port),
                "-U",
                "postgres",
                "cadence",
            ],
            check=True,
        )
        # As in production (DEBUG off, so handler500 answers), behind a proxy that says https.
        env = {
            **os.environ,
            "DATABASE_URL": postgres.url,
            "DJANGO_DEBUG": "false",
            "CADENCE_SITE_URL": "https://cadence.example.com",
            "DJANGO_SECRET_KEY": "fault-test-secret",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_MEDIA_ROOT": str(tmp_path),
            "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
        }
        manage = [sys.executable, "manage.py"]
        cwd = settings_base_dir()
        subprocess.run([*manage, "migrate", "-v0"], env=env, cwd=cwd, check=True)
        subprocess.run(
            [*manage, "collectstatic", "--no-input", "-v0"], env=env, cwd=cwd, check=True
        )
        subprocess.run(
            [
                *manage,
                "shell",
                "-c",
                "from accounts.models import User, Role;"
                "User.objects.create_user('ops-admin', password='x', role=Role.ADMIN)",
            ],
            env=env,
            cwd=cwd,
            check=True,
        )
        port = free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "--threads",
                "2",
            ],
            env=env,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(base), 30, "gunicorn to answer")
        session = _login(base)

        assert get(f"{base}/healthz")[0] == 200
        assert get(f"{base}/customers/", session)[0] == 200

        postgres.stop()
        status, body, _ = get(f"{base}/customers/", session)
        assert status == 503 and "briefly unavailable" in body
        status, body, _ = get(f"{base}/healthz")
        assert status == 503 and '"database": "error: OperationalError"' in body

        postgres.start()
        assert get(f"{base}/healthz")[0] == 200
        assert get(f"{base}/customers/", session)[0] == 200, "the session survived the restart"
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        postgres.remove()


def _answers(base: str) -> bool:
    try:
        return get(f"{base}/login/")[0] == 200
    except OSError:
        return False


def _cookies(set_cookie: list[str]) -> dict[str, str]:
    return dict(header.split(";", 1)[0].split("=", 1) for header in set_cookie)


def _login(base: str) -> str:
    """Log in as ops-admin through the login form; returns the Cookie header to send."""
    _, page, set_cookie = get(f"{base}/login/")
    cookies = _cookies(set_cookie)
    token = page.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    status, _, set_cookie = get(
        f"{base}/login/",
        cookie=f"csrftoken={cookies['csrftoken']}",
        data=f"username=ops-admin&password=x&csrfmiddlewaretoken={token}".encode(),
    )
    assert status == 302, "logged in"
    cookies.update(_cookies(set_cookie))
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


def big_customer_file(rows: int) -> str:
    lines = ["Company,Customer Code,Town,Territory,Tier"]
    lines += [f"Firm {n},KW-{n},Leeds,North,B" for n in range(rows)]
    return "\n".join(lines) + "\n"


def import_job(world, text: str) -> ImportJob:
    return upload(world, "customers", text)


FAST_BEATS = {"CADENCE_IMPORT_HEARTBEAT_SECONDS": "0.5"}


def kill_mid_import(world, worker, queue) -> ImportJob:
    job = import_job(world, big_customer_file(60_000))
    import_queue(job=job, dry_run=False)
    wait_until(
        lambda: (
            ImportJob.objects.filter(pk=job.pk, heartbeat_at__isnull=False).exists()
            and (progress_read(job.pk) or {}).get("rows", 0) > 0
        ),
        60,
        "the import to start",
    )
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    return job


def test_a_live_worker_takes_over_an_import_whose_worker_was_killed(
    transactional_db, world, settings, client, monkeypatch
):
    """Killed mid-import with a live worker beside it: within eight missed beats the run is
    sent again (the beat's reclaim; Redis's 30-minute redelivery is not waited for), the page
    says what is happening meanwhile, and the live worker finishes it."""
    settings.CADENCE_IMPORT_HEARTBEAT_SECONDS = 0.5
    queue = f"test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setitem(app.conf, "task_default_queue", queue)
    doomed = start_worker(queue, **FAST_BEATS)
    try:
        job = kill_mid_import(world, doomed, queue)
    finally:
        stop_worker(doomed)
    live = start_worker(queue, **FAST_BEATS)
    try:
        client.force_login(world.admin)
        assert imports_stalled_reclaim() == 0, "not stale yet"
        time.sleep(4.5)  # eight missed beats
        page = client.get(reverse("imports:detail", args=[job.pk])).text
        assert "stopped answering" in page and "Another worker takes it over" in page
        assert imports_stalled_reclaim() == 1
        assert imports_stalled_reclaim() == 0, "sent once per stale window"
        wait_until(
            lambda: ImportJob.objects.get(pk=job.pk).status == ImportStatus.DONE,
            90,
            "the live worker to finish the import",
        )
    finally:
        stop_worker(live)
    job.refresh_from_db()
    assert (job.rows, job.created, job.rejected) == (60_000, 60_000, 0)


def test_a_restarted_worker_takes_over_an_import_whose_worker_was_killed(
    transactional_db, world, monkeypatch
):
    queue = f"test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setitem(app.conf, "task_default_queue", queue)
    redelivering = {**FAST_BEATS, "CELERY_VISIBILITY_TIMEOUT": "6"}
    worker = start_worker(queue, **redelivering)
    try:
        job = kill_mid_import(world, worker, queue)
    finally:
        stop_worker(worker)
    # A starting worker puts back the messages left unacknowledged longer than the visibility
    # timeout (and sweeps again every few minutes).
    time.sleep(7)
    worker = start_worker(queue, **redelivering)
    try:
        wait_until(
            lambda: ImportJob.objects.get(pk=job.pk).status == ImportStatus.DONE,
            90,
            "the redelivered import to finish",
        )
    finally:
        stop_worker(worker)
    job.refresh_from_db()
    assert (job.rows, job.created, job.rejected) == (60_000, 60_000, 0)
    assert Customer.objects.filter(code__startswith="KW-").count() == 60_000


def test_a_revert_waits_for_a_running_import_and_then_refuses(transactional_db, world):
    """Reverting A while B (which changes the same account again) runs: the revert waits for
    B's transaction, sees it, and refuses rather than restore A's values over B's."""
    original = CustomerFactory(code="SHARED-1", city="York", territory=world.north)
    first = import_job(world, "Company,Customer Code,Town,Territory\nShared,SHARED-1,Leeds,North\n")
    import_run(job=first, dry_run=False)
    second = import_job(world, "Company,Customer Code,Town,Territory\nShared,SHARED-1,Hull,North\n")
    ImportJob.objects.filter(pk=second.pk).update(status=ImportStatus.RUNNING)

    outcome = {}

    def revert_first() -> None:
        try:
            import_revert(job=ImportJob.objects.get(pk=first.pk), user=world.admin)
            outcome["reverted"] = True
        except ValidationError as exc:
            outcome["refused"] = " ".join(exc.messages)
        finally:
            connection.close()

    with transaction.atomic():  # the second import's transaction, holding the import lock
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [IMPORT_LOCK])
        Customer.objects.filter(pk=original.pk).update(city="Hull")
        reverter = threading.Thread(target=revert_first)
        reverter.start()
        reverter.join(timeout=1)
        assert reverter.is_alive(), "the revert waits for the running import"
    reverter.join(timeout=30)

    assert "Another import is running" in outcome.get("refused", ""), outcome
    assert Customer.objects.get(pk=original.pk).city == "Hull"
    assert ImportJob.objects.get(pk=first.pk).status == ImportStatus.DONE


@pytest.mark.django_db
def test_import_clicked_three_times_runs_once(world):
    job = import_job(world, "Company,Customer Code,Town,Territory\nAcme,AC-1,Leeds,North\n")
    import_queue(job=job, dry_run=False)
    token = ImportJob.objects.get(pk=job.pk).run_token
    for _ in range(2):
        with pytest.raises(ValidationError, match="already running"):
            import_queue(job=job, dry_run=False)
        with pytest.raises(ValidationError, match="can no longer change"):
            import_job_configure_again(job)
    job.refresh_from_db()
    assert job.status == ImportStatus.RUNNING and job.run_token == token
    assert import_claim(job_id=job.pk, token="an-older-run") is None
    assert import_claim(job_id=job.pk, token=token) is not None
    assert import_claim(job_id=job.pk, token=token) is None, "a duplicate finds it taken"


def import_job_configure_again(job: ImportJob) -> None:
    import_configure(
        job=ImportJob.objects.get(pk=job.pk),
        mapping=job.mapping,
        date_order=job.date_order,
        default_owner=None,
        default_territory=None,
    )


def version_on(page: str) -> str:
    return page.split('name="version" value="', 1)[1].split('"', 1)[0]


@pytest.mark.django_db
def test_a_save_from_a_stale_form_is_told_so_and_loses_nothing(client, world):
    account = world.north_customer
    client.force_login(world.rep_north)
    opened = version_on(client.get(reverse("crm:customer_edit", args=[account.pk])).text)
    customer_update(customer=account, user=world.north_manager, changes={"tier": "A"})

    edit = {"notes": "Wants a demo in March", "city": account.city, "version": opened}
    response = client.post(reverse("crm:customer_edit", args=[account.pk]), edit)
    page = response.text
    assert response.status_code == 200 and "Someone else saved this account" in page
    assert "Wants a demo in March" in page, "what the user typed is still in the form"
    account.refresh_from_db()
    assert (account.tier, account.notes) == ("A", "")

    edit["version"] = version_on(page)
    assert client.post(reverse("crm:customer_edit", args=[account.pk]), edit).status_code == 302
    account.refresh_from_db()
    assert (account.tier, account.notes) == ("A", "Wants a demo in March")


def test_concurrent_edits_of_different_fields_both_stay(transactional_db, world):
    """A salesperson's note and a manager's reassignment at the same moment: both stay."""
    account = world.north_customer

    def edit(start, user, changes):
        try:
            start.wait(timeout=10)
            stored = Customer.objects.get(pk=account.pk)
            customer_update(customer=stored, user=user, changes=changes)
        finally:
            connection.close()

    for trial in range(10):
        owner = world.rep_coast if trial % 2 else world.rep_north
        start = threading.Barrier(2)
        threads = [
            threading.Thread(
                target=edit, args=(start, world.rep_north, {"notes": f"note {trial}"})
            ),
            threading.Thread(target=edit, args=(start, world.north_manager, {"owner": owner})),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        account.refresh_from_db()
        assert (account.notes, account.owner) == (f"note {trial}", owner), f"trial {trial}"


def submission_of(page: str) -> str:
    return page.split('name="submission" value="', 1)[1].split('"', 1)[0]


@pytest.mark.django_db
def test_a_visit_log_sent_twice_is_logged_once(client, world):
    client.force_login(world.rep_north)
    url = reverse("visits:log_ad_hoc") + f"?customer={world.north_customer.pk}"
    form = visit_form(timezone.now() - dt.timedelta(hours=1))
    form["submission"] = submission_of(client.get(url).text)
    first = client.post(url, form)
    second = client.post(url, form)
    assert first.status_code == second.status_code == 302
    assert Visit.objects.filter(customer=world.north_customer).count() == 1
    again = client.post(url, form, follow=True)
    assert "already logged" in again.text

    form["submission"] = submission_of(client.get(url).text)
    client.post(url, form)
    assert Visit.objects.filter(customer=world.north_customer).count() == 2, "a new form acts"


@pytest.mark.django_db
def test_a_form_with_an_error_keeps_its_key_and_acts_once_fixed(client, world):
    client.force_login(world.rep_north)
    url = reverse("visits:log_ad_hoc") + f"?customer={world.north_customer.pk}"
    form = visit_form(timezone.now() - dt.timedelta(hours=1))
    form["submission"] = submission_of(client.get(url).text)
    refused = client.post(url, {**form, "duration_minutes": "99999"})
    assert refused.status_code == 200 and submission_of(refused.text) == form["submission"]
    assert client.post(url, form).status_code == 302
    assert Visit.objects.count() == 1


def test_done_with_a_follow_up_sent_twice_at_once_acts_once(transactional_db, world):
    start = timezone.now() - dt.timedelta(hours=2)
    planned = PlannedVisitFactory(
        customer=world.north_customer, salesperson=world.rep_north, scheduled_start=start
    )
    url = reverse("visits:log", args=[planned.pk])
    follow_up_day = timezone.localdate() + dt.timedelta(days=14)
    for key in (str(uuid.uuid4()), None):  # the same key twice; then two forms without one
        if key is None:
            Visit.objects.filter(pk=planned.pk).update(status=VisitStatus.PLANNED)
            Visit.objects.exclude(pk=planned.pk).delete()
        form = {
            **visit_form(start),
            "follow_up_on": follow_up_day.isoformat(),
            "follow_up_time": "09:00",
            "plan_follow_up": "on",
            **({"submission": key} if key else {}),
        }
        barrier = threading.Barrier(2)
        statuses = []

        def send(form=form, barrier=barrier, statuses=statuses):
            try:
                browser = Client()
                browser.force_login(world.rep_north)
                barrier.wait(timeout=10)
                statuses.append(browser.post(url, form).status_code)
            finally:
                connection.close()

        threads = [threading.Thread(target=send) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(statuses)[0] in (200, 302) and len(statuses) == 2
        assert Visit.objects.filter(status=VisitStatus.DONE).count() == 1
        assert Visit.objects.filter(status=VisitStatus.PLANNED).count() == 1, "one follow-up"


def test_a_revert_and_the_imports_own_refresh_take_turns(transactional_db, world):
    """The refresh after an import and a revert of that import both hold the import lock, so
    the revert never deletes customers whose metrics the refresh is inserting."""
    job = import_job(world, "Company,Customer Code,Town,Territory\nAcme,TURN-1,Leeds,North\n")
    import_run(job=job, dry_run=False)
    ids = import_customer_ids(job)
    errors = []

    def refresh() -> None:
        try:
            customers_refresh_after_import(ids)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    with transaction.atomic():  # the revert, holding the import lock
        import_revert(job=ImportJob.objects.get(pk=job.pk), user=world.admin)
        refresher = threading.Thread(target=refresh)
        refresher.start()
        refresher.join(timeout=1)
        assert refresher.is_alive(), "the refresh waits for the revert"
    refresher.join(timeout=30)
    assert not errors, errors
    assert not Customer.objects.filter(code="TURN-1").exists()
    assert not AccountMetrics.objects.filter(customer_id__in=ids).exists()
