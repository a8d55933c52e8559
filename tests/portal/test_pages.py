"""The foundation's pages: sign-in, the home listing (only the signed-in user's tenant), the admin."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.activity import Caller
from accounts.services import create_resource_group, create_subscription, create_tenant, create_user
from galleries import services


@pytest.fixture
def other_tenant_resources(db):
    fabrikam = create_tenant("Fabrikam", "fabrikam.test")
    bob = create_user(fabrikam, "bob@fabrikam.test", "Bob-Test-Pass-1", "Bob")
    caller = Caller(principal=bob)
    sub = create_subscription(Caller.system(), fabrikam, "Fabrikam Apps", owner=caller.principal)
    rg = create_resource_group(caller, sub, "fabrikam-secret-rg", "eastus")
    services.create_gallery(caller, rg, "FabrikamGallery")
    return bob


def test_anonymous_visitors_are_sent_to_sign_in(client, db):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_sign_in_with_a_wrong_password_says_so(client, user):
    response = client.post(reverse("login"), {"username": user.username, "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_sign_in_then_home_lists_the_tenants_resources_and_hides_hidden_types(
    client, user, gallery, definition
):
    response = client.post(reverse("login"), {"username": user.username, "password": "Alice-Test-Pass-1"})
    assert response.status_code == 302
    page = client.get(reverse("home")).content.decode()
    assert "Gallery1" in page
    assert "images" in page  # the resource group
    assert "myImage1" not in page  # an image definition is a hidden type
    page = client.get(reverse("home"), {"hidden": "1"}).content.decode()
    assert "Gallery1/myImage1" in page  # a definition is named by its path in the gallery
    assert "VM image definition" in page
    assert "Contoso Test" in page  # a subscription by its display name, not its GUID


def test_home_never_shows_another_tenants_resources(client, user, gallery, other_tenant_resources):
    client.force_login(user)
    page = client.get(reverse("home"), {"hidden": "1"}).content.decode()
    assert "Gallery1" in page
    assert "FabrikamGallery" not in page and "fabrikam-secret-rg" not in page
    client.force_login(other_tenant_resources)
    page = client.get(reverse("home"), {"hidden": "1"}).content.decode()
    assert "FabrikamGallery" in page and "Gallery1" not in page


def test_home_filters_by_name_and_type_and_pages(client, user, caller, rg):
    for i in range(55):
        services.create_gallery(caller, rg, f"G{i:02d}")
    client.force_login(user)
    page = client.get(reverse("home"), {"type": "Microsoft.Compute/galleries"}).content.decode()
    assert "1–50 of 55" in page and "Next" in page
    page = client.get(reverse("home"), {"q": "G54"}).content.decode()
    assert "G54" in page and "G53" not in page


def test_home_query_count_does_not_grow_with_rows(client, user, caller, rg, django_assert_max_num_queries):
    client.force_login(user)
    services.create_gallery(caller, rg, "Only")
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get(reverse("home"))
    for i in range(30):
        services.create_gallery(caller, rg, f"More{i}")
    with CaptureQueriesContext(connection) as many:
        client.get(reverse("home"))
    assert len(few.captured_queries) == len(many.captured_queries)


def test_the_admin_is_for_operators_only(client, user, subscription):
    from accounts.models import User

    client.force_login(user)
    assert client.get("/admin/").status_code == 302  # a tenant user is not an operator
    operator = User.objects.create_superuser("op", "", "Operator-Test-1")
    client.force_login(operator)
    for url in (
        "/admin/",
        "/admin/galleries/region/",
        "/admin/galleries/galleryimageversion/",
        "/admin/accounts/activitylogentry/",
        "/admin/accounts/subscription/",
        "/admin/accounts/userroleassignment/",
        "/admin/accounts/grouproleassignment/",
        "/admin/accounts/partnertenant/",
    ):
        assert client.get(url).status_code == 200, url
