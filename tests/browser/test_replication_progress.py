"""Watch a version replicate to three regions on a real Celery worker: the version page polls its
replication panel with htmx until every region's row says Completed with its bar at 100 %, and the
server then stops the polling (286) — no request to the panel follows."""

from __future__ import annotations

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from accounts.services import create_user
from galleries.services import TargetRegionSpec as T

from .conftest import sign_in, watch_until_complete

REGIONS = ["westeurope", "eastus", "northeurope"]
PASSWORD = "Pub-Browser-Pass-1"
#: Longer than the panel's 2 s poll interval: a poll still running would be seen in this window.
QUIET_WINDOW_MS = 4_500


@pytest.fixture
def user(tenant):
    return create_user(tenant, "pub@contoso.test", PASSWORD, "Publisher")


def test_every_region_reaches_100_percent_and_the_polling_stops(
    page, user, region, make_version, celery_processes
):
    version = make_version(
        "1.0.0",
        target_regions=[T("westeurope", 2), T("eastus"), T("northeurope", 1, "Standard_ZRS")],
    )
    names = [region(r).display_name for r in REGIONS]

    sign_in(page, "pub@contoso.test", PASSWORD)
    polls = []
    page.on("request", lambda r: polls.append(r) if "/replication" in r.url else None)
    statuses = []
    page.on("response", lambda r: statuses.append(r.status) if "/replication" in r.url else None)

    # Nothing replicates yet (no worker): the page is live and polls.
    page.goto(f"/versions/{version.pk}/")
    panel = page.locator("#replication")
    expect(panel).to_have_attribute("hx-trigger", "every 2s")
    for name in names:
        expect(panel.locator("tbody tr", has_text=name)).not_to_contain_text("Completed")
    with page.expect_request(lambda r: "/replication" in r.url):
        pass  # the first poll goes out
    # Nothing changes while no worker runs: the browser's cache revalidates the panel with the ETag it
    # got (the server then answers 304 with no body — tests/galleries/test_version_page.py; the page
    # sees the cached 200).
    with page.expect_response(lambda r: "/replication" in r.url) as first:
        pass
    etag = first.value.all_headers()["etag"]
    with page.expect_request(lambda r: "/replication" in r.url) as revalidation:
        pass
    assert revalidation.value.all_headers().get("if-none-match") == etag

    celery_processes.worker(regions=REGIONS)
    watch_until_complete(page, names)
    expect(panel).to_contain_text("Succeeded")  # the version's provisioning state follows its regions
    assert statuses and statuses[-1] == 286, statuses  # the server said stop
    assert all(s in (200, 286) for s in statuses), statuses
    count = len(polls)
    with (
        pytest.raises(PlaywrightTimeout),
        page.expect_request(lambda r: "/replication" in r.url, timeout=QUIET_WINDOW_MS),
    ):
        pass
    assert len(polls) == count
