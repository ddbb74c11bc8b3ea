import datetime as dt

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from accounts.tasks import sessions_clear_expired
from config.celery import app


def make_session(expires_in: dt.timedelta) -> str:
    store = SessionStore()
    store["user"] = "someone"
    store.set_expiry(timezone.now() + expires_in)
    store.create()
    return store.session_key


@pytest.mark.worker
def test_nightly_session_cleanup_runs_through_a_real_worker(celery_worker_queue):
    expired = make_session(-dt.timedelta(hours=1))
    alive = make_session(dt.timedelta(days=1))

    result = sessions_clear_expired.apply_async(queue=celery_worker_queue)

    assert result.get(timeout=60) == 1
    assert list(Session.objects.values_list("session_key", flat=True)) == [alive]
    assert not Session.objects.filter(session_key=expired).exists()


def test_beat_schedules_the_session_cleanup_nightly():
    entry = app.conf.beat_schedule["sessions-clear-expired"]
    assert entry["task"] == sessions_clear_expired.name
    assert entry["schedule"].hour == {3}
    assert app.conf.task_serializer == "json"
