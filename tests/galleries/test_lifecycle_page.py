"""The Lifecycle page of a subscription (F18, issue 11): the next run's plan computed live for that
subscription (kind, resource link, reason, regions), when the daily job runs next, the last runs with
their outcomes, and "Apply now" — offered to and allowed for principals who may write and delete in
the subscription only, carried out as them through the service layer."""

from __future__ import annotations

import datetime as dt
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.activity import Caller
from accounts.models import ActivityLogEntry
from accounts.services import create_subscription, create_user
from accounts.sharing import grant_as_system
from galleries import deployments, lifecycle
from galleries.deployments import OsProfile
from galleries.models import GalleryImage, GalleryImageVersion, LifecycleRun, TargetRegion
from galleries.views_lifecycle import next_run
from tests.portal.test_permissions import EndpointPermissions, World, world  # noqa: F401

REGIONS = ["westeurope", "eastus", "northeurope"]


def text(response) -> str:
    return response.content.decode()


def expire(obj):
    assert type(obj).objects.filter(pk=obj.pk).update(end_of_life_date=timezone.now() - timedelta(days=1))


def complete(version):
    TargetRegion.objects.filter(version=version).update(state=TargetRegion.State.COMPLETED)
    return version


def url(subscription) -> str:
    return f"/subscriptions/{subscription.pk}/lifecycle/"


def plan_rows(html: str) -> list[str]:
    if '<table id="plan"' not in html:
        return []
    table = html.split('<table id="plan"', 1)[1].split("</table>", 1)[0]
    return re.findall(r"<tr data-kind=[^>]*>(.*?)</tr>", table, re.S)


@pytest.fixture
def setup(caller, definition, make_definition, make_version, rg):
    """myImage1: 1.0.0 past its end of life; trimmed (TrimOlderToSource): 1.0.0 and 1.1.0 in three
    regions; 2.0.0 of myImage1 past its end of life but a VM came from it."""
    out = {"old": complete(make_version("1.0.0"))}
    expire(out["old"])
    out["trimmed"] = make_definition("trimmed", sku="Trimmed")
    GalleryImage.objects.filter(pk=out["trimmed"].pk).update(lifecycle_policy="TrimOlderToSource")
    out["t100"] = complete(make_version("1.0.0", definition_=out["trimmed"], target_regions=REGIONS))
    out["t110"] = complete(make_version("1.1.0", definition_=out["trimmed"], target_regions=REGIONS))
    out["deployed"] = complete(make_version("2.0.0"))
    deployments.create_deployment(
        caller, out["deployed"], rg, "web1", os_profile=OsProfile("web01", "azureuser", "Str0ng-Passw0rd!")
    )
    expire(out["deployed"])
    return out


def test_the_page_shows_the_next_runs_plan_when_it_runs_and_the_apply_button(
    client, user, subscription, setup
):
    client.force_login(user)
    r = client.get(url(subscription))
    assert r.status_code == 200
    page = text(r)
    rows = plan_rows(page)
    assert len(rows) == 3
    delete, trim, keep = rows
    assert "Delete version" in delete and f'href="/resources/{setup["old"].pk}/"' in delete
    assert "Gallery1/myImage1/1.0.0" in delete and "end of life" in delete
    assert "Trim version" in trim and f'href="/resources/{setup["t100"].pk}/"' in trim
    assert "removes East US (latest there: 1.1.0), North Europe (latest there: 1.1.0)" in trim
    assert "East US" in trim and "North Europe" in trim
    assert "Keep" in keep and "kept: 1 deployment(s) came from it: web1" in keep
    nxt = next_run(timezone.now())
    assert f"{nxt:%Y-%m-%d} 04:07 UTC" in page and "every day at 04:07 UTC" in page
    assert 'id="apply"' in page and 'name="csrfmiddlewaretoken"' in page
    assert "No run yet" in page
    # The Lifecycle tab sits next to the subscription's other tabs.
    assert f'href="/subscriptions/{subscription.pk}/lifecycle/" class="active"' in page
    overview = text(client.get(f"/subscriptions/{subscription.pk}/"))
    assert f'href="/subscriptions/{subscription.pk}/lifecycle/"' in overview


def test_the_plan_is_that_subscriptions_only(client, user, tenant, subscription, setup):
    other = create_subscription(Caller.system(), tenant, "Other", owner=user)
    client.force_login(user)
    assert plan_rows(text(client.get(url(other)))) == []
    assert "Nothing to do" in text(client.get(url(other)))
    assert len(plan_rows(text(client.get(url(subscription))))) == 3


def test_a_reader_sees_the_plan_but_may_not_apply_it(client, user, subscription, setup):
    reader = create_user(user.home_tenant, "reader@contoso.test", "Reader-Pass-1", "Reader")
    grant_as_system(subscription, reader, "reader")
    client.force_login(reader)
    page = text(client.get(url(subscription)))
    assert len(plan_rows(page)) == 3 and 'id="apply"' not in page
    assert client.post(url(subscription) + "apply").status_code == 403
    assert GalleryImageVersion.objects.filter(pk=setup["old"].pk).exists()
    assert not LifecycleRun.objects.exists()


def test_a_contributor_may_apply(client, user, subscription, setup):
    contributor = create_user(user.home_tenant, "carol@contoso.test", "Carol-Pass-1", "Carol")
    grant_as_system(subscription, contributor, "contributor")
    client.force_login(contributor)
    assert 'id="apply"' in text(client.get(url(subscription)))


def test_the_owner_applies_the_plan_as_themself_and_sees_the_outcome(client, user, subscription, setup):
    client.force_login(user)
    r = client.post(url(subscription) + "apply")
    assert r.status_code == 302 and r["Location"] == url(subscription)
    assert not GalleryImageVersion.objects.filter(pk=setup["old"].pk).exists()
    assert set(TargetRegion.objects.filter(version=setup["t100"]).values_list("region__name", flat=True)) == {
        "westeurope"
    }
    assert GalleryImageVersion.objects.filter(pk=setup["deployed"].pk).exists()
    run = LifecycleRun.objects.get()
    assert (run.trigger, run.principal, run.subscription) == ("portal", user, subscription)
    assert [a["outcome"] for a in run.actions] == ["done", "done", "kept"]
    # Through the service layer, as the caller: the activity log says who.
    entries = ActivityLogEntry.objects.filter(
        operation__in=[lifecycle.OPERATION, f"{GalleryImageVersion.ARM_TYPE}/delete"]
    )
    assert entries.count() == 2 and {e.principal_id for e in entries} == {user.pk}
    page = text(client.get(r["Location"]))
    assert "Lifecycle run: 2 action(s) planned" in page  # the outcome, as a message
    last = page.split('id="runs"', 1)[1]
    assert "Apply now (portal)" in last and user.username in last and "Succeeded" in last
    assert "Done" in last and "Kept" in last
    assert len(plan_rows(page)) == 1  # only the keep is left: nothing to apply
    assert 'id="apply"' not in page


def test_last_runs_show_only_this_subscriptions_actions_and_unfinished_runs(
    client, user, tenant, subscription, setup
):
    other = create_subscription(Caller.system(), tenant, "Other", owner=user)
    lifecycle.run(dry_run=False, trigger=LifecycleRun.Trigger.SCHEDULE)
    LifecycleRun.objects.create(
        subscription=subscription,
        planned_for=timezone.now(),
        principal_name="system",
        actions=[
            {
                "kind": "delete_version",
                "arm_id": setup["deployed"].arm_id,
                "name": "2.0.0",
                "reason": "r",
                "regions": [],
                "pk": None,
                "outcome": "started",
                "detail": "",
            }
        ],
    )
    LifecycleRun.objects.create(
        planned_for=timezone.now() - dt.timedelta(days=1),
        principal_name="system",
        trigger="schedule",
        status="Succeeded",
        actions=[
            {
                "kind": "delete_version",
                "arm_id": f"/subscriptions/{other.guid}/resourceGroups/x/providers/Microsoft.Compute/galleries/"
                "G/images/theirs/versions/9.9.9",
                "name": "9.9.9",
                "reason": "r",
                "regions": [],
                "pk": None,
                "outcome": "done",
                "detail": "",
            }
        ],
    )
    client.force_login(user)
    runs = text(client.get(url(subscription))).split('id="runs"', 1)[1]
    assert "Not finished" in runs and "Started, not finished" in runs
    assert "Daily schedule" in runs and "nothing to do in this subscription" in runs
    assert "G/theirs/9.9.9" not in runs  # another subscription's action of a run over all of them


def test_the_next_run_follows_the_daily_schedule():
    assert next_run(dt.datetime(2026, 1, 1, 0, 0, tzinfo=dt.UTC)) == dt.datetime(
        2026, 1, 1, 4, 7, tzinfo=dt.UTC
    )
    assert next_run(dt.datetime(2026, 1, 1, 4, 6, 59, tzinfo=dt.UTC)) == dt.datetime(
        2026, 1, 1, 4, 7, tzinfo=dt.UTC
    )
    assert next_run(dt.datetime(2026, 1, 1, 4, 7, tzinfo=dt.UTC)) == dt.datetime(
        2026, 1, 2, 4, 7, tzinfo=dt.UTC
    )


# --- The generic permission tests -----------------------------------------------------------------------


class TestLifecyclePage(EndpointPermissions):
    def path(self, w: World) -> str:
        return url(w.subscription)


class TestLifecycleApply(EndpointPermissions):
    method = "post"
    write = True
    ok = (302,)

    def path(self, w: World) -> str:
        return url(w.subscription) + "apply"
