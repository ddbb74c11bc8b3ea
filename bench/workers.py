"""A Celery worker as deployed (prefork, two processes) for the benches, on a queue of the
bench's own so no worker of a real installation on the same Redis takes its tasks."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def start_worker(queue: str, *queues_args: str) -> subprocess.Popen:
    """`queues_args`, e.g. ("--queues", f"{queue}.nightly"): the lanes it reads (else all)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--concurrency",
            "2",
            *queues_args,
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=str(ROOT),
        env={**os.environ, "CELERY_QUEUE": queue},
    )
