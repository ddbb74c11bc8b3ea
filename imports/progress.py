"""Live progress of a running import, kept in Redis (the import's own writes stay in one
transaction, which other connections cannot see until it commits)."""

import logging

import redis

from crm.cache import redis_client

logger = logging.getLogger(__name__)
KEEP_SECONDS = 24 * 3600


def _key(job_id: int) -> str:
    return f"cadence:import:{job_id}:progress"


def progress_report(job_id: int, *, phase: str, rows: int, percent: int, per_second: int) -> None:
    """Best effort: an import never fails because its progress could not be shown."""
    try:
        client = redis_client()
        client.hset(
            _key(job_id),
            mapping={"phase": phase, "rows": rows, "percent": percent, "per_second": per_second},
        )
        client.expire(_key(job_id), KEEP_SECONDS)
    except redis.RedisError:
        logger.warning("import %s: progress not reported", job_id, exc_info=True)


def progress_read(job_id: int) -> dict | None:
    try:
        values = redis_client().hgetall(_key(job_id))
    except redis.RedisError:
        return None
    if not values:
        return None
    decoded = {key.decode(): value.decode() for key, value in values.items()}
    return {
        "phase": decoded.get("phase", ""),
        "rows": int(decoded.get("rows", 0)),
        "percent": int(decoded.get("percent", 0)),
        "per_second": int(decoded.get("per_second", 0)),
    }
