"""Publish an image entirely in the browser: create a gallery and a definition, upload a VHD through the
upload page's file input, make a managed image of it, create a version in steps (Basics, Replication
with the target-region editor — three regions, one zone-redundant —, Tags, Review + create), and watch
every region reach 100 % on a real worker; the definition then shows the version as latest in each
region. A refused bad input on a create form, or on a step, shows its message next to the field."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.services import create_user
from galleries import vhd

from .conftest import allow_console_errors, htmx_settled, sign_in, watch_until_complete

PASSWORD = "Pub-Browser-Pass-1"
REGIONS = [("westeurope", "West Europe"), ("eastus", "East US"), ("northeurope", "North Europe")]


@pytest.fixture
def user(tenant):
    return create_user(tenant, "pub@contoso.test", PASSWORD, "Publisher")


@pytest.fixture
def vhd_file(tmp_path):
    """A small valid fixed VHD on disk, as a person would pick it in the file dialog."""
    path = tmp_path / "ubuntu-os.vhd"
    with path.open("wb") as f:
        vhd.write_fixed_vhd(f, 2 * vhd.MIB, seed=7)
    return path


def editor_post(page):
    """The target-region editor re-renders itself through htmx on each change: wait for that answer."""
    return page.expect_response(lambda r: "/versions/new" in r.url and r.request.method == "POST")


def test_gallery_definition_upload_image_version_and_replication(page, user, rg, vhd_file, celery_processes):
    celery_processes.worker(regions=[name for name, _ in REGIONS])
    sign_in(page, "pub@contoso.test", PASSWORD)

    # A gallery.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Galleries").click()
    page.locator("#create").click()
    page.get_by_label("Resource group").select_option(label="Contoso Test / images (West Europe)")
    page.get_by_label("Name", exact=True).fill("BrowserGallery")
    page.get_by_label("Description").fill("Made in the browser")
    page.get_by_role("button", name="Create").click()
    expect(page.locator(".messages")).to_contain_text("Created the gallery BrowserGallery")
    expect(page.get_by_role("heading", name="BrowserGallery", exact=True)).to_be_visible()

    # A definition in it.
    page.locator("#add-definition").click()
    page.get_by_label("Name", exact=True).fill("ubuntu")
    page.get_by_label("Publisher", exact=True).fill("Contoso")
    page.get_by_label("Offer", exact=True).fill("Platform")
    page.get_by_label("SKU", exact=True).fill("Ubuntu22")
    page.get_by_label("Hyper-V generation").select_option("V1")
    page.get_by_role("button", name="Create").click()
    expect(page.locator(".messages")).to_contain_text("Created the image definition ubuntu")
    definition_url = page.url

    # Upload a VHD through the page's file input, then a managed image of it.
    page.goto(f"/uploads/new?resourceGroup={rg.pk}")
    page.locator("#vhd-file").set_input_files(str(vhd_file))
    page.locator("#upload-button").click()
    expect(page.locator("#upload-done")).to_be_visible()
    expect(page.locator("#upload-done")).to_contain_text("ubuntu-os.vhd")
    expect(page.locator("#upload-progress").get_by_role("progressbar")).to_have_attribute(
        "aria-valuenow", "100"
    )
    page.locator("#create-image").click()
    expect(page.get_by_label("OS disk VHD")).to_have_value(
        page.locator("#id_os_blob option", has_text="ubuntu-os.vhd").get_attribute("value")
    )
    page.get_by_label("Name", exact=True).fill("ubuntu-base")
    page.get_by_role("button", name="Create").click()
    expect(page.locator(".messages")).to_contain_text("Created the managed image ubuntu-base")

    # A version from the image, in steps, replicated to three regions (North Europe zone-redundant).
    page.goto(definition_url)
    page.locator("#create-version").click()
    steps = page.get_by_role("navigation", name="Steps")
    expect(steps.locator('[aria-current="step"]')).to_have_text("1. Basics")
    expect(page.locator("#step-replication")).to_be_hidden()
    page.get_by_label("Version name").fill("1.0.0")
    source = page.locator("#source option", has_text="ubuntu-base").get_attribute("value")
    page.locator("#source").select_option(source)
    page.get_by_role("button", name="Next: Replication").click()
    expect(steps.locator('[aria-current="step"]')).to_have_text("2. Replication")
    expect(page.locator("#step-basics")).to_be_hidden()
    page.get_by_label("Replicas, row 1", exact=True).fill("2")
    rows = page.locator("#region-editor tbody tr")
    for i, (name, _) in enumerate(REGIONS[1:], start=2):
        with editor_post(page):
            page.get_by_role("button", name="+ Add region").click()
        htmx_settled(page)
        expect(rows).to_have_count(i)
        with editor_post(page):
            page.get_by_label(f"Region, row {i}", exact=True).select_option(name)
        htmx_settled(page)
        expect(page.get_by_label(f"Region, row {i}", exact=True)).to_have_value(name)
    # Standard_ZRS is offered in North Europe (a region with zones) once the row knows its region.
    expect(
        page.get_by_label("Storage type, row 3", exact=True).locator("option[value=Standard_ZRS]")
    ).to_have_count(1)
    page.get_by_label("Storage type, row 3", exact=True).select_option("Standard_ZRS")
    page.get_by_role("button", name="Next: Tags").click()
    expect(steps.locator('[aria-current="step"]')).to_have_text("3. Tags")
    page.locator("#tags").fill("team=platform")
    page.get_by_role("button", name="Next: Review + create").click()
    expect(steps.locator('[aria-current="step"]')).to_have_text("4. Review + create")
    review = page.locator("#review")
    expect(review).to_contain_text("1.0.0")
    expect(page.locator("#review-regions")).to_contain_text("North Europe × 1 (Standard_ZRS)")
    expect(page.locator("#review-tags")).to_contain_text("team=platform")
    page.get_by_role("button", name="Create version").click()
    expect(page.locator(".messages")).to_contain_text("replication to 3 regions has started")

    watch_until_complete(page, [label for _, label in REGIONS])
    zrs_row = page.locator("#replication tbody tr", has_text="North Europe")
    expect(zrs_row).to_contain_text("Standard_ZRS")

    # The definition lists it as the latest in every region.
    page.goto(definition_url)
    latest = page.locator("#latest")
    for _, label in REGIONS:
        expect(latest.locator("li", has_text=label)).to_contain_text("1.0.0")


def test_a_bad_gallery_name_is_shown_next_to_the_field(page, user, rg):
    sign_in(page, "pub@contoso.test", PASSWORD)
    page.goto("/galleries/new")
    page.get_by_label("Resource group").select_option(label="Contoso Test / images (West Europe)")
    name = page.get_by_label("Name", exact=True)
    name.fill("bad name!")
    allow_console_errors(page, r"status of 400 \(Bad Request\)")  # the refusal below, on purpose
    with page.expect_response(lambda r: r.url.endswith("/galleries/new")) as answer:
        page.get_by_role("button", name="Create").click()
    assert answer.value.status == 400
    error = page.locator("#name-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("bad name!")
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(name).to_have_attribute("aria-describedby", "name-error")
    expect(name).to_have_value("bad name!")
    expect(page.locator(".field", has=name).locator("#name-error")).to_be_visible()


def test_a_bad_version_name_keeps_the_basics_step_with_the_message_next_to_the_field(
    page, user, definition, image
):
    sign_in(page, "pub@contoso.test", PASSWORD)
    page.goto(f"/definitions/{definition.pk}/")
    page.locator("#create-version").click()
    name = page.get_by_label("Version name")
    name.fill("1.0")
    page.locator("#source").select_option(image.arm_id)
    allow_console_errors(page, r"status of 400 \(Bad Request\)")  # the refusal below, on purpose
    with page.expect_response(lambda r: r.url.endswith("/versions/new")) as answer:
        page.get_by_role("button", name="Next: Replication").click()
    assert answer.value.status == 400
    expect(page.get_by_role("navigation", name="Steps").locator('[aria-current="step"]')).to_have_text(
        "1. Basics"
    )
    error = page.locator("#name-error")
    expect(error).to_contain_text("1.0")
    expect(page.locator(".field", has=name).locator("#name-error")).to_be_visible()
    expect(name).to_have_value("1.0")
