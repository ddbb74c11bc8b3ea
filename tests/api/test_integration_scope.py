"""An integration token does what docs/api.md says and nothing else: push invoices and support
cases, read customers. Every method of every route in the API's schema is tried with one."""

import re

import pytest
from drf_spectacular.generators import SchemaGenerator

from tests.api_client import Api
from tests.factories import ContactFactory, InvoiceFactory, PlannedVisitFactory, SupportCaseFactory

pytestmark = pytest.mark.django_db

# docs/api.md, "Integration tokens".
ALLOWED = {
    ("get", "/api/v1/customers/"),
    ("get", "/api/v1/customers/{id}/"),
    ("post", "/api/v1/invoices/upsert/"),
    ("post", "/api/v1/support-cases/upsert/"),
}


def test_an_integration_token_reaches_only_what_the_docs_list(world):
    customer = world.north_customer
    ids = {
        "customers": customer.pk,
        "contacts": ContactFactory(customer=customer).pk,
        "invoices": InvoiceFactory(customer=customer).pk,
        "support-cases": SupportCaseFactory(customer=customer).pk,
        "visits": PlannedVisitFactory(customer=customer, salesperson=world.rep_north).pk,
        "metrics": customer.pk,
        "flags": 1,
        "territories": world.north.pk,
        "users": world.admin.pk,
    }
    erp = Api(world.admin, integration=True)
    schema = SchemaGenerator().get_schema(request=None, public=True)
    tried = set()
    for path, operations in schema["paths"].items():
        resource = path.split("/")[3]
        url = re.sub(r"\{\w+\}", str(ids.get(resource, 1)), path)
        for method in operations:
            tried.add((method, path))
            if method == "get":
                answer = erp.get(url)
            elif method == "patch":
                answer = erp.patch(url, {})
            else:
                answer = erp.post(url, {})
            if (method, path) in ALLOWED:
                assert answer.status_code != 403, (method, path, answer.content)
            else:
                assert answer.status_code == 403, (method, path, answer.status_code)
                message = answer.json()["error"]["message"]
                assert "only pushes invoices and support cases" in message
    assert tried >= ALLOWED, "the docs name a route the schema does not have"
    assert len(tried) > 25
