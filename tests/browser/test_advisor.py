"""The replica advisor in the browser: from a version replicated to West Europe and East US (one replica
each) by a real worker, open its Replica advisor, plan 50 concurrent VM creations and a scale set of
300 instances in East US, and see the recommendation — 3 needed (50 VMs / 20 per replica), 4 with the
headroom — compared with today's 1 (under-provisioned, +3). Applying it raises East US to 4 replicas:
the version page says so, the worker copies the new replicas until the region is Completed at 100 %,
and West Europe, without a planned load, keeps its one replica."""

from __future__ import annotations

import pytest
from conftest import wait_for
from playwright.sync_api import expect

from accounts.services import create_user
from galleries.models import Replica, TargetRegion
from galleries.services import TargetRegionSpec as T

from .conftest import REPLICATION_TIMEOUT_MS, sign_in, watch_until_complete

PASSWORD = "Adv-Browser-Pass-1"
REGIONS = {"westeurope": "West Europe", "eastus": "East US"}


@pytest.fixture
def user(tenant):
    return create_user(tenant, "pub@contoso.test", PASSWORD, "Publisher")


def test_apply_the_recommended_replica_count_for_a_planned_load(page, user, make_version, celery_processes):
    celery_processes.worker(regions=list(REGIONS))
    version = make_version("1.0.0", target_regions=[T("westeurope", 1), T("eastus", 1)])
    wait_for(
        lambda: TargetRegion.objects.filter(version=version, state="Completed").count() == 2,
        timeout=REPLICATION_TIMEOUT_MS / 1000,
        what="both regions to replicate",
    )

    sign_in(page, "pub@contoso.test", PASSWORD)
    page.goto(f"/versions/{version.pk}/")
    page.get_by_role("link", name="Replica advisor").click()
    expect(page.get_by_role("heading", name="Replica advisor")).to_be_visible()
    east = page.locator("table.advisor tbody tr", has_text="East US")
    west = page.locator("table.advisor tbody tr", has_text="West Europe")
    expect(east.locator("td").nth(1)).to_have_text("1")  # replicas now
    expect(page.get_by_role("button", name="Apply the recommended counts")).to_have_count(0)

    page.get_by_label("Concurrent VM creations in East US").fill("50")
    page.get_by_label("Concurrent scale sets in East US").fill("300")
    page.get_by_role("button", name="Recommend").click()
    expect(east.locator("td").nth(4)).to_have_text("3")  # needed: ceil(50 / 20), and one for the scale set
    expect(east.locator("[data-recommended=eastus]")).to_have_text("4")  # 3 + 20 % rounded up
    expect(east).to_contain_text("under-provisioned: creations would wait (+3)")
    expect(west).to_contain_text("no load entered: unchanged")
    expect(page.get_by_label("Concurrent VM creations in East US")).to_have_value("50")

    page.get_by_role("button", name="Apply the recommended counts").click()
    expect(page.locator(".messages")).to_contain_text("Replica counts applied: East US 1 → 4.")
    expect(page.get_by_role("heading", name="Replication")).to_be_visible()
    panel = page.locator("#replication")
    expect(panel.locator("tbody tr", has_text="East US").locator("td").nth(1)).to_have_text("4")
    expect(panel.locator("tbody tr", has_text="West Europe").locator("td").nth(1)).to_have_text("1")

    watch_until_complete(page, list(REGIONS.values()))
    counts = dict(TargetRegion.objects.filter(version=version).values_list("region__name", "replica_count"))
    assert counts == {"westeurope": 1, "eastus": 4}
    copies = Replica.objects.filter(target_region__version=version, verified_at__isnull=False)
    assert copies.filter(target_region__region__name="eastus").count() == 4
    assert copies.filter(target_region__region__name="westeurope").count() == 1
