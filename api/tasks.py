from celery import shared_task

from api.services import idempotent_requests_forget
from api.webhooks import lost_deliveries_send, webhook_deliver


@shared_task(soft_time_limit=5 * 60, time_limit=6 * 60, expires=6 * 3600)
def idempotent_requests_forget_task() -> int:
    return idempotent_requests_forget()


@shared_task(bind=True, soft_time_limit=60, time_limit=90, max_retries=None)
def webhook_deliver_task(self, delivery_id: int) -> None:
    """Send one webhook delivery; a failed send comes back after a growing wait (the delivery
    row counts the attempts and gives up after api.webhooks.MAX_ATTEMPTS)."""
    wait = webhook_deliver(delivery_id)
    if wait is not None:
        raise self.retry(countdown=wait)


@shared_task(soft_time_limit=60, time_limit=90, expires=240)
def webhook_deliveries_sweep_task() -> int:
    return lost_deliveries_send()
