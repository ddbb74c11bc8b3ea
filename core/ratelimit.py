"""A fixed-window request counter in Redis, for endpoints that take no login (the calendar
feed). It fails open: with Redis down the feed still answers, unthrottled, and says so in the
log."""

from django.conf import settings
from django.http import HttpRequest

from core.cache import redis_guarded, redis_key


def client_ip(request: HttpRequest) -> str:
    """The caller's address: REMOTE_ADDR, or behind DJANGO_PROXY_COUNT proxies the address the
    outermost of them saw (earlier X-Forwarded-For entries can be forged by the client)."""
    proxies = settings.DJANGO_PROXY_COUNT
    forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",")]
    if proxies and len(forwarded) >= proxies and forwarded[-proxies]:
        return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR", "")


def count_one(key: str, *, window_seconds: int) -> int:
    """Count one event under `key` in a window of `window_seconds`; the count so far."""
    name = redis_key("rate", key)

    def count(client) -> int:
        pipe = client.pipeline()
        pipe.incr(name)
        pipe.expire(name, window_seconds, nx=True)
        return pipe.execute()[0]

    return redis_guarded(count, default=0, what=f"rate limit {key}")


def counted(key: str) -> int:
    """The events counted under `key` in its current window, without counting one."""
    name = redis_key("rate", key)
    return int(redis_guarded(lambda client: client.get(name) or 0, default=0, what=key))


def over_limit(key: str, *, limit: int, window_seconds: int) -> bool:
    """Count one request under `key`; True once more than `limit` came in this window."""
    return count_one(key, window_seconds=window_seconds) > limit
