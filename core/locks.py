"""PostgreSQL advisory-lock ids, all in one place so no two writers pick the same number.

Each is taken with `pg_advisory_xact_lock` (released when the transaction ends)."""

# Rewriting managers' rollups: two refreshes of one segment must not interleave.
ROLLUP_LOCK = 7_240_001
# Running, reverting and refreshing after an import: one at a time.
IMPORT_LOCK = 7_240_002
