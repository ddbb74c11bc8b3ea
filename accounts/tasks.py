import logging

from celery import shared_task
from django.contrib.sessions.models import Session
from django.utils import timezone

logger = logging.getLogger(__name__)


@shared_task(soft_time_limit=300, time_limit=360, expires=3600)
def sessions_clear_expired() -> int:
    """Delete login sessions that have expired; returns how many went."""
    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    logger.info("sessions_clear_expired deleted=%d", deleted)
    return deleted
