"""The models moved out of crm keep their tables: a database made before the move migrates
forward (and back) without losing a row, and their content types move with them."""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from health.models import AccountFlag, FlagKind
from reports.models import ReviewAction
from tests.factories import CustomerFactory

BEFORE_THE_MOVE = [
    ("crm", "0016_exchange_rate_above_zero"),
    ("core", None),
    ("health", None),
    ("reports", None),
]


def _migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    executor.loader.build_graph()
    ContentType.objects.clear_cache()
    return executor


@pytest.mark.django_db(transaction=True)
def test_a_database_from_before_the_move_migrates_forward_keeping_its_rows(world):
    account = CustomerFactory(territory=world.north, owner=world.rep_north)
    now = timezone.now()
    flag = AccountFlag.objects.create(
        customer=account,
        kind=FlagKind.NEGLECTED,
        inputs={},
        as_of=now.date(),
        opened_at=now,
        raised_at=now,
    )
    ReviewAction.objects.create(customer=account, user=world.north_manager, action="tier")
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()

    executor = _migrate(BEFORE_THE_MOVE)
    old = executor.loader.project_state(BEFORE_THE_MOVE[:1]).apps
    assert old.get_model("crm", "AccountFlag").objects.get().pk == flag.pk
    assert old.get_model("crm", "ReviewAction").objects.count() == 1
    assert ContentType.objects.filter(app_label="crm", model="accountflag").exists()

    _migrate(leaves)
    assert AccountFlag.objects.get().pk == flag.pk
    assert ReviewAction.objects.get().customer == account
    moved = ContentType.objects.get_for_model(AccountFlag)
    assert (moved.app_label, moved.model) == ("health", "accountflag")
    assert not ContentType.objects.filter(app_label="crm", model="accountflag").exists()
