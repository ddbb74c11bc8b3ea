"""Who sees which customers and visits: the rules of crm.selectors / visits.selectors."""

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from crm.selectors import customers_visible_to
from crm.services import customer_update
from tests.factories import VisitFactory
from visits.selectors import visits_visible_to


def names(customers) -> set[str]:
    return set(customers.values_list("name", flat=True))


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("admin", {"Northern Mills", "Coastal Fish", "Southern Bakes", "Southern Outpost"}),
        ("north_manager", {"Northern Mills", "Coastal Fish"}),
        ("south_manager", {"Southern Bakes", "Southern Outpost"}),
        ("rep_north", {"Northern Mills", "Southern Outpost"}),
        ("rep_coast", {"Coastal Fish"}),
        ("rep_south", {"Southern Bakes", "Southern Outpost"}),
    ],
)
def test_each_role_sees_exactly_its_customers(world, who, expected):
    assert names(customers_visible_to(getattr(world, who))) == expected


def test_an_inactive_user_sees_nothing(world):
    world.rep_north.is_active = False
    world.rep_north.save()
    assert not customers_visible_to(world.rep_north).exists()
    assert not visits_visible_to(world.rep_north).exists()


def test_customer_page_is_404_outside_scope_and_200_inside(client, world):
    client.force_login(world.rep_coast)
    inside = client.get(world.coast_customer.get_absolute_url())
    outside = client.get(world.north_customer.get_absolute_url())
    assert inside.status_code == 200
    assert "Coastal Fish" in inside.text
    assert outside.status_code == 404
    assert "Northern Mills" not in outside.text


def test_manager_reaches_sub_territory_customer_page(client, world):
    client.force_login(world.north_manager)
    assert client.get(world.coast_customer.get_absolute_url()).status_code == 200
    assert client.get(world.south_customer.get_absolute_url()).status_code == 404


def test_customer_list_shows_only_visible_customers(client, world):
    client.force_login(world.south_manager)
    page = client.get(reverse("crm:customer_list")).text
    assert "Southern Bakes" in page and "Southern Outpost" in page
    assert "Northern Mills" not in page and "Coastal Fish" not in page


def test_visit_scope_by_role(world):
    own = VisitFactory(customer=world.north_customer, salesperson=world.rep_north, notes="own")
    on_owned_account = VisitFactory(
        customer=world.south_customer_owned_by_rep_north, salesperson=world.rep_south, notes="owned"
    )
    colleague = VisitFactory(customer=world.south_customer, salesperson=world.rep_south, notes="x")
    coast = VisitFactory(customer=world.coast_customer, salesperson=world.rep_coast, notes="coast")

    def seen(user):
        return set(visits_visible_to(user).values_list("pk", flat=True))

    assert seen(world.rep_north) == {own.pk, on_owned_account.pk}
    assert seen(world.rep_south) == {on_owned_account.pk, colleague.pk}
    assert seen(world.north_manager) == {own.pk, coast.pk}
    assert seen(world.south_manager) == {on_owned_account.pk, colleague.pk}
    assert seen(world.admin) == {own.pk, on_owned_account.pk, colleague.pk, coast.pk}


def test_account_page_lists_only_visits_the_user_may_see(client, world):
    outpost = world.south_customer_owned_by_rep_north
    VisitFactory(customer=outpost, salesperson=world.rep_south, notes="Bakery chat")
    VisitFactory(customer=outpost, salesperson=world.rep_north, notes="Secret chat")
    client.force_login(world.rep_south)
    page = client.get(outpost.get_absolute_url()).text
    assert "Bakery chat" in page
    assert "Secret chat" not in page


@pytest.mark.django_db
def test_the_service_refuses_fields_a_salesperson_may_not_change(world):
    account = world.north_customer
    for changes in ({"tier": "A"}, {"owner": world.rep_coast}, {"status": "lost"}):
        with pytest.raises(PermissionDenied, match="You may not change"):
            customer_update(customer=account, user=world.rep_north, changes=changes)
    account.refresh_from_db()
    assert (account.tier, account.owner, account.status) == ("B", world.rep_north, "active")
    customer_update(customer=account, user=world.rep_north, changes={"notes": "Likes mornings"})
    account.refresh_from_db()
    assert account.notes == "Likes mornings"


@pytest.mark.django_db
def test_an_admin_edit_in_the_django_admin_refreshes_like_any_edit(client, world):
    from core.models import PendingRefresh

    account = world.north_customer
    client.force_login(world.admin)
    form = client.get(f"/admin/crm/customer/{account.pk}/change/").context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and not isinstance(value, list)
    }
    data.update(
        {
            "name": account.name,
            "code": account.code,
            "territory": account.territory_id,
            "owner": account.owner_id,
            "tier": "A",
            "status": "active",
            "cadence_days": "",
            "since": "2020-01-01",
            "contacts-TOTAL_FORMS": "0",
            "contacts-INITIAL_FORMS": "0",
        }
    )
    response = client.post(f"/admin/crm/customer/{account.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    account.refresh_from_db()
    assert account.tier == "A" and account.next_visit_due is not None, "cadence dates refreshed"
    assert PendingRefresh.objects.filter(customer=account).exists(), "health refresh asked for"
