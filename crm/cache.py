"""The shared cache (Redis) and the generations that tell when a cached schedule is stale.

The cache fails open: with Redis down every read is a miss and writes are dropped, so pages
still render (just without the shortcut) and nothing that writes data depends on Redis.

A salesperson's schedule (their meetings and the accounts they own) is cached per user under
their generation and the global one. Services that change a meeting or an account bump the
generations of the users whose schedule shows it (on commit); the nightly jobs and imports bump
the global one. Entries also expire after SCHEDULE_CACHE_SECONDS, which bounds staleness from
writes outside the services (the Django admin)."""

import logging
import time

import redis
from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache
from django.db import transaction

logger = logging.getLogger(__name__)
SCHEDULE_CACHE_SECONDS = 120
GLOBAL_GENERATION = "schedule-gen:all"


_clients: dict[str, redis.Redis] = {}


def redis_client() -> redis.Redis:
    """A client for REDIS_URL with short timeouts, one per process (its pool is thread-safe),
    for the counters and progress kept in Redis outside the cache."""
    url = settings.REDIS_URL
    if url not in _clients:
        _clients[url] = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=1)
    return _clients[url]


class FailOpenRedisCache(RedisCache):
    """RedisCache whose reads miss and writes are skipped while Redis is unreachable. After a
    failure it does not try again for RETRY_AFTER_SECONDS, so an outage costs one connection
    timeout per process now and then, not one per cache call."""

    RETRY_AFTER_SECONDS = 10

    def __init__(self, server, params):
        super().__init__(server, params)
        # Per instance (Django keeps one per thread and configuration), not per class: another
        # configuration's outage says nothing about this server.
        self._down_until = 0.0

    def _guard(self, default, method, *args, **kwargs):
        if time.monotonic() < self._down_until:
            return default
        try:
            return method(*args, **kwargs)
        except (redis.RedisError, OSError):
            logger.warning("cache unavailable; carrying on without it", exc_info=True)
            self._down_until = time.monotonic() + self.RETRY_AFTER_SECONDS
            return default

    def get(self, key, default=None, version=None):
        return self._guard(default, super().get, key, default, version)

    def get_many(self, keys, version=None):
        return self._guard({}, super().get_many, keys, version)

    def set(self, key, value, timeout=None, version=None):
        return self._guard(None, super().set, key, value, timeout, version)

    def set_many(self, data, timeout=None, version=None):
        return self._guard([], super().set_many, data, timeout, version)

    def add(self, key, value, timeout=None, version=None):
        return self._guard(False, super().add, key, value, timeout, version)

    def delete(self, key, version=None):
        return self._guard(False, super().delete, key, version)


def _user_key(user_id: int) -> str:
    return f"schedule-gen:user:{user_id}"


def schedule_generation(user_id: int) -> str:
    """Changes whenever anything the user's schedule shows may have changed."""
    keys = [GLOBAL_GENERATION, _user_key(user_id)]
    values = cache.get_many(keys)
    return ".".join(str(values.get(key, 0)) for key in keys)


def _bump(keys: list[str]) -> None:
    stamp = time.time_ns()
    cache.set_many(dict.fromkeys(keys, stamp), timeout=None)


def schedules_changed(user_ids) -> None:
    """After the commit: the schedules of these users are stale."""
    keys = [_user_key(pk) for pk in {pk for pk in user_ids if pk}]
    if keys:
        transaction.on_commit(lambda: _bump(keys))


def all_schedules_changed() -> None:
    transaction.on_commit(lambda: _bump([GLOBAL_GENERATION]))
