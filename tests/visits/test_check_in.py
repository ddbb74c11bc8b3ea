"""Check-in and check-out on the meeting page: time, position, distance from the address."""

import datetime as dt

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from health.services import health_refresh_everything
from tests.factories import CustomerFactory, PlannedVisitFactory
from visits.selectors import checked_in_shares
from visits.services import visit_check_in

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def meeting(world):
    account = CustomerFactory(
        territory=world.north, owner=world.rep_north, latitude=53.8194, longitude=-1.5816
    )
    return PlannedVisitFactory(
        customer=account, salesperson=world.rep_north, scheduled_start=NOW, kind="on_site"
    )


def test_checking_in_near_or_far_says_how_far_and_logs_the_time(client, world, meeting):
    client.force_login(world.rep_north)
    with time_machine.travel(NOW + dt.timedelta(minutes=3), tick=False):
        answer = client.post(
            reverse("visits:check_in", args=[meeting.pk]),
            {"latitude": "53.8350", "longitude": "-1.5816"},
            follow=True,
        )
    assert "1.7 km from the address" in answer.text
    meeting.refresh_from_db()
    assert meeting.check_in_distance_m == pytest.approx(1735, abs=10)
    assert meeting.checked_in_at == NOW + dt.timedelta(minutes=3)
    # A second tap keeps the first check-in.
    with time_machine.travel(NOW + dt.timedelta(minutes=9), tick=False):
        visit_check_in(visit=meeting, latitude=53.8194, longitude=-1.5816)
    meeting.refresh_from_db()
    assert meeting.checked_in_at == NOW + dt.timedelta(minutes=3)
    with time_machine.travel(NOW + dt.timedelta(minutes=50), tick=False):
        client.post(reverse("visits:check_out", args=[meeting.pk]))
        form = client.get(reverse("visits:log", args=[meeting.pk])).text
    # The log form's time and duration come from the check-in and check-out.
    assert 'name="duration_minutes" value="47"' in form
    local = timezone.localtime(NOW + dt.timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M")
    assert f'value="{local}"' in form


def test_on_site_without_a_position_and_nonsense(client, world, meeting):
    client.force_login(world.rep_north)
    with time_machine.travel(NOW, tick=False):
        client.post(
            reverse("visits:check_in", args=[meeting.pk]),
            {"latitude": "53.8195", "longitude": "-1.5817", "accuracy": "35"},
        )
    meeting.refresh_from_db()
    assert meeting.check_in_distance_m < 50 and meeting.check_in_accuracy_m == 35
    page = client.get(reverse("visits:detail", args=[meeting.pk])).text
    assert "reported position at the address" in page and "Check out" in page
    assert "the phone&#x27;s accuracy ±35 m" in page or "the phone's accuracy ±35 m" in page
    other = PlannedVisitFactory(customer=meeting.customer, salesperson=world.rep_north)
    refused = client.post(
        reverse("visits:check_in", args=[other.pk]),
        {"latitude": "123", "longitude": "0"},
        follow=True,
    )
    assert "not on the earth" in refused.text
    no_position = client.post(reverse("visits:check_in", args=[other.pk]), follow=True)
    assert "(no position)" in no_position.text
    early = PlannedVisitFactory(customer=meeting.customer, salesperson=world.rep_north)
    assert (
        "Check in first."
        in client.post(reverse("visits:check_out", args=[early.pk]), follow=True).text
    )
    client.force_login(world.rep_south)
    assert client.post(reverse("visits:check_in", args=[meeting.pk])).status_code == 404


def test_managers_see_each_reps_share_of_visits_checked_in_on_site(client, world, meeting):
    with time_machine.travel(NOW, tick=False):
        visit_check_in(visit=meeting, latitude=53.8194, longitude=-1.5816)
        far = PlannedVisitFactory(customer=meeting.customer, salesperson=world.rep_north)
        visit_check_in(visit=far, latitude=53.9, longitude=-1.5816)
        PlannedVisitFactory(customer=meeting.customer, salesperson=world.rep_north)
        for visit in world.rep_north.visits.all():
            visit.status, visit.visited_at = "done", NOW
            visit.save()
        shares = checked_in_shares([world.rep_north.pk, world.rep_south.pk], since=NOW)
    # Three on-site visits: one checked in at the address, one 9 km away, one not at all.
    assert shares == {world.rep_north.pk: 33}
    health_refresh_everything(as_of=NOW.date())
    client.force_login(world.north_manager)
    with time_machine.travel(NOW + dt.timedelta(days=1), tick=False):
        client.force_login(world.north_manager)
        board = client.get(reverse("manage:dashboard")).text
    row = board.split(">rep-north</a></td>")[1].split("</tr>")[0]
    assert ">33%<" in row


def test_a_check_in_away_from_a_town_centre_may_place_the_account_when_the_rep_says_so(
    client, world
):
    account = CustomerFactory(
        territory=world.north,
        owner=world.rep_north,
        latitude=53.7997,
        longitude=-1.5492,
        location_source="approximate",
    )
    meeting = PlannedVisitFactory(
        customer=account, salesperson=world.rep_north, scheduled_start=NOW, kind="on_site"
    )
    client.force_login(world.rep_north)
    with time_machine.travel(NOW, tick=False):
        client.post(
            reverse("visits:check_in", args=[meeting.pk]),
            {"latitude": "53.8300", "longitude": "-1.5800"},
        )
        page = client.get(reverse("visits:detail", args=[meeting.pk])).text
        assert "place the account where I checked in" in page
        done = client.post(reverse("visits:check_in_locate", args=[meeting.pk]), follow=True)
    assert "is now placed where you checked in" in done.text
    account.refresh_from_db()
    assert (account.latitude, account.longitude, account.location_source) == (
        53.83,
        -1.58,
        "check_in",
    )
    assert account.located_at == NOW
    meeting.refresh_from_db()
    assert meeting.check_in_distance_m == 0
    # Now a confirmed place: no second move, and no offer.
    again = client.post(reverse("visits:check_in_locate", args=[meeting.pk]), follow=True)
    assert "not a town centre to correct" in again.text
    assert "place the account where I checked in" not in again.text


def test_a_geocoded_or_imported_location_is_never_moved_by_a_check_in(client, world, meeting):
    client.force_login(world.rep_north)
    with time_machine.travel(NOW, tick=False):
        client.post(
            reverse("visits:check_in", args=[meeting.pk]),
            {"latitude": "53.9000", "longitude": "-1.5800"},
        )
    page = client.get(reverse("visits:detail", args=[meeting.pk])).text
    assert "place the account where I checked in" not in page
    refused = client.post(reverse("visits:check_in_locate", args=[meeting.pk]), follow=True)
    assert "not a town centre to correct" in refused.text
    meeting.customer.refresh_from_db()
    assert (meeting.customer.latitude, meeting.customer.longitude) == (53.8194, -1.5816)
    # Someone else's meeting: not theirs to confirm.
    client.force_login(world.rep_south)
    assert client.post(reverse("visits:check_in_locate", args=[meeting.pk])).status_code == 404
