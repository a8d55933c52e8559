"""Capture a running VM in the browser: a VM deployed through the services from a version that a real
worker replicated (and created by that worker) is opened from the Deployments list; its Capture button
leads to the capture form, which makes a managed image of its OS disk — the image's page opens — and,
a second time, a snapshot of it — the snapshot's page opens. Both hold the VM's disk, byte for byte."""

from __future__ import annotations

import pytest
from conftest import wait_for
from playwright.sync_api import expect

from accounts.services import create_user
from galleries import deployments
from galleries.deployments import OsProfile
from galleries.models import ManagedImage, Snapshot, TargetRegion
from galleries.models_deploy import Deployment

from .conftest import REPLICATION_TIMEOUT_MS, sign_in

PASSWORD = "Cap-Browser-Pass-1"


@pytest.fixture
def user(tenant):
    return create_user(tenant, "ops@contoso.test", PASSWORD, "Operations")


@pytest.fixture
def running_vm(caller, rg, make_version, celery_processes):
    """A VM created by a real worker from a version the worker replicated."""
    celery_processes.worker(regions=["westeurope"])
    version = make_version("1.0.0")
    wait_for(
        lambda: TargetRegion.objects.filter(version=version, state="Completed").exists(),
        timeout=REPLICATION_TIMEOUT_MS / 1000,
        what="the version to replicate",
    )
    vm = deployments.create_deployment(
        caller,
        version,
        rg,
        "golden",
        os_profile=OsProfile("golden", "azureuser", "Capture-Pass-2026!"),
    )
    wait_for(
        lambda: Deployment.objects.get(pk=vm.pk).state == Deployment.State.RUNNING,
        timeout=REPLICATION_TIMEOUT_MS / 1000,
        what="the VM to be created",
    )
    return Deployment.objects.select_related("os_disk").get(pk=vm.pk)


def open_capture_form(page):
    page.goto("/deployments/")
    page.locator("table.deployments").get_by_role("link", name="golden", exact=True).click()
    expect(page.get_by_role("heading", name="golden", exact=True)).to_be_visible()
    expect(page.locator("#deploy-status")).to_contain_text("Running")
    page.get_by_role("link", name="Capture", exact=True).click()
    expect(page.get_by_role("heading", name="Capture into a managed image or a snapshot")).to_be_visible()


def test_capture_a_running_vm_into_a_managed_image_and_a_snapshot(page, user, running_vm):
    sign_in(page, "ops@contoso.test", PASSWORD)

    # Into a managed image (the default for a generalized VM).
    open_capture_form(page)
    expect(page.get_by_label("A managed image")).to_be_checked()
    expect(page.get_by_label("Resource group")).to_have_value(str(running_vm.resource_group_id))
    expect(page.get_by_label("Name", exact=True)).to_have_value("golden-image")
    page.get_by_label("Name", exact=True).fill("golden-img")
    page.get_by_role("button", name="Capture").click()
    expect(page.locator(".messages")).to_contain_text(
        "golden was captured into the managed image golden-img."
    )
    expect(page.get_by_role("heading", name="golden-img", exact=True)).to_be_visible()
    expect(page.locator("main")).to_contain_text("Microsoft.Compute/images")
    expect(page.locator("#os")).to_contain_text("Linux · Generalized")
    expect(page.locator("#disks")).to_contain_text(running_vm.os_disk.sha256)
    image = ManagedImage.objects.select_related("os_disk").get(name="golden-img")
    assert page.url.rstrip("/").endswith(f"/{image.pk}")
    assert image.os_disk.sha256 == running_vm.os_disk.sha256

    # Into a snapshot of its OS disk.
    open_capture_form(page)
    page.get_by_label("A snapshot of the OS disk").check()
    page.get_by_label("Name", exact=True).fill("golden-snap")
    page.get_by_role("button", name="Capture").click()
    expect(page.locator(".messages")).to_contain_text("golden was captured into the snapshot golden-snap.")
    expect(page.get_by_role("heading", name="golden-snap", exact=True)).to_be_visible()
    expect(page.locator("main")).to_contain_text("Microsoft.Compute/snapshots")
    expect(page.locator("#disk-kind")).to_contain_text("OS disk (Linux)")
    expect(page.locator("main")).to_contain_text(running_vm.os_disk.sha256)
    snapshot = Snapshot.objects.select_related("disk").get(name="golden-snap")
    assert page.url.rstrip("/").endswith(f"/{snapshot.pk}")
    assert snapshot.disk.sha256 == running_vm.os_disk.sha256
