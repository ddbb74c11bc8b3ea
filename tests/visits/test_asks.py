"""Asks: what a customer asked for at a visit, tracked to an answer (issue 28)."""

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from crm.models import Competitor, Customer
from health.models import AccountFlag, AccountMetrics, FlagKind
from health.selectors import consistency_by_month, flag_explanation
from health.services import accounts_refresh
from tests.factories import CustomerFactory, PlannedVisitFactory, UserFactory, VisitFactory
from visits.ask_selectors import ask_figures, ask_owner_choices, asks_list, open_asks_of
from visits.ask_services import AskInput, ask_answer, ask_decide, asks_record
from visits.models import Ask, AskKind, AskPolicy, QuoteOutcome, Visit
from visits.selectors import cadence_gaps_ahead

pytestmark = pytest.mark.django_db


def _log(client, customer, asks: list[dict], **extra):
    data = {
        "customer": customer.pk,
        "kind": "on_site",
        "visited_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
        "duration_minutes": "45",
        "travel_minutes": "0",
        "distance_km": "0",
        "expenses": "0",
        "notes": "Wants a price for the new line",
        "asks-TOTAL_FORMS": str(len(asks)),
        "asks-INITIAL_FORMS": "0",
        **extra,
    }
    for index, ask in enumerate(asks):
        for name, value in ask.items():
            data[f"asks-{index}-{name}"] = value
    return client.post(reverse("visits:log_ad_hoc"), data)


def test_a_visit_logged_with_two_asks_records_them_with_their_defaults(client, world):
    AskPolicy.objects.create(kind=AskKind.PRICE, due_days=4)
    client.force_login(world.rep_north)
    response = _log(
        client,
        world.north_customer,
        [
            {"kind": "price", "text": "A price for 500 units", "value": "1200.50"},
            {"kind": "complaint", "text": "Late delivery in May", "owner": world.north_manager.pk},
            {"kind": "", "text": ""},
        ],
    )
    assert response.status_code == 302
    visit = Visit.objects.get()
    price, complaint = Ask.objects.order_by("kind")[1], Ask.objects.order_by("kind")[0]
    today = timezone.localdate()
    assert (price.kind, price.owner, price.visit, price.value) == (
        AskKind.PRICE,
        world.rep_north,
        visit,
        Decimal("1200.50"),
    )
    assert price.due_on == today + dt.timedelta(days=4), "the admin's days for the kind"
    assert complaint.owner == world.north_manager
    assert complaint.due_on == today + dt.timedelta(days=2), "the built-in days for a complaint"
    assert Ask.objects.count() == 2, "the empty row is no ask"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"kind": "", "text": "Something"}, "Choose what kind of ask this is."),
        ({"kind": "price", "text": ""}, "Say what the customer asked for."),
        ({"kind": "price", "text": "Two\nlines"}, "line"),
        ({"kind": "price", "text": "x", "value": "-3"}, "greater than or equal to 0"),
        ({"kind": "bogus", "text": "x"}, "Select a valid choice."),
    ],
)
def test_a_bad_ask_keeps_the_visit_unsaved_and_says_why(client, world, row, message):
    client.force_login(world.rep_north)
    response = _log(client, world.north_customer, [row])
    assert response.status_code == 200
    assert message in response.text
    assert not Visit.objects.exists() and not Ask.objects.exists()


def test_an_owner_who_cannot_see_the_account_is_refused(client, world):
    client.force_login(world.rep_north)
    response = _log(
        client, world.north_customer, [{"kind": "price", "text": "x", "owner": world.rep_south.pk}]
    )
    assert "Select a valid choice" in response.text
    assert not Ask.objects.exists()
    with pytest.raises(ValidationError, match="cannot see"):
        asks_record(
            user=world.rep_north,
            customer=world.north_customer,
            asks=[AskInput(kind="price", text="x", owner=world.rep_south)],
        )


def test_who_may_own_an_ask_is_who_may_see_the_account(world):
    owners = set(ask_owner_choices(world.coast_customer))
    assert {world.admin, world.north_manager, world.rep_coast} <= owners
    assert not owners & {world.rep_south, world.south_manager, world.rep_north}


def _ask(world, **given) -> Ask:
    (ask,) = asks_record(
        user=world.rep_north,
        customer=world.north_customer,
        asks=[AskInput(**({"kind": AskKind.PRODUCT, "text": "A quote for pumps"} | given))],
    )
    return ask


def test_an_ask_is_answered_once_by_whoever_may(world):
    ask = _ask(world)
    colleague = UserFactory(username="rep-north-2")
    world.north.members.add(colleague)
    with pytest.raises(PermissionDenied):
        ask_answer(ask=ask, user=colleague, answer_kind="proposal", answer="sent")
    answered = ask_answer(
        ask=ask, user=world.north_manager, answer_kind="proposal", answer="Quote 42", value=900
    )
    assert answered.answered_by == world.north_manager and answered.value == 900
    with pytest.raises(ValidationError, match="already answered"):
        ask_answer(ask=ask, user=world.rep_north, answer_kind="done", answer="")


def test_a_quote_is_won_or_lost_with_a_reason(world):
    ask = _ask(world)
    with pytest.raises(ValidationError, match="Only an ask answered with a proposal"):
        ask_decide(ask=ask, user=world.rep_north, outcome=QuoteOutcome.WON)
    ask_answer(ask=ask, user=world.rep_north, answer_kind="proposal", answer="Q-1", value=500)
    with pytest.raises(ValidationError, match="Say why it was lost"):
        ask_decide(ask=ask, user=world.rep_north, outcome=QuoteOutcome.LOST)
    rival = Competitor.objects.create(name="North Wind")
    lost = ask_decide(ask=ask, user=world.rep_north, outcome=QuoteOutcome.LOST, competitor=rival)
    assert (lost.outcome, lost.competitor) == (QuoteOutcome.LOST, rival)
    with pytest.raises(ValidationError, match="already lost"):
        ask_decide(ask=ask, user=world.rep_north, outcome=QuoteOutcome.WON)


def test_the_asks_list_filters_and_scopes_at_the_source(client, world):
    today = timezone.localdate()
    mine = _ask(world, kind=AskKind.COMPLAINT, text="Broken pallet", due_on=today)
    (theirs,) = asks_record(
        user=world.rep_south,
        customer=world.south_customer,
        asks=[AskInput(kind=AskKind.PRICE, text="South price")],
    )
    Ask.objects.filter(pk=mine.pk).update(asked_on=today - dt.timedelta(days=5))
    Ask.objects.filter(pk=mine.pk).update(due_on=today - dt.timedelta(days=1))
    assert list(asks_list(world.rep_north, today=today, state="overdue")) == [mine]
    assert list(asks_list(world.rep_north, today=today, kind=AskKind.PRICE)) == []
    assert set(asks_list(world.admin, today=today, scope="team")) == {mine, theirs}
    assert list(asks_list(world.north_manager, today=today, scope="team")) == [mine]
    client.force_login(world.rep_north)
    page = client.get(reverse("asks:list"), {"state": "overdue"}).text
    assert "Broken pallet" in page and "South price" not in page and "overdue" in page
    assert client.get(reverse("asks:answer", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("asks:list"), {"state": "<script>", "kind": "x"}).status_code == 200


def test_the_account_tab_and_the_answer_page(client, world):
    ask = _ask(world, value=Decimal("750"))
    client.force_login(world.rep_north)
    tab = client.get(world.north_customer.get_absolute_url(), {"tab": "asks"}).text
    assert "A quote for pumps" in tab and "Record an ask" in tab
    response = client.post(
        reverse("asks:answer", args=[ask.pk]),
        {"answer_kind": "proposal", "answer": "Quote Q-7 sent", "value": "800"},
    )
    assert response.status_code == 302
    page = client.get(reverse("asks:answer", args=[ask.pk])).text
    assert "Quote Q-7 sent" in page and "The quote" in page
    client.post(reverse("asks:decide", args=[ask.pk]), {"outcome": "won"})
    ask.refresh_from_db()
    assert (ask.outcome, ask.value) == (QuoteOutcome.WON, Decimal("800"))
    refused = client.post(reverse("asks:decide", args=[ask.pk]), {"outcome": "lost"})
    assert refused.status_code == 400 and "already won" in refused.text


def test_an_ask_recorded_on_the_account(client, world):
    client.force_login(world.rep_north)
    response = client.post(
        reverse("asks:new"),
        {"customer": world.north_customer.pk, "kind": "information", "text": "Delivery times"},
    )
    assert response.status_code == 302
    assert Ask.objects.get().visit is None
    assert client.get(reverse("asks:new"), {"customer": world.south_customer.pk}).status_code == 404
    empty = client.post(reverse("asks:new"), {"customer": world.north_customer.pk, "kind": ""})
    assert "Say what the customer asked for." in empty.text


def test_manager_figures_equal_a_hand_computation(world):
    today = timezone.localdate()
    asks = [_ask(world, text=f"ask {n}", value=Decimal(100 * (n + 1))) for n in range(4)]
    days_taken = [1, 3, 6]
    for ask, days in zip(asks, days_taken, strict=False):
        Ask.objects.filter(pk=ask.pk).update(
            asked_on=today - dt.timedelta(days=10), due_on=today - dt.timedelta(days=10 - 5)
        )
        ask.refresh_from_db()
        ask_answer(ask=ask, user=world.rep_north, answer_kind="proposal", answer="q")
        Ask.objects.filter(pk=ask.pk).update(
            answered_at=timezone.make_aware(
                dt.datetime.combine(today - dt.timedelta(days=10 - days), dt.time(12))
            )
        )
    ask_decide(ask=asks[0], user=world.rep_north, outcome=QuoteOutcome.WON)
    ask_decide(ask=asks[1], user=world.rep_north, outcome=QuoteOutcome.LOST, reason="price")
    figures = ask_figures(Ask.objects.all())
    assert figures["received"] == 4 and figures["answered"] == 3
    assert figures["on_time"] == 2, "answered within 5 days: the 1- and 3-day ones"
    assert figures["median_days"] == 3
    assert (figures["won"], figures["won_value"]) == (1, Decimal("100"))
    assert (figures["lost"], figures["lost_value"]) == (1, Decimal("200"))


def test_a_complaint_left_unanswered_past_its_due_date_raises_a_flag_until_answered(world):
    today = timezone.localdate()
    complaint = _ask(world, kind=AskKind.COMPLAINT, text="Wrong invoice address")
    _ask(world, kind=AskKind.PRICE, text="A price", due_on=today)
    Ask.objects.filter(pk=complaint.pk).update(
        asked_on=today - dt.timedelta(days=6), due_on=today - dt.timedelta(days=3)
    )
    accounts_refresh(customer_ids=[world.north_customer.pk], as_of=today)
    flag = AccountFlag.objects.get(
        customer=world.north_customer, kind=FlagKind.UNANSWERED_COMPLAINT, resolved_at=None
    )
    assert flag_explanation(flag) == (
        f"1 complaint unanswered past the due date (the oldest due {today - dt.timedelta(days=3)})"
    )
    ask_answer(ask=complaint, user=world.rep_north, answer_kind="done", answer="Corrected")
    accounts_refresh(customer_ids=[world.north_customer.pk], as_of=today)
    flag.refresh_from_db()
    assert flag.resolved_at is not None


def test_asks_due_show_on_the_schedule_and_open_ones_on_the_meeting(client, world):
    today = timezone.localdate()
    _ask(world, text="Send the brochure", due_on=today)
    later = _ask(world, text="Price for spring", due_on=today + dt.timedelta(days=9))
    meeting = PlannedVisitFactory(
        customer=world.north_customer,
        salesperson=world.rep_north,
        scheduled_start=timezone.now() + dt.timedelta(days=1),
    )
    client.force_login(world.rep_north)
    schedule = client.get(reverse("visits:schedule")).text
    assert "Asks due" in schedule and "Send the brochure" in schedule
    assert "Price for spring" not in schedule, "not due yet"
    brief = client.get(reverse("visits:detail", args=[meeting.pk])).text
    assert "Send the brochure" in brief and "Price for spring" in brief
    ask_answer(ask=later, user=world.rep_north, answer_kind="done", answer="sent")
    assert "Price for spring" not in client.get(reverse("visits:detail", args=[meeting.pk])).text


def test_the_listening_page_shows_each_owners_figures_in_the_managers_scope(client, world):
    ask = _ask(world, text="North pumps", value=Decimal("300"))
    ask_answer(ask=ask, user=world.rep_north, answer_kind="proposal", answer="q")
    ask_decide(ask=ask, user=world.rep_north, outcome=QuoteOutcome.WON)
    asks_record(
        user=world.rep_south,
        customer=world.south_customer,
        asks=[AskInput(kind=AskKind.COMPLAINT, text="South complaint")],
    )
    client.force_login(world.north_manager)
    page = client.get(reverse("manage:listening"), {"period": "this_month"})
    rows = page.context["by_owner"]
    assert [(row["owner"], row["received"], row["won"]) for row in rows] == [
        (world.rep_north.pk, 1, 1)
    ], "the South's asks are not the North manager's"
    assert page.context["totals"]["won_value"] == Decimal("300")
    assert [(row["kind"], row["asks"]) for row in page.context["by_month"]] == [("product", 1)]
    assert "Product or quote" in page.text
    (north,) = page.context["by_territory"]
    assert (north["name"], north["asks"], north["accounts"]) == ("North", 1, 1)
    assert north["by_kind"] == [1 if kind == AskKind.PRODUCT else 0 for kind in AskKind.values]
    client.force_login(world.admin)
    everyone = client.get(reverse("manage:listening"), {"period": "this_month"})
    assert [(t["name"], t["asks"]) for t in everyone.context["by_territory"]] == [
        ("North", 1),
        ("South", 1),
    ]
    client.force_login(world.rep_north)
    assert client.get(reverse("manage:listening")).status_code == 404


@pytest.mark.parametrize(
    ("outcomes", "cooling"),
    [
        (["positive", "negative", "negative"], True),
        (["negative", "positive", "negative"], True),
        (["neutral", "positive", "negative"], True),
        (["negative", "negative", "neutral"], True),
        (["negative", "positive", "positive"], False),
        (["negative", "negative", "positive"], False),
        (["negative", "neutral", "neutral"], False),
    ],
    ids=[
        "two-negative",
        "two-negative-apart",
        "fall-from-positive",
        "two-negative-then-neutral",
        "one-old-negative",
        "recovered",
        "one-negative",
    ],
)
def test_two_bad_contacts_of_the_last_three_or_a_fall_from_positive_flag_cooling(
    world, outcomes, cooling
):
    """`outcomes` oldest first; the newest decides with the two before it."""
    today = timezone.localdate()
    for days_ago, outcome in zip((30, 20, 10), outcomes, strict=True):
        VisitFactory(
            customer=world.north_customer,
            salesperson=world.rep_north,
            visited_at=timezone.now() - dt.timedelta(days=days_ago),
            outcome=outcome,
            notes=f"{outcome} talk",
        )
    accounts_refresh(customer_ids=[world.north_customer.pk], as_of=today)
    flag = AccountFlag.objects.filter(
        customer=world.north_customer, kind=FlagKind.COOLING, resolved_at=None
    ).first()
    assert (flag is not None) == cooling
    if flag:
        assert flag_explanation(flag).startswith("the last contacts went badly: ")
        assert f"{outcomes[-1]} talk" in flag_explanation(flag)


def test_the_forecast_of_gaps_lists_accounts_due_in_30_days_with_nothing_planned_by_then(
    client, world
):
    today = timezone.localdate()

    def account(name: str, due_in: int):
        made = CustomerFactory(name=name, territory=world.north, owner=world.rep_north)
        Customer.objects.filter(pk=made.pk).update(next_visit_due=today + dt.timedelta(days=due_in))
        return made

    gap = account("Gap Ltd", 10)
    covered = account("Covered Ltd", 10)
    late_plan = account("Late Plan Ltd", 5)
    account("Far Off Ltd", 45)
    PlannedVisitFactory(
        customer=covered,
        salesperson=world.rep_north,
        scheduled_start=timezone.make_aware(
            dt.datetime.combine(today + dt.timedelta(days=10), dt.time(16))
        ),
    )
    PlannedVisitFactory(
        customer=late_plan,
        salesperson=world.rep_north,
        scheduled_start=timezone.make_aware(
            dt.datetime.combine(today + dt.timedelta(days=8), dt.time(9))
        ),
    )
    gaps = list(cadence_gaps_ahead(world.rep_north, today=today))
    assert [customer.name for customer in gaps] == ["Late Plan Ltd", "Gap Ltd"], (
        "planned on its due day covers it; planned after it does not"
    )
    client.force_login(world.rep_north)
    page = client.get(reverse("visits:schedule")).text
    assert "Gaps ahead" in page and "Gap Ltd" in page and "Covered Ltd" not in page
    assert gap.pk in {customer.pk for customer in gaps}


def test_a_manager_sets_a_consistency_target_and_the_dashboard_marks_who_is_below(
    client, world, settings
):
    settings.CADENCE_CONSISTENCY_TARGET = 80
    today = timezone.localdate()
    # Three gaps for rep-north's account, one of them longer than its cadence: 67 %.
    for days_ago in (100, 80, 20, 5):
        VisitFactory(
            customer=world.north_customer,
            salesperson=world.rep_north,
            visited_at=timezone.now() - dt.timedelta(days=days_ago),
        )
    accounts_refresh(customer_ids=[world.north_customer.pk], as_of=today)
    client.force_login(world.north_manager)
    row = next(
        r
        for r in client.get(reverse("manage:dashboard")).context["reps"]
        if r["owner_id"] == world.rep_north.pk
    )
    assert (row["consistency"], row["consistency_target"], row["below_target"]) == (67, 80, True)
    url = reverse("manage:consistency_target", args=[world.rep_north.pk])
    assert client.post(url, {"target": "60"}).status_code == 302
    world.rep_north.refresh_from_db()
    assert world.rep_north.consistency_target == 60
    row = next(
        r
        for r in client.get(reverse("manage:dashboard")).context["reps"]
        if r["owner_id"] == world.rep_north.pk
    )
    assert (row["consistency_target"], row["below_target"]) == (60, False)
    client.post(url, {"target": "250"})
    world.rep_north.refresh_from_db()
    assert world.rep_north.consistency_target == 60, "out of range: refused"
    other = reverse("manage:consistency_target", args=[world.rep_south.pk])
    assert client.post(other, {"target": "10"}).status_code == 404
    client.post(url, {"target": ""})
    world.rep_north.refresh_from_db()
    assert world.rep_north.consistency_target is None, "back to the default"


def test_consistency_by_month_counts_each_gap_in_the_month_it_ends(world):
    """The account's cadence is 30 days (tier B): gaps of 20 and 40 days end in the months of
    the later contact; the 12-month trend sums to the health figure's intervals."""
    world.north_customer.tier, world.north_customer.cadence_days = "B", 30
    world.north_customer.save()
    today = timezone.localdate()
    days = [today - dt.timedelta(days=n) for n in (100, 80, 40, 0)]
    for day in days:
        VisitFactory(
            customer=world.north_customer,
            salesperson=world.rep_north,
            visited_at=timezone.make_aware(dt.datetime.combine(day, dt.time(11))),
        )
    trend = consistency_by_month([world.north_customer.pk], today=today)
    assert len(trend) == 12 and trend[-1]["month"] == today.replace(day=1)
    by_month = {m["month"]: (m["intervals"], m["on_cadence"]) for m in trend if m["intervals"]}
    expected: dict = {}
    for before, after in itertools.pairwise(days):
        month = after.replace(day=1)
        gaps, kept = expected.get(month, (0, 0))
        expected[month] = (gaps + 1, kept + ((after - before).days <= 30))
    assert by_month == expected
    accounts_refresh(customer_ids=[world.north_customer.pk], as_of=today)
    metrics = AccountMetrics.objects.get(customer=world.north_customer)
    assert sum(m["intervals"] for m in trend) == metrics.intervals
    assert sum(m["on_cadence"] for m in trend) == metrics.intervals_on_cadence


def test_a_brief_shows_at_most_ten_open_asks_soonest_first(client, world):
    today = timezone.localdate()
    for n in range(12):
        _ask(world, text=f"ask number {n:02}", due_on=today + dt.timedelta(days=n))
    meeting = PlannedVisitFactory(
        customer=world.north_customer,
        salesperson=world.rep_north,
        scheduled_start=timezone.now() + dt.timedelta(days=1),
    )
    client.force_login(world.rep_north)
    brief = client.get(reverse("visits:detail", args=[meeting.pk])).text
    assert "ask number 09" in brief and "ask number 10" not in brief
    shown = open_asks_of([world.north_customer.pk])[world.north_customer.pk]
    assert [ask.text for ask in shown] == [f"ask number {n:02}" for n in range(10)]
