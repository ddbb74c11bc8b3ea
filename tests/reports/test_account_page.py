import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import Contact
from health.services import health_refresh_everything
from tests.factories import (
    ContactFactory,
    InvoiceFactory,
    PlannedVisitFactory,
    SupportCaseFactory,
    VisitFactory,
)
from visits.services import customer_cadence_refresh

pytestmark = pytest.mark.django_db


def account_url(customer, **query):
    url = customer.get_absolute_url()
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def test_header_shows_cadence_last_visit_next_due_and_profitability(client, world):
    customer = world.north_customer
    VisitFactory(
        customer=customer,
        salesperson=world.rep_north,
        visited_at=timezone.now() - dt.timedelta(days=45),
    )
    InvoiceFactory(customer=customer, amount=Decimal("1000"), cost_of_goods=Decimal("600"))
    customer_cadence_refresh(customer_ids=[customer.pk])
    health_refresh_everything(as_of=timezone.localdate())
    client.force_login(world.rep_north)
    page = client.get(account_url(customer)).text
    customer.refresh_from_db()
    assert "every 30 days (tier B)" in page
    assert f"{customer.last_visit_at:%Y-%m-%d}" in page
    assert 'class="overdue"' in page and "(overdue)" in page
    assert "1,000" in page and "400" in page
    assert "last visited 45 days ago; tier B expects every 30 days" in page


def test_each_tab_is_a_page_and_an_htmx_partial(client, world):
    customer = world.north_customer
    ContactFactory(customer=customer, name="Pat Primary", is_primary=True)
    InvoiceFactory(customer=customer, number="INV-OVERDUE", paid_on=None)
    SupportCaseFactory(customer=customer, note="Broken pallet")
    VisitFactory(customer=customer, salesperson=world.rep_north, notes="Wants samples")
    client.force_login(world.rep_north)
    for tab, text in [
        ("timeline", "Wants samples"),
        ("invoices", "INV-OVERDUE"),
        ("support", "Broken pallet"),
        ("contacts", "Pat Primary"),
    ]:
        full = client.get(account_url(customer, tab=tab))
        assert text in full.text and "<html" in full.text
        partial = client.get(
            account_url(customer, tab=tab),
            headers={"HX-Request": "true", "HX-Target": "tab-content"},
        )
        assert text in partial.text
        assert "<html" not in partial.text and "account-header" not in partial.text
    invoices = client.get(account_url(customer, tab="invoices")).text
    assert '<span class="overdue">overdue</span>' in invoices


def test_timeline_loads_more_in_pages_of_ten(client, world):
    for day in range(1, 24):
        VisitFactory(
            customer=world.north_customer,
            salesperson=world.rep_north,
            visited_at=timezone.now() - dt.timedelta(days=day),
            notes=f"note-{day:02d}",
        )
    client.force_login(world.rep_north)
    first = client.get(account_url(world.north_customer)).text
    assert "note-01" in first and "note-10" in first and "note-11" not in first
    more = client.get(
        account_url(world.north_customer, tab="timeline", page=2),
        headers={"HX-Request": "true", "HX-Target": "timeline-more"},
    ).text
    assert "note-11" in more and "note-20" in more and "note-01" not in more
    assert 'id="timeline-more"' in more and "page=3" in more
    last = client.get(
        account_url(world.north_customer, tab="timeline", page=3),
        headers={"HX-Request": "true", "HX-Target": "timeline-more"},
    ).text
    assert "note-23" in last and 'id="timeline-more"' not in last


def test_account_page_query_count_does_not_grow_with_visits(
    client, world, django_assert_num_queries
):
    customer = world.north_customer
    contact = ContactFactory(customer=customer)
    client.force_login(world.rep_north)

    def add_activity(n):
        for _ in range(n):
            visit = VisitFactory(customer=customer, salesperson=world.rep_north)
            visit.contacts.add(contact)
            PlannedVisitFactory(customer=customer, salesperson=world.rep_north)
            InvoiceFactory(customer=customer)

    add_activity(3)
    # +1 since Dec 2026: the salesperson's territories, read as values (crm.selectors); +1:
    # the meetings they attend as a colleague (visits.selectors.attended_visit_ids); +1: the
    # consistency by month (health.selectors.consistency_by_month); +1: the agreed rhythm
    # (visits.selectors.customer_rhythm).
    with django_assert_num_queries(14) as small:
        client.get(account_url(customer))
    add_activity(30)
    with django_assert_num_queries(len(small.captured_queries)):
        client.get(account_url(customer))


def test_other_reps_customer_is_404_for_page_tabs_and_edits(client, world):
    client.force_login(world.rep_coast)
    customer = world.north_customer
    contact = ContactFactory(customer=customer)
    assert (
        client.get(
            account_url(customer, tab="contacts"),
            headers={"HX-Request": "true", "HX-Target": "tab-content"},
        ).status_code
        == 404
    )
    assert client.get(reverse("crm:customer_edit", args=[customer.pk])).status_code == 404
    assert (
        client.post(
            reverse("crm:contact_new", args=[customer.pk]), {"name": "Intruder"}
        ).status_code
        == 404
    )
    assert (
        client.post(reverse("crm:contact_primary", args=[customer.pk, contact.pk])).status_code
        == 404
    )
    assert not Contact.objects.filter(name="Intruder").exists()


def test_salesperson_edits_contact_details_but_not_tier_owner_or_territory(client, world):
    customer = world.north_customer
    client.force_login(world.rep_north)
    form = client.get(reverse("crm:customer_edit", args=[customer.pk])).text
    assert 'name="phone"' in form and 'name="notes"' in form
    assert (
        'name="tier"' not in form and 'name="owner"' not in form and 'name="territory"' not in form
    )
    response = client.post(
        reverse("crm:customer_edit", args=[customer.pk]),
        {"phone": "0113 555 0101", "notes": "Gate code 4711", "tier": "A", "city": "Leeds"},
        headers={"HX-Request": "true"},
    )
    customer.refresh_from_db()
    assert customer.phone == "0113 555 0101" and customer.notes == "Gate code 4711"
    assert customer.tier == "B"
    assert 'id="account-header"' in response.text and "Gate code 4711" in response.text


def test_manager_changes_tier_and_next_due_follows(client, world):
    customer = world.north_customer
    VisitFactory(
        customer=customer,
        salesperson=world.rep_north,
        visited_at=timezone.now() - dt.timedelta(days=20),
    )
    customer_cadence_refresh(customer_ids=[customer.pk])
    customer.refresh_from_db()
    due_as_b = customer.next_visit_due
    client.force_login(world.north_manager)
    response = client.post(
        reverse("crm:customer_edit", args=[customer.pk]),
        {
            "name": customer.name,
            "tier": "A",
            "status": "active",
            "owner": world.rep_coast.pk,
            "territory": world.north_coast.pk,
            "city": "Leeds",
        },
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.tier, customer.owner, customer.territory) == (
        "A",
        world.rep_coast,
        world.north_coast,
    )
    assert customer.next_visit_due == due_as_b - dt.timedelta(days=16)


def test_manager_cannot_move_a_customer_to_a_territory_they_do_not_manage(client, world):
    client.force_login(world.north_manager)
    customer = world.north_customer
    response = client.post(
        reverse("crm:customer_edit", args=[customer.pk]),
        {
            "name": customer.name,
            "tier": "B",
            "status": "active",
            "territory": world.south.pk,
        },
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.text
    customer.refresh_from_db()
    assert customer.territory == world.north


def test_contacts_add_edit_and_make_primary_inline(client, world):
    customer = world.north_customer
    first = ContactFactory(customer=customer, name="First Person", is_primary=True)
    client.force_login(world.rep_north)
    htmx = {"HX-Request": "true", "HX-Target": "tab-content"}

    added = client.post(
        reverse("crm:contact_new", args=[customer.pk]),
        {"name": "Second Person", "email": "second@example.com"},
        headers=htmx,
    )
    assert added["HX-Retarget"] == "#tab-content"
    assert "Second Person" in added.text and "Contact Second Person added." in added.text
    second = customer.contacts.get(name="Second Person")

    invalid = client.post(
        reverse("crm:contact_edit", args=[customer.pk, second.pk]),
        {"name": "Second Person", "email": "not-an-email"},
        headers=htmx,
    )
    assert "Enter a valid email address." in invalid.text
    assert 'value="not-an-email"' in invalid.text

    client.post(
        reverse("crm:contact_edit", args=[customer.pk, second.pk]),
        {"name": "Second Person", "title": "Buyer", "email": "s@example.com"},
        headers=htmx,
    )
    second.refresh_from_db()
    assert second.title == "Buyer"

    client.post(reverse("crm:contact_primary", args=[customer.pk, second.pk]), headers=htmx)
    first.refresh_from_db()
    second.refresh_from_db()
    assert second.is_primary and not first.is_primary


def test_adding_a_contact_without_a_name_keeps_what_was_typed(client, world):
    client.force_login(world.rep_north)
    response = client.post(
        reverse("crm:contact_new", args=[world.north_customer.pk]),
        {"name": "", "email": "kept@example.com"},
        headers={"HX-Request": "true"},
    )
    assert "This field is required." in response.text
    assert 'value="kept@example.com"' in response.text
