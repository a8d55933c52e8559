"""Retry a failed region in the browser. A real worker replicates a version to West Europe and East US,
but East US's region store refuses writes: its root (``REGION_STORAGE_ROOTS``) is a plain file where a
folder should be, so no copy can be written there and, with one attempt allowed, the region fails. The
version page shows East US Failed with the error (West Europe Completed), the version Failed, and a
"Retry failed regions" button. The operator repairs the store; the button starts East US again — and
only it — and the same worker brings it to Completed at 100 %."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from accounts.services import create_user
from galleries.models import GalleryImageVersion, Replica, TargetRegion
from galleries.services import TargetRegionSpec as T

from .conftest import REPLICATION_TIMEOUT_MS, htmx_settled, sign_in, watch_until_complete

PASSWORD = "Retry-Browser-Pass-1"


@pytest.fixture
def user(tenant):
    return create_user(tenant, "pub@contoso.test", PASSWORD, "Publisher")


def test_retry_failed_regions_brings_the_failed_region_to_completed(
    page, user, make_version, celery_processes, tmp_path
):
    east_root = tmp_path / "eastus-store"
    east_root.write_text("not a folder: East US's store refuses every write")
    celery_processes.worker(
        regions=["westeurope", "eastus"],
        env={"REGION_STORAGE_ROOTS": f"eastus={east_root}", "REPLICATION_MAX_ATTEMPTS": 1},
    )
    version = make_version("1.0.0", target_regions=[T("westeurope", 1), T("eastus", 1)])

    sign_in(page, "pub@contoso.test", PASSWORD)
    page.goto(f"/versions/{version.pk}/")
    panel = page.locator("#replication")
    east = panel.locator("tbody tr", has_text="East US")
    west = panel.locator("tbody tr", has_text="West Europe")
    expect(east).to_contain_text("Failed", timeout=REPLICATION_TIMEOUT_MS)
    expect(east).to_contain_text("Not a directory")  # the last error
    expect(west).to_contain_text("Completed", timeout=REPLICATION_TIMEOUT_MS)
    expect(west.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    expect(panel).to_contain_text("Provisioning state Failed")
    expect(panel).to_contain_text("Replication state: Failed")
    expect(panel).not_to_have_attribute("hx-trigger", re.compile("."))  # every region is final
    htmx_settled(page)
    retry = panel.get_by_role("button", name="Retry failed regions")
    expect(retry).to_be_visible()
    failed = TargetRegion.objects.get(version=version, region__name="eastus")
    assert failed.state == "Failed" and failed.attempts == 1
    completed_west = TargetRegion.objects.get(version=version, region__name="westeurope")

    # The operator repairs East US's store: the worker can write there now.
    east_root.unlink()
    east_root.mkdir()
    with page.expect_response(lambda r: r.url.endswith(f"/versions/{version.pk}/retry")) as answer:
        retry.click()
    assert answer.value.status == 302
    expect(page.locator(".messages")).to_contain_text("Retrying East US.")
    watch_until_complete(page, ["East US", "West Europe"])
    expect(panel).to_contain_text("Provisioning state Succeeded")
    expect(panel.get_by_role("button", name="Retry failed regions")).to_have_count(0)
    expect(east.locator("td.error")).to_have_text("")

    version.refresh_from_db()
    assert version.provisioning_state == GalleryImageVersion.ProvisioningState.SUCCEEDED
    east_row = TargetRegion.objects.select_related("region").get(version=version, region__name="eastus")
    assert east_row.state == "Completed" and east_row.last_error == ""
    west_row = TargetRegion.objects.get(version=version, region__name="westeurope")
    assert west_row.revision == completed_west.revision  # West Europe was not started again
    (copy,) = Replica.objects.filter(target_region=east_row, verified_at__isnull=False)
    assert copy.path.startswith(f"versions/{version.pk}/")
    stored = east_root / east_row.region.cloud.name / "eastus" / "regional" / copy.path
    assert stored.is_file() and stored.stat().st_size == copy.size_bytes
