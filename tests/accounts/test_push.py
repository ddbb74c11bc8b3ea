"""Web Push reminders (issue 28): a device turns notifications on, the server sends a meeting
coming, a follow-up and asks due, each once, encrypted for the device and VAPID-signed. The
push service is a local stand-in that checks the signature and decrypts what it receives
(tests/push_service.py); the encryption and the HTTP are real."""

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import PushSubscription, User
from accounts.push import vapid_key_new, vapid_public_key
from tests import push_service
from tests.factories import PlannedVisitFactory, VisitFactory
from visits.ask_services import AskInput, asks_record
from visits.models import ReminderSent
from visits.reminders import pushes_send

pytestmark = pytest.mark.django_db
LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def service(settings):
    service, server = push_service.start()
    settings.CADENCE_VAPID_PRIVATE_KEY = vapid_key_new()
    settings.CADENCE_PUSH_SERVICES = [service.origin, "fcm.googleapis.com"]
    yield service
    server.shutdown()
    server.server_close()


def _subscribe(client, device) -> object:
    return client.post(
        reverse("push_subscribe"),
        json.dumps(device.subscription()),
        content_type="application/json",
        HTTP_USER_AGENT="Mozilla/5.0 (Linux; Android 14) Chrome/131",
    )


@pytest.fixture
def rep(world):
    rep = world.rep_north
    rep.time_zone = "Europe/London"
    rep.alarm_minutes = 30
    rep.save()
    User.objects.exclude(pk=rep.pk).update(push_reminders=False)
    return rep


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=LONDON)


def test_a_device_turns_notifications_on_and_off(client, rep, service):
    client.force_login(rep)
    phone = service.device("phone")
    response = _subscribe(client, phone)
    assert response.status_code == 201
    saved = PushSubscription.objects.get(user=rep)
    assert saved.endpoint == phone.endpoint and saved.device.startswith("Mozilla/5.0")
    assert _subscribe(client, phone).status_code == 201, "the same device again updates"
    assert PushSubscription.objects.count() == 1
    page = client.get(reverse("reminders")).content.decode()
    assert f'data-key="{vapid_public_key()}"' in page and "Your devices (1)" in page
    removed = client.post(
        reverse("push_unsubscribe"),
        json.dumps({"endpoint": phone.endpoint, "keys": {}}),
        content_type="application/json",
    )
    assert removed.json() == {"removed": 1} and not PushSubscription.objects.exists()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"endpoint": "https://attacker.example/collect"}, "push service is not one"),
        ({"endpoint": "http://127.0.0.1:5432/"}, "push service is not one"),
        ({"endpoint": "http://fcm.googleapis.com/fcm/send/x"}, "push service is not one"),
        ({"endpoint": "https://fcm.googleapis.com.attacker.example/x"}, "push service is not one"),
        ({"keys": {"p256dh": "short", "auth": "AAAAAAAAAAAAAAAAAAAAAA"}}, "encryption key"),
        ({"keys": {"p256dh": None, "auth": None}}, "not a browser's push subscription"),
        ({"endpoint": ["a"]}, "not a browser's push subscription"),
    ],
)
def test_a_subscription_that_is_not_a_push_services_is_refused(
    client, rep, service, change, message
):
    client.force_login(rep)
    body = service.device("phone").subscription() | change
    response = client.post(
        reverse("push_subscribe"), json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 400 and message in response.json()["error"]
    assert not PushSubscription.objects.exists()


def test_garbage_and_an_unset_server_get_clear_answers(client, rep, service, settings):
    client.force_login(rep)
    for body in (b"not json", b"[1, 2]", b"{" + b" " * 5000 + b"}"):
        response = client.post(reverse("push_subscribe"), body, content_type="application/json")
        assert response.status_code == 400, body[:20]
    settings.CADENCE_VAPID_PRIVATE_KEY = ""
    response = _subscribe(client, service.device("phone"))
    assert response.status_code == 409 and "not set up" in response.json()["error"]
    assert "not set up on this server" in client.get(reverse("reminders")).content.decode()


def test_reminders_reach_each_device_decrypted_once(client, rep, world, service):
    client.force_login(rep)
    phone, tablet, old = (
        service.device("phone"),
        service.device("tablet"),
        service.device("old", gone=True),
    )
    for device in (phone, tablet, old):
        assert _subscribe(client, device).status_code == 201
    day = timezone.localdate() + dt.timedelta(days=1)
    meeting = PlannedVisitFactory(
        customer=world.north_customer,
        salesperson=rep,
        scheduled_start=_at(day, 10),
        scheduled_end=_at(day, 11),
        purpose="Quarterly review",
    )
    asks_record(
        user=rep,
        customer=world.north_customer,
        asks=[
            AskInput(kind="price", text="Price for 500 crates", due_on=day),
            AskInput(kind="complaint", text="Crushed boxes", due_on=day - dt.timedelta(days=1)),
        ],
    )
    VisitFactory(
        customer=world.coast_customer,
        salesperson=rep,
        visited_at=_at(day - dt.timedelta(days=3), 9),
        follow_up_on=day,
        next_step="Send the catalogue",
    )

    early = pushes_send(at=_at(day, 6, 30))
    assert early.due == 0, "before 07:00 and an hour before the meeting: nothing yet"
    morning = pushes_send(at=_at(day, 7, 5))
    assert (morning.due, morning.sent) == (3, 3)
    assert not PushSubscription.objects.filter(endpoint=old.endpoint).exists(), "410: removed"
    shown = {message["title"]: message for message in service.messages(phone)}
    assert shown.keys() == {
        "Ask due today: Northern Mills",
        "Ask overdue: Northern Mills",
        f"Follow-up due: {world.coast_customer.name}",
    }
    assert shown["Ask overdue: Northern Mills"]["body"] == "Crushed boxes"
    assert shown[f"Follow-up due: {world.coast_customer.name}"]["url"] == reverse(
        "crm:customer_detail", args=[world.coast_customer.pk]
    )
    by_tag = lambda messages: sorted(messages, key=lambda message: message["tag"])  # noqa: E731
    assert by_tag(service.messages(tablet)) == by_tag(service.messages(phone))

    coming = pushes_send(at=_at(day, 9, 40))
    assert (coming.due, coming.sent) == (1, 1)
    alarm = service.messages(phone)[-1]
    assert alarm["title"] == "Meeting with Northern Mills in 20 min"
    assert alarm["body"].startswith("10:00 · Quarterly review\nWaiting on: ")
    assert alarm["url"] == reverse("visits:detail", args=[meeting.pk])
    assert {item.vapid_key for item in service.received} == {vapid_public_key()}
    assert all(item.ttl > 0 for item in service.received)
    assert pushes_send(at=_at(day, 9, 45)).due == 0, "never twice"
    assert service.refused == []

    meeting.scheduled_start, meeting.scheduled_end = _at(day, 10, 15), _at(day, 11)
    meeting.save()
    assert pushes_send(at=_at(day, 9, 50)).sent == 1, "a moved meeting is announced again"


def test_switched_off_or_no_device_sends_nothing(client, rep, world, service):
    day = timezone.localdate() + dt.timedelta(days=1)
    PlannedVisitFactory(
        customer=world.north_customer,
        salesperson=rep,
        scheduled_start=_at(day, 10),
        scheduled_end=_at(day, 11),
    )
    assert pushes_send(at=_at(day, 9, 45)).due == 0, "no device"
    client.force_login(rep)
    _subscribe(client, service.device("phone"))
    rep.push_reminders = False
    rep.save()
    assert pushes_send(at=_at(day, 9, 45)).due == 0
    rep.push_reminders, rep.alarm_minutes = True, 0
    rep.save()
    assert pushes_send(at=_at(day, 9, 45)).due == 0, "0 minutes: no meeting alarm"
    assert service.received == []


def test_a_push_service_that_is_down_gets_the_reminder_on_the_next_pass(
    client, rep, world, service, settings
):
    client.force_login(rep)
    phone = service.device("phone")
    _subscribe(client, phone)
    day = timezone.localdate() + dt.timedelta(days=1)
    PlannedVisitFactory(
        customer=world.north_customer,
        salesperson=rep,
        scheduled_start=_at(day, 10),
        scheduled_end=_at(day, 11),
    )
    down, server = push_service.start()
    PushSubscription.objects.update(endpoint=phone.endpoint.replace(service.origin, down.origin))
    settings.CADENCE_PUSH_SERVICES = [down.origin]
    server.shutdown()
    server.server_close()
    failed = pushes_send(at=_at(day, 9, 40))
    assert (failed.sent, failed.failed) == (0, 1)
    assert not ReminderSent.objects.exists(), "given back"
    assert PushSubscription.objects.count() == 1, "a service down is not a device gone"
    PushSubscription.objects.update(endpoint=phone.endpoint)
    settings.CADENCE_PUSH_SERVICES = [service.origin]
    assert pushes_send(at=_at(day, 9, 45)).sent == 1
    assert service.messages(phone)[0]["title"] == "Meeting with Northern Mills in 15 min"


def test_a_test_notification_shows_it_works(client, rep, service):
    client.force_login(rep)
    response = client.post(reverse("push_test"), follow=True)
    assert "No device took the notification" in response.content.decode()
    phone = service.device("phone")
    _subscribe(client, phone)
    response = client.post(reverse("push_test"), follow=True)
    assert "Test notification sent to 1 device(s)." in response.content.decode()
    assert service.messages(phone)[0]["title"] == "Cadence notifications work"


def test_a_user_removes_only_their_own_devices(client, rep, world, service):
    client.force_login(rep)
    phone = service.device("phone")
    _subscribe(client, phone)
    client.force_login(world.rep_south)
    response = client.post(
        reverse("push_unsubscribe"),
        json.dumps({"endpoint": phone.endpoint}),
        content_type="application/json",
    )
    assert response.json() == {"removed": 0} and PushSubscription.objects.count() == 1


def test_a_device_outside_the_allowed_push_services_is_never_posted_to(
    client, rep, world, service, settings
):
    client.force_login(rep)
    phone = service.device("phone")
    _subscribe(client, phone)
    settings.CADENCE_PUSH_SERVICES = ["fcm.googleapis.com"]
    day = timezone.localdate() + dt.timedelta(days=1)
    PlannedVisitFactory(
        customer=world.north_customer,
        salesperson=rep,
        scheduled_start=_at(day, 10),
        scheduled_end=_at(day, 11),
    )
    result = pushes_send(at=_at(day, 9, 45))
    assert (result.due, result.sent) == (1, 0)
    assert service.received == [] and service.refused == []
    assert PushSubscription.objects.count() == 1, "kept: the user turns it on again"
    assert ReminderSent.objects.count() == 1, "not retried every pass"


def test_a_person_keeps_at_most_ten_devices_the_newest(client, rep, service):
    client.force_login(rep)
    devices = [service.device(f"phone {n}") for n in range(12)]
    for device in devices:
        assert _subscribe(client, device).status_code == 201
    kept = set(PushSubscription.objects.filter(user=rep).values_list("endpoint", flat=True))
    assert kept == {device.endpoint for device in devices[2:]}
