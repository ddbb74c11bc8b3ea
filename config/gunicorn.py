"""gunicorn's settings for the image and docker-compose (`gunicorn -c config/gunicorn.py`).

The access log has the path without its query string and no referrer: Near me's and the route's
positions travel in query strings (`lat`, `lng`) and are never kept (docs/field.md)."""

import os

bind = "0.0.0.0:8000"
# Threads, not one request per process: a request mostly waits on PostgreSQL, so a process serves
# several at once, and core.throttle keeps the managers' heavy pages to half of each process's
# threads, so a few slow pages can never hold every worker while reps' fast pages queue (issue
# 29: three sync workers timed out 316 requests under 300 users).
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", str(2 * (os.cpu_count() or 1) + 1)))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# A request still running after this long is cut off and its worker replaced.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
accesslog = "-"
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'


def post_worker_init(worker):
    """Load the route solver (pyvroom brings pandas: 1.4-2.3 s to import) when a worker starts,
    not on some rep's first route page, which would wait for it."""
    import vroom  # noqa: F401
