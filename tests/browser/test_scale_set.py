"""Deploy a virtual machine scale set in the browser: a version replicated by a real worker is picked in
the deployment chooser, "A scale set" is chosen with an instance count over the gallery limit (1,000) —
refused with 400 next to the Instances field, the rest of the form kept — and the corrected form deploys
a scale set whose page (polled while Creating) shows it Running with its instance count. A scale set
from a managed image is limited to 600 instances, and the page says so next to the field."""

from __future__ import annotations

import re

import pytest
from conftest import wait_for
from playwright.sync_api import expect

from accounts.services import create_user
from galleries.models import TargetRegion
from galleries.models_deploy import Deployment

from .conftest import REPLICATION_TIMEOUT_MS, allow_console_errors, sign_in

PASSWORD = "Vmss-Browser-Pass-1"


@pytest.fixture
def user(tenant):
    return create_user(tenant, "ops@contoso.test", PASSWORD, "Operations")


def deploy_post(page):
    return page.expect_response(lambda r: "/deployments/new" in r.url and r.request.method == "POST")


def fill_os_profile(page):
    page.get_by_label("Computer name").fill("pool")
    page.get_by_label("Admin user name").fill("azureuser")
    page.get_by_label("Admin password").fill("Deploy-Pass-2026!")


def test_deploy_a_scale_set_from_a_replicated_version(page, user, make_version, celery_processes):
    celery_processes.worker(regions=["westeurope"])
    version = make_version("1.0.0")
    wait_for(
        lambda: TargetRegion.objects.filter(version=version, state="Completed").exists(),
        timeout=REPLICATION_TIMEOUT_MS / 1000,
        what="the version to replicate",
    )

    sign_in(page, "ops@contoso.test", PASSWORD)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Deployments").click()
    page.get_by_role("link", name="+ Deploy from an image").click()
    row = page.locator("tr", has_text="Image version").filter(has_text="1.0.0")
    row.get_by_role("link", name="Deploy").click()
    expect(page.get_by_role("heading", name="Deploy a VM or a scale set")).to_be_visible()
    expect(page.locator("main")).to_contain_text("the image version")
    expect(page.get_by_label("Region")).to_have_value("westeurope")

    page.get_by_label("Name", exact=True).fill("web-pool")
    page.get_by_label("A scale set").check()
    instances = page.get_by_label("Instances")
    expect(instances).to_have_attribute("max", "1000")
    instances.fill("1001")
    fill_os_profile(page)
    allow_console_errors(page, r"status of 400 \(Bad Request\)")  # the refusal below, on purpose
    with deploy_post(page) as answer:
        page.get_by_role("button", name="Deploy").click()
    assert answer.value.status == 400
    error = page.locator("#instance_count-error")
    expect(error).to_contain_text("A scale set from a gallery image has 1–1,000 instances; 1001 was given.")
    expect(page.locator(".field", has=instances).locator("#instance_count-error")).to_be_visible()
    expect(instances).to_have_value("1001")  # what was typed, and the rest of the form, is kept
    expect(page.get_by_label("Name", exact=True)).to_have_value("web-pool")
    expect(page.get_by_label("A scale set")).to_be_checked()
    assert not Deployment.objects.exists()

    instances.fill("50")
    page.get_by_label("Admin password").fill("Deploy-Pass-2026!")  # a password is never sent back
    page.get_by_role("button", name="Deploy").click()
    expect(page.locator(".messages")).to_contain_text(
        "Virtual machine scale set web-pool is being created from version 1.0.0"
    )
    expect(page.get_by_role("heading", name="web-pool", exact=True)).to_be_visible()
    expect(page.locator("#deploy-status")).to_contain_text("Running", timeout=REPLICATION_TIMEOUT_MS)
    expect(page.locator("#deploy-status")).not_to_have_attribute("hx-trigger", re.compile("."))
    properties = page.locator("table.properties")
    expect(properties.get_by_role("row", name=re.compile(r"^Type\b"))).to_contain_text(
        "Virtual machine scale set · 50 instances"
    )
    expect(properties.get_by_role("row", name=re.compile(r"^Image\b"))).to_contain_text("1.0.0")
    expect(page.get_by_role("link", name="Capture")).to_have_count(0)  # a scale set is not captured

    scale_set = Deployment.objects.get(name="web-pool")
    assert scale_set.is_scale_set and scale_set.instance_count == 50
    assert scale_set.state == Deployment.State.RUNNING and scale_set.source_version_id == version.pk


def test_a_scale_set_from_a_managed_image_over_600_instances_is_refused_next_to_the_field(page, user, image):
    sign_in(page, "ops@contoso.test", PASSWORD)
    page.goto("/deployments/new")
    page.locator("tr", has_text="Managed image").filter(has_text=image.name).get_by_role(
        "link", name="Deploy"
    ).click()
    expect(page.locator("main")).to_contain_text("the managed image")
    page.get_by_label("Name", exact=True).fill("img-pool")
    page.get_by_label("A scale set").check()
    instances = page.get_by_label("Instances")
    expect(instances).to_have_attribute("max", "600")
    instances.fill("601")
    fill_os_profile(page)
    allow_console_errors(page, r"status of 400 \(Bad Request\)")  # the refusal below, on purpose
    with deploy_post(page) as answer:
        page.get_by_role("button", name="Deploy").click()
    assert answer.value.status == 400
    error = page.locator(".field", has=instances).locator("#instance_count-error")
    expect(error).to_contain_text("A scale set from a managed image has 1–600 instances; 601 was given.")
    expect(error).to_contain_text("Publish the image as a gallery version to deploy up to 1,000.")
    expect(instances).to_have_value("601")
    assert not Deployment.objects.exists()
