"""Sending Celery tasks without ever making a user wait on Redis.

Celery's own sending path waits for Redis: the result backend retries its connection 20 times a
second apart, and publishing retries too, so with Redis down or hung a request that queues a
task took 19-30 s and could answer 500 after its data was saved. Here every send:

- goes through a pool of broker connections of its own with 0.5 s connect and socket timeouts
  and no retries, and asks for no result (nothing reads the results of these tasks);
- is skipped at once while the Redis breaker is open (one failure opens it for a few seconds,
  for the cache and the rate limits too);
- reports failure as False instead of raising, so the caller decides what "not queued" means
  (a refresh stays recorded as pending, an import is marked failed).

Callers that must not lose the work record it in PostgreSQL in the same transaction as the
write, then send on commit (`core.refresh.customers_refresh_request`).
"""

import logging
import threading

from celery import current_app
from kombu.connection import ConnectionPool

from core.cache import REDIS_TIMEOUT_SECONDS, redis_breaker

logger = logging.getLogger(__name__)

SEND_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
    "socket_timeout": REDIS_TIMEOUT_SECONDS,
    "retry_on_timeout": False,
    "max_retries": 0,
}
POOL_SIZE = 16

_pools: dict[str, ConnectionPool] = {}
_pools_lock = threading.Lock()


def _pool(url: str) -> ConnectionPool:
    with _pools_lock:
        if url not in _pools:
            connection = current_app.connection_for_write(
                url, transport_options=SEND_TRANSPORT_OPTIONS
            )
            _pools[url] = connection.Pool(limit=POOL_SIZE)
        return _pools[url]


def _discard_pool(url: str) -> None:
    """After a failure: connections of a pool that timed out may hold half-read replies."""
    with _pools_lock:
        pool = _pools.pop(url, None)
    if pool is not None:
        try:
            pool.force_close_all()
        except Exception:  # closing a broken connection may fail again; it is gone either way
            logger.debug("closing broker connections failed", exc_info=True)


def enqueue(task_name: str, args: list) -> bool:
    """Send `task_name(*args)` to the workers. True if Redis took it; False (within about half a
    second, at once while the breaker is open) if it did not."""
    url = current_app.conf.broker_url
    breaker = redis_breaker(url)
    if breaker.is_open:
        logger.warning("%s not queued: Redis failed a moment ago", task_name)
        return False
    try:
        with _pool(url).acquire(block=True, timeout=REDIS_TIMEOUT_SECONDS) as connection:
            current_app.send_task(
                task_name,
                args=args,
                connection=connection,
                ignore_result=True,
                retry=False,
            )
    except Exception:  # kombu, redis and socket errors alike: none may fail the caller
        breaker.trip()
        _discard_pool(url)
        logger.warning("%s not queued: Redis unavailable", task_name, exc_info=True)
        return False
    return True
