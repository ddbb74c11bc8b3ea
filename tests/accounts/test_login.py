import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from accounts.models import Role
from tests.factories import UserFactory


@pytest.mark.django_db
def test_django_admin_sends_anonymous_users_to_its_login(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "landing"),
    [
        (Role.SALESPERSON, "visits:schedule"),
        (Role.MANAGER, "manage:dashboard"),
        (Role.ADMIN, "accounts:admin_home"),
    ],
)
def test_login_lands_each_role_on_its_home(client, role, landing):
    UserFactory(username="someone", role=role)
    response = client.post(
        reverse("login"), {"username": "someone", "password": "secret-pass-123"}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse(landing)
    assert response.status_code == 200


@pytest.mark.django_db
def test_wrong_password_shows_an_error_and_keeps_the_username(client):
    UserFactory(username="someone")
    response = client.post(reverse("login"), {"username": "someone", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.text
    assert 'value="someone"' in response.text


@pytest.mark.django_db
def test_admin_area_is_404_for_other_roles(client, world):
    client.force_login(world.north_manager)
    assert client.get(reverse("accounts:admin_home")).status_code == 404
    client.force_login(world.admin)
    page = client.get(reverse("accounts:admin_home"))
    assert page.status_code == 200
    assert "North-Coast" in page.text


@pytest.mark.django_db
def test_logout_ends_the_session(client, world):
    client.force_login(world.rep_north)
    client.post(reverse("logout"))
    assert client.get(reverse("crm:customer_list")).status_code == 302


@pytest.mark.django_db
def test_every_model_has_a_django_admin_page_for_admins(client, world):
    apps_of_ours = {"core", "accounts", "crm", "visits", "health", "reports", "imports"}
    ours = [m for m in apps.get_models() if m._meta.app_label in apps_of_ours]
    assert [m.__name__ for m in ours if m not in admin.site._registry] == []
    client.force_login(world.admin)
    for model in ours:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert client.get(url).status_code == 200, url
    client.force_login(world.north_manager)
    assert client.get("/admin/").status_code == 302
