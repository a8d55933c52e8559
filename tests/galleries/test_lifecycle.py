"""F18 lifecycle automation: end-of-life dates drive a clean-up with a dry run first, and the
TrimOlderToSource policy keeps the latest version in all its regions while older versions are trimmed
to their source region (the seed's "Replication" example).

The services refuse end-of-life dates in the past, so the tests move dates into the past by updating
rows directly, and set the policy the same way: that is test set-up, not behaviour under test."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from conftest import wait_for
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.activity import Caller
from accounts.models import ActivityLogEntry, Resource
from accounts.services import create_resource_group, create_subscription
from galleries import deployments, lifecycle, services
from galleries.deployments import OsProfile
from galleries.models import GalleryImage, GalleryImageVersion, Replica, TargetRegion, UsageCounter
from galleries.models_deploy import Deployment
from galleries.services import TargetRegionSpec as T
from galleries.tasks import run_lifecycle
from portal.core.errors import ServiceError

REGIONS = ["westeurope", "eastus", "northeurope"]
POLICY = GalleryImage.LifecyclePolicy.TRIM_OLDER_TO_SOURCE


@pytest.fixture
def make_version(make_version, request):
    """Versions here are replicated: their regions are Completed, as the engine leaves them (the
    engine is exercised with real workers in tests/integration; here the state rows are the setup).
    With a real worker in the test, the worker does it."""

    def make(*args, **kwargs):
        v = make_version(*args, **kwargs)
        if "celery_processes" not in request.fixturenames:
            TargetRegion.objects.filter(version=v).update(state=TargetRegion.State.COMPLETED)
        return v

    return make


def expire(obj, when=None):
    """Move an end-of-life date into the past (the services only accept future dates)."""
    when = when or timezone.now() - timedelta(days=1)
    assert type(obj).objects.filter(pk=obj.pk).update(end_of_life_date=when) == 1


def set_policy(definition, policy=POLICY):
    assert GalleryImage.objects.filter(pk=definition.pk).update(lifecycle_policy=policy) == 1


def regions_of(version) -> set[str]:
    return set(TargetRegion.objects.filter(version_id=version.pk).values_list("region__name", flat=True))


def state() -> dict:
    """Everything a run could change."""
    return {
        "resources": Resource.objects.count(),
        "definitions": sorted(GalleryImage.objects.values_list("pk", flat=True)),
        "versions": sorted(
            GalleryImageVersion.objects.values_list("pk", "provisioning_state", "modified_at")
        ),
        "targets": sorted(
            TargetRegion.objects.values_list("pk", "region_id", "replica_count", "removing", "revision")
        ),
        "usage": sorted(UsageCounter.objects.values_list("pk", "count")),
        "activity": ActivityLogEntry.objects.count(),
    }


def keys(actions) -> set[tuple[str, str]]:
    return {(a.kind, a.arm_id) for a in actions}


@pytest.fixture
def scenario(caller, definition, make_definition, make_version):
    """A bit of everything:
    - myImage1 (no policy): 1.0.0 past EOL, 1.0.1 with a future EOL, 1.0.2 without one;
    - retired: definition past EOL with versions 2.0.0 and 2.0.1;
    - trimmed: TrimOlderToSource, versions 1.0.2, 1.0.9, 1.0.10 in three regions."""
    out = {"definition": definition}
    out["v100"] = make_version("1.0.0", target_regions=REGIONS)
    out["v101"] = make_version(
        "1.0.1", target_regions=REGIONS, end_of_life_date=timezone.now() + timedelta(days=30)
    )
    out["v102"] = make_version("1.0.2", target_regions=REGIONS)
    expire(out["v100"])
    out["retired"] = make_definition("retired", sku="Retired")
    out["r200"] = make_version("2.0.0", definition_=out["retired"])
    out["r201"] = make_version("2.0.1", definition_=out["retired"], target_regions=["westeurope", "eastus"])
    expire(out["retired"])
    out["trimmed"] = make_definition("trimmed", sku="Trimmed")
    set_policy(out["trimmed"])
    for name in ["1.0.2", "1.0.9", "1.0.10"]:
        out[name] = make_version(name, definition_=out["trimmed"], target_regions=REGIONS)
    return out


# --- Dry run vs real run -------------------------------------------------------------------------------


def test_the_dry_run_changes_nothing(scenario):
    before = state()
    report = lifecycle.run()
    assert report.dry_run and report.actions
    assert report.done == report.deferred == report.errors == []
    assert state() == before
    assert not ActivityLogEntry.objects.filter(operation=lifecycle.OPERATION).exists()


def test_plan_is_in_order_deletes_first(scenario):
    s = scenario
    actions = lifecycle.plan()
    assert [(a.kind, a.arm_id) for a in actions] == [
        *sorted(
            [("delete_version", v.arm_id) for v in (s["v100"], s["r200"], s["r201"])],
            key=lambda k: k[1].lower(),
        ),
        ("delete_definition", s["retired"].arm_id),
        *sorted([("trim_version", s[n].arm_id) for n in ("1.0.2", "1.0.9")], key=lambda k: k[1].lower()),
    ]
    assert lifecycle.plan() == actions  # deterministic


def test_the_dry_run_lists_exactly_what_the_real_run_does(scenario):
    dry = lifecycle.run()
    real = lifecycle.run(dry_run=False)
    assert keys(real.actions) == keys(dry.actions)
    assert keys(real.done) == keys(dry.actions)
    assert real.errors == real.deferred == real.skipped == []
    assert lifecycle.plan() == []  # nothing left to do


def test_reasons_a_person_understands(scenario):
    by_id = {a.arm_id: a for a in lifecycle.plan()}
    eol = scenario["v100"]
    eol.refresh_from_db()
    assert by_id[eol.arm_id].reason == f"end of life {lifecycle._when(eol.end_of_life_date)} has passed"
    assert by_id[scenario["r201"].arm_id].reason.startswith(
        "its image definition 'retired' reached end of life"
    )
    assert "deleted together with its 2 version(s)" in by_id[scenario["retired"].arm_id].reason
    trim = by_id[scenario["1.0.9"].arm_id]
    assert trim.reason == (
        "removes East US (latest there: 1.0.10), North Europe (latest there: 1.0.10); "
        "keeps West Europe (its source region)"
    )
    assert trim.regions == ["eastus", "northeurope"]
    assert trim.name == "1.0.9"


def test_end_of_life_date_formats():
    from datetime import UTC, datetime

    assert lifecycle._when(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01"
    assert lifecycle._when(datetime(2026, 1, 1, 13, 5, tzinfo=UTC)) == "2026-01-01 13:05 UTC"


# --- End of life ---------------------------------------------------------------------------------------


def test_versions_past_end_of_life_are_deleted(caller, make_version):
    old = make_version("1.0.0", target_regions=REGIONS)
    keep = make_version("1.0.1")
    expire(old)
    report = lifecycle.run(dry_run=False)
    assert keys(report.done) == {("delete_version", old.arm_id)}
    assert report.in_progress == []  # no replicas: deleted at once
    assert not GalleryImageVersion.objects.filter(pk=old.pk).exists()
    assert not TargetRegion.objects.filter(version_id=old.pk).exists()
    assert GalleryImageVersion.objects.filter(pk=keep.pk).exists()
    entry = ActivityLogEntry.objects.get(operation=f"{GalleryImageVersion.ARM_TYPE}/delete")
    assert entry.resource_arm_id == old.arm_id and entry.source == "system" and entry.principal is None
    assert entry.status == "Succeeded"


def test_a_definition_past_end_of_life_goes_with_its_versions(definition, make_definition, make_version, rg):
    other = make_definition("other", sku="Other")
    versions = [make_version(n, target_regions=REGIONS) for n in ["1.0.0", "1.0.1", "1.0.10"]]
    kept = make_version("1.0.0", definition_=other)
    expire(definition)
    counter = UsageCounter.objects.get(
        subscription=rg.subscription, region__name="westeurope", kind="versions"
    )
    assert counter.count == 4
    actions = lifecycle.plan()
    assert [a.kind for a in actions] == ["delete_version"] * 3 + ["delete_definition"]
    report = lifecycle.run(dry_run=False)
    assert keys(report.done) == keys(actions)
    assert not GalleryImage.objects.filter(pk=definition.pk).exists()
    assert not GalleryImageVersion.objects.filter(pk__in=[v.pk for v in versions]).exists()
    assert GalleryImage.objects.filter(pk=other.pk).exists()
    assert GalleryImageVersion.objects.filter(pk=kept.pk).exists()
    counter.refresh_from_db()
    assert counter.count == 1


def test_a_future_end_of_life_is_left_alone(caller, definition, make_version):
    future = timezone.now() + timedelta(days=1)
    make_version("1.0.0", end_of_life_date=future)
    services.update_definition(caller, definition, end_of_life_date=future)
    before = state()
    assert lifecycle.plan() == []
    report = lifecycle.run(dry_run=False)
    assert report.actions == report.done == []
    assert {k: v for k, v in state().items() if k != "activity"} == {
        k: v for k, v in before.items() if k != "activity"
    }
    # The run is still logged once, with nothing to do.
    assert ActivityLogEntry.objects.filter(operation=lifecycle.OPERATION).count() == 1


def test_now_decides_what_has_passed(make_version):
    v = make_version("1.0.0", end_of_life_date=timezone.now() + timedelta(days=10))
    assert lifecycle.plan() == []
    assert keys(lifecycle.plan(timezone.now() + timedelta(days=11))) == {("delete_version", v.arm_id)}


def test_versions_already_being_deleted_are_left_to_the_workers(make_version):
    v = make_version("1.0.0")
    expire(v)
    GalleryImageVersion.objects.filter(pk=v.pk).update(provisioning_state="Deleting")
    assert lifecycle.plan() == []


def test_a_definition_whose_versions_are_still_being_deleted_is_deferred(definition, make_version):
    """Versions with replicas go to Deleting and disappear later (the workers remove the replicas);
    the definition cannot be deleted before, so the run defers it (not an error) to the next run."""
    v = make_version("1.0.0")
    expire(definition)
    GalleryImageVersion.objects.filter(pk=v.pk).update(provisioning_state="Deleting")
    report = lifecycle.run(dry_run=False)
    assert keys(report.actions) == {("delete_definition", definition.arm_id)}
    assert report.done == report.errors == []
    [(action, why)] = report.deferred
    assert action.arm_id == definition.arm_id and "still being deleted" in why
    assert GalleryImage.objects.filter(pk=definition.pk).exists()
    # No refused attempt is logged for it; the summary says it was deferred.
    assert not ActivityLogEntry.objects.filter(status="Failed").exists()
    summary = ActivityLogEntry.objects.get(operation=lifecycle.OPERATION)
    assert summary.status == "Succeeded" and "1 deferred" in summary.message

    # The workers finish; the next run deletes the definition.
    services.finish_version_deletion(GalleryImageVersion.objects.get(pk=v.pk))
    again = lifecycle.run(dry_run=False)
    assert keys(again.done) == {("delete_definition", definition.arm_id)}
    assert not GalleryImage.objects.filter(pk=definition.pk).exists()


def test_one_refusal_does_not_stop_the_others(monkeypatch, scenario):
    """A version starts being deleted between the plan and its trim: the service refuses the trim;
    everything else is still carried out, and the refusal is reported and logged."""
    racing = scenario["1.0.2"]
    real_plan = lifecycle.plan

    def plan_then_race(*args, **kwargs):
        actions = real_plan(*args, **kwargs)
        GalleryImageVersion.objects.filter(pk=racing.pk).update(provisioning_state="Deleting")
        return actions

    monkeypatch.setattr(lifecycle, "plan", plan_then_race)
    report = lifecycle.run(dry_run=False)
    [(action, message)] = report.errors
    assert action.key == ("trim_version", racing.arm_id)
    assert "being deleted" in message
    assert keys(report.done) == keys(report.actions) - {action.key}
    assert regions_of(scenario["1.0.9"]) == {"westeurope"}
    assert not GalleryImage.objects.filter(pk=scenario["retired"].pk).exists()
    refused = ActivityLogEntry.objects.get(
        status="Failed", operation=f"{GalleryImageVersion.ARM_TYPE}/write", resource_arm_id=racing.arm_id
    )
    assert refused.source == "system"
    summary = ActivityLogEntry.objects.get(operation=lifecycle.OPERATION)
    assert summary.status == "Failed" and "1 refused" in summary.message


# --- TrimOlderToSource ---------------------------------------------------------------------------------


def test_trim_keeps_the_latest_everywhere_and_trims_older_to_their_source(definition, make_version):
    set_policy(definition)
    v2 = make_version("1.0.2", target_regions=REGIONS)
    v9 = make_version(
        "1.0.9", target_regions=[T("westeurope", 2, "Premium_LRS"), T("eastus", 1), T("northeurope", 3)]
    )
    v10 = make_version("1.0.10", target_regions=REGIONS)  # numerically the latest, not by string order
    only_source = make_version("1.0.1")  # already in its source region only
    dry = lifecycle.run()
    assert keys(dry.actions) == {("trim_version", v2.arm_id), ("trim_version", v9.arm_id)}
    report = lifecycle.run(dry_run=False)
    assert keys(report.done) == keys(dry.actions) and report.errors == []
    assert regions_of(v10) == set(REGIONS)
    assert regions_of(v2) == regions_of(v9) == regions_of(only_source) == {"westeurope"}
    source = TargetRegion.objects.get(version=v9)
    assert (source.replica_count, source.storage_account_type) == (2, "Premium_LRS")  # kept as it was
    entries = ActivityLogEntry.objects.filter(
        operation=f"{GalleryImageVersion.ARM_TYPE}/write", source="system"
    )
    assert {e.resource_arm_id for e in entries} == {v2.arm_id, v9.arm_id}
    assert lifecycle.plan() == []  # trimmed once, done


def test_regions_the_latest_is_still_replicating_to_are_kept_until_it_completes(definition, make_version):
    set_policy(definition)
    old = make_version("1.0.0", target_regions=REGIONS)
    latest = make_version("1.1.0", target_regions=REGIONS)
    TargetRegion.objects.filter(version=latest, region__name="eastus").update(
        state=TargetRegion.State.REPLICATING
    )
    actions = lifecycle.plan()
    assert [a.regions for a in actions] == [["northeurope"]]  # eastus is kept: the latest is not there yet
    lifecycle.run(dry_run=False)
    assert regions_of(old) == {"westeurope", "eastus"}
    TargetRegion.objects.filter(version=latest).update(state=TargetRegion.State.COMPLETED)
    assert [a.regions for a in lifecycle.plan()] == [["eastus"]]
    lifecycle.run(dry_run=False)
    assert regions_of(old) == {"westeurope"}


def test_each_region_keeps_the_version_that_is_latest_there(definition, make_version):
    """Issue 11: 1.0.1 is the latest in East US, 1.0.9 in North Europe, and 1.0.10 is only in West
    Europe. One global latest trimmed East US and North Europe of their latest; per region, only what
    a newer version that is latest there replaces goes."""
    set_policy(definition)
    v1 = make_version("1.0.1", target_regions=REGIONS)
    v9 = make_version("1.0.9", target_regions=["westeurope", "northeurope"])
    v10 = make_version("1.0.10", target_regions=["westeurope"])
    assert services.latest_by_region(definition) == {"westeurope": v10, "eastus": v1, "northeurope": v9}
    [trim] = lifecycle.plan()
    assert trim.key == ("trim_version", v1.arm_id) and trim.regions == ["northeurope"]
    assert trim.reason == (
        "removes North Europe (latest there: 1.0.9); keeps West Europe (its source region), "
        "East US (latest there)"
    )
    lifecycle.run(dry_run=False)
    assert regions_of(v1) == {"westeurope", "eastus"}
    assert regions_of(v9) == {"westeurope", "northeurope"}
    assert regions_of(v10) == {"westeurope"}
    assert services.latest_by_region(definition) == {"westeurope": v10, "eastus": v1, "northeurope": v9}
    assert lifecycle.plan() == []


def test_a_region_where_the_newest_is_excluded_from_latest_keeps_its_latest(definition, make_version):
    set_policy(definition)
    v9 = make_version("1.0.9", target_regions=REGIONS)
    make_version(
        "1.0.10", target_regions=[T("westeurope"), T("eastus"), T("northeurope", exclude_from_latest=True)]
    )
    [trim] = lifecycle.plan()
    assert trim.key == ("trim_version", v9.arm_id) and trim.regions == ["eastus"]
    assert trim.reason == (
        "removes East US (latest there: 1.0.10); keeps West Europe (its source region), "
        "North Europe (latest there)"
    )
    lifecycle.run(dry_run=False)
    assert regions_of(v9) == {"westeurope", "northeurope"}


def test_older_versions_are_trimmed_where_a_newer_one_is_latest_while_the_newest_replicates(
    definition, make_version
):
    """The newest is still replicating to East US: there the latest is 1.0.5, which keeps East US;
    1.0.0 is older than the latest in both other regions and goes from both."""
    set_policy(definition)
    v0 = make_version("1.0.0", target_regions=REGIONS)
    v5 = make_version("1.0.5", target_regions=REGIONS)
    newest = make_version("1.1.0", target_regions=REGIONS)
    TargetRegion.objects.filter(version=newest, region__name="eastus").update(
        state=TargetRegion.State.REPLICATING
    )
    by_id = {a.arm_id: a for a in lifecycle.plan()}
    assert set(by_id) == {v0.arm_id, v5.arm_id}
    assert by_id[v0.arm_id].regions == ["eastus", "northeurope"]
    assert by_id[v0.arm_id].reason.startswith(
        "removes East US (latest there: 1.0.5), North Europe (latest there: 1.1.0); "
    )
    assert by_id[v5.arm_id].regions == ["northeurope"]
    assert by_id[v5.arm_id].reason == (
        "removes North Europe (latest there: 1.1.0); keeps West Europe (its source region), "
        "East US (latest there)"
    )
    lifecycle.run(dry_run=False)
    assert regions_of(v0) == {"westeurope"} and regions_of(v5) == {"westeurope", "eastus"}
    assert regions_of(newest) == set(REGIONS)


def test_a_region_whose_newest_replication_failed_keeps_its_last_usable_version(definition, make_version):
    set_policy(definition)
    old = make_version("1.0.0", target_regions=REGIONS)
    newest = make_version("1.1.0", target_regions=REGIONS)
    TargetRegion.objects.filter(version=newest, region__name="northeurope").update(
        state=TargetRegion.State.FAILED
    )
    [trim] = lifecycle.plan()
    assert trim.regions == ["eastus"]
    assert "North Europe (latest there)" in trim.reason
    lifecycle.run(dry_run=False)
    assert regions_of(old) == {"westeurope", "northeurope"}


def test_definitions_without_the_policy_are_left_alone(definition, make_version):
    for name in ["1.0.0", "1.0.1"]:
        make_version(name, target_regions=REGIONS)
    assert lifecycle.plan() == []
    set_policy(definition, GalleryImage.LifecyclePolicy.NONE)
    assert lifecycle.plan() == []


def test_a_newer_version_excluded_from_latest_is_not_trimmed(definition, make_version):
    set_policy(definition)
    old = make_version("1.0.0", target_regions=REGIONS)
    latest = make_version("1.1.0", target_regions=REGIONS)
    preview = make_version("2.0.0", target_regions=REGIONS, exclude_from_latest=True)
    actions = lifecycle.plan()
    assert keys(actions) == {("trim_version", old.arm_id)}
    assert "latest there: 1.1.0" in actions[0].reason
    lifecycle.run(dry_run=False)
    assert regions_of(latest) == regions_of(preview) == set(REGIONS)
    assert regions_of(old) == {"westeurope"}


def test_a_latest_past_end_of_life_is_deleted_and_the_next_one_keeps_its_regions(definition, make_version):
    set_policy(definition)
    older = make_version("1.0.0", target_regions=REGIONS)
    nxt = make_version("1.1.0", target_regions=REGIONS)
    retired = make_version("1.2.0", target_regions=REGIONS)
    expire(retired)
    actions = lifecycle.plan()
    assert [a.key for a in actions] == [("delete_version", retired.arm_id), ("trim_version", older.arm_id)]
    lifecycle.run(dry_run=False)
    assert regions_of(nxt) == set(REGIONS)
    assert regions_of(older) == {"westeurope"}


def test_regions_already_being_removed_do_not_count(definition, make_version):
    set_policy(definition)
    old = make_version("1.0.0", target_regions=["westeurope", "eastus"])
    make_version("1.0.1", target_regions=REGIONS)
    TargetRegion.objects.filter(version=old, region__name="eastus").update(removing=True)
    assert lifecycle.plan() == []


def test_a_version_being_deleted_is_not_trimmed(definition, make_version):
    set_policy(definition)
    old = make_version("1.0.0", target_regions=REGIONS)
    make_version("1.0.1", target_regions=REGIONS)
    GalleryImageVersion.objects.filter(pk=old.pk).update(provisioning_state="Deleting")
    assert lifecycle.plan() == []


# --- Deployments ---------------------------------------------------------------------------------------

LINUX = OsProfile("web01", "azureuser", "Str0ng-Passw0rd!")


@pytest.fixture
def deploy(caller, rg):
    """A VM from ``version`` in ``location`` (queued, never provisioned here: the row is what counts)."""

    def make(version, name, location="westeurope", resource_group=None):
        return deployments.create_deployment(
            caller, version, resource_group or rg, name, location=location, os_profile=LINUX
        )

    return make


def test_a_version_deployments_came_from_is_kept_past_its_end_of_life(make_version, deploy):
    v = make_version("1.0.0", target_regions=REGIONS)
    gone = make_version("1.0.1")
    deploy(v, "web2", location="eastus")
    deploy(v, "web1")
    expire(v)
    expire(gone)
    actions = lifecycle.plan()
    assert [a.key for a in actions] == [("delete_version", gone.arm_id), ("keep", v.arm_id)]
    keep = actions[1]
    assert keep.reason.startswith("kept: 2 deployment(s) came from it: web1, web2; ")
    assert "not deleted although its end of life" in keep.reason and keep.regions == []
    last = ActivityLogEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    report = lifecycle.run(dry_run=False)
    assert keys(report.done) == {("delete_version", gone.arm_id)}  # a kept version is never acted on
    assert keys(report.kept) == {("keep", v.arm_id)}
    assert report.errors == report.skipped == report.deferred == []
    assert (
        regions_of(v) == set(REGIONS)
        and GalleryImageVersion.objects.get(pk=v.pk).provisioning_state != "Deleting"
    )
    assert not ActivityLogEntry.objects.filter(resource_arm_id=v.arm_id, pk__gt=last).exists()
    assert "1 kept for deployments" in report.message
    assert [a.key for a in lifecycle.plan()] == [("keep", v.arm_id)]  # shown again by every run


def test_failed_deployments_do_not_keep_a_version(make_version, deploy):
    v = make_version("1.0.0")
    d = deploy(v, "web1")
    Deployment.objects.filter(pk=d.pk).update(state=Deployment.State.FAILED)
    expire(v)
    assert keys(lifecycle.plan()) == {("delete_version", v.arm_id)}


def test_a_trim_keeps_the_regions_deployments_run_in(definition, make_version, deploy):
    set_policy(definition)
    old = make_version("1.0.0", target_regions=REGIONS)
    make_version("1.1.0", target_regions=REGIONS)
    deploy(old, "web1", location="eastus")
    deploy(old, "web2")  # in the source region: kept anyway, not a reason to keep
    actions = lifecycle.plan()
    assert [(a.kind, a.arm_id, a.regions) for a in actions] == [
        ("trim_version", old.arm_id, ["northeurope"]),
        ("keep", old.arm_id, ["eastus"]),
    ]
    assert actions[0].reason.startswith("removes North Europe (latest there: 1.1.0); ")
    assert actions[1].reason == (
        "kept: 1 deployment(s) came from it: web1; not trimmed of East US (latest there: 1.1.0), "
        "where they run"
    )
    report = lifecycle.run(dry_run=False)
    assert keys(report.done) == {("trim_version", old.arm_id)}
    assert regions_of(old) == {"westeurope", "eastus"}


def test_the_definitions_policy_can_let_deployed_versions_go(caller, definition, make_version, deploy):
    assert definition.lifecycle_keep_deployed is True  # the default
    services.update_definition(caller, definition, lifecycle_policy=POLICY, lifecycle_keep_deployed=False)
    old = make_version("1.0.0", target_regions=REGIONS)
    retired = make_version("1.0.5")
    make_version("1.1.0", target_regions=REGIONS)
    deploy(old, "web1", location="eastus")
    deploy(retired, "web2")
    expire(retired)
    actions = lifecycle.plan()
    assert [a.kind for a in actions] == ["delete_version", "trim_version"]
    for a in actions:
        assert a.reason.endswith(
            "; 1 deployment(s) came from it (the image definition's policy does not keep deployed versions)"
        ), a.reason
    assert actions[1].regions == ["eastus", "northeurope"]
    lifecycle.run(dry_run=False)
    assert regions_of(old) == {"westeurope"}
    assert not GalleryImageVersion.objects.filter(pk=retired.pk).exists()
    assert Deployment.objects.count() == 2  # the deployments themselves stay


def test_a_definition_past_end_of_life_stays_while_a_deployed_version_is_kept(
    definition, make_version, deploy
):
    v0 = make_version("1.0.0")
    v1 = make_version("1.0.1")
    deploy(v1, "web1")
    expire(definition)
    actions = lifecycle.plan()
    assert [a.key for a in actions] == [
        ("delete_version", v0.arm_id),
        ("keep", definition.arm_id),
        ("keep", v1.arm_id),
    ]
    assert actions[1].reason.startswith("kept: deployments came from its version(s) 1.0.1, which are kept; ")
    assert actions[2].reason.startswith("kept: 1 deployment(s) came from it: web1; not deleted although")
    report = lifecycle.run(dry_run=False)
    assert keys(report.done) == {("delete_version", v0.arm_id)}
    assert GalleryImage.objects.filter(pk=definition.pk).exists()
    assert GalleryImageVersion.objects.filter(pk=v1.pk).exists()


def test_deployments_in_other_subscriptions_are_counted_not_named(caller, tenant, make_version, deploy):
    v = make_version("1.0.0", target_regions=REGIONS)
    other = create_subscription(Caller.system(), tenant, "Other", owner=caller.principal)
    theirs = create_resource_group(caller, other, "apps", "eastus")
    deploy(v, "secret-vm", location="eastus", resource_group=theirs)
    deploy(v, "web1")
    expire(v)
    [keep] = lifecycle.plan()
    assert keep.reason.startswith("kept: 2 deployment(s) came from it: web1 and 1 in another subscription; ")
    assert "secret" not in keep.reason


def test_a_version_kept_past_end_of_life_is_still_trimmed_where_no_deployment_runs(
    definition, make_version, deploy
):
    set_policy(definition)
    old = make_version("1.0.0", target_regions=REGIONS)
    make_version("1.1.0", target_regions=REGIONS)
    deploy(old, "web1", location="eastus")
    expire(old)
    actions = lifecycle.plan()
    assert [(a.kind, a.regions) for a in actions] == [("trim_version", ["northeurope"]), ("keep", ["eastus"])]
    assert actions[1].reason.startswith(
        "kept: 1 deployment(s) came from it: web1; not deleted although its end of life "
    )
    assert actions[1].reason.endswith("; not trimmed of East US (latest there: 1.1.0), where they run")
    lifecycle.run(dry_run=False)
    assert regions_of(old) == {"westeurope", "eastus"}


def test_the_command_lists_what_is_kept(make_version, deploy):
    v = make_version("1.0.0")
    deploy(v, "web1")
    expire(v)
    out = StringIO()
    call_command("lifecycle", stdout=out)
    [line] = [line for line in out.getvalue().splitlines() if v.arm_id in line]
    assert line.startswith("keep ") and "kept: 1 deployment(s) came from it: web1" in line
    out = StringIO()
    call_command("lifecycle", "--apply", stdout=out)
    assert "Done (0):" in out.getvalue() and "Kept for deployments, not changed (1):" in out.getvalue()
    assert GalleryImageVersion.objects.filter(pk=v.pk).exists()


def test_keeping_deployed_versions_is_a_setting_of_the_definition(caller, definition):
    assert definition.lifecycle_keep_deployed is True
    services.update_definition(caller, definition, lifecycle_keep_deployed=False)
    definition.refresh_from_db()
    assert definition.lifecycle_keep_deployed is False
    with pytest.raises(ServiceError) as info:
        services.update_definition(caller, definition, lifecycle_keep_deployed="sometimes")
    assert info.value.target == "properties.lifecycleKeepDeployed"


# --- Scope, caller, activity log -----------------------------------------------------------------------


def test_the_run_records_one_summary_entry(scenario, subscription):
    report = lifecycle.run(dry_run=False)
    [entry] = ActivityLogEntry.objects.filter(operation=lifecycle.OPERATION)
    assert entry.status == "Succeeded"
    assert entry.source == "system" and entry.principal is None and entry.principal_name == "system"
    assert entry.message == report.message
    assert entry.message.startswith("Lifecycle run: 6 action(s) planned (3 version deletion(s), 1 definition")
    assert "6 done" in entry.message and "0 refused" in entry.message
    assert entry.details["planned"] == 6 and entry.details["done"][0] == list(report.done[0].key)
    assert entry.subscription_id is None  # a run over every subscription

    lifecycle.run(dry_run=False, subscription=subscription)
    scoped = ActivityLogEntry.objects.filter(operation=lifecycle.OPERATION).first()
    assert scoped.subscription_id == subscription.guid
    assert (
        scoped.resource_arm_id == f"/subscriptions/{subscription.guid}/providers/Microsoft.Compute/lifecycle"
    )


def test_a_given_caller_is_recorded(caller, make_version, user):
    expire(make_version("1.0.0"))
    lifecycle.run(dry_run=False, caller=caller)
    entries = ActivityLogEntry.objects.filter(
        operation__in=[lifecycle.OPERATION, f"{GalleryImageVersion.ARM_TYPE}/delete"]
    )
    assert entries.count() == 2 and {e.principal_id for e in entries} == {user.pk}


def test_a_subscription_limits_the_run(caller, tenant, make_version, subscription):
    v = make_version("1.0.0")
    expire(v)
    other = create_subscription(Caller.system(), tenant, "Other", owner=caller.principal)
    assert lifecycle.plan(subscription=other) == []
    assert lifecycle.plan(subscription=str(other.guid)) == []
    assert keys(lifecycle.plan(subscription=str(subscription.guid))) == {("delete_version", v.arm_id)}
    assert lifecycle.run(dry_run=False, subscription=other).done == []
    assert GalleryImageVersion.objects.filter(pk=v.pk).exists()


# --- The run's record: the plan is saved before acting -------------------------------------------------


def outcomes(row) -> list[str]:
    return [a["outcome"] for a in row.actions]


def test_a_real_run_saves_its_plan_before_acting_and_the_outcomes_on_the_same_row(
    monkeypatch, scenario, user
):
    from galleries.models import LifecycleRun

    seen = []
    real = lifecycle._carry_out

    def spy(caller, action):
        row = LifecycleRun.objects.get()
        seen.append(outcomes(row))
        return real(caller, action)

    monkeypatch.setattr(lifecycle, "_carry_out", spy)
    report = lifecycle.run(dry_run=False)
    row = LifecycleRun.objects.get()
    assert report.record.pk == row.pk
    # The whole plan was on the row before the first action, each action marked as it started.
    assert seen[0] == ["started"] + ["planned"] * 5
    assert seen[3] == ["done"] * 3 + ["started", "planned", "planned"]
    assert [(a["kind"], a["arm_id"]) for a in row.actions] == [a.key for a in report.actions]
    assert [a["reason"] for a in row.actions] == [a.reason for a in report.actions]
    assert row.actions[-1]["regions"] == report.actions[-1].regions
    assert outcomes(row) == ["done"] * 6
    assert row.status == LifecycleRun.Status.SUCCEEDED and row.finished_at is not None and row.error == ""
    assert row.planned_for == report.now and row.subscription is None
    assert row.principal is None and row.principal_name == "system"
    assert row.trigger == LifecycleRun.Trigger.COMMAND
    assert row.counts == report.counts()


def test_a_crash_mid_run_leaves_what_was_planned_and_what_was_done(monkeypatch, scenario):
    from galleries.models import LifecycleRun

    real = lifecycle._carry_out
    calls = []

    def crash_on_the_third(caller, action):
        calls.append(action)
        if len(calls) == 3:
            raise RuntimeError("the worker was killed")
        return real(caller, action)

    monkeypatch.setattr(lifecycle, "_carry_out", crash_on_the_third)
    with pytest.raises(RuntimeError):
        lifecycle.run(dry_run=False)
    row = LifecycleRun.objects.get()
    assert outcomes(row) == ["done", "done", "started", "planned", "planned", "planned"]
    assert row.status == LifecycleRun.Status.FAILED and "the worker was killed" in row.error
    assert row.finished_at is not None


def test_refusals_and_kept_versions_are_on_the_record(
    monkeypatch, scenario, make_version, deploy, subscription, user
):
    from galleries.models import LifecycleRun

    kept = make_version("1.0.3")
    deploy(kept, "web1")
    expire(kept)
    racing = scenario["1.0.2"]
    real_plan = lifecycle.plan

    def plan_then_race(*args, **kwargs):
        actions = real_plan(*args, **kwargs)
        GalleryImageVersion.objects.filter(pk=racing.pk).update(provisioning_state="Deleting")
        return actions

    monkeypatch.setattr(lifecycle, "plan", plan_then_race)
    caller = Caller(principal=user, source="portal")
    lifecycle.run(
        dry_run=False, caller=caller, subscription=subscription, trigger=LifecycleRun.Trigger.PORTAL
    )
    row = LifecycleRun.objects.get()
    by_id = {(a["kind"], a["arm_id"]): a for a in row.actions}
    assert by_id[("trim_version", racing.arm_id)]["outcome"] == "refused"
    assert "being deleted" in by_id[("trim_version", racing.arm_id)]["detail"]
    assert by_id[("keep", kept.arm_id)]["outcome"] == "kept"
    assert row.status == LifecycleRun.Status.FAILED and row.counts["errors"] == 1 and row.counts["kept"] == 1
    assert row.subscription == subscription and row.trigger == "portal"
    assert row.principal == user and row.principal_name == user.username


def test_a_dry_run_records_nothing(scenario):
    from galleries.models import LifecycleRun

    lifecycle.run()
    call_command("lifecycle", stdout=StringIO())
    assert not LifecycleRun.objects.exists()


def test_the_task_and_the_command_record_their_runs(scenario, subscription):
    from galleries.models import LifecycleRun

    call_command("lifecycle", "--apply", "--subscription", str(subscription.guid), stdout=StringIO())
    run_lifecycle()
    first, second = LifecycleRun.objects.order_by("created_at", "pk")
    assert (first.trigger, first.subscription, first.status) == ("command", subscription, "Succeeded")
    assert outcomes(first) == ["done"] * 6
    assert (second.trigger, second.subscription, second.actions) == ("schedule", None, [])


def test_the_runs_are_in_the_admin(client, scenario):
    from accounts.models import User
    from galleries.models import LifecycleRun

    lifecycle.run(dry_run=False)
    row = LifecycleRun.objects.get()
    client.force_login(User.objects.create_superuser("op", "", "Operator-Test-1"))
    page = client.get("/admin/galleries/lifecyclerun/")
    assert page.status_code == 200 and "Succeeded" in page.content.decode()
    page = client.get(f"/admin/galleries/lifecyclerun/{row.pk}/change/")
    assert page.status_code == 200 and scenario["retired"].arm_id in page.content.decode()


# --- Management command and task -----------------------------------------------------------------------


def test_the_command_dry_run_prints_the_plan(scenario):
    before = state()
    out = StringIO()
    call_command("lifecycle", stdout=out)
    text = out.getvalue()
    assert "KIND" in text and "RESOURCE ID" in text and "REASON" in text
    for action in lifecycle.plan():
        line = next(line for line in text.splitlines() if action.arm_id + " " in line + " ")
        assert action.reason in line
    assert "delete version" in text and "delete definition" in text and "trim version" in text
    assert "Dry run: nothing was changed" in text and "--apply" in text
    assert state() == before


def test_the_command_applies_and_reports(scenario, subscription):
    out = StringIO()
    call_command("lifecycle", "--apply", "--subscription", str(subscription.guid), stdout=out)
    text = out.getvalue()
    assert "Dry run" not in text
    assert "Done (6):" in text and "Deferred to the next run (0):" in text and "Refused (0):" in text
    assert f"delete definition {scenario['retired'].arm_id}" in text
    assert not GalleryImage.objects.filter(pk=scenario["retired"].pk).exists()
    out = StringIO()
    call_command("lifecycle", stdout=out)
    assert "Nothing to do" in out.getvalue()


def test_the_command_reports_deferred_definitions(definition, make_version):
    v = make_version("1.0.0")
    expire(definition)
    GalleryImageVersion.objects.filter(pk=v.pk).update(provisioning_state="Deleting")
    out = StringIO()
    call_command("lifecycle", "--apply", stdout=out)
    text = out.getvalue()
    assert "Deferred to the next run (1):" in text
    assert f"delete definition {definition.arm_id}: 1 version(s) are still being deleted" in text


def test_the_command_refuses_an_unknown_subscription(db):
    with pytest.raises(CommandError, match="not a subscription id"):
        call_command("lifecycle", "--subscription", "nope", stdout=StringIO())
    with pytest.raises(CommandError, match="was not found"):
        call_command("lifecycle", "--subscription", "00000000-0000-0000-0000-000000000000", stdout=StringIO())


def test_the_task_runs_a_real_run_and_returns_the_summary(scenario):
    summary = run_lifecycle()
    assert summary == {
        "dry_run": False,
        "planned": 6,
        "planned_delete_version": 3,
        "planned_delete_definition": 1,
        "planned_trim_version": 2,
        "kept": 0,
        "done": 6,
        "in_progress": 0,
        "deferred": 0,
        "skipped": 0,
        "errors": 0,
    }
    assert lifecycle.plan() == []
    assert ActivityLogEntry.objects.filter(operation=lifecycle.OPERATION, source="system").count() == 1


def test_the_task_is_scheduled_daily():
    schedule = settings.CELERY_BEAT_SCHEDULE["lifecycle"]
    assert schedule["task"] == run_lifecycle.name == "galleries.tasks.run_lifecycle"


# --- With a real worker --------------------------------------------------------------------------------


def files_on_disk(version_id: int) -> set[tuple[str, str]]:
    root = Path(settings.REGION_STORAGE_ROOT)
    return {
        (p.relative_to(root).parts[1], p.name)
        for p in root.glob(f"*/*/*/versions/{version_id}/**/*")
        if p.is_file()
    }


def settled(version) -> bool:
    rows = list(TargetRegion.objects.filter(version=version))
    return bool(rows) and all(not t.in_flight and not t.lease_owner for t in rows)


def test_with_a_worker_replicas_go_first_and_the_definition_follows_next_run(
    celery_processes, definition, make_version
):
    worker = celery_processes.worker(regions=["westeurope", "eastus"])
    version = make_version("1.0.0", target_regions=[T("westeurope", 1), T("eastus", 1)])
    wait_for(lambda: settled(version), 120, "replication to both regions")
    assert files_on_disk(version.pk) == {("westeurope", "os.vhd"), ("eastus", "os.vhd")}
    expire(version)
    expire(definition)
    # No worker while the run happens, so what the run leaves behind is observed exactly.
    worker.stop()

    dry = lifecycle.run()
    report = lifecycle.run(dry_run=False)
    assert (
        keys(report.actions)
        == keys(dry.actions)
        == {
            ("delete_version", version.arm_id),
            ("delete_definition", definition.arm_id),
        }
    )
    assert keys(report.done) == keys(report.in_progress) == {("delete_version", version.arm_id)}
    assert [a.key for a, _ in report.deferred] == [("delete_definition", definition.arm_id)]
    assert report.errors == []
    version.refresh_from_db()
    assert version.provisioning_state == "Deleting"
    assert len(files_on_disk(version.pk)) == 2  # the workers remove them, not the run
    assert GalleryImage.objects.filter(pk=definition.pk).exists()

    celery_processes.worker(regions=["westeurope", "eastus"])
    wait_for(
        lambda: not GalleryImageVersion.objects.filter(pk=version.pk).exists(), 60, "the version's deletion"
    )
    assert files_on_disk(version.pk) == set()
    assert not Replica.objects.exists() and not TargetRegion.objects.exists()

    again = lifecycle.run(dry_run=False, caller=Caller.system())
    assert keys(again.actions) == keys(again.done) == {("delete_definition", definition.arm_id)}
    assert again.deferred == again.errors == []
    assert not GalleryImage.objects.filter(pk=definition.pk).exists()
    assert ActivityLogEntry.objects.filter(operation=lifecycle.OPERATION).count() == 2
