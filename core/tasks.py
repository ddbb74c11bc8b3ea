"""Celery tasks of cross-cutting housekeeping."""

from celery import shared_task

from core.services import form_submissions_forget


@shared_task(soft_time_limit=5 * 60, time_limit=6 * 60, expires=6 * 3600)
def form_submissions_forget_task() -> int:
    return form_submissions_forget()
