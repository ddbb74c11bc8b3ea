"""Live progress of a running import, kept in Redis (the import's own writes stay in one
transaction, which other connections cannot see until it commits)."""

from core.cache import redis_guarded, redis_key

KEEP_SECONDS = 24 * 3600


def _key(job_id: int) -> str:
    return redis_key("import", job_id, "progress")


def progress_report(job_id: int, *, phase: str, rows: int, percent: int, per_second: int) -> None:
    """Best effort: an import never fails because its progress could not be shown."""

    def report(client) -> None:
        pipe = client.pipeline()
        pipe.hset(
            _key(job_id),
            mapping={"phase": phase, "rows": rows, "percent": percent, "per_second": per_second},
        )
        pipe.expire(_key(job_id), KEEP_SECONDS)
        pipe.execute()

    redis_guarded(report, what=f"import {job_id} progress")


def progress_read(job_id: int) -> dict | None:
    values = redis_guarded(
        lambda client: client.hgetall(_key(job_id)), what=f"import {job_id} progress"
    )
    if not values:
        return None
    decoded = {key.decode(): value.decode() for key, value in values.items()}
    return {
        "phase": decoded.get("phase", ""),
        "rows": int(decoded.get("rows", 0)),
        "percent": int(decoded.get("percent", 0)),
        "per_second": int(decoded.get("per_second", 0)),
    }
