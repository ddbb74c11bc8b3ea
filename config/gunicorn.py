"""gunicorn's settings for the image and docker-compose (`gunicorn -c config/gunicorn.py`).

The access log has the path without its query string and no referrer: Near me's and the route's
positions travel in query strings (`lat`, `lng`) and are never kept (docs/field.md)."""

import os

bind = "0.0.0.0:8000"
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
accesslog = "-"
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'


def post_worker_init(worker):
    """Load the route solver (pyvroom brings pandas: 1.4-2.3 s to import) when a worker starts,
    not on some rep's first route page, which would wait for it."""
    import vroom  # noqa: F401
