"""Celery tasks of crm: thin wrappers that own retries and time limits."""

import logging

from celery import shared_task

from crm.geocoding import customers_geocode

logger = logging.getLogger(__name__)


@shared_task(soft_time_limit=8 * 60, time_limit=9 * 60, expires=9 * 60)
def customers_geocode_task() -> dict:
    """Every 10 minutes: place the next batch of accounts (50 a run: a minute of Nominatim at
    its one request a second)."""
    result = customers_geocode()
    logger.info(
        "customers_geocode geocoded=%d approximate=%d failed=%d",
        result.geocoded,
        result.approximate,
        result.failed,
    )
    return result.__dict__
