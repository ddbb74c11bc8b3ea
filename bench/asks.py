"""Asks and reminders at size, against the database in DATABASE_URL (seed it first:
`manage.py seed_demo --customers 100000`; the demo's asks come with it): the asks list (a
salesperson's own, a manager's team), the schedule with its "Asks due", the Listening page, and
one pass of the morning e-mails for every salesperson and manager (500 + at 100k; target < 10 s),
sent to Django's in-memory mailbox, and one pass of the notifications with a phone per
salesperson, pushed (encrypted, VAPID-signed) to the local push-service stand-in the tests use;
the claims and phones rolled back after.
Run by hand: `.venv/bin/python bench/asks.py`."""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core import mail  # noqa: E402
from django.db import transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import (  # noqa: E402
    PushSubscription,
    Role,
    User,
)
from accounts.push import vapid_key_new  # noqa: E402
from bench.pages import median_ms_and_queries  # noqa: E402
from tests import push_service  # noqa: E402
from visits.models import Ask  # noqa: E402
from visits.reminders import pushes_send, reminders_send  # noqa: E402


class Rollback(Exception):
    pass


def main() -> None:
    setup_test_environment()
    settings.ALLOWED_HOSTS = ["testserver"]
    print(f"{Ask.objects.count():,} asks")
    for username, urls in {
        "sales1": ["/asks/", "/asks/?state=all", "/visits/schedule/"],
        "manager1": [
            "/asks/?scope=team",
            "/asks/?scope=team&state=overdue",
            "/manage/listening/",
        ],
    }.items():
        client = Client()
        client.force_login(User.objects.get(username=username))
        for url in urls:
            ms, queries = median_ms_and_queries(client, url)
            print(f"{username:9} {url:36} {ms:7.1f} ms  {queries} queries")
    at = timezone.now().replace(hour=8, minute=0)
    try:
        with transaction.atomic():
            started = time.perf_counter()
            result = reminders_send(at=at)
            seconds = time.perf_counter() - started
            raise Rollback
    except Rollback:
        pass
    print(
        f"send_reminders: {result.due} due, {result.sent} sent, {result.empty} with nothing to "
        f"say in {seconds:.2f} s ({len(mail.outbox)} e-mails in the in-memory mailbox)"
    )
    service, server = push_service.start()
    settings.CADENCE_VAPID_PRIVATE_KEY = vapid_key_new()
    settings.CADENCE_PUSH_SERVICES = [service.origin]
    try:
        with transaction.atomic():
            people = User.objects.filter(role=Role.SALESPERSON, is_active=True)
            PushSubscription.objects.bulk_create(
                PushSubscription(user=person, endpoint=device.endpoint, **device.keys)
                for person in people
                for device in [service.device(person.username)]
            )
            started = time.perf_counter()
            pushed = pushes_send(at=at)
            push_seconds = time.perf_counter() - started
            raise Rollback
    except Rollback:
        pass
    finally:
        server.shutdown()
    print(
        f"notifications: {people.count()} phones, {pushed.due} due, {pushed.sent} pushed, "
        f"{pushed.failed} failed in {push_seconds:.2f} s ({len(service.received)} decrypted by "
        f"the stand-in, {len(service.refused)} refused)"
    )


if __name__ == "__main__":
    main()
