import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("cadence")
# Every CELERY_* setting in crm/settings.py configures this app, beat schedule included.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The tasks that run on a lane of their own (settings.CADENCE_QUEUE_LANES).
# The night's bulk work has one too, so a visit logged while the night runs is refreshed at once
# instead of waiting behind batches of 10,000 accounts (issue 29).
LANES = {
    "api.tasks.webhook_deliver_task": "webhooks",
    "health.tasks.health_refresh_nightly": "nightly",
    "health.tasks.accounts_refresh_batch": "nightly",
    "health.tasks.rollup_rebuild_all": "nightly",
    "health.tasks.health_send_digests": "nightly",
    "visits.tasks.customers_refresh_cadence": "nightly",
    "crm.tasks.customers_geocode_task": "nightly",
    "reports.tasks.outcomes_measure_task": "nightly",
    "imports.tasks.import_inspect_task": "imports",
    "imports.tasks.import_run_task": "imports",
    "imports.tasks.import_revert_task": "imports",
}


def route_task(name, args, kwargs, options, task=None, **_):
    """A lane's queue is named after the default queue as it is when the task is sent."""
    lane = LANES.get(name)
    if lane is None:
        return None
    return {"queue": f"{app.conf.task_default_queue}.{lane}"}
