"""Celery tasks of visits: thin wrappers that own time limits; the work is in the services."""

import logging
import time

from celery import shared_task
from django.utils import timezone

from visits.ask_services import asks_overdue_announce
from visits.reminders import pushes_send, reminders_send
from visits.services import customer_cadence_refresh

logger = logging.getLogger(__name__)


@shared_task(soft_time_limit=20 * 60, time_limit=25 * 60, expires=6 * 3600)
def customers_refresh_cadence() -> int:
    """Nightly: recompute every customer's last visit and next due date (picks up cadence
    policy changes and anything written outside the services). Idempotent."""
    started = time.monotonic()
    changed = customer_cadence_refresh()
    logger.info(
        "customers_refresh_cadence changed=%d seconds=%.1f", changed, time.monotonic() - started
    )
    return changed


@shared_task(soft_time_limit=4 * 60, time_limit=5 * 60, expires=5 * 60)
def reminders_send_task() -> int:
    """Every 5 minutes: the morning e-mails whose morning has come (each user's time zone) and
    the notifications to devices (meetings coming, follow-ups and asks due), each once.
    Returns how many went out."""
    at = timezone.now()
    return reminders_send(at=at).sent + pushes_send(at=at).sent


@shared_task(soft_time_limit=4 * 60, time_limit=5 * 60, expires=60 * 60)
def asks_overdue_task() -> int:
    """Hourly: announce the asks whose due date passed unanswered (webhook ask.overdue)."""
    return asks_overdue_announce(today=timezone.localdate())
