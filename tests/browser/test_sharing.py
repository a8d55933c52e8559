"""Share a gallery with a user of another tenant and take it back, in two browsers (README,
"Share a gallery with another tenant"); a refused bad input on the access page shows its message next
to the field.

The world is built through the services: Contoso's administrator owns a subscription with a gallery,
a definition and a version (and a second gallery that is not shared); Fabrikam and Contoso are
partners both ways; Bob of Fabrikam accepted Contoso's guest invitation."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect

from accounts import directory
from accounts.activity import Caller
from accounts.services import create_tenant, create_user
from galleries import services

from .conftest import allow_console_errors, sign_in

ADMIN, ADMIN_PASSWORD = "admin@contoso.test", "Admin-Browser-Pass-1"
BOB, BOB_PASSWORD = "bob@fabrikam.test", "Bob-Browser-Pass-1"


@pytest.fixture
def user(tenant):
    """The tests/conftest.py fixtures (subscription Owner, gallery, definition, versions) are built
    by this user: Contoso's tenant administrator."""
    return create_user(tenant, ADMIN, ADMIN_PASSWORD, "Contoso Admin", is_tenant_admin=True)


@pytest.fixture
def world(tenant, user, caller, rg, gallery, definition, make_version):
    fabrikam = create_tenant("Fabrikam", "fabrikam.test")
    bob = create_user(fabrikam, BOB, BOB_PASSWORD, "Bob", is_tenant_admin=True)
    directory.set_partner(Caller(user), tenant, fabrikam)
    directory.set_partner(Caller(bob), fabrikam, tenant)
    invitation = directory.invite_guest(Caller(user), tenant, BOB)
    directory.accept_invitation(Caller(bob), invitation)
    version = make_version("1.0.0")
    private = services.create_gallery(caller, rg, "PrivateGallery")
    return SimpleNamespace(a=tenant, b=fabrikam, bob=bob, gallery=gallery, version=version, private=private)


def resource_names(page):
    """The first column of All resources' table (empty when the page shows its empty state)."""
    return page.locator("main table tbody tr td:first-child")


def test_share_a_gallery_with_a_guest_and_take_it_back(new_page, world):
    w = world
    admin = sign_in(new_page(), ADMIN, ADMIN_PASSWORD)
    admin.goto(f"/resources/{w.gallery.pk}/access/")
    expect(admin.get_by_role("heading", name="Gallery1", exact=True)).to_be_visible()
    admin.get_by_label("Role", exact=True).select_option(label="Reader")
    admin.get_by_label("Assign to").fill(BOB)
    admin.get_by_role("button", name="Assign").click()
    expect(admin.locator(".messages")).to_contain_text(BOB)
    bob_row = admin.locator("#assignments tbody tr", has_text=BOB)
    expect(bob_row).to_contain_text("Reader")
    expect(bob_row).to_contain_text("This resource")

    guest = sign_in(new_page(), BOB, BOB_PASSWORD)
    # In his own directory Bob sees nothing of Contoso.
    expect(guest.locator("#directory-switcher")).to_have_value(str(w.b.pk))
    expect(guest.locator("main")).not_to_contain_text("Gallery1")
    guest.locator("#directory-switcher").select_option(label="Contoso (guest)")
    expect(guest.locator("main")).to_contain_text("you are a guest here")
    expect(guest.locator("#directory-switcher")).to_have_value(str(w.a.pk))
    # Hidden types off: the gallery only (not the unshared gallery, not the subscription).
    expect(resource_names(guest)).to_have_text(["Gallery1"])
    # Hidden types on: its definition and version too.
    guest.get_by_label("Show hidden types").check()
    expect(resource_names(guest)).to_have_count(3)
    assert sorted(resource_names(guest).all_inner_texts()) == [
        "Gallery1",
        "Gallery1/myImage1",
        "Gallery1/myImage1/1.0.0",
    ]
    expect(guest).to_have_url(re.compile(r"[?&]hidden=1"))  # the URL stays shareable

    # The administrator removes the assignment (confirming the dialog).
    bob_row.get_by_role("button", name="Remove").click()
    expect(admin.locator(".messages")).to_be_visible()
    expect(admin.locator("#assignments tbody tr", has_text=BOB)).to_have_count(0)

    # Bob's next page load shows nothing, and the gallery's page is not found.
    guest.reload()
    expect(guest.get_by_label("Show hidden types")).to_be_checked()
    expect(resource_names(guest)).to_have_count(0)
    expect(guest.locator(".empty")).to_be_visible()
    allow_console_errors(guest, r"status of 404 \(Not Found\)")  # the gallery is gone for Bob
    response = guest.goto(f"/resources/{w.gallery.pk}/access/")
    assert response.status == 404


def test_an_unknown_principal_is_refused_next_to_the_field(page, world):
    sign_in(page, ADMIN, ADMIN_PASSWORD)
    page.goto(f"/resources/{world.gallery.pk}/access/")
    page.get_by_label("Role", exact=True).select_option(label="Reader")
    field = page.get_by_label("Assign to")
    field.fill("nobody@nowhere.test")
    allow_console_errors(page, r"status of 400 \(Bad Request\)")  # the refusal below, on purpose
    with page.expect_response(lambda r: r.url.endswith("/access/add")) as answer:
        page.get_by_role("button", name="Assign").click()
    assert answer.value.status == 400
    error = page.locator("#principal-error")
    expect(error).to_contain_text("No user, group or service principal named 'nobody@nowhere.test'")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_attribute("aria-describedby", "principal-error")
    expect(field).to_have_value("nobody@nowhere.test")  # what was typed is kept
    # The message sits in the field's own block, next to it.
    expect(page.locator(".field", has=field).locator("#principal-error")).to_be_visible()
    expect(page.locator("#assignments")).not_to_contain_text("nobody@nowhere.test")
