"""Operations: /healthz, request ids in responses and logs, JSON log lines, the 503 page."""

import json
import logging

import pytest
from django.db import OperationalError
from django.test import RequestFactory

from crm.observability import JsonFormatter, RequestIdFilter
from crm.status import server_error


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
            "name": "crm.tasks",
            "levelname": "INFO",
            "msg": "refreshed %d",
            "args": (3,),
            "customers": 3,
        }
    )
    RequestIdFilter().filter(record)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "refreshed 3" and entry["customers"] == 3
    assert entry["request_id"] == "-" and entry["logger"] == "crm.tasks"


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
