"""PostgreSQL advisory-lock ids, all in one place so no two writers pick the same number.

Each is taken with `pg_advisory_xact_lock` (released when the transaction ends)."""

import hashlib

# Rewriting managers' rollups: two refreshes of one segment must not interleave.
ROLLUP_LOCK = 7_240_001
# Running, reverting and refreshing after an import: one at a time.
IMPORT_LOCK = 7_240_002


def keyed_lock_id(*parts: object) -> int:
    """The lock of one value (a user's Idempotency-Key, a visit's client UUID): a signed 64-bit
    hash of the parts, so two requests for the same value wait for each other and others do
    not (a clash with the fixed ids above is a 1 in 2**63 chance)."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
