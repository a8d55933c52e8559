"""The frame of a resource page and a list's table in the browser (issue 13): breadcrumbs of names that
lead up the tree, the Essentials' copy buttons (static/portal/resource.js), and a list sorted by a
click on its header — only the table is fetched and swapped (htmx), the URL says the order."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.services import create_user
from galleries import services

from .conftest import htmx_settled, sign_in

PASSWORD = "Frame-Browser-Pass-1"


@pytest.fixture
def user(tenant):
    return create_user(tenant, "pub@contoso.test", PASSWORD, "Publisher")


def test_breadcrumbs_and_copy_buttons(page, user, subscription, rg, definition):
    sign_in(page, "pub@contoso.test", PASSWORD)
    page.goto(f"/definitions/{definition.pk}/")
    crumbs = page.get_by_role("navigation", name="Breadcrumb")
    expect(crumbs.get_by_role("link")).to_have_text(
        [subscription.display_name, rg.name, "Gallery1", "myImage1"]
    )
    expect(crumbs.locator('[aria-current="page"]')).to_have_text("myImage1")
    copy = page.get_by_role("button", name="Copy Resource ID")
    copy.click()
    expect(copy).to_have_text("Copied")
    expect(copy).to_have_text("Copy", timeout=5_000)
    crumbs.get_by_role("link", name="Gallery1").click()
    expect(page.get_by_role("heading", name="Gallery1", exact=True)).to_be_visible()
    expect(page.locator("#definitions")).to_contain_text("myImage1")


def test_sorting_a_list_swaps_only_its_table(page, user, caller, rg):
    for name in ("Bravo", "Alpha", "Charlie"):
        services.create_gallery(caller, rg, name)
    sign_in(page, "pub@contoso.test", PASSWORD)
    page.goto("/galleries/")
    names = page.locator("#galleries tbody tr td:nth-child(2)")
    expect(names).to_have_text(["Alpha", "Bravo", "Charlie"])
    page.evaluate("window.__notReloaded = true")
    with page.expect_response(
        lambda r: "sort=-name" in r.url and r.request.headers.get("hx-request") == "true"
    ):
        page.locator("#galleries thead").get_by_role("link", name="Name").click()
    htmx_settled(page)
    expect(names).to_have_text(["Charlie", "Bravo", "Alpha"])
    expect(page.locator("#galleries thead th[aria-sort=descending]")).to_have_count(1)
    assert "sort=-name" in page.url and page.evaluate("window.__notReloaded") is True
