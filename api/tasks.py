from celery import shared_task

from api.services import idempotent_requests_forget


@shared_task(soft_time_limit=5 * 60, time_limit=6 * 60, expires=6 * 3600)
def idempotent_requests_forget_task() -> int:
    return idempotent_requests_forget()
