import pytest
from django.urls import reverse

from tests.factories import (
    CustomerFactory,
    VisitFactory,
)

pytestmark = pytest.mark.django_db


def test_customer_list_searches_name_code_and_city(client, world):
    CustomerFactory(name="Harbour Supplies", code="HB-77", city="Whitby", territory=world.north)
    client.force_login(world.north_manager)
    url = reverse("crm:customer_list")
    assert "Harbour Supplies" in client.get(url, {"q": "harbour"}).text
    assert "Harbour Supplies" in client.get(url, {"q": "hb-7"}).text
    by_city = client.get(url, {"q": "whitby"}).text
    assert "Harbour Supplies" in by_city and "Northern Mills" not in by_city


def test_customer_list_filters_and_paginates(client, world):
    for i in range(30):
        CustomerFactory(name=f"Zeta {i:02d}", territory=world.north, tier="A")
    client.force_login(world.north_manager)
    url = reverse("crm:customer_list")
    first = client.get(url, {"tier": "A"})
    assert "30 customers" in first.text and "Page 1 of 2" in first.text
    second = client.get(url, {"tier": "A", "page": 2})
    assert "Zeta 29" in second.text and "Zeta 00" not in second.text
    assert "1 customer" in client.get(url, {"tier": "B", "q": "coastal"}).text


def test_customer_list_htmx_request_gets_only_the_results_partial(client, world):
    client.force_login(world.admin)
    response = client.get(
        reverse("crm:customer_list"), {"q": "mills"}, headers={"HX-Request": "true"}
    )
    assert response.text.lstrip().startswith('<section id="results">')
    assert "<html" not in response.text
    assert "Northern Mills" in response.text
    assert response["Vary"] == "HX-Request, Cookie"


def test_malformed_filters_show_everything_instead_of_failing(client, world):
    client.force_login(world.admin)
    response = client.get(reverse("crm:customer_list"), {"tier": "Z", "page": "abc"})
    assert response.status_code == 200
    assert "4 customers" in response.text


def test_customer_list_query_count_does_not_grow_with_rows(
    client, world, django_assert_max_num_queries
):
    for _ in range(40):
        customer = CustomerFactory(territory=world.north, owner=world.rep_north)
        VisitFactory(customer=customer, salesperson=world.rep_north)
    client.force_login(world.north_manager)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("crm:customer_list"))
    assert response.status_code == 200
