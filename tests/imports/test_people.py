"""Owners and salespeople as other systems write them (full names), and new customers whose
territory comes from their owner."""

import pytest
from django.urls import reverse

from crm.models import Customer
from imports.models import ImportJob
from tests.factories import UserFactory
from tests.imports.test_import import counts, run

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(world):
    UserFactory(username="liam.w", first_name="Liam", last_name="Walker")
    UserFactory(username="zoe", first_name="Zoë", last_name="Ångström")
    UserFactory(username="sam.one", first_name="Sam", last_name="Taylor")
    UserFactory(username="sam.two", first_name="Sam", last_name="Taylor")
    UserFactory(username="gone", first_name="Ann", last_name="Left", is_active=False)
    return world


SALESFORCE_ACCOUNTS = """\
Account Name,Account Number,Account Owner,Territory
Acme,FN-1,Liam Walker,North
Beta,FN-2,"Walker, Liam",North
Gamma,FN-3,ZOE ANGSTROM,North
Delta,FN-4,Sam Taylor,North
Eps,FN-5,Ann Left,North
"""


def test_owners_match_by_full_name_once_and_ambiguity_is_explained(people):
    job, result = run(people, "customers", SALESFORCE_ACCOUNTS)
    assert counts(job) == (3, 0, 0, 2), job.reject_samples
    owners = dict(
        Customer.objects.filter(code__startswith="FN-").values_list("code", "owner__username")
    )
    assert owners == {"FN-1": "liam.w", "FN-2": "liam.w", "FN-3": "zoe"}
    reasons = {sample["row"]: sample["reason"] for sample in job.reject_samples}
    assert '"Sam Taylor" is ambiguous: sam.one, sam.two' in reasons[5]
    assert 'no user (username, email or full name) "Ann Left"' in reasons[6], "inactive"
    assert result.preview[0]["Owner"] == "Liam Walker → liam.w"


def test_a_new_customer_takes_its_owners_only_territory(people):
    liam = people.rep_north.__class__.objects.get(username="liam.w")
    people.north.members.add(liam)
    sam = people.rep_north.__class__.objects.get(username="sam.one")
    people.north.members.add(sam)
    people.south.members.add(sam)
    text = "Account Name,Account Number,Account Owner\nAcme,OT-1,liam.w\nBeta,OT-2,sam.one\n"
    job, _ = run(people, "customers", text)
    assert counts(job) == (1, 0, 0, 1), job.reject_samples
    assert Customer.objects.get(code="OT-1").territory == people.north
    assert "needs a territory" in job.reject_samples[0]["reason"]


def test_the_mapping_page_says_which_rules_apply(client, people):
    from tests.imports.test_views import post_upload

    client.force_login(people.admin)
    post_upload(client, b"Account Name,Account Number,Account Owner\nAcme,OT-1,liam.w\n")
    page = client.get(reverse("imports:detail", args=[ImportJob.objects.get().pk])).text
    assert "takes its owner&#x27;s territory" in page
    assert "matched by username, e-mail or full name" in page
    assert "Dates in the file are" not in page, "no date column: no date question"
