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


def over_limit(key: str, *, limit: int, window_seconds: int) -> bool:
    """Count one request under `key`; True once more than `limit` came in this window."""
    name = redis_key("rate", key)

    def count(client) -> int:
        pipe = client.pipeline()
        pipe.incr(name)
        pipe.expire(name, window_seconds, nx=True)
        return pipe.execute()[0]

    return redis_guarded(count, default=0, what=f"rate limit {key}") > limit
