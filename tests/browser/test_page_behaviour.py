"""The pages' behaviour under the Content-Security-Policy (issue 12, item 7): what inline script and htmx's
hx-on/trigger filters used to do is done by static/portal/portal.js from data- attributes, and the browser
reports no violation (the ``new_page`` fixture fails a test on any):

- All resources re-renders its table when a filter select changes (``data-change-when``), and shows a
  refused filter's message (a 400 swapped in: ``data-swap-status``);
- a confirmation that is cancelled submits nothing, one that is accepted does (``data-confirm``);
- the 403 page's "Go back" goes back (``data-history-back``);
- the operator works in the Django admin (its own scripts and styles) under the same policy.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from accounts import directory
from accounts.activity import Caller
from accounts.models import ClientSecret, User
from accounts.services import create_user
from accounts.sharing import grant_as_system

from .conftest import allow_console_errors, answer_dialogs, sign_in

PASSWORD = "Alice-Test-Pass-1"  # tests/conftest.py's user, alice@contoso.test: Owner of the subscription


def test_all_resources_filters_by_select_and_shows_a_refused_filter(page, user, rg, gallery):
    sign_in(page, "alice@contoso.test", PASSWORD)
    table = page.locator("#resource-table")
    expect(table).to_contain_text("Gallery1")
    expect(table).to_contain_text("images")  # the resource group
    with page.expect_response(lambda r: "type=" in r.url and r.request.headers.get("hx-request") == "true"):
        page.get_by_label("Type", exact=True).select_option("Microsoft.Compute/galleries")
    expect(page).to_have_url(re.compile(r"type=Microsoft.Compute%2Fgalleries"))
    expect(table).to_contain_text("Gallery1")
    expect(table.get_by_role("link", name="images", exact=True)).to_have_count(0)

    allow_console_errors(page, r"status of 400 \(Bad Request\)")  # the refused filter, on purpose
    page.get_by_label("Tag", exact=True).fill("=prod")
    expect(page.locator(".allres-errors")).to_contain_text("the key is missing")


def test_a_cancelled_confirmation_submits_nothing(page, tenant):
    admin = create_user(tenant, "root@contoso.test", "Admin-Browser-Pass-1", "Admin", is_tenant_admin=True)
    app = directory.register_app(Caller(admin), tenant, "Builder")
    secret, _ = directory.add_client_secret(Caller(admin), app, "ci")
    sign_in(page, "root@contoso.test", "Admin-Browser-Pass-1")
    page.goto(f"/directory/apps/{app.pk}/")
    delete = page.locator("form[data-confirm]").get_by_role("button")
    answer_dialogs(page, False)
    delete.click()
    page.wait_for_timeout(300)
    assert ClientSecret.objects.filter(pk=secret.pk).exists()
    answer_dialogs(page, True)
    delete.click()
    expect(page.locator(".messages")).to_be_visible()
    assert not ClientSecret.objects.filter(pk=secret.pk).exists()


def test_the_403_page_goes_back(page, tenant, subscription, gallery):
    reader = create_user(tenant, "reader@contoso.test", "Reader-Browser-Pass-1", "Reader")
    grant_as_system(subscription, reader, "reader")
    sign_in(page, "reader@contoso.test", "Reader-Browser-Pass-1")
    page.goto(f"/galleries/{gallery.pk}/")
    allow_console_errors(page, r"status of 403 \(Forbidden\)")  # the refused page, on purpose
    page.goto(f"/galleries/{gallery.pk}/edit")
    expect(page.get_by_role("heading", name="You do not have permission to do that")).to_be_visible()
    page.get_by_role("link", name="Go back").click()
    expect(page).to_have_url(re.compile(rf"/galleries/{gallery.pk}/$"))


@pytest.fixture
def operator(db):
    return User.objects.create_superuser("operator", "operator@example.test", "Operator-Browser-Pass-1")


def test_the_operator_works_in_the_admin_under_the_policy(page, operator, user):
    page.goto("/admin/")
    page.get_by_label("Username").fill("operator")
    page.get_by_label("Password").fill("Operator-Browser-Pass-1")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    page.goto("/admin/accounts/user/")
    page.get_by_role("link", name="alice@contoso.test").click()
    expect(page.get_by_text("Credential generation")).to_be_visible()
    page.goto("/admin/auth/group/add/")
    page.get_by_label("Name").fill("Made in the admin")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    assert Group.objects.filter(name="Made in the admin").exists()
