"""The installable field app in a real browser on a phone: it installs, keeps the day, works
without signal, and sends what was done offline exactly once when the signal returns; a
conflicting offline edit is shown with both versions, never lost."""

import datetime as dt
import json
import re
import struct
import time
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.push import push_subscription_save, vapid_key_new
from api.models import WebhookEvent
from crm.models import SupportCase
from health.models import AccountFlag
from health.services import health_refresh_everything
from tests import push_service
from tests.api.test_webhooks import Receiver, hook, verified
from tests.conftest import LEEDS, browser_login, start_worker, stop_worker
from tests.factories import CustomerFactory, PlannedVisitFactory
from visits.models import Ask, ReminderSent, Visit, VisitStatus
from visits.reminders import morning_email
from visits.services import customer_cadence_refresh, visit_cancel
from visits.tasks import asks_overdue_task, reminders_send_task

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def phone(browser):
    """A phone-sized context that lets the app install its worker and read the position; its
    console and server errors fail the test (as in tests/conftest.py)."""
    context = browser.new_context(
        viewport={"width": 375, "height": 740},
        geolocation=LEEDS,
        permissions=["geolocation"],
        service_workers="allow",
    )
    # The phone's clock is the server's (CADENCE_TEST_DAY may move the server's): "today" on
    # the offline page and the times it sends are then the server's too.
    context.clock.install(time=timezone.now())
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors, failed = [], []
    # Expected: requests cut off while offline, and the 409 answer a conflict is.
    expected = re.compile(
        r"ERR_INTERNET_DISCONNECTED|status of 409 \(Conflict\)|htmx:(sendError|afterRequest)"
    )
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and not expected.search(message.text)
            else None
        ),
    )
    page.on("response", lambda r: failed.append(r.url) if r.status >= 500 else None)
    yield page
    context.close()
    # A test that provokes an error on purpose names it in page.expected_console.
    also = getattr(page, "expected_console", None)
    errors = [text for text in errors if not (also and re.search(also, text))]
    assert not errors, f"the browser console showed errors: {errors}"
    assert not failed, f"the server answered 5xx: {failed}"


def _abort_worker_requests(route):
    # The worker's own requests are not covered by the context's offline switch in Chromium
    # (microsoft/playwright#2311): abort them as a phone without signal would.
    if route.request.service_worker:
        route.abort("internetdisconnected")
    else:
        route.continue_()


def go_offline(page) -> None:
    page.context.set_offline(True)
    page.context.route("**/*", _abort_worker_requests)


def go_online(page) -> None:
    page.context.unroute("**/*", _abort_worker_requests)
    page.context.set_offline(False)


def installed(page) -> None:
    """Wait until the worker controls the page and the day is kept on the phone (polled from
    here: Playwright's in-page polling evaluates strings, which the CSP rightly forbids)."""
    deadline = time.monotonic() + 15
    check = "async () => !!navigator.serviceWorker.controller && !!(await CadenceField.pack())"
    while not page.evaluate(check):
        assert time.monotonic() < deadline, "the worker never took over, or no pack was kept"
        time.sleep(0.1)


def _overdue(world, name: str, **extra):
    account = CustomerFactory(
        name=name,
        territory=world.north,
        owner=world.rep_north,
        since=timezone.localdate() - dt.timedelta(days=400),
        **extra,
    )
    customer_cadence_refresh(customer_ids=[account.pk])
    return account


def test_offline_the_rep_logs_plans_and_reports_and_it_syncs_once(live_server, phone, world):
    visited = _overdue(world, "Northern Mills Depot", phone="0113 496 0000")
    prospect = _overdue(world, "Overdue Outfitters")
    meeting = PlannedVisitFactory(
        customer=visited,
        salesperson=world.rep_north,
        scheduled_start=timezone.now() + dt.timedelta(minutes=10),
        purpose="Spring range",
    )
    health_refresh_everything(as_of=timezone.localdate())
    assert AccountFlag.objects.filter(customer=visited, resolved_at__isnull=True).exists()

    page = phone
    browser_login(page, live_server, "rep-north")
    expect(page).to_have_url(re.compile(r"/visits/schedule/"))
    installed(page)

    go_offline(page)
    page.goto(f"{live_server.url}/visits/schedule/")
    expect(page.locator("#field-status")).to_contain_text("Offline: showing what this phone kept")
    row = page.locator(".field-item", has_text="Northern Mills Depot").filter(
        has=page.get_by_role("button", name="Check in")
    )
    row.locator("summary").click()
    expect(row).to_contain_text("0113 496 0000")
    expect(row).to_contain_text("Flags: neglected")
    row.get_by_role("button", name="Log visit").click()
    page.get_by_label("What the customer said").fill("Wants the spring range in March")
    page.get_by_label("Next step").fill("Send the price list")
    page.get_by_label("Follow-up date").fill(
        (timezone.localdate() + dt.timedelta(days=7)).isoformat()
    )
    page.get_by_label("Also plan the follow-up meeting").check()
    page.get_by_role("button", name="Save").click()

    who = page.locator("#field-who .field-item", has_text="Overdue Outfitters")
    who.get_by_role("button", name="Plan").click()
    page.get_by_label("Purpose").fill("First call in a year")
    page.get_by_role("button", name="Save").click()
    who.get_by_role("button", name="Support case").click()
    page.get_by_label("What was said").fill("Two late deliveries in November")
    page.get_by_role("button", name="Save").click()

    expect(page.locator("#outbox-badge")).to_have_text("Waiting to sync (3)")
    expect(page.locator("#field-outbox-title")).to_have_text("Waiting to sync (3)")
    assert not Visit.objects.filter(status=VisitStatus.DONE).exists(), "nothing sent offline"

    # The signal returns, but the answer to the first write is lost on the way back: the
    # server has the visit, the phone does not know it and sends it again later.
    lost = []

    def lose_first_answer(route):
        if route.request.method == "POST" and not lost:
            lost.append(route.fetch().status)
            route.abort("internetdisconnected")
        else:
            route.continue_()

    page.context.route("**/api/v1/visits/**", lose_first_answer)
    go_online(page)
    expect(page.locator("#field-status")).to_contain_text("Online")
    deadline = time.monotonic() + 10
    while not lost and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert lost == [200]
    expect(page.locator("#outbox-badge")).to_have_text("Waiting to sync (3)")
    assert Visit.objects.filter(customer=visited, status=VisitStatus.DONE).count() == 1
    page.evaluate("CadenceFieldPage.freshen(true)")
    expect(page.locator("#outbox-badge")).to_be_hidden()
    expect(page.locator("#field-outbox")).to_be_hidden()
    meeting.refresh_from_db()
    assert meeting.status == VisitStatus.DONE
    assert meeting.notes == "Wants the spring range in March"
    assert meeting.next_step == "Send the price list"
    assert Visit.objects.filter(customer=visited, status=VisitStatus.DONE).count() == 1
    assert Visit.objects.filter(customer=visited, status=VisitStatus.PLANNED).count() == 1
    assert Visit.objects.filter(customer=prospect, purpose="First call in a year").count() == 1
    case = SupportCase.objects.get(customer=prospect)
    assert case.note == "Two late deliveries in November" and case.reported_by == world.rep_north

    assert Visit.objects.filter(customer=visited, status=VisitStatus.DONE).count() == 1
    assert Visit.objects.filter(customer=prospect).count() == 1
    assert SupportCase.objects.filter(customer=prospect).count() == 1

    # The nightly refresh, then the manager's dashboard: one neglected account fewer.
    def neglected() -> int:
        return AccountFlag.objects.filter(
            kind="neglected",
            resolved_at__isnull=True,
            customer__territory__in=[world.north, world.north_coast],
        ).count()

    before = neglected()
    health_refresh_everything(as_of=timezone.localdate())
    assert neglected() == before - 1
    assert not AccountFlag.objects.filter(
        customer=visited, kind="neglected", resolved_at__isnull=True
    ).exists()
    page.context.clear_cookies()
    browser_login(page, live_server, "north-manager")
    expect(page.get_by_role("heading", name="Territory dashboard")).to_be_visible()
    expect(page.locator(".tile", has_text="neglected flags")).to_contain_text(
        re.compile(rf"^\s*{before - 1}\s+neglected flags")
    )


def test_a_meeting_cancelled_while_the_rep_was_offline_is_shown_not_lost(live_server, phone, world):
    account = _overdue(world, "Riverside Rentals")
    meeting = PlannedVisitFactory(
        customer=account,
        salesperson=world.rep_north,
        scheduled_start=timezone.now() + dt.timedelta(minutes=20),
    )
    page = phone
    browser_login(page, live_server, "rep-north")
    installed(page)
    go_offline(page)
    page.goto(f"{live_server.url}/visits/offline/")
    row = page.locator(".field-item", has_text="Riverside Rentals").filter(
        has=page.get_by_role("button", name="Log visit")
    )
    row.first.get_by_role("button", name="Log visit").click()
    page.get_by_label("What the customer said").fill("Agreed a trial order")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#outbox-badge")).to_have_text("Waiting to sync (1)")

    visit_cancel(visit=meeting, reason="Customer closed for stocktake")
    go_online(page)
    conflict = page.locator("#field-outbox-list li.outbox-conflict")
    expect(conflict).to_contain_text("this one is cancelled")
    expect(conflict).to_contain_text("Yours: On site")
    expect(conflict).to_contain_text("Agreed a trial order")
    expect(conflict).to_contain_text("Now: cancelled · Customer closed for stocktake")
    expect(page.locator("#outbox-badge")).to_have_text("Needs you (1)")
    assert not Visit.objects.filter(customer=account, status=VisitStatus.DONE).exists()

    page.reload()
    expect(conflict).to_contain_text("Agreed a trial order")  # kept on the phone
    conflict.get_by_role("button", name="Log it as a visit anyway").click()
    expect(page.locator("#field-outbox")).to_be_hidden()
    done = Visit.objects.get(customer=account, status=VisitStatus.DONE)
    assert done.notes == "Agreed a trial order" and done.pk != meeting.pk
    meeting.refresh_from_db()
    assert meeting.status == VisitStatus.CANCELLED


def _png_size(body: bytes) -> tuple[int, int]:
    assert body[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", body[16:24])


def test_the_field_app_is_installable(live_server, phone, world):
    page = phone
    browser_login(page, live_server, "rep-north")
    href = page.locator('link[rel="manifest"]').get_attribute("href")
    answer = page.request.get(f"{live_server.url}{href}")
    assert answer.headers["content-type"].startswith("application/manifest+json")
    manifest = json.loads(answer.body())
    assert manifest["name"] and manifest["short_name"] == "Cadence"
    assert manifest["display"] == "standalone" and manifest["scope"] == "/visits/"
    assert manifest["start_url"].startswith(manifest["scope"])
    assert manifest["theme_color"] and manifest["background_color"]
    sizes = set()
    for icon in manifest["icons"]:
        image = page.request.get(f"{live_server.url}{icon['src']}")
        assert image.status == 200 and image.headers["content-type"] == "image/png"
        width, height = _png_size(image.body())
        assert icon["sizes"] == f"{width}x{height}"
        sizes.add((width, icon["purpose"]))
    assert {(192, "any"), (512, "any"), (512, "maskable")} <= sizes
    assert page.locator('link[rel="apple-touch-icon"]').count() == 1

    installed(page)
    scope = page.evaluate("navigator.serviceWorker.ready.then(r => r.scope)")
    assert scope == f"{live_server.url}/visits/"
    assert page.evaluate("navigator.serviceWorker.ready.then(r => r.active.state)") == "activated"

    # The start page opens with no signal at all, every script and style from the phone.
    missing = []
    page.on("requestfailed", lambda request: missing.append(request.url))
    go_offline(page)
    page.goto(f"{live_server.url}{manifest['start_url']}")
    expect(page.get_by_role("heading", name="Your day")).to_be_visible()
    expect(page.locator("#field-status")).to_contain_text("Offline")
    assert not [url for url in missing if "/static/" in url], missing


def test_managers_and_admins_get_no_field_app(live_server, desktop_page, world):
    browser_login(desktop_page, live_server, "north-manager")
    expect(desktop_page.get_by_role("heading", name="Territory dashboard")).to_be_visible()
    assert desktop_page.locator('link[rel="manifest"]').count() == 0
    assert desktop_page.evaluate("'CadenceField' in window") is False
    assert desktop_page.request.get(f"{live_server.url}/visits/offline/").status == 404


def test_offline_check_in_and_note_and_a_phone_passed_to_a_colleague(live_server, phone, world):
    account = _overdue(world, "Kirkstall Kitchens", notes="Ring the bell twice")
    meeting = PlannedVisitFactory(
        customer=account,
        salesperson=world.rep_north,
        scheduled_start=timezone.now() + dt.timedelta(minutes=5),
    )
    page = phone
    browser_login(page, live_server, "rep-north")
    installed(page)
    go_offline(page)
    page.goto(f"{live_server.url}/visits/schedule/")
    row = page.locator(".field-item", has_text="Kirkstall Kitchens").filter(
        has=page.get_by_role("button", name="Check in")
    )
    row.get_by_role("button", name="Check in").click()
    expect(page.locator("#outbox-badge")).to_have_text("Waiting to sync (1)")
    # The phone's clock says when (it may differ from the server's: CADENCE_TEST_DAY).
    checked_at = dt.datetime.fromtimestamp(page.evaluate("Date.now()") / 1000, tz=dt.UTC)
    page.locator("#field-accounts-title").scroll_into_view_if_needed()
    page.get_by_label("Find an account kept on this phone").fill("kirkstall")
    found = page.locator("#field-accounts .field-item", has_text="Kirkstall Kitchens")
    found.get_by_role("button", name="Note").click()
    page.get_by_label("What was said").fill("New buyer from January: Priya")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#outbox-badge")).to_have_text("Waiting to sync (2)")

    go_online(page)
    expect(page.locator("#outbox-badge")).to_be_hidden()
    meeting.refresh_from_db()
    assert abs((meeting.checked_in_at - checked_at).total_seconds()) < 30
    assert (meeting.check_in_latitude, meeting.check_in_longitude) == (
        LEEDS["latitude"],
        LEEDS["longitude"],
    )
    account.refresh_from_db()
    assert account.notes.startswith("Ring the bell twice")
    assert account.notes.endswith("New buyer from January: Priya")

    # Signing out takes the accounts off the phone; a colleague signing in sees only theirs.
    page.goto(f"{live_server.url}/visits/schedule/")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    kept = page.evaluate(
        """() => new Promise((resolve) => {
            const opened = indexedDB.open("cadence-field");
            opened.onsuccess = () => {
                const read = opened.result.transaction("pack").objectStore("pack").get("current");
                read.onsuccess = () => resolve(read.result === undefined ? null : "kept");
            };
        })"""
    )
    assert kept is None, "the accounts stayed on the phone after signing out"
    browser_login(page, live_server, "rep-coast")
    installed(page)
    go_offline(page)
    page.goto(f"{live_server.url}/visits/offline/")
    expect(page.locator("#field-status")).to_contain_text("Offline")
    expect(page.locator("body")).not_to_contain_text("Kirkstall Kitchens")
    expect(page.locator("body")).not_to_contain_text("rep-north")


def test_the_signal_going_while_the_log_form_is_open_keeps_what_was_typed(
    live_server, phone, world
):
    account = _overdue(world, "Meanwood Mechanics")
    meeting = PlannedVisitFactory(customer=account, salesperson=world.rep_north)
    page = phone
    browser_login(page, live_server, "rep-north")
    installed(page)
    page.goto(f"{live_server.url}/visits/{meeting.pk}/log/")
    page.get_by_label("What the customer said").fill("Wants quarterly visits")
    go_offline(page)
    page.get_by_role("button", name="Save visit").click()
    expect(
        page.get_by_role("status").filter(has_text="No signal: saved on this phone")
    ).to_be_visible()
    expect(page.locator("#outbox-badge")).to_have_text("Waiting to sync (1)")
    meeting.refresh_from_db()
    assert meeting.status == VisitStatus.PLANNED
    go_online(page)
    expect(page.locator("#outbox-badge")).to_be_hidden()
    meeting.refresh_from_db()
    assert meeting.status == VisitStatus.DONE and meeting.notes == "Wants quarterly visits"


def test_without_signal_the_pages_point_to_the_day_and_keep_a_reported_case(
    live_server, phone, world
):
    account = _overdue(world, "Chapel Allerton Cycles")
    meeting = PlannedVisitFactory(customer=account, salesperson=world.rep_north)
    page = phone
    browser_login(page, live_server, "rep-north")
    installed(page)
    day = timezone.localdate(meeting.scheduled_start).isoformat()
    page.goto(f"{live_server.url}/visits/schedule/?view=day&date={day}")
    go_offline(page)
    page.locator(".meeting", has_text="Chapel Allerton Cycles").get_by_role(
        "link", name="Done"
    ).click()
    alert = page.get_by_role("alert").filter(has_text="No signal")
    expect(alert).to_be_visible()
    expect(alert.get_by_role("link", name="open it")).to_have_attribute("href", "/visits/offline/")

    go_online(page)
    page.goto(f"{live_server.url}/customers/{account.pk}/cases/new/")
    page.get_by_label("What the customer said").fill("Chain guards arrived broken")
    page.get_by_label("Minutes spent so far").fill("15")
    go_offline(page)
    page.get_by_role("button", name="Save case").click()
    expect(page.locator("#outbox-badge")).to_have_text("Waiting to sync (1)")
    go_online(page)
    expect(page.locator("#outbox-badge")).to_be_hidden()
    case = SupportCase.objects.get(customer=account)
    assert case.note == "Chain guards arrived broken" and case.reported_by == world.rep_north


def test_the_worker_sends_the_outbox_by_itself_with_no_page_open(live_server, phone, world):
    """What a Background Sync event runs: the worker's own send, with the session and the CSRF
    token the pages left, and no page of Cadence open."""
    account = _overdue(world, "Roundhay Roofing")
    page = phone
    browser_login(page, live_server, "rep-north")
    installed(page)
    go_offline(page)
    page.goto(f"{live_server.url}/visits/offline/")
    page.get_by_label("Find an account kept on this phone").fill("roundhay")
    page.locator("#field-accounts .field-item", has_text="Roundhay Roofing").get_by_role(
        "button", name="Note"
    ).click()
    page.get_by_label("What was said").fill("Scaffold booked for Tuesday")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#outbox-badge")).to_have_text("Waiting to sync (1)")
    page.goto("about:blank")
    go_online(page)
    worker = page.context.service_workers[0]
    assert worker.evaluate("CadenceField.flush().then(result => result.sent)") == 1
    account.refresh_from_db()
    assert account.notes.endswith("Scaffold booked for Tuesday")
    assert worker.evaluate("CadenceField.outbox().then(entries => entries.length)") == 0


def test_a_host_that_says_offline_while_cadence_answers_still_saves(live_server, phone, world):
    """Chromium on a host with loopback only reports navigator.onLine = false although the
    server is right there: the app asks Cadence before keeping anything offline."""
    page = phone
    page.add_init_script(
        "Object.defineProperty(Navigator.prototype, 'onLine', { get: () => false });"
    )
    account = _overdue(world, "Kirkstall Kettles")
    meeting = PlannedVisitFactory(customer=account, salesperson=world.rep_north)
    browser_login(page, live_server, "rep-north")
    assert page.evaluate("navigator.onLine") is False
    installed(page)
    page.goto(f"{live_server.url}/visits/{meeting.pk}/log/")
    page.get_by_label("What the customer said").fill("Wants the autumn catalogue")
    page.get_by_role("button", name="Save visit").click()
    expect(page.get_by_text("Visit to Kirkstall Kettles logged.")).to_be_visible()
    meeting.refresh_from_db()
    assert meeting.status == VisitStatus.DONE and meeting.notes == "Wants the autumn catalogue"
    expect(page.locator("#outbox-badge")).to_be_hidden()


def test_a_session_that_expired_takes_the_kept_accounts_off_the_phone(live_server, phone, world):
    from django.contrib.sessions.models import Session

    _overdue(world, "Headingley Hats")
    page = phone
    browser_login(page, live_server, "rep-north")
    installed(page)
    Session.objects.all().delete()  # expired on the server; the phone was never signed out
    page.expected_console = r"status of 40[13]"
    page.evaluate("async () => { try { await CadenceField.syncPack(); } catch (e) {} }")
    assert page.evaluate("async () => !!(await CadenceField.get('pack', 'current'))") is False


def _zone_past_seven_today() -> str:
    """A time zone (whole hours from UTC) where it is now past 07:00 on the server's date, so
    the morning's reminders are due whenever the suite runs."""
    now = timezone.now()
    for hours in range(-12, 15):
        zone = ZoneInfo(f"Etc/GMT{-hours:+d}" if hours else "UTC")
        local = now.astimezone(zone)
        if local.date() == timezone.localdate(now) and local.hour >= 8:
            return zone.key
    raise AssertionError("no such zone")


@pytest.mark.worker
def test_offline_a_visit_with_two_asks_syncs_and_the_asks_follow_the_rep(
    live_server, phone, world, settings
):
    """Two asks logged offline with the visit: after the sync they are on the account, the
    rep's list and the next meeting's brief; one is answered with a quote and won; the other
    is a complaint left past its due date, which flags the account, is announced by webhook,
    and reaches the rep in the morning e-mail and on their phone; the manager's figures are
    the hand-computed ones."""
    account = _overdue(world, "Harbour Hardware")
    meeting = PlannedVisitFactory(
        customer=account,
        salesperson=world.rep_north,
        scheduled_start=timezone.now() + dt.timedelta(minutes=10),
    )
    next_meeting = PlannedVisitFactory(
        customer=account,
        salesperson=world.rep_north,
        scheduled_start=timezone.now() + dt.timedelta(days=3),
    )
    page = phone
    browser_login(page, live_server, "rep-north")
    installed(page)
    go_offline(page)
    page.goto(f"{live_server.url}/visits/schedule/")
    row = page.locator(".field-item", has_text="Harbour Hardware").filter(
        has=page.get_by_role("button", name="Check in")
    )
    row.get_by_role("button", name="Log visit").click()
    page.get_by_label("What the customer said").fill("Asked about prices and a late delivery")
    page.locator("#f-ask-kind-0").select_option("price")
    page.locator("#f-ask-text-0").fill("A price for 300 hinges")
    page.locator("#f-ask-kind-1").select_option("complaint")
    page.locator("#f-ask-text-1").fill("Last delivery came a week late")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#outbox-badge")).to_have_text("Waiting to sync (1)")
    assert not Ask.objects.exists()

    go_online(page)
    page.evaluate("CadenceFieldPage.freshen(true)")
    expect(page.locator("#outbox-badge")).to_be_hidden()
    meeting.refresh_from_db()
    assert meeting.status == VisitStatus.DONE
    asks = {ask.kind: ask for ask in Ask.objects.filter(customer=account)}
    assert set(asks) == {"price", "complaint"} and {a.visit_id for a in asks.values()} == {
        meeting.pk
    }

    page.goto(f"{live_server.url}{account.get_absolute_url()}?tab=asks")
    expect(page.locator("#tab-content")).to_contain_text("A price for 300 hinges")
    page.goto(f"{live_server.url}/asks/")
    expect(page.locator("#results")).to_contain_text("Last delivery came a week late")
    page.goto(f"{live_server.url}/visits/{next_meeting.pk}/")
    expect(page.get_by_role("heading", name="Waiting on us")).to_be_visible()
    expect(page.locator("main")).to_contain_text("A price for 300 hinges")

    page.goto(f"{live_server.url}/asks/{asks['price'].pk}/")
    page.get_by_label("What was done").select_option("proposal")
    page.get_by_label("Details").fill("Quote Q-301 sent")
    page.get_by_label("The proposal's value").fill("2400")
    page.get_by_role("button", name="Save answer").click()
    page.goto(f"{live_server.url}/asks/{asks['price'].pk}/")
    page.get_by_label("Won", exact=True).check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator("main")).to_contain_text("Quote won")
    asks["price"].refresh_from_db()
    assert (asks["price"].outcome, asks["price"].value) == ("won", 2400)

    # The complaint's due date passes unanswered: the next refresh flags the account.
    Ask.objects.filter(pk=asks["complaint"].pk).update(
        asked_on=timezone.localdate() - dt.timedelta(days=5),
        due_on=timezone.localdate() - dt.timedelta(days=1),
    )
    health_refresh_everything(as_of=timezone.localdate())
    page.goto(f"{live_server.url}{account.get_absolute_url()}")
    expect(page.locator(".health")).to_contain_text("complaint unanswered past the due date")

    # The jobs that tell people, run by a real worker as the beat would: the hourly overdue
    # announcement (webhook ask.overdue) and the five-minute reminders (the morning e-mail and
    # a push to the rep's phone, through the push-service stand-in that decrypts it).
    rep = world.rep_north
    rep.email, rep.time_zone = "rep@example.com", _zone_past_seven_today()
    rep.save()
    service, push_server = push_service.start()
    key = vapid_key_new()
    phone = service.device("phone")
    settings.CADENCE_PUSH_SERVICES = [service.origin]
    push_subscription_save(user=rep, endpoint=phone.endpoint, **phone.keys)
    receiver = Receiver()
    webhook = hook(receiver.url, WebhookEvent.ASK_OVERDUE)
    queue = f"test-asks-{time.monotonic_ns()}"
    # The worker reads the test's own cache (cache_of_its_own), where saving the webhook
    # cleared the events wanted, not one a previous test's worker filled.
    worker = start_worker(
        queue,
        CADENCE_VAPID_PRIVATE_KEY=key,
        CADENCE_PUSH_SERVICES=service.origin,
        CADENCE_CACHE_PREFIX=settings.CACHES["default"]["KEY_PREFIX"],
    )
    try:
        asks_overdue_task.apply_async(queue=queue)
        reminders_send_task.apply_async(queue=queue)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (receiver.received and service.received):
            time.sleep(0.2)
    finally:
        stop_worker(worker)
        receiver.close()
        push_server.shutdown()
        push_server.server_close()
    (headers, body), *_ = receiver.received
    assert verified(headers, body, webhook.secret)
    announced = json.loads(body)
    assert announced["event"] == "ask.overdue"
    assert announced["data"]["ask"]["id"] == asks["complaint"].pk
    assert [m["title"] for m in service.messages(phone)] == ["Ask overdue: Harbour Hardware"]
    assert service.messages(phone)[0]["body"] == "Last delivery came a week late"
    local_day = timezone.localtime(timezone=ZoneInfo(rep.time_zone)).date()
    assert ReminderSent.objects.filter(
        user=rep, kind="morning", key=local_day.isoformat(), empty=False
    ).exists()
    _, body = morning_email(rep, day=local_day)
    assert "Asks due (1)" in body and "Harbour Hardware: Last delivery came a week late" in body

    # The manager's figures, computed by hand: two asks, the quote answered on time (the day
    # it was asked, or the next when the visit was logged before midnight and answered after),
    # won at 2,400; the complaint unanswered.
    price = asks["price"]
    days = (timezone.localdate(price.answered_at) - price.asked_on).days
    page.context.clear_cookies()
    browser_login(page, live_server, "north-manager")
    page.goto(f"{live_server.url}/manage/listening/?period=this_month")
    everyone = page.locator("#figures tfoot tr")
    cells = [text.strip() for text in everyone.locator("th").all_inner_texts()]
    assert cells == ["EVERYONE", "2", "1", "1", f"{days:.1f}", "1", "2,400", "0", "—"], cells
