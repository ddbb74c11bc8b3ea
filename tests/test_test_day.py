"""CADENCE_TEST_DAY runs the suite as if on that day (tests/conftest.py, as_of_test_day)."""

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.utils import timezone

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(not os.environ.get("CADENCE_TEST_DAY"), reason="run by the test below")
def test_today_is_the_day_asked_for():
    asked = dt.datetime.fromisoformat(os.environ["CADENCE_TEST_DAY"])
    now = timezone.localtime()
    assert now.date() == asked.date()
    assert dt.timedelta(0) <= now.replace(tzinfo=None) - asked < dt.timedelta(minutes=5)


def test_the_suite_can_be_run_as_of_another_day():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:randomly",
            "-p",
            "no:cacheprovider",
            f"{__file__}::test_today_is_the_day_asked_for",
        ],
        cwd=ROOT,
        env={**os.environ, "CADENCE_TEST_DAY": "2027-02-28T23:50"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "1 passed" in result.stdout, result.stdout + result.stderr
