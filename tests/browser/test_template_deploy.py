"""Deploy a custom template in the browser (issue 15): from the resource group's command bar, paste the
quickstart sig-create template, fill the generated form (its description as the hint, the location's
expression default left to the engine), Validate, then Deploy; the deployment's page shows it
Succeeded with its operation, and the gallery exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from accounts.services import create_user
from galleries.models import Gallery

from .conftest import sign_in

PASSWORD = "Tpl-Browser-Pass-1"
SIG_CREATE = (
    Path(__file__).resolve().parent.parent / "fixtures/templates/sig-create/azuredeploy.json"
).read_text()


@pytest.fixture
def user(tenant):
    return create_user(tenant, "ops@contoso.test", PASSWORD, "Operations")


def test_paste_a_template_and_deploy_it(page, user, rg):
    sign_in(page, "ops@contoso.test", PASSWORD)
    page.goto(f"/resource-groups/{rg.pk}/")
    page.get_by_role("link", name="Deploy a custom template").click()
    expect(page.get_by_role("heading", name="Deploy a custom template")).to_be_visible()
    page.get_by_label("Template (JSON)").fill(SIG_CREATE)
    page.get_by_role("button", name="Next: parameters").click()

    expect(page.get_by_label("Deployment name")).to_have_value(re.compile(r"^Microsoft\.Template-\d{14}$"))
    gallery_name = page.get_by_label("galleryName")
    expect(page.locator("main")).to_contain_text("Name of the Shared Image Gallery.")
    expect(page.locator("main")).to_contain_text("Default: [resourceGroup().location]")
    gallery_name.fill("browserGallery")
    page.get_by_label("Deployment name").fill("from-the-browser")
    page.get_by_role("button", name="Validate").click()
    expect(page.locator("#validation-passed")).to_contain_text("galleries/browserGallery")
    expect(page.get_by_label("galleryName")).to_have_value("browserGallery")  # kept

    page.get_by_role("button", name="Deploy", exact=True).click()
    expect(page.get_by_role("heading", name="from-the-browser")).to_be_visible()
    expect(page.locator("#deployment-state")).to_have_text("Succeeded")
    operations = page.locator("#deployment-operations")
    expect(operations).to_contain_text("browserGallery")
    expect(operations).to_contain_text("Microsoft.Compute/galleries")
    assert Gallery.objects.filter(name="browserGallery", resource_group=rg).exists()

    page.locator("#deployments").click()  # the command bar's (the navigation's Deployments are VMs)
    expect(page.locator("#template-deployments")).to_contain_text("from-the-browser")
