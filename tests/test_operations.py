"""Operations: /healthz, request ids in responses and logs, JSON log lines, the 503 page."""

import json
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import psycopg
import pytest
import redis
from django.core import mail
from django.db import OperationalError
from django.test import RequestFactory

from core.mail import LogEmailBackend
from core.observability import JsonFormatter, RequestIdFilter
from core.ratelimit import over_limit
from core.status import server_error
from imports.progress import progress_report
from tests.conftest import database_url_for_subprocess, settings_base_dir


@pytest.mark.django_db
def test_healthz_reports_database_redis_and_migrations(client, settings):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    down = client.get("/healthz")
    assert down.status_code == 503
    assert down.json()["redis"] == "error: ConnectionError"
    assert down["Cache-Control"].startswith("max-age=0")


@pytest.mark.django_db
def test_every_response_carries_a_request_id_that_the_log_lines_share(client, world, caplog):
    client.force_login(world.rep_north)
    with caplog.at_level(logging.INFO, logger="cadence.access"):
        given = client.get("/customers/", headers={"X-Request-ID": "lb-1234"})
        made = client.get("/customers/", headers={"X-Request-ID": "bad id\nwith newline"})
    assert given["X-Request-ID"] == "lb-1234"
    assert len(made["X-Request-ID"]) == 32 and made["X-Request-ID"] != "bad id\nwith newline"
    access = [r for r in caplog.records if r.name == "cadence.access"]
    RequestIdFilter().filter(access[0])
    assert access[0].request_id == "lb-1234"
    assert (access[0].method, access[0].path, access[0].status) == ("GET", "/customers/", 200)
    assert access[0].user_id == world.rep_north.pk


def test_json_log_lines_carry_the_request_id_and_extras():
    record = logging.makeLogRecord(
        {
            "name": "health.tasks",
            "levelname": "INFO",
            "msg": "refreshed %d",
            "args": (3,),
            "customers": 3,
        }
    )
    RequestIdFilter().filter(record)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "refreshed 3" and entry["customers"] == 3
    assert entry["request_id"] == "-" and entry["logger"] == "health.tasks"


def test_a_database_outage_is_a_503_page_asking_to_retry():
    request = RequestFactory().get("/customers/")
    try:
        raise OperationalError("connection refused")
    except OperationalError:
        response = server_error(request)
    assert response.status_code == 503 and response["Retry-After"] == "30"
    assert b"briefly unavailable" in response.content
    try:
        raise ValueError("a bug")
    except ValueError:
        assert server_error(request).status_code == 500


@pytest.mark.django_db
def test_the_schedule_renders_with_the_cache_unreachable(client, world, settings):
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}
    }
    client.force_login(world.rep_north)
    assert client.get("/visits/schedule/").status_code == 200
    assert client.get("/visits/schedule/").status_code == 200


@pytest.fixture(scope="module")
def run_database():
    """A database of this test run's own for scripts/run (which creates it and seeds the demo
    data), dropped afterwards."""
    server = database_url_for_subprocess().rsplit("/", 1)[0]
    name = f"cadence_run_check_{os.getpid()}"
    yield f"{server}/{name}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run_script(port: int, database_url: str, **env_extra: str) -> subprocess.Popen:
    """scripts/run as a user starts it from a terminal (a session of its own)."""
    env = {
        **os.environ,
        "PORT": str(port),
        "DATABASE_URL": database_url,
        "CELERY_QUEUE": f"run-check-{port}",
        # No geocoding: the beat's ten-minute batch (a minute of Nominatim, timeouts here
        # without network) would hold the worker's shutdown when the test runs on a tenth minute.
        "CADENCE_GEOCODER": "none",
        **env_extra,
    }
    return subprocess.Popen(
        ["bash", "scripts/run"],
        cwd=settings_base_dir(),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # A terminal's shell takes a hang-up; a suite started under nohup would hand the
        # script an ignored SIGHUP, which bash can then never trap.
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL),
    )


def _descendants(pid: int) -> set[int]:
    found, frontier = set(), [pid]
    while frontier:
        parent = frontier.pop()
        for child in Path(f"/proc/{parent}/task/{parent}/children").read_text().split():
            found.add(int(child))
            frontier.append(int(child))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.stack
def test_scripts_run_refuses_a_taken_port_before_anything_starts(run_database):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        script = _run_script(taken.getsockname()[1], run_database)
        _, errors = script.communicate(timeout=120)
    assert script.returncode != 0
    assert "already listens" in errors and "Cadence is running" not in errors


@pytest.mark.stack
def test_closing_the_terminal_stops_everything_scripts_run_started(run_database):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = _run_script(port, run_database)
    banner = []
    try:
        for line in script.stderr:
            banner.append(line)
            if "Cadence is running at" in line:
                break
        assert any("Cadence is running at" in line for line in banner), "".join(banner)[-2000:]
        # A terminal keeps reading what they write: a full pipe would block the worker's log
        # (the morning e-mails go to it) and hold its shutdown.
        threading.Thread(target=lambda: banner.extend(script.stderr), daemon=True).start()
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass  # the banner came once the server answered
        children = _descendants(script.pid)
        assert len(children) >= 3, "web, worker and beat"

        script.send_signal(signal.SIGHUP)
        try:
            script.wait(timeout=60)
        except subprocess.TimeoutExpired:
            alive = {
                pid: Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:200]
                for pid in children
                if _alive(pid)
            }
            raise AssertionError(
                f"still running a minute after the hang-up: {alive}\n" + "".join(banner[-60:])
            ) from None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(pid) for pid in children):
            time.sleep(0.2)
        assert not [pid for pid in children if _alive(pid)], "every process it started stopped"
    finally:
        if script.poll() is None:
            os.killpg(script.pid, signal.SIGKILL)


def test_mail_without_a_mail_server_goes_to_the_log(caplog):
    message = mail.EmailMessage("Digest", "3 flags", to=["rep@example.com"])
    with caplog.at_level(logging.WARNING, logger="cadence.mail"):
        assert LogEmailBackend().send_messages([message]) == 1
    assert "to=rep@example.com subject=Digest" in caplog.text and "3 flags" in caplog.text


def test_every_redis_key_carries_the_installation_prefix(settings):
    settings.CADENCE_CACHE_PREFIX = prefix = f"install-{os.getpid()}"
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        progress_report(7, phase="reading", rows=1, percent=1, per_second=1)
        over_limit("feed-ip:10.0.0.1", limit=5, window_seconds=60)
        keys = sorted(key.decode() for key in client.scan_iter(f"{prefix}:*"))
        assert keys == [f"{prefix}:import:7:progress", f"{prefix}:rate:feed-ip:10.0.0.1"]
    finally:
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)


def test_production_needs_the_site_address_for_e_mail_links(settings):
    from core.apps import site_url_check

    settings.DEBUG = False
    settings.CADENCE_SITE_URL = ""
    assert [error.id for error in site_url_check(None)] == ["cadence.E001"]
    settings.CADENCE_SITE_URL = "https://cadence.example.com"
    assert site_url_check(None) == []
