"""Security settings and what users type: deploy checks, CSP, login throttling, sessions,
escaping of payloads, formula-safe CSV, uploads, the calendar feed's token and rate limit."""

import csv
import datetime as dt
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from accounts.services import calendar_token_regenerate
from health.services import health_refresh_everything
from imports.models import ImportJob
from imports.runs import import_run
from imports.services import import_inspect
from tests.conftest import settings_base_dir
from tests.factories import CustomerFactory, InvoiceFactory, VisitFactory

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '" onmouseover="alert(2)'
URL = "javascript:alert(3)"
FORMULA = '=HYPERLINK("http://evil.example","x")'


def test_deploy_checks_pass_with_production_settings():
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DJANGO_DEBUG": "false",
        "CADENCE_SITE_URL": "https://cadence.example.com",
        "DJANGO_SECRET_KEY": "a-long-production-secret-" + "x" * 40,
        "DJANGO_ALLOWED_HOSTS": "cadence.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings_base_dir(),
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.django_db
def test_pages_send_a_strict_csp_and_have_no_inline_script_or_style(client, world):
    client.force_login(world.admin)
    for url in ("/customers/", "/manage/", "/manage/profitability/", "/data/imports/"):
        response = client.get(url)
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "style-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        html = response.text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), url
        assert not re.search(r"\son[a-z]+=", html), url
        assert not re.search(r"\sstyle=", html), url
    assert client.get("/customers/")["X-Frame-Options"] == "DENY"


@pytest.mark.django_db
def test_login_locks_out_a_username_after_repeated_failures(client, world):
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            reverse("login"),
            {"username": "rep-north", "password": "wrong"},
            REMOTE_ADDR=f"10.0.0.{attempt}",
        )
    locked = client.post(
        reverse("login"),
        {"username": "rep-north", "password": "secret-pass-123"},
        REMOTE_ADDR="10.0.1.1",
    )
    assert locked.status_code == 429 and "Too many failed log-ins" in locked.text
    other = client.post(
        reverse("login"),
        {"username": "rep-south", "password": "secret-pass-123"},
        REMOTE_ADDR="10.0.1.2",
    )
    assert other.status_code == 302, "other users are not affected"


@pytest.mark.django_db
def test_login_locks_out_an_address_trying_many_usernames(client, world):
    for name in ("a", "b", "c", "d", "e")[: settings.AXES_FAILURE_LIMIT]:
        client.post(reverse("login"), {"username": name, "password": "x"}, REMOTE_ADDR="10.9.0.1")
    locked = client.post(
        reverse("login"),
        {"username": "rep-north", "password": "secret-pass-123"},
        REMOTE_ADDR="10.9.0.1",
    )
    assert locked.status_code == 429
    elsewhere = client.post(
        reverse("login"),
        {"username": "rep-north", "password": "secret-pass-123"},
        REMOTE_ADDR="10.9.0.2",
    )
    assert elsewhere.status_code == 302


@pytest.mark.django_db
def test_sessions_expire_and_end_when_the_password_changes(client, world):
    client.post(reverse("login"), {"username": "rep-north", "password": "secret-pass-123"})
    assert client.get("/customers/").status_code == 200
    assert client.session.get_expiry_age() == settings.SESSION_COOKIE_AGE <= 14 * 24 * 3600
    world.rep_north.set_password("a-brand-new-passphrase")
    world.rep_north.save()
    response = client.get("/customers/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.django_db
def test_what_users_typed_is_escaped_everywhere_it_is_shown(client, world):
    world.rep_north.hourly_cost = 100
    world.rep_north.save()
    customer = CustomerFactory(
        name=f"{SCRIPT}{ATTRIBUTE}",
        website=URL,
        city=ATTRIBUTE,
        territory=world.north,
        owner=world.rep_north,
        tier="D",
    )
    InvoiceFactory(customer=customer, amount=1000, cost_of_goods=100)
    visit = VisitFactory(
        customer=customer,
        salesperson=world.rep_north,
        notes=f"{SCRIPT} {URL}",
        next_step=ATTRIBUTE,
        visited_at=timezone.now() - dt.timedelta(days=1),
        duration_minutes=600,
    )
    health_refresh_everything(as_of=timezone.localdate())
    client.force_login(world.rep_north)
    pages = [
        reverse("crm:customer_list") + "?q=script",
        reverse("crm:customer_detail", args=[customer.pk]),
        reverse("visits:detail", args=[visit.pk]),
    ]
    client_manager = client_for(world.north_manager)
    manager_pages = [
        reverse("manage:dashboard"),
        reverse("manage:profitability"),
        reverse("manage:review"),
        reverse("manage:account_list", args=["unprofitable"]),
    ]
    for browser, urls in ((client, pages), (client_manager, manager_pages)):
        for url in urls:
            html = browser.get(url).text
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, url
            assert SCRIPT not in html and 'onmouseover="alert' not in html, url
            assert 'href="javascript:' not in html, url


def client_for(user):
    from django.test import Client

    browser = Client()
    browser.force_login(user)
    return browser


@pytest.mark.django_db
def test_csv_exports_neutralise_formulas(client, world, tmp_path):
    customer = CustomerFactory(name=FORMULA, territory=world.north, owner=world.rep_north)
    InvoiceFactory(customer=customer, amount=100, cost_of_goods=0)
    VisitFactory.create_batch(
        5, customer=customer, salesperson=world.rep_north, duration_minutes=1200
    )
    health_refresh_everything(as_of=timezone.localdate())
    client.force_login(world.north_manager)
    exported = client.get(reverse("manage:account_list", args=["unprofitable"]), {"format": "csv"})
    rows = list(csv.reader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert [row[1] for row in rows[1:]] == ["'" + FORMULA]

    client.force_login(world.admin)
    lines = io.StringIO()
    csv.writer(lines).writerows(
        [["Name", "Code", "Territory", "Tier"], [FORMULA, "F-1", "North", "Z"]]
    )
    upload = lines.getvalue().encode()
    client.post(
        reverse("imports:list"),
        {"kind": "customers", "file": SimpleUploadedFile("f.csv", upload), "sheet": ""},
    )
    job = import_inspect(ImportJob.objects.get())
    import_run(job=job, dry_run=True)
    rejects = client.get(reverse("imports:rejects", args=[job.pk]))
    body = b"".join(rejects.streaming_content).decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(body)))[1][0] == "'" + FORMULA
    page = client.get(reverse("imports:detail", args=[job.pk])).text
    assert "=HYPERLINK(&quot;http://evil.example&quot;" in page


@pytest.mark.django_db
def test_an_uploaded_file_name_never_becomes_a_path(client, world):
    client.force_login(world.admin)
    client.post(
        reverse("imports:list"),
        {
            "kind": "customers",
            "file": SimpleUploadedFile("../../../tmp/evil.csv", b"Name,Code\nA,B\n"),
            "sheet": "",
        },
    )
    job = ImportJob.objects.get()
    assert job.original_name == "evil.csv"
    assert re.fullmatch(r"[0-9a-f]{32}\.csv", job.stored_name)
    assert (Path(settings.MEDIA_ROOT) / "imports" / job.stored_name).is_file()
    assert not Path("/tmp/evil.csv").exists()


@pytest.mark.django_db
def test_calendar_tokens_are_long_random_revocable_and_rate_limited(client, world, settings):
    token = calendar_token_regenerate(user=world.rep_north)
    assert len(token) >= 43 and token != calendar_token_regenerate(user=world.rep_north)
    token = calendar_token_regenerate(user=world.rep_north)
    url = reverse("calendar_feed", args=[world.rep_north.pk, token])
    address = {"REMOTE_ADDR": "10.77.0.1"}
    assert client.get(url, **address).status_code == 200
    wrong = reverse("calendar_feed", args=[world.rep_north.pk, token[:-1] + "x"])
    assert client.get(wrong, **address).status_code == 404
    calendar_token_regenerate(user=world.rep_north)
    assert client.get(url, **address).status_code == 404, "a revoked token is a 404"

    settings.CADENCE_FEED_REQUESTS_PER_MINUTE = 5
    guess = reverse("calendar_feed", args=[world.rep_south.pk, "x" * 43])
    statuses = [client.get(guess, REMOTE_ADDR="10.77.0.2").status_code for _ in range(7)]
    assert statuses == [404] * 5 + [429] * 2


@pytest.mark.django_db
def test_nobody_can_block_someone_elses_calendar_feed(client, world, settings):
    settings.CADENCE_FEED_REQUESTS_PER_MINUTE = 5
    token = calendar_token_regenerate(user=world.rep_north)
    guess = reverse("calendar_feed", args=[world.rep_north.pk, "x" * 43])
    for attacker in range(20):  # many addresses, each under its own limit
        for _ in range(5):
            assert client.get(guess, REMOTE_ADDR=f"10.66.0.{attacker}").status_code == 404
    url = reverse("calendar_feed", args=[world.rep_north.pk, token])
    assert client.get(url, REMOTE_ADDR="10.66.1.1").status_code == 200, "the owner's feed works"

    other = calendar_token_regenerate(user=world.rep_south)
    shared = {"REMOTE_ADDR": "10.66.2.2"}  # a calendar service fetching many feeds
    statuses = [client.get(url, **shared).status_code for _ in range(4)]
    other_url = reverse("calendar_feed", args=[world.rep_south.pk, other])
    statuses += [client.get(other_url, **shared).status_code for _ in range(5)]
    assert statuses == [200] * 9
    assert client.get(url, **shared).status_code == 429, "one feed has its own limit"
