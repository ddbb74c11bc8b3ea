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
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)
SCHEDULE_CACHE_SECONDS = 120
GLOBAL_GENERATION = "schedule-gen:all"


# Every call to Redis gives up after this long: a Redis that is down or hung must cost a
# request at most one short wait, never the 20 s of a library's default retries.
REDIS_TIMEOUT_SECONDS = 0.5


class RedisBreaker:
    """A circuit breaker for one Redis server: after a failure every caller skips that server
    for RETRY_AFTER_SECONDS, so an outage costs one timeout per process now and then, not one
    per call. The cache, the task queue, rate limits and import progress share it."""

    RETRY_AFTER_SECONDS = 10

    def __init__(self):
        self._open_until = 0.0

    @property
    def is_open(self) -> bool:
        return time.monotonic() < self._open_until

    def trip(self) -> None:
        self._open_until = time.monotonic() + self.RETRY_AFTER_SECONDS

    def reset(self) -> None:
        self._open_until = 0.0


_breakers: dict[str, RedisBreaker] = {}


def redis_breaker(url: str) -> RedisBreaker:
    """The breaker of the server at `url` (one per URL, shared by the whole process)."""
    return _breakers.setdefault(url, RedisBreaker())


_clients: dict[str, redis.Redis] = {}


def redis_client() -> redis.Redis:
    """A client for REDIS_URL with short timeouts and no retries, one per process (its pool is
    thread-safe), for the counters and progress kept in Redis outside the cache. Call it
    through `redis_guarded`."""
    url = settings.REDIS_URL
    if url not in _clients:
        _clients[url] = redis.Redis.from_url(
            url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 0),
        )
    return _clients[url]


def redis_guarded(call, *, default=None, what: str):
    """`call(client)`, or `default` at once when Redis failed recently or fails now (logged)."""
    breaker = redis_breaker(settings.REDIS_URL)
    if breaker.is_open:
        return default
    try:
        return call(redis_client())
    except (redis.RedisError, OSError):
        breaker.trip()
        logger.warning("%s: Redis unavailable; carrying on without it", what, exc_info=True)
        return default


def redis_key(*parts) -> str:
    """A key under this installation's prefix (CADENCE_CACHE_PREFIX), so installations sharing
    one Redis never read each other's counters or progress."""
    return ":".join([settings.CADENCE_CACHE_PREFIX, *map(str, parts)])


class FailOpenRedisCache(RedisCache):
    """RedisCache whose reads miss and writes are skipped while Redis is unreachable, with the
    breaker of its server: after a failure it does not try again for a while."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._breaker = redis_breaker(self._servers[0])

    def _guard(self, default, method, *args, **kwargs):
        if self._breaker.is_open:
            return default
        try:
            return method(*args, **kwargs)
        except (redis.RedisError, OSError):
            logger.warning("cache unavailable; carrying on without it", exc_info=True)
            self._breaker.trip()
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
