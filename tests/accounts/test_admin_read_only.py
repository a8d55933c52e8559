"""The Django admin shows operators what the portal writes, and lets them change nothing of it
(``accounts.admin.ReadOnlyAdmin``): resources, role assignments, partner entries, requests, the activity
log and lifecycle runs are written where access is checked and every change is logged. Tenants and
people are the admin's own to add; of a subscription only its state is edited here."""

from __future__ import annotations

import pytest
from django.contrib import admin

from accounts.models import User

PASSWORD = "Operator-Test-1"

READ_ONLY = [
    "accounts/activitylogentry",
    "accounts/userroleassignment",
    "accounts/grouproleassignment",
    "accounts/partnertenant",
    "accounts/subscriptionrequest",
    "accounts/resourcegroup",
    "galleries/gallery",
    "galleries/galleryimageversion",
    "galleries/lifecyclerun",
]


@pytest.fixture
def operator(client, db):
    client.force_login(User.objects.create_superuser("op", "", PASSWORD))
    return client


@pytest.mark.parametrize("model", READ_ONLY)
def test_operators_see_but_cannot_add_or_change(operator, model, subscription, rg, gallery):
    page = operator.get(f"/admin/{model}/")
    assert page.status_code == 200
    assert f'href="/admin/{model}/add/"' not in page.content.decode()
    assert operator.get(f"/admin/{model}/add/").status_code == 403


def test_a_resource_group_opens_read_only(operator, rg):
    page = operator.get(f"/admin/accounts/resourcegroup/{rg.pk}/change/")
    assert page.status_code == 200
    assert 'name="name"' not in page.content.decode()  # shown, not an input
    assert operator.post(f"/admin/accounts/resourcegroup/{rg.pk}/change/", {"name": "x"}).status_code == 403


def test_tenants_are_added_in_the_admin(operator):
    assert operator.get("/admin/accounts/tenant/add/").status_code == 200


def test_a_subscription_has_only_its_state_to_edit(operator, subscription):
    html = operator.get(f"/admin/accounts/subscription/{subscription.pk}/change/").content.decode()
    assert 'name="state"' in html
    assert 'name="limit_galleries"' not in html and 'name="display_name"' not in html


def test_every_registered_list_opens(operator, subscription, rg, gallery):
    """The lists registered from options alone (``admin.site.register(model, list_display=...)``) open
    like the declared ones, with their columns."""
    for model in admin.site._registry:
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        assert operator.get(url).status_code == 200, url
