"""The API and its schema cannot drift: schemathesis generates requests from /api/v1/schema/ for
every operation, sends each with every role's token, and every answer must be no 5xx and match the
schema. Each generated request goes out once per role (generating is most of the cost)."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from api.services import access_token_create
from config.wsgi import application
from tests.factories import PlannedVisitFactory, VisitFactory

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application)

ROLES = ["rep_north", "north_manager", "admin", "inside"]


@pytest.fixture
def api_world(world, settings):
    from accounts.models import Role
    from tests.factories import UserFactory

    settings.CADENCE_API_REQUESTS_PER_MINUTE = 100_000
    settings.ALLOWED_HOSTS = ["*"]
    world.inside = UserFactory(username="inside-north", role=Role.INSIDE_SALES)
    world.north.members.add(world.inside)
    VisitFactory(customer=world.north_customer, salesperson=world.rep_north)
    PlannedVisitFactory(customer=world.north_customer, salesperson=world.rep_north)
    # As Django's test client does: the test's transaction keeps its connection between calls.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    world.tokens = {
        role: access_token_create(user=getattr(world, role), name="fuzz")[1] for role in ROLES
    }
    yield world
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    derandomize=True,
)
def test_every_operation_answers_within_its_schema(case, api_world):
    for role in ROLES:
        response = case.call(headers={"Authorization": f"Bearer {api_world.tokens[role]}"})
        assert response.status_code < 500, (role, case.method, case.path, response.status_code)
        # Raises (naming the field and the schema it broke) when an answer does not match.
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
