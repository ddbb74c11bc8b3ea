"""Rules with one home, checked where they are used: the refresh a review action runs once, the
overlap rule the schedule's badges read from the service, the overdue annotation, and admin
edits of visits, contacts and health settings going through the services."""

import ast
import datetime as dt
import re
from decimal import Decimal
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from core.cache import schedule_generation
from core.models import PendingRefresh
from crm.models import Customer, CustomerStatus
from crm.selectors import customer_search
from health import services as health_services
from health.models import HealthSettings
from health.tasks import health_refresh_for_customers
from reports.models import ReviewActionKind
from reports.review import review_act
from tests.factories import ContactFactory, CustomerFactory, PlannedVisitFactory, VisitFactory
from visits.models import VisitStatus
from visits.selectors import agenda
from visits.services import overlapping_meetings

pytestmark = pytest.mark.django_db


def test_a_review_action_refreshes_the_account_once(world, django_capture_on_commit_callbacks):
    account = world.north_customer
    refreshes = []
    real = health_services.accounts_refresh

    def counted(**kwargs):
        refreshes.append(kwargs["customer_ids"])
        return real(**kwargs)

    with mock.patch.object(health_services, "accounts_refresh", counted):
        with django_capture_on_commit_callbacks() as queued:
            review_act(
                customer=account,
                user=world.north_manager,
                action=ReviewActionKind.TIER,
                data={"tier": "A"},
            )
        assert refreshes == [[account.pk]], "refreshed at once, for the manager to see"
        assert not PendingRefresh.objects.filter(customer=account).exists()
        assert queued, "the change still queued its task"
        # What that task does when a worker runs it: nothing is left pending, so nothing.
        assert health_refresh_for_customers([account.pk], True) == 0
    assert refreshes == [[account.pk]]


def _at(days: int, hour: int) -> dt.datetime:
    day = timezone.localdate() + dt.timedelta(days=days)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def test_schedule_overlap_badges_follow_the_services_rule(world):
    rep = world.rep_north
    first = PlannedVisitFactory(
        customer=world.north_customer,
        salesperson=rep,
        scheduled_start=_at(1, 9),
        scheduled_end=_at(1, 11),
    )
    second = PlannedVisitFactory(
        customer=world.north_customer,
        salesperson=rep,
        scheduled_start=_at(1, 10),
        scheduled_end=_at(1, 12),
    )
    touching = PlannedVisitFactory(
        customer=world.north_customer,
        salesperson=rep,
        scheduled_start=_at(1, 12),
        scheduled_end=_at(1, 13),
    )
    cancelled = PlannedVisitFactory(
        customer=world.north_customer,
        salesperson=rep,
        scheduled_start=_at(1, 9),
        scheduled_end=_at(1, 13),
        status=VisitStatus.CANCELLED,
    )
    # Beyond the one meeting a day shown below, the third still counts for the first two.
    shown = {v.pk: v.overlaps for v in agenda(rep, start=_at(1, 0), end=_at(2, 0), per_day=10)}
    assert shown == {first.pk: True, second.pk: True, touching.pk: False, cancelled.pk: False}
    for visit in (first, second, touching):
        assert shown[visit.pk] == bool(overlapping_meetings(visit))
    assert [v.pk for v in agenda(rep, start=_at(1, 0), end=_at(2, 0), per_day=1)] == [first.pk]
    assert agenda(rep, start=_at(1, 0), end=_at(2, 0), per_day=1).get().overlaps


def test_overdue_is_one_annotation_for_lists_and_filters(world):
    today = timezone.localdate()
    late = CustomerFactory(territory=world.north, owner=world.rep_north, name="Late")
    lost = CustomerFactory(
        territory=world.north, owner=world.rep_north, name="Lost", status=CustomerStatus.LOST
    )
    due_today = CustomerFactory(territory=world.north, owner=world.rep_north, name="Today")
    Customer.objects.filter(pk__in=[late.pk, lost.pk]).update(
        next_visit_due=today - dt.timedelta(days=1)
    )
    Customer.objects.filter(pk=due_today.pk).update(next_visit_due=today)

    marked = {c.name: c.is_overdue for c in customer_search(world.rep_north, today=today)}
    only = {c.name for c in customer_search(world.rep_north, today=today, overdue=True)}

    assert (marked["Late"], marked["Lost"], marked["Today"]) == (True, False, False)
    assert only == {name for name, overdue in marked.items() if overdue}


def _admin_form(client, url: str) -> dict:
    form = client.get(url).context["adminform"].form
    return {
        name: value
        for name, value in form.initial.items()
        if value is not None and not isinstance(value, list)
    }


def test_an_admin_visit_edit_and_delete_refresh_the_account(client, world):
    account = world.north_customer
    visit = VisitFactory(customer=account, salesperson=world.rep_north)
    Customer.objects.filter(pk=account.pk).update(last_visit_at=None)
    client.force_login(world.admin)
    url = f"/admin/visits/visit/{visit.pk}/change/"
    data = _admin_form(client, url)
    visited = timezone.localtime(timezone.now() - dt.timedelta(days=2))
    data.update(
        {
            "customer": account.pk,
            "salesperson": world.rep_north.pk,
            "visited_at_0": visited.strftime("%Y-%m-%d"),
            "visited_at_1": visited.strftime("%H:%M:%S"),
            "duration_minutes": 45,
        }
    )
    for key in ("scheduled_start", "scheduled_end"):
        data.pop(key, None)

    response = client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    account.refresh_from_db()
    assert account.last_visit_at is not None, "last visit refreshed"
    assert PendingRefresh.objects.filter(customer=account).exists()

    PendingRefresh.objects.all().delete()
    response = client.post(f"/admin/visits/visit/{visit.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.last_visit_at is None
    assert PendingRefresh.objects.filter(customer=account).exists()


def test_the_admin_contacts_inline_goes_through_the_service(
    client, world, django_capture_on_commit_callbacks
):
    account = world.north_customer
    old_primary = ContactFactory(customer=account, is_primary=True, name="Old")
    leaving = ContactFactory(customer=account, name="Leaving")
    client.force_login(world.admin)
    url = f"/admin/crm/customer/{account.pk}/change/"
    data = _admin_form(client, url)
    data.update(
        {
            "territory": account.territory_id,
            "owner": account.owner_id,
            "since": "",
            "cadence_days": "",
            "contacts-TOTAL_FORMS": "3",
            "contacts-INITIAL_FORMS": "2",
            "contacts-0-id": old_primary.pk,
            "contacts-0-customer": account.pk,
            "contacts-0-name": "Old",
            "contacts-1-id": leaving.pk,
            "contacts-1-customer": account.pk,
            "contacts-1-name": "Leaving",
            "contacts-1-DELETE": "on",
            "contacts-2-customer": account.pk,
            "contacts-2-name": "New",
            "contacts-2-is_primary": "on",
        }
    )
    owner_key = user_generation(account.owner_id)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, data)

    assert response.status_code == 302, response.context.get("errors")
    assert dict(account.contacts.values_list("name", "is_primary")) == {"Old": False, "New": True}
    assert user_generation(account.owner_id) != owner_key, "the owner's schedule is stale"


def user_generation(user_id: int) -> str:
    return schedule_generation(user_id).split(".")[1]


def test_new_health_settings_in_the_admin_ask_for_every_account_to_refresh(client, world):
    client.force_login(world.admin)
    response = client.post(
        "/admin/health/healthsettings/add/",
        {
            "cost_per_km": "0.75",
            "support_hourly_cost": "45",
            "annual_cost_of_capital": "0.1",
            "late_unpaid_days": "60",
            "late_average_days": "30",
        },
    )
    assert response.status_code == 302
    assert HealthSettings.objects.get().cost_per_km == Decimal("0.75")
    assert PendingRefresh.objects.count() == Customer.objects.count() > 0
    assert client.get(reverse("admin:health_healthsettings_delete", args=[1])).status_code == 403


def test_an_edit_that_makes_the_account_overdue_says_so_in_the_header_it_returns(client, world):
    account = world.north_customer
    Customer.objects.filter(pk=account.pk).update(
        since=timezone.localdate() - dt.timedelta(days=20), tier="B", cadence_days=None
    )
    client.force_login(world.north_manager)
    url = reverse("crm:customer_edit", args=[account.pk])
    assert "(overdue)" not in client.get(reverse("crm:customer_detail", args=[account.pk])).text
    data = {
        "name": account.name,
        "tier": "B",
        "status": "active",
        "territory": account.territory_id,
        "owner": account.owner_id,
        "since": (timezone.localdate() - dt.timedelta(days=20)).isoformat(),
        "cadence_days": "5",
    }

    header = client.post(url, data, headers={"HX-Request": "true", "HX-Target": "account-header"})

    assert header.status_code == 200
    assert "(overdue)" in header.text


def test_a_refresh_of_many_accounts_is_queued_one_batch_per_task(
    world, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from core import refresh

    settings.CADENCE_BATCH_SIZE = 2
    sent = []
    monkeypatch.setattr(refresh, "enqueue", lambda name, args: sent.append((name, args)))
    ids = list(Customer.objects.values_list("pk", flat=True))

    with django_capture_on_commit_callbacks(execute=True):
        refresh.customers_refresh_request(ids)

    assert [args for _, args in sent] == [[sorted(ids)[:2], True], [sorted(ids)[2:4], True]]
    assert {name for name, _ in sent} == {refresh.REFRESH_TASK}
    assert PendingRefresh.objects.count() == len(ids) == 4


def _source_files():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    for app in ("accounts", "api", "core", "crm", "visits", "health", "reports", "imports", "demo"):
        for path in (root / app).rglob("*.py"):
            if "migrations" not in path.parts:
                yield path.relative_to(root).as_posix(), path.read_text()


@pytest.mark.parametrize(
    ("rule", "pattern", "home"),
    [
        ("an invoice's exchange rate", "FROM crm_exchangerate", {"crm/services.py"}),
        ("days overdue", "- customer.next_visit_due", set()),
        ("days overdue", "next_visit_due).days", set()),
        ("control characters", "ord(character) < 32", set()),
        ("control characters", r"[\x00-\x1f\x7f]", {"core/bounds.py"}),
        ("a meeting's default start", "dt.time(9, 0)", {"visits/forms.py"}),
        ("who travels to a meeting", "or user.is_inside_sales", {"visits/services.py"}),
        ("a meeting's longest length", "timedelta(hours=24)", {"visits/selectors.py"}),
        ("the longest cadence", "=3650", {"core/bounds.py"}),
        ("what a money column holds", "999999999999", {"core/bounds.py"}),
    ],
)
def test_a_rule_is_written_in_its_one_home(rule, pattern, home):
    """Plant a second copy of one of these rules and this fails, naming where it was found."""
    found = {path for path, text in _source_files() if pattern in text}
    assert found <= home, f"{rule} is decided again in {sorted(found - home)}"


_SQL_WORDS = re.compile(r"\b(SELECT|INSERT INTO|UPDATE|DELETE FROM|WHERE|ALTER TABLE|COPY)\b")


def _sqlish(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and bool(_SQL_WORDS.search(node.value))
    ) or (isinstance(node, ast.Name) and node.id.endswith("_SQL"))


def _puts_sql_together(node: ast.AST) -> bool:
    if isinstance(node, ast.JoinedStr):
        return any(_sqlish(part) for part in node.values if isinstance(part, ast.Constant))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr in {"format", "replace"} and _sqlish(node.func.value)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        return _sqlish(node.left)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _sqlish(node.left) or _sqlish(node.right)
    return False


def _sql_composed_by_hand(source: str) -> list[int]:
    """Lines where SQL text is put together outside core.sql: an f-string holding SQL, or
    str.format, `%` or `+` on SQL text."""
    return [node.lineno for node in ast.walk(ast.parse(source)) if _puts_sql_together(node)]


def test_raw_sql_is_composed_one_way():
    """CONVENTIONS.md, "Raw SQL": statements and fragments through core.sql (psycopg.sql),
    values as parameters or literals; never an f-string, format, % or + on SQL text."""
    by_hand = {
        path: lines
        for path, text in _source_files()
        if path != "core/sql.py" and (lines := _sql_composed_by_hand(text))
    }
    assert by_hand == {}


@pytest.mark.parametrize(
    "planted",
    [
        'cursor.execute(f"SELECT * FROM crm_customer WHERE id = {pk}")',
        '_DUE_SQL = "UPDATE crm_customer SET x = 1 WHERE {where}"\ns = _DUE_SQL.format(where="1")',
        's = "SELECT id FROM crm_customer WHERE " + where',
        's = "DELETE FROM crm_customer WHERE id = %s" % pk',
    ],
)
def test_sql_put_together_by_hand_is_found(planted):
    assert _sql_composed_by_hand(planted)
