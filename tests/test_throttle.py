"""The heavy pages share at most CADENCE_HEAVY_PAGES_PER_PROCESS threads of a web process: with
every slot held, a manager's dashboard answers "busy, try again" after the wait while a rep's
schedule is served at once; a slot frees when its request ends."""

import threading
import time

import pytest
from django.test import override_settings
from django.urls import reverse

from core.throttle import heavy_slots, is_heavy

pytestmark = pytest.mark.django_db


def test_the_heavy_pages_are_the_whole_territory_ones():
    assert is_heavy("manage:dashboard") and is_heavy("manage:profitability")
    assert is_heavy("crm:customer_map_data") and is_heavy("accounts:admin_home")
    assert not is_heavy("visits:schedule") and not is_heavy("crm:customer_detail")


@override_settings(CADENCE_HEAVY_PAGES_PER_PROCESS=1, CADENCE_HEAVY_PAGE_WAIT=0.2)
def test_with_every_slot_held_a_heavy_page_is_busy_and_a_reps_page_is_served(client, world):
    slots = heavy_slots(1)
    assert slots.acquire(timeout=1)
    try:
        client.force_login(world.north_manager)
        started = time.monotonic()
        busy = client.get(reverse("manage:dashboard"))
        assert busy.status_code == 503 and busy["Retry-After"] == "5"
        assert "try again" in busy.content.decode()
        assert time.monotonic() - started >= 0.2, "it waited for a slot first"
        client.force_login(world.rep_north)
        assert client.get(reverse("visits:schedule")).status_code == 200
    finally:
        slots.release()
    client.force_login(world.north_manager)
    assert client.get(reverse("manage:dashboard")).status_code == 200
    assert slots.acquire(timeout=0), "the dashboard gave its slot back"
    slots.release()


@override_settings(CADENCE_HEAVY_PAGES_PER_PROCESS=1, CADENCE_HEAVY_PAGE_WAIT=0.1)
def test_a_managers_write_is_never_held_back(client, world):
    """A review-cycle completion (a POST under manage:) goes through with every slot held."""
    slots = heavy_slots(1)
    assert slots.acquire(timeout=1)
    try:
        client.force_login(world.north_manager)
        response = client.post(reverse("manage:review_cycle"), {"submission": "k1"})
        assert response.status_code != 503
    finally:
        slots.release()


@override_settings(CADENCE_HEAVY_PAGES_PER_PROCESS=1, CADENCE_HEAVY_PAGE_WAIT=5)
def test_a_heavy_page_waiting_for_a_slot_gets_it_when_the_holder_ends(client, world):
    slots = heavy_slots(1)
    assert slots.acquire(timeout=1)
    threading.Timer(0.3, slots.release).start()
    client.force_login(world.north_manager)
    assert client.get(reverse("manage:profitability")).status_code == 200
    assert slots.acquire(timeout=0)
    slots.release()
