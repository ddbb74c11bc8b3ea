"""Lists page without counting every row: core.pagination."""

import pytest
from django.urls import reverse

from core.pagination import CappedPaginator
from crm.models import Customer
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def thirty(world):
    for number in range(30):
        CustomerFactory(name=f"Paged {number:02d}", territory=world.north, owner=world.rep_north)
    return Customer.objects.filter(name__startswith="Paged").order_by("name")


def test_a_long_list_is_counted_only_up_to_the_cap(thirty):
    page = CappedPaginator(thirty, 5, cap=10).get_page(1)
    assert page.paginator.capped and page.paginator.full_pages == 2
    assert page.has_next() and [c.name for c in page] == [f"Paged {n:02d}" for n in range(5)]
    third = CappedPaginator(thirty, 5, cap=10).get_page(3)
    assert [c.name for c in third] == [f"Paged {n:02d}" for n in range(10, 15)]
    assert third.has_next()


def test_a_page_past_the_cap_is_reached_and_the_end_found(thirty):
    sixth = CappedPaginator(thirty, 5, cap=10).get_page(6)
    assert not sixth.paginator.capped and sixth.paginator.count == 30
    assert [c.name for c in sixth] == [f"Paged {n:02d}" for n in range(25, 30)]
    assert not sixth.has_next()
    assert CappedPaginator(thirty, 5, cap=10).get_page(99).number == 6
    assert CappedPaginator(thirty, 5, cap=10).get_page("junk").number == 1
    assert CappedPaginator(thirty, 5, cap=10).get_page(10**20).number == 6


def test_a_short_list_is_counted_exactly(thirty):
    page = CappedPaginator(thirty, 5, cap=100).get_page(1)
    assert not page.paginator.capped and page.paginator.num_pages == 6


def test_the_account_list_says_more_than_when_capped(client, world, thirty, monkeypatch):
    client.force_login(world.rep_north)
    exact = client.get(reverse("crm:customer_list"))
    assert f"{Customer.objects.filter(owner=world.rep_north).count()} customers" in exact.text
    original = CappedPaginator.__init__

    def small_cap(self, object_list, per_page, *, cap=1000, **kwargs):
        original(self, object_list, per_page, cap=10, **kwargs)

    monkeypatch.setattr(CappedPaginator, "__init__", small_cap)
    capped = client.get(reverse("crm:customer_list"))
    assert "More than 25 customers" in capped.text
    assert "Page 1 of more than 1" in capped.text
