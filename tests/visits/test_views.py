import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar

from accounts.services import calendar_token_regenerate
from tests.factories import ContactFactory, CustomerFactory, PlannedVisitFactory, VisitFactory
from visits.models import Visit, VisitStatus
from visits.services import customer_cadence_refresh, visit_log

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def local(days: int, hour: int) -> dt.datetime:
    day = timezone.localdate() + dt.timedelta(days=days)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def form_time(value: dt.datetime) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M")


def test_schedule_shows_the_week_and_each_region_as_an_htmx_partial(client, world):
    meeting = PlannedVisitFactory(
        customer=world.north_customer,
        salesperson=world.rep_north,
        scheduled_start=local(0, 23) - dt.timedelta(minutes=30),
        scheduled_end=local(0, 23),
        purpose="Quarterly review",
    )
    client.force_login(world.rep_north)
    page = client.get(reverse("visits:schedule")).text
    assert "Northern Mills" in page and "Quarterly review" in page and "Who to visit" in page
    # Each meeting links to its own page (check-in, brief) from its time and an Open button.
    assert page.count(f'href="{reverse("visits:detail", args=[meeting.pk])}"') == 2
    agenda = client.get(reverse("visits:schedule"), headers={**HTMX, "HX-Target": "agenda"}).text
    assert agenda.lstrip().startswith('<section id="agenda"') and "Who to visit" not in agenda
    who = client.get(reverse("visits:schedule"), headers={**HTMX, "HX-Target": "who-to-visit"}).text
    assert who.lstrip().startswith('<section id="who-to-visit"') and "Quarterly review" not in who


def test_schedule_navigates_weeks_and_days(client, world):
    next_week = PlannedVisitFactory(
        customer=world.north_customer,
        salesperson=world.rep_north,
        scheduled_start=local(7, 10),
        purpose="Next week's talk",
    )
    client.force_login(world.rep_north)
    today = timezone.localdate()
    monday_next = today - dt.timedelta(days=today.weekday()) + dt.timedelta(days=7)
    this_week = client.get(reverse("visits:schedule")).text
    assert "Next week&#x27;s talk" not in this_week
    following = client.get(reverse("visits:schedule"), {"date": monday_next.isoformat()}).text
    assert "Next week&#x27;s talk" in following
    day = client.get(
        reverse("visits:schedule"),
        {"view": "day", "date": timezone.localdate(next_week.scheduled_start).isoformat()},
    )
    assert [v.pk for _, visits, _ in day.context["days"] for v in visits] == [next_week.pk]
    assert client.get(reverse("visits:schedule"), {"date": "garbage"}).status_code == 200


def test_who_to_visit_ranks_overdue_accounts_and_drops_those_with_a_meeting(client, world):
    long_ago = timezone.now() - dt.timedelta(days=80)
    a_tier = CustomerFactory(
        name="Overdue A", tier="A", territory=world.north, owner=world.rep_north
    )
    d_tier = CustomerFactory(name="Fresh D", tier="D", territory=world.north, owner=world.rep_north)
    VisitFactory(customer=a_tier, salesperson=world.rep_north, visited_at=long_ago)
    VisitFactory(customer=d_tier, salesperson=world.rep_north, visited_at=timezone.now())
    customer_cadence_refresh()
    client.force_login(world.rep_north)
    names = [c.name for c in client.get(reverse("visits:schedule")).context["who_to_visit"]]
    # Most overdue first (never visited in 400 days, tier B: 370 days over; Overdue A was last
    # visited 80 days ago, tier A every 14: 66 over), then by tier and revenue.
    assert names == ["Northern Mills", "Southern Outpost", "Overdue A"]
    assert "Fresh D" not in names
    PlannedVisitFactory(customer=a_tier, salesperson=world.rep_north)
    names = [c.name for c in client.get(reverse("visits:schedule")).context["who_to_visit"]]
    assert "Overdue A" not in names


def test_schedule_query_count_does_not_grow_with_meetings_or_customers(
    client, world, django_assert_num_queries, django_capture_on_commit_callbacks
):
    client.force_login(world.rep_north)

    def add(n):
        with django_capture_on_commit_callbacks(execute=True):
            _add(n)

    def _add(n):
        for i in range(n):
            customer = CustomerFactory(territory=world.north, owner=world.rep_north)
            contact = ContactFactory(customer=customer)
            visit = PlannedVisitFactory(
                customer=customer,
                salesperson=world.rep_north,
                scheduled_start=local(i % 5, 9 + i % 8),
            )
            visit.contacts.add(contact)
        customer_cadence_refresh()

    add(3)
    # +1 since Dec 2026: the salesperson's territories, read as values (crm.selectors); +1:
    # the meetings they attend as a colleague (visits.selectors.attended_visit_ids); +1: the
    # asks due (visits.ask_selectors.asks_due_for); +1: the gaps ahead, with their count
    # (visits.selectors.cadence_gaps_ahead).
    with django_assert_num_queries(11) as small:
        client.get(reverse("visits:schedule"))
    add(25)
    with django_assert_num_queries(len(small.captured_queries)):
        client.get(reverse("visits:schedule"))


def test_a_cached_schedule_runs_two_queries_and_a_logged_visit_shows_at_once(
    client, world, django_assert_num_queries, django_capture_on_commit_callbacks
):
    planned = PlannedVisitFactory(
        customer=world.north_customer, salesperson=world.rep_north, scheduled_start=local(0, 9)
    )
    client.force_login(world.rep_north)
    client.get(reverse("visits:schedule"))
    with django_assert_num_queries(2):  # the session and the user
        page = client.get(reverse("visits:schedule")).text
    assert 'class="meeting status-planned"' in page

    with django_capture_on_commit_callbacks(execute=True):
        visit_log(
            user=world.rep_north,
            customer=world.north_customer,
            visit=planned,
            kind="on_site",
            visited_at=timezone.now(),
            duration_minutes=30,
        )

    page = client.get(reverse("visits:schedule")).text
    assert 'class="meeting status-done"' in page and "status-planned" not in page


def test_customer_list_query_count_does_not_grow_with_customers(
    client, world, django_assert_num_queries
):
    client.force_login(world.rep_north)
    for _ in range(5):
        CustomerFactory(territory=world.north)
    # +1 since Dec 2026: the salesperson's territories, read as values (crm.selectors).
    with django_assert_num_queries(5) as small:
        client.get(reverse("crm:customer_list"), {"sort": "next_due"})
    for _ in range(40):
        CustomerFactory(territory=world.north)
    with django_assert_num_queries(len(small.captured_queries)):
        client.get(reverse("crm:customer_list"), {"sort": "next_due"})


def test_plan_form_full_page_and_htmx_panel(client, world):
    client.force_login(world.rep_north)
    page = client.get(reverse("visits:plan"), {"customer": world.north_customer.pk})
    assert "<html" in page.text and "Northern Mills" in page.text
    panel = client.get(reverse("visits:plan"), headers=HTMX)
    assert "<html" not in panel.text and "Plan a meeting" in panel.text


def test_planning_through_htmx_saves_warns_about_overlaps_and_signals_the_page(client, world):
    contact = ContactFactory(customer=world.north_customer, name="Dana")
    PlannedVisitFactory(
        customer=world.south_customer_owned_by_rep_north,
        salesperson=world.rep_north,
        scheduled_start=local(1, 10),
    )
    client.force_login(world.rep_north)
    response = client.post(
        reverse("visits:plan"),
        {
            "customer": world.north_customer.pk,
            "kind": "on_site",
            "start": form_time(local(1, 10)),
            "end": form_time(local(1, 11)),
            "contacts": [contact.pk],
            "purpose": "Talk prices",
        },
        headers=HTMX,
    )
    assert response.status_code == 200
    assert (
        response["HX-Trigger"] == '{"visits-changed": {}}'
        or "visits-changed" in response["HX-Trigger"]
    )
    assert "Meeting with Northern Mills planned" in response.text
    assert "overlaps your meeting with Southern Outpost" in response.text
    visit = Visit.objects.get(purpose="Talk prices")
    assert visit.salesperson == world.rep_north and list(visit.contacts.all()) == [contact]


def test_invalid_plan_shows_errors_next_to_fields_and_keeps_input(client, world):
    client.force_login(world.rep_north)
    response = client.post(
        reverse("visits:plan"),
        {
            "customer": world.north_customer.pk,
            "kind": "on_site",
            "start": form_time(local(1, 11)),
            "end": form_time(local(1, 10)),
            "purpose": "Kept purpose",
        },
        headers=HTMX,
    )
    assert response.status_code == 200
    assert "The meeting must end after it starts." in response.text
    assert 'value="Kept purpose"' in response.text and "Northern Mills" in response.text
    assert not Visit.objects.filter(purpose="Kept purpose").exists()


def test_planning_for_an_invisible_customer_is_refused(client, world):
    client.force_login(world.rep_coast)
    response = client.post(
        reverse("visits:plan"),
        {
            "customer": world.south_customer.pk,
            "kind": "on_site",
            "start": form_time(local(1, 10)),
            "end": form_time(local(1, 11)),
        },
    )
    assert response.status_code == 200 and "Choose a customer." in response.text
    assert not Visit.objects.exists()


def test_customer_picker_and_contact_options_only_show_visible_customers(client, world):
    ContactFactory(customer=world.south_customer, name="Hidden Contact")
    client.force_login(world.rep_coast)
    picker = client.get(reverse("visits:plan_customer_options"), {"q": "o"}, headers=HTMX).text
    assert "Coastal Fish" in picker and "Northern Mills" not in picker
    assert "Southern" not in picker
    hidden = client.get(
        reverse("visits:plan_contact_options"), {"customer": world.south_customer.pk}
    )
    assert hidden.status_code == 404


def test_plain_post_redirects_back_to_the_schedule(client, world):
    visit = PlannedVisitFactory(customer=world.north_customer, salesperson=world.rep_north)
    client.force_login(world.rep_north)
    response = client.post(reverse("visits:cancel", args=[visit.pk]), {"reason": "Ill"})
    assert response.status_code == 302 and response["Location"] == reverse("visits:schedule")
    visit.refresh_from_db()
    assert visit.status == VisitStatus.CANCELLED and visit.cancel_reason == "Ill"


def test_reschedule_via_htmx(client, world):
    visit = PlannedVisitFactory(customer=world.north_customer, salesperson=world.rep_north)
    client.force_login(world.rep_north)
    form = client.get(reverse("visits:reschedule", args=[visit.pk]), headers=HTMX).text
    assert form_time(visit.scheduled_start) in form
    client.post(
        reverse("visits:reschedule", args=[visit.pk]),
        {"start": form_time(local(4, 15)), "end": form_time(local(4, 16))},
        headers=HTMX,
    )
    visit.refresh_from_db()
    assert visit.scheduled_start == local(4, 15)


def test_mark_done_prefills_from_the_meeting_and_logs_it(client, world):
    contact = ContactFactory(customer=world.north_customer, name="Met Person")
    visit = PlannedVisitFactory(
        customer=world.north_customer,
        salesperson=world.rep_north,
        scheduled_start=timezone.now() - dt.timedelta(hours=1),
        scheduled_end=timezone.now() - dt.timedelta(minutes=15),
    )
    visit.contacts.add(contact)
    client.force_login(world.rep_north)
    form = client.get(reverse("visits:log", args=[visit.pk]), headers=HTMX).text
    assert 'value="45"' in form and "checked" in form
    response = client.post(
        reverse("visits:log", args=[visit.pk]),
        {
            "kind": "on_site",
            "visited_at": form_time(visit.scheduled_start),
            "duration_minutes": 45,
            "travel_minutes": 20,
            "distance_km": "12.5",
            "expenses": "0",
            "contacts": [contact.pk],
            "notes": "Happy with service",
            "outcome": "positive",
            "next_step": "Call in May",
        },
        headers=HTMX,
    )
    assert "Visit to Northern Mills logged." in response.text
    visit.refresh_from_db()
    assert visit.status == VisitStatus.DONE and visit.notes == "Happy with service"


@pytest.mark.parametrize("logged_ad_hoc", [True, False])
def test_the_log_page_of_a_visit_already_logged_says_so_instead_of_failing(
    client, world, logged_ad_hoc
):
    """An old tab or a second phone opens "Log" for a visit that is done (logged ad hoc it
    never had a planned time): back to the visit with a word, never an error page."""
    if logged_ad_hoc:
        visit = VisitFactory(customer=world.north_customer, salesperson=world.rep_north)
        assert visit.scheduled_start is None
    else:
        visit = PlannedVisitFactory(customer=world.north_customer, salesperson=world.rep_north)
        Visit.objects.filter(pk=visit.pk).update(status=VisitStatus.CANCELLED)
    client.force_login(world.rep_north)
    response = client.get(reverse("visits:log", args=[visit.pk]), follow=True)
    assert response.redirect_chain == [(reverse("visits:detail", args=[visit.pk]), 302)]
    state = "done" if logged_ad_hoc else "cancelled"
    assert f"This visit is {state} already: nothing to log." in response.text


def test_log_form_errors_keep_what_was_typed(client, world):
    client.force_login(world.rep_north)
    response = client.post(
        reverse("visits:log_ad_hoc"),
        {
            "customer": world.north_customer.pk,
            "kind": "on_site",
            "visited_at": "",
            "duration_minutes": "-5",
            "notes": "Long notes typed on a phone",
        },
        headers=HTMX,
    )
    assert "This field is required." in response.text
    assert "Ensure this value is greater than or equal to 0." in response.text
    assert "Long notes typed on a phone" in response.text
    assert not Visit.objects.exists()


def test_other_peoples_meetings_are_404(client, world):
    visit = PlannedVisitFactory(customer=world.south_customer, salesperson=world.rep_south)
    client.force_login(world.rep_north)
    for name in ("visits:log", "visits:reschedule", "visits:cancel", "visits:detail"):
        assert client.get(reverse(name, args=[visit.pk]), headers=HTMX).status_code == 404
    assert (
        client.post(reverse("visits:cancel", args=[visit.pk]), {"reason": "x"}).status_code == 404
    )
    assert (
        client.get(reverse("visits:log_ad_hoc"), {"customer": world.south_customer.pk}).status_code
        == 404
    )
    visit.refresh_from_db()
    assert visit.status == VisitStatus.PLANNED


def test_calendar_feed_is_valid_icalendar_with_stable_uids(client, world):
    contact = ContactFactory(customer=world.north_customer, name="Dana Miller", title="Buyer")
    planned = PlannedVisitFactory(
        customer=world.north_customer,
        salesperson=world.rep_north,
        purpose="Price review",
        scheduled_start=local(3, 10),
        travel_minutes=25,
        distance_km=Decimal("18.4"),
    )
    planned.contacts.add(contact)
    cancelled = PlannedVisitFactory(
        customer=world.north_customer,
        salesperson=world.rep_north,
        status=VisitStatus.CANCELLED,
        cancel_reason="Closed",
    )
    PlannedVisitFactory(
        customer=world.north_customer,
        salesperson=world.rep_north,
        scheduled_start=timezone.now() + dt.timedelta(days=200),
    )
    PlannedVisitFactory(customer=world.south_customer, salesperson=world.rep_south)
    world.north_customer.address_line1 = "1 Mill Lane"
    world.north_customer.save()
    token = calendar_token_regenerate(user=world.rep_north)
    url = reverse("calendar_feed", args=[world.rep_north.pk, token])

    response = client.get(url)

    assert response.status_code == 200 and response["Content-Type"].startswith("text/calendar")
    events = {e["UID"]: e for e in Calendar.from_ical(response.content).walk("VEVENT")}
    assert set(events) == {f"visit-{planned.pk}@cadence", f"visit-{cancelled.pk}@cadence"}
    event = events[f"visit-{planned.pk}@cadence"]
    assert str(event["SUMMARY"]) == "Northern Mills"
    assert "1 Mill Lane" in str(event["LOCATION"])
    assert "Price review" in str(event["DESCRIPTION"]) and "Dana Miller" in str(
        event["DESCRIPTION"]
    )
    assert event.decoded("DTSTART") == planned.scheduled_start
    # The drive there, as Apple's calendars read it and in words for the others.
    assert b"X-APPLE-TRAVEL-DURATION;VALUE=DURATION:PT25M" in response.content
    assert "Travel: 25 min, 18.4 km" in str(event["DESCRIPTION"])
    assert "X-APPLE-TRAVEL-DURATION" not in events[f"visit-{cancelled.pk}@cadence"]
    assert str(events[f"visit-{cancelled.pk}@cadence"]["STATUS"]) == "CANCELLED"


def test_regenerating_the_calendar_link_revokes_the_old_one(client, world):
    old = calendar_token_regenerate(user=world.rep_north)
    client.force_login(world.rep_north)
    response = client.post(reverse("visits:calendar_regenerate"), headers=HTMX)
    world.rep_north.refresh_from_db()
    new = world.rep_north.calendar_token
    assert new != old and new in response.text
    client.logout()
    assert client.get(reverse("calendar_feed", args=[world.rep_north.pk, old])).status_code == 404
    assert client.get(reverse("calendar_feed", args=[world.rep_north.pk, new])).status_code == 200
    assert client.get(reverse("calendar_feed", args=[world.rep_south.pk, new])).status_code == 404


def test_ad_hoc_log_from_the_schedule_picks_a_visible_customer_first(client, world):
    client.force_login(world.rep_coast)
    chooser = client.get(reverse("visits:log_ad_hoc"), headers=HTMX).text
    assert "Log a visit" in chooser and 'name="q"' in chooser
    choices = client.get(reverse("visits:plan_customer_options"), {"q": "o", "for": "log"}).text
    assert f"?customer={world.coast_customer.pk}" in choices
    assert "Northern Mills" not in choices and "Southern" not in choices


def test_times_are_shown_in_the_users_time_zone(client, world):
    world.rep_north.time_zone = "America/New_York"
    world.rep_north.save()
    start = timezone.make_aware(dt.datetime(2030, 1, 15, 15, 0), dt.UTC)
    visit = PlannedVisitFactory(
        customer=world.north_customer,
        salesperson=world.rep_north,
        scheduled_start=start,
        scheduled_end=start + dt.timedelta(hours=1),
    )
    client.force_login(world.rep_north)
    page = client.get(reverse("visits:detail", args=[visit.pk])).text
    assert "Tue 15 Jan 2030 10:00" in page
    form = client.get(reverse("visits:reschedule", args=[visit.pk])).text
    assert 'value="2030-01-15T10:00"' in form
    client.post(
        reverse("visits:reschedule", args=[visit.pk]),
        {"start": "2030-01-15T11:00", "end": "2030-01-15T12:00"},
    )
    visit.refresh_from_db()
    assert visit.scheduled_start == timezone.make_aware(dt.datetime(2030, 1, 15, 16, 0), dt.UTC)


def test_a_crowded_day_is_capped_with_a_link_to_the_rest(client, world):
    for minute in range(15):
        PlannedVisitFactory(
            customer=world.north_customer,
            salesperson=world.rep_north,
            scheduled_start=local(0, 8) + dt.timedelta(minutes=minute),
        )
    client.force_login(world.rep_north)
    week = client.get(reverse("visits:schedule"))
    today = next(entry for entry in week.context["days"] if entry[0] == timezone.localdate())
    assert len(today[1]) == 12 and today[2] == 3
    assert "3 more on this day" in week.text
    day = client.get(reverse("visits:schedule"), {"view": "day"})
    assert len(day.context["days"][0][1]) == 15


@pytest.mark.django_db
def test_a_late_search_answer_keeps_the_customer_already_chosen(client, world):
    """The plan form sends the chosen customer with every search: an answer that arrives after
    the choice still shows it, checked, so saving never says "Choose a customer."."""
    client.force_login(world.rep_north)
    chosen = world.north_customer
    answer = client.get(
        reverse("visits:plan_customer_options"), {"q": "zzz-no-match", "customer": chosen.pk}
    ).text
    assert f'value="{chosen.pk}" checked' in answer and chosen.name in answer
    foreign = client.get(
        reverse("visits:plan_customer_options"),
        {"q": "zzz-no-match", "customer": world.south_customer.pk},
    ).text
    assert world.south_customer.name not in foreign, "only a customer the user may see"


@pytest.mark.django_db
def test_every_label_points_at_its_input(client, world):
    """A group of checkboxes has a legend, not a label tied to nothing (for="")."""
    from tests.factories import ContactFactory

    ContactFactory(customer=world.north_customer, name="Ada Buyer")
    client.force_login(world.rep_north)
    page = client.get(reverse("visits:log_ad_hoc"), {"customer": world.north_customer.pk}).text
    assert 'for=""' not in page
    assert "<legend>Contacts met</legend>" in page and "Ada Buyer" in page


@pytest.mark.django_db
def test_a_plan_without_a_customer_says_so_once_by_the_field(client, world):
    client.force_login(world.rep_north)
    page = client.post(reverse("visits:plan"), {"kind": "on_site"}).text
    assert page.count("Choose a customer.") == 1
