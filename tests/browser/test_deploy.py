"""Deploy a VM from "latest" in the browser: a definition with versions 1.0.0 and 1.1.0, both
replicated by a real worker; the person picks the definition's "latest" in the deployment chooser, a
weak password is refused next to its field, the corrected form deploys, and the VM page (polled while
Creating) shows it Running from 1.1.0, marked "latest at deployment"."""

from __future__ import annotations

import re

import pytest
from conftest import wait_for
from playwright.sync_api import expect

from accounts.services import create_user
from galleries.models import TargetRegion

from .conftest import REPLICATION_TIMEOUT_MS, allow_console_errors, sign_in

PASSWORD = "Dep-Browser-Pass-1"


@pytest.fixture
def user(tenant):
    return create_user(tenant, "ops@contoso.test", PASSWORD, "Operations")


def test_deploy_a_vm_from_latest(page, user, definition, make_version, celery_processes):
    celery_processes.worker(regions=["westeurope"])
    versions = [make_version("1.0.0"), make_version("1.1.0")]
    wait_for(
        lambda: TargetRegion.objects.filter(version__in=versions, state="Completed").count() == 2,
        timeout=REPLICATION_TIMEOUT_MS / 1000,
        what="both versions to replicate",
    )

    sign_in(page, "ops@contoso.test", PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Deployments").click()
    page.get_by_role("link", name="+ Deploy from an image").click()
    latest_row = page.locator("tr", has_text="Image definition (latest)").filter(has_text="myImage1")
    latest_row.get_by_role("link", name="Deploy").click()
    expect(page.get_by_role("heading", name="Deploy a VM or a scale set")).to_be_visible()
    expect(page.locator("main")).to_contain_text("latest version of the image definition")
    expect(page.get_by_label("Region")).to_have_value("westeurope")

    page.get_by_label("Name", exact=True).fill("web-01")
    page.get_by_label("Computer name").fill("web01")
    page.get_by_label("Admin user name").fill("azureuser")
    password = page.get_by_label("Admin password")
    password.fill("short")
    allow_console_errors(page, r"status of 400 \(Bad Request\)")  # the refusal below, on purpose
    with page.expect_response(lambda r: "/deployments/new" in r.url and r.request.method == "POST") as answer:
        page.get_by_role("button", name="Deploy").click()
    assert answer.value.status == 400
    expect(page.locator("#password-error")).to_contain_text("12–123 characters")
    expect(page.locator(".field", has=password).locator("#password-error")).to_be_visible()
    expect(page.get_by_label("Name", exact=True)).to_have_value("web-01")  # the rest is kept

    page.get_by_label("Admin password").fill("Deploy-Pass-2026!")
    page.get_by_role("button", name="Deploy").click()
    expect(page.locator(".messages")).to_contain_text("web-01")
    expect(page.get_by_role("heading", name="web-01", exact=True)).to_be_visible()
    expect(page.locator("#deploy-status")).to_contain_text("Running", timeout=REPLICATION_TIMEOUT_MS)
    image = page.locator("table.properties").get_by_role("row", name=re.compile(r"^Image\b"))
    expect(image).to_contain_text("1.1.0")
    expect(image).to_contain_text("latest at deployment")
