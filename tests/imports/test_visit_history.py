"""Visit histories as CRMs export them: statuses, several visits a day, date-only rows, activity
ids. Every row keeps its meaning, a re-import changes nothing, and the figures follow."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from health.models import AccountMetrics
from health.services import accounts_refresh
from tests.factories import CustomerFactory
from tests.imports.test_import import counts, run
from visits.models import Visit, VisitStatus

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 11, 20)

# Salesforce-style events: status labels, two visits on one day, date-only rows, a future one.
SALESFORCE_EVENTS = """\
Activity ID,Account Number,Assigned To,Start,Type,Status,Duration,Cancellation Reason
00U1,HIST-1,rep-north,2026-11-02 09:00,Meeting,Completed,60,
00U2,HIST-1,rep-north,2026-11-02 15:00,Email,Completed,10,
00U3,HIST-1,rep-north,2026-11-05,Meeting,Canceled,0,Customer ill
00U4,HIST-1,rep-north,2026-11-06,Meeting,No show,0,
00U5,HIST-1,rep-north,2026-11-09,Meeting,Held,30,
00U6,HIST-1,rep-north,2026-11-09,Meeting,Held,45,
00U7,HIST-1,rep-north,2026-12-10 10:00,Meeting,Scheduled,60,
00U8,HIST-1,rep-north,2026-11-12,Call,Rescheduled,0,Moved to next week
"""

# The same history without ids or statuses (a plain list): past rows are done, future planned.
PLAIN_LIST = """\
Customer Code;Salesperson;Date;Kind;Minutes
HIST-2;rep-north;02/11/2026;visit;60
HIST-2;rep-north;02/11/2026;visit;30
HIST-2;rep-north;02/11/2026;phone;15
HIST-2;rep-north;10/12/2026;visit;60
"""


@pytest.fixture
def accounts(world):
    for code in ("HIST-1", "HIST-2"):
        CustomerFactory(code=code, territory=world.north, owner=world.rep_north)
    world.rep_north.hourly_cost = Decimal("60.00")
    world.rep_north.save()
    return world


@time_machine.travel(dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC), tick=False)
def test_statuses_several_a_day_and_date_only_rows_keep_their_meaning(accounts):
    job, _ = run(accounts, "visits", SALESFORCE_EVENTS)
    assert counts(job) == (8, 0, 0, 0), job.reject_samples
    visits = {v.external_id: v for v in Visit.objects.all()}
    assert {key: v.status for key, v in visits.items()} == {
        "00U1": "done",
        "00U2": "done",
        "00U3": "cancelled",
        "00U4": "no_show",
        "00U5": "done",
        "00U6": "done",
        "00U7": "planned",
        "00U8": "cancelled",
    }
    assert visits["00U3"].cancel_reason == "Customer ill" and visits["00U3"].visited_at is None
    assert visits["00U7"].scheduled_end - visits["00U7"].scheduled_start == dt.timedelta(hours=1)
    assert visits["00U1"].time_recorded and not visits["00U5"].time_recorded
    assert timezone.localtime(visits["00U5"].visited_at).hour == 12

    again, _ = run(accounts, "visits", SALESFORCE_EVENTS)
    assert counts(again) == (0, 0, 8, 0), "a re-import changes nothing"
    assert Visit.objects.count() == 8


@time_machine.travel(dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC), tick=False)
def test_a_plain_list_without_ids_or_statuses_imports_every_row_once(accounts):
    job, result = run(accounts, "visits", PLAIN_LIST, date_order="dmy")
    assert counts(job) == (4, 0, 0, 0), job.reject_samples
    assert [row["Status"] for row in result.preview] == ["done", "done", "done", "planned"]
    assert Visit.objects.filter(status=VisitStatus.DONE).count() == 3
    again, _ = run(accounts, "visits", PLAIN_LIST, date_order="dmy")
    assert counts(again) == (0, 0, 4, 0)


@time_machine.travel(dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC), tick=False)
def test_the_figures_count_only_what_took_place(accounts):
    run(accounts, "visits", SALESFORCE_EVENTS)
    account = accounts.north_customer.__class__.objects.get(code="HIST-1")
    accounts_refresh(customer_ids=[account.pk], as_of=TODAY)
    metrics = AccountMetrics.objects.get(customer=account)
    # Done: 60 + 10 + 30 + 45 minutes, at 60 an hour; cancelled, no-show and planned cost nothing.
    assert metrics.visits_done == 4
    assert metrics.visit_minutes == 145
    assert metrics.visit_cost == Decimal("145.00")
    # The last visit that keeps cadence (an on-site meeting, not the e-mail) was on the 9th.
    assert metrics.last_visit_on == dt.date(2026, 11, 9)


@time_machine.travel(dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC), tick=False)
def test_a_visit_without_a_recorded_time_says_so(client, accounts):
    run(accounts, "visits", SALESFORCE_EVENTS)
    client.force_login(accounts.rep_north)
    untimed = Visit.objects.get(external_id="00U5")
    page = client.get(reverse("visits:detail", args=[untimed.pk])).text
    assert "time not recorded" in page and "12:00" not in page
    timed = Visit.objects.get(external_id="00U1")
    assert "09:00" in client.get(reverse("visits:detail", args=[timed.pk])).text


@time_machine.travel(dt.datetime(2026, 11, 9, 15, tzinfo=dt.UTC), tick=False)
def test_the_agenda_does_not_show_a_made_up_time(client, accounts):
    run(accounts, "visits", SALESFORCE_EVENTS)
    client.force_login(accounts.rep_north)
    day = client.get(reverse("visits:schedule"), {"view": "day", "date": "2026-11-09"}).text
    assert "time not recorded" in day and "12:00" not in day
