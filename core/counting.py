"""Counting big tables without reading them."""

from django.db import connections, router
from django.db.models import Model

# Above this many rows a table's size is read from PostgreSQL's statistics (pg_class.reltuples,
# kept by autovacuum's ANALYZE) instead of an exact COUNT(*), which reads every row: 170 ms for
# 2 M visits.
EXACT_COUNT_BELOW = 100_000


def table_count(model: type[Model]) -> tuple[int, bool]:
    """The number of rows of `model`'s table and whether it is exact (False: an estimate)."""
    alias = router.db_for_read(model)
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
            [model._meta.db_table],
        )
        (estimate,) = cursor.fetchone()
    if estimate < EXACT_COUNT_BELOW:  # -1 when never analyzed
        return model.objects.count(), True
    return estimate, False
