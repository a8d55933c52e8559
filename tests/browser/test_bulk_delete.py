"""Bulk delete from a list (issue 13): select rows (one by one, or all with the header's box), confirm
on the page that names what will be deleted and what will be skipped, and the list is left with what
one may not delete — named in a message."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.services import create_user
from accounts.sharing import grant_as_system
from galleries import services
from galleries.models import Gallery

from .conftest import sign_in

PASSWORD = "Bulk-Browser-Pass-1"


@pytest.fixture
def bob(tenant, caller, rg):
    """Contributor on two galleries, Reader on a third."""
    bob = create_user(tenant, "bob@contoso.test", PASSWORD, "Bob")
    for name in ("Old1", "Old2"):
        grant_as_system(services.create_gallery(caller, rg, name), bob, "contributor")
    grant_as_system(services.create_gallery(caller, rg, "Shared"), bob, "reader")
    return bob


def test_bulk_delete_from_the_galleries_list(page, bob):
    sign_in(page, "bob@contoso.test", PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Galleries").click()
    table = page.locator("#galleries")
    expect(table.locator("tbody tr")).to_have_count(3)
    # The header's box selects every row (static/portal/resource.js).
    page.get_by_label("Select all rows").check()
    for box in table.locator("tbody").get_by_label("Select this row").all():
        expect(box).to_be_checked()
    page.locator("#bulk-delete").click()
    expect(page.get_by_role("heading", name="Delete 2 galleries?")).to_be_visible()
    expect(page.locator("#bulk-allowed")).to_contain_text("Old1")
    expect(page.locator("#bulk-allowed")).to_contain_text("Old2")
    expect(page.locator("#bulk-refused")).to_contain_text("Shared")
    page.locator("#bulk-confirm").get_by_role("button", name="Delete").click()
    expect(page.locator(".messages")).to_contain_text("Deleted 2 galleries: Old1, Old2.")
    expect(page.locator(".messages")).to_contain_text("Skipped Shared")
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table).to_contain_text("Shared")
    assert list(Gallery.objects.values_list("name", flat=True)) == ["Shared"]


def test_one_selected_row_is_deleted_and_the_others_stay(page, bob):
    sign_in(page, "bob@contoso.test", PASSWORD)
    page.goto("/galleries/")
    page.locator("#galleries tbody tr", has_text="Old2").get_by_label("Select this row").check()
    page.locator("#bulk-delete").click()
    expect(page.locator("#bulk-refused")).to_have_count(0)
    page.locator("#bulk-confirm").get_by_role("button", name="Delete").click()
    expect(page.locator(".messages")).to_contain_text("Deleted 1 galleries: Old2.")
    expect(page.locator("#galleries tbody tr")).to_have_count(2)
