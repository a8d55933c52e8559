"""Deployments (F10) at the service level: every rule with a test that breaks it, "latest" resolution,
replica load (waiting, flagged, admitted when load drops), the seed's cross-tenant deployment, and
capture into a managed image or a snapshot. Creation is provisioned by calling ``provision`` (what the
region's task runs) directly, so every test is deterministic."""

from __future__ import annotations

import pytest
from conftest import refused

from accounts import directory, sharing
from accounts.activity import Caller
from accounts.models import ActivityLogEntry
from accounts.services import create_resource_group, create_subscription, create_tenant, create_user
from accounts.sharing import grant_as_system
from galleries import deployments, replication, services
from galleries.deployments import OsProfile
from galleries.models import Blob, ManagedImage, Snapshot, StoredDisk, TargetRegion
from galleries.models_deploy import Deployment
from galleries.services import TargetRegionSpec as T
from galleries.storage import RegionStore
from portal.core.errors import ServiceError

INVALID = ServiceError.INVALID_PARAMETER
LINUX = OsProfile("web01", "azureuser", "Str0ng-Passw0rd!")
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl deployer@example"


def complete(version, *regions):
    """Mark regions Completed (no replica files: enough for every rule but provisioning a VM)."""
    q = TargetRegion.objects.filter(version=version)
    if regions:
        q = q.filter(region__name__in=regions)
    q.update(state=TargetRegion.State.COMPLETED)


def replicate(version):
    """Really replicate every region (real replica files), synchronously."""
    for t in TargetRegion.objects.filter(version=version):
        assert replication.run(t.pk, owner="test") == "completed"


@pytest.fixture
def deploy(caller, rg):
    counter = {"n": 0}

    def make(source, name=None, *, resource_group=None, as_caller=None, **kw):
        counter["n"] += 1
        kw.setdefault("os_profile", LINUX)
        return deployments.create_deployment(
            as_caller or caller, source, resource_group or rg, name or f"vm{counter['n']}", **kw
        )

    return make


@pytest.fixture
def version(make_version):
    v = make_version("1.0.0", target_regions=[T("westeurope"), T("eastus")])
    complete(v, "westeurope")
    return v


# --- Source and region ------------------------------------------------------------------------------


def test_a_vm_from_a_completed_region_is_created_from_its_replica(deploy, make_version, rg):
    v = make_version("1.0.0")
    replicate(v)
    d = deploy(v)
    assert d.state == Deployment.State.CREATING and d.replica_indexes == [0]
    assert d.type == "Microsoft.Compute/virtualMachines" and d.resource_group_id == rg.pk
    assert d.source_version == v and d.source_version_name == "1.0.0" and not d.from_latest
    assert d.warnings == [] and d.computer_name == "web01" and d.auth == "password"
    assert deployments.provision(d.pk) == "running"
    d.refresh_from_db()
    assert d.state == Deployment.State.RUNNING and d.os_disk.sha256 == v.disks.get(lun=None).sha256
    assert "Running" in ActivityLogEntry.objects.filter(resource_id=d.pk).first().message
    assert deployments.provision(d.pk) == "nothing to do"  # idempotent


def test_a_region_still_replicating_is_refused_naming_its_state(deploy, version):
    TargetRegion.objects.filter(version=version, region__name="eastus").update(
        state=TargetRegion.State.REPLICATING, bytes_done=30, bytes_total=100
    )
    refused(
        lambda: deploy(version, location="eastus"),
        INVALID,
        "location",
        "East US",
        "Replicating (30%)",
        "West Europe",
    )


def test_a_failed_region_is_refused_with_its_error(deploy, version):
    TargetRegion.objects.filter(version=version, region__name="eastus").update(
        state=TargetRegion.State.FAILED, last_error="disk full"
    )
    refused(lambda: deploy(version, location="eastus"), INVALID, "location", "Failed (disk full)")


def test_a_region_the_version_is_not_in_is_refused(deploy, version):
    refused(
        lambda: deploy(version, location="northeurope"), INVALID, "location", "not replicated to North Europe"
    )


def test_the_refusal_is_in_the_activity_log(deploy, version):
    with pytest.raises(ServiceError):
        deploy(version, location="eastus", name="refused-vm")
    entry = ActivityLogEntry.objects.filter(resource_arm_id__endswith="/virtualMachines/refused-vm").get()
    assert entry.status == "Failed" and "East US" in entry.message


# --- Latest -----------------------------------------------------------------------------------------


def test_latest_resolves_to_the_highest_completed_version_in_the_region(deploy, definition, make_version):
    for n in ["1.0.2", "1.0.10", "1.0.9"]:
        complete(make_version(n, target_regions=["westeurope", "eastus"]), "westeurope")
    newest_elsewhere = make_version("2.0.0", target_regions=["westeurope", "eastus"])
    complete(newest_elsewhere, "eastus")
    d = deploy(definition)
    assert d.from_latest and d.source_version_name == "1.0.10" and d.source_definition == definition
    assert deploy(definition, location="eastus").source_version_name == "2.0.0"


def test_latest_never_picks_a_version_excluded_from_latest(caller, deploy, definition, make_version):
    complete(make_version("1.0.0"))
    complete(make_version("1.1.0", exclude_from_latest=True))
    complete(make_version("1.0.5", target_regions=[T("westeurope", exclude_from_latest=True)]))
    assert deploy(definition).source_version_name == "1.0.0"


def test_latest_without_a_completed_version_is_refused(deploy, definition, make_version):
    make_version("1.0.0")  # still replicating
    refused(
        lambda: deploy(definition), INVALID, "location", "no version", "West Europe", "excluded from latest"
    )


def test_a_version_being_deleted_is_refused(deploy, version):
    type(version).objects.filter(pk=version.pk).update(provisioning_state="Deleting")
    version.refresh_from_db()
    refused(lambda: deploy(version), ServiceError.CONFLICT, deployments.P_SOURCE, "being deleted")


# --- Size, disks ----------------------------------------------------------------------------------


def test_an_unknown_size_is_refused(deploy, version):
    refused(lambda: deploy(version, size="Standard_Huge"), INVALID, deployments.P_SIZE, "Standard_D2s_v5")


def test_a_size_outside_the_recommendations_warns_but_deploys(caller, deploy, definition, version):
    services.update_definition(
        caller, definition, min_vcpus=2, max_vcpus=8, min_memory_gb=4, max_memory_gb=32
    )
    assert deploy(version, size="Standard_D4s_v5").warnings == []
    d = deploy(version, size="Standard_B1s")
    assert d.state == Deployment.State.CREATING
    assert (
        "1 vCPUs (recommended 2–8)" in d.warnings[0]
        and "1 GiB of memory (recommended 4–32 GiB)" in d.warnings[0]
    )
    big = deploy(version, size="Standard_E16s_v5")
    assert "16 vCPUs" in big.warnings[0] and "128 GiB" in big.warnings[0]
    table = {row["size"].name: row for row in deployments.sizes_for(definition)}
    assert table["Standard_D4s_v5"]["recommended"] and not table["Standard_B1s"]["recommended"]


def test_a_disallowed_disk_type_is_refused(deploy, make_definition, make_version, image):
    d = make_definition("nopremium", disallowed_disk_types=["Premium_LRS", "UltraSSD_LRS"])
    v = make_version("1.0.0", definition_=d)
    complete(v)
    refused(lambda: deploy(v, disk_type="Premium_LRS"), INVALID, deployments.P_DISK, "disallows Premium_LRS")
    refused(lambda: deploy(v, disk_type="Floppy"), INVALID, deployments.P_DISK, "not a valid disk type")
    assert deploy(v, disk_type="standardssd_lrs").disk_type == "StandardSSD_LRS"


# --- OS profile -----------------------------------------------------------------------------------

P = deployments


@pytest.mark.parametrize(
    "profile, target, words",
    [
        (None, P.P_COMPUTER, ["needs a computer name"]),
        (OsProfile("-bad-", "azureuser", "Str0ng-Passw0rd!"), P.P_COMPUTER, ["invalid"]),
        (OsProfile("web01", "", "Str0ng-Passw0rd!"), P.P_USER, ["admin user name"]),
        (OsProfile("web01", "root", "Str0ng-Passw0rd!"), P.P_USER, ["reserved"]),
        (OsProfile("web01", "9lives", "Str0ng-Passw0rd!"), P.P_USER, ["invalid"]),
        (OsProfile("web01", "azureuser"), P.P_PASSWORD, ["password or an SSH public key"]),
        (OsProfile("web01", "azureuser", "short1!A"), P.P_PASSWORD, ["12–123"]),
        (OsProfile("web01", "azureuser", "alllowercaseletters"), P.P_PASSWORD, ["three of"]),
        (OsProfile("web01", "azureuser", "Str0ng-Passw0rd!", SSH_KEY), P.P_PASSWORD, ["not both"]),
        (OsProfile("web01", "azureuser", ssh_public_key="ssh-rsa notbase64!"), P.P_SSH, ["base64"]),
        (OsProfile("web01", "azureuser", ssh_public_key="hello"), P.P_SSH, ["OpenSSH format"]),
        (
            OsProfile("web01", "azureuser", ssh_public_key=SSH_KEY.replace("ssh-ed25519", "ssh-rsa", 1)),
            P.P_SSH,
            ["is a 'ssh-ed25519' key"],
        ),
    ],
)
def test_a_generalized_image_needs_a_valid_os_profile(deploy, version, profile, target, words):
    refused(lambda: deploy(version, os_profile=profile), INVALID, target, *words)


def test_an_ssh_key_is_enough_on_linux_and_the_password_is_never_stored(deploy, version):
    d = deploy(version, os_profile=OsProfile("web01", "azureuser", ssh_public_key=SSH_KEY))
    assert d.auth == "ssh" and d.ssh_public_key == SSH_KEY
    p = deploy(version)
    assert "Str0ng-Passw0rd!" not in str(Deployment.objects.filter(pk=p.pk).values().get())


def test_windows_takes_a_password_not_an_ssh_key(deploy, make_definition, make_image, make_version):
    d = make_definition("win", os_type="Windows")
    v = make_version("1.0.0", definition_=d, source=make_image("winbase", os_type="Windows"))
    complete(v)
    refused(
        lambda: deploy(v, os_profile=OsProfile("web01", "azureuser", ssh_public_key=SSH_KEY)),
        INVALID,
        P.P_SSH,
        "Windows",
    )
    refused(
        lambda: deploy(v, os_profile=OsProfile("a-very-long-computer-name", "azureuser", "Str0ng-Passw0rd!")),
        INVALID,
        P.P_COMPUTER,
        "1–15",
    )
    assert deploy(v, os_profile=OsProfile("web01", "azureuser", "Str0ng-Passw0rd!")).os_type == "Windows"


@pytest.fixture
def specialized(caller, rg, make_blob, make_definition, make_version):
    snap = services.create_snapshot(
        caller, rg, "vmsnap", blob=make_blob(), os_type="Linux", os_state="Specialized"
    )
    d = make_definition("special", os_state="Specialized")
    v = make_version("1.0.0", definition_=d, source=snap)
    return v


def test_a_specialized_image_refuses_an_os_profile_and_warns_that_accounts_carry_over(deploy, specialized):
    complete(specialized)
    refused(lambda: deploy(specialized), INVALID, P.P_OS, "specialized", "takes no OS profile")
    d = deploy(specialized, os_profile=None)
    assert d.os_state == "Specialized" and d.auth == "" and d.computer_name == ""
    assert deployments.SPECIALIZED_WARNING in d.warnings
    assert "computer name and the user accounts" in deployments.SPECIALIZED_WARNING


# --- Scale sets -------------------------------------------------------------------------------------


def test_scale_set_instance_limits_from_a_gallery_image(deploy, version):
    for bad in (0, 1001, "many"):
        refused(
            lambda b=bad: deploy(version, scale_set=True, instance_count=b),
            INVALID,
            "sku.capacity",
            "1–1,000",
        )
    ss = deploy(version, scale_set=True, instance_count=1000)
    assert ss.type == "Microsoft.Compute/virtualMachineScaleSets" and ss.instance_count == 1000
    refused(lambda: deploy(version, instance_count=2), INVALID, "sku.capacity", "one instance")


def test_scale_set_instance_limits_from_a_managed_image(deploy, image):
    refused(
        lambda: deploy(image, scale_set=True, instance_count=601),
        INVALID,
        "sku.capacity",
        "1–600",
        "gallery version",
    )
    assert deploy(image, scale_set=True, instance_count=600).state == Deployment.State.CREATING


def test_a_managed_image_deploys_only_in_its_region(deploy, image):
    refused(lambda: deploy(image, location="eastus"), INVALID, "location", "West Europe")
    d = deploy(image)
    assert deployments.provision(d.pk) == "running"
    d.refresh_from_db()
    assert d.os_disk.sha256 == image.os_disk.sha256 and d.source_image == image


def test_a_scale_set_is_running_without_copying_a_disk(deploy, version):
    ss = deploy(version, scale_set=True, instance_count=10)
    assert deployments.provision(ss.pk) == "running"
    ss.refresh_from_db()
    assert ss.state == "Running" and ss.os_disk is None


# --- Replica load -----------------------------------------------------------------------------------


def test_the_21st_concurrent_vm_on_one_replica_waits_and_starts_when_one_finishes(deploy, make_version):
    v = make_version("1.0.0")
    replicate(v)
    first = [deploy(v) for _ in range(20)]
    assert {d.state for d in first} == {"Creating"}
    waiting = deploy(v)
    assert waiting.state == Deployment.State.WAITING and waiting.replica_indexes == []
    assert (
        "20 concurrent VM creations" in waiting.waiting_reason
        and "under-provisioned" in waiting.waiting_reason
    )
    assert deployments.under_provisioned_regions(v) == {"westeurope": 1}
    assert deploy(v).state == "Waiting"  # queued behind, first come first served
    assert deployments.provision(first[0].pk) == "running"
    states = dict(Deployment.objects.filter(state__in=["Waiting", "Creating"]).values_list("pk", "state"))
    assert states[waiting.pk] == "Creating" and list(states.values()).count("Waiting") == 1
    waiting.refresh_from_db()
    assert waiting.replica_indexes == [0] and waiting.waiting_reason == ""


def test_vms_spread_over_replicas(deploy, make_version):
    v = make_version("1.0.0", target_regions=[T("westeurope", 2)])
    complete(v)
    indexes = [deploy(v).replica_indexes[0] for _ in range(40)]
    assert indexes.count(0) == 20 and indexes.count(1) == 20
    assert deploy(v).state == "Waiting"


def test_one_scale_set_per_replica_at_a_time(deploy, make_version):
    v = make_version("1.0.0")
    complete(v)
    ss = deploy(v, scale_set=True, instance_count=600)
    assert ss.state == "Creating" and ss.replica_indexes == [0]
    second = deploy(v, scale_set=True, instance_count=5)
    assert second.state == "Waiting" and "free of other scale sets" in second.waiting_reason
    assert deploy(v).state == "Creating"  # VM creations are a separate capacity of the replica
    deployments.provision(ss.pk)
    second.refresh_from_db()
    assert second.state == "Creating"


def test_a_scale_set_over_600_instances_needs_two_replicas(deploy, make_version):
    one = make_version("1.0.0")
    complete(one)
    assert deploy(one, scale_set=True, instance_count=700).state == "Waiting"
    two = make_version("1.0.1", target_regions=[T("westeurope", 2)])
    complete(two)
    ss = deploy(two, scale_set=True, instance_count=700)
    assert ss.state == "Creating" and sorted(ss.replica_indexes) == [0, 1]


def test_a_failed_creation_frees_its_replica_too(deploy, make_version):
    v = make_version("1.0.0")
    complete(v)  # Completed on paper, but no replica file: creating the VM fails
    first = [deploy(v) for _ in range(20)]
    waiting = deploy(v)
    assert deployments.provision(first[0].pk) == "failed"
    first[0].refresh_from_db()
    assert first[0].state == "Failed" and "No verified replica" in first[0].error
    waiting.refresh_from_db()
    assert waiting.state == "Creating"


def test_waiting_deployments_start_after_replicas_are_added(caller, deploy, make_version):
    v = make_version("1.0.0")
    complete(v)
    [deploy(v) for _ in range(20)]
    waiting = deploy(v)
    services.update_version(caller, v, target_regions=[T("westeurope", 2)])
    assert deployments.admit_all_waiting() == 1
    waiting.refresh_from_db()
    assert waiting.state == "Creating" and waiting.replica_indexes == [1]


# --- Access -----------------------------------------------------------------------------------------


def test_a_reader_may_deploy_from_the_image_but_not_write_the_resource_group(
    deploy, version, tenant, subscription
):
    reader = create_user(tenant, "reader@contoso.test", "Reader-Pass-1")
    grant_as_system(subscription, reader, "reader")
    err = refused(lambda: deploy(version, as_caller=Caller(reader)), ServiceError.AUTHORIZATION_FAILED, None)
    assert "virtualMachines/write" in err.message


def test_write_on_the_resource_group_without_access_to_the_image_looks_missing(
    caller, deploy, version, tenant, subscription
):
    other_rg = create_resource_group(caller, subscription, "apps", "westeurope")
    dev = create_user(tenant, "dev@contoso.test", "Dev-Pass-1")
    grant_as_system(other_rg, dev, "contributor")
    refused(
        lambda: deploy(version, as_caller=Caller(dev), resource_group=other_rg),
        ServiceError.NOT_FOUND,
        deployments.P_SOURCE,
        "was not found",
    )
    admin = create_user(tenant, "share@contoso.test", "Share-Pass-1")
    grant_as_system(other_rg, admin, "contributor")
    grant_as_system(version.gallery, admin, "sharing_admin")  # reads the gallery, may not deploy from it
    refused(
        lambda: deploy(version, as_caller=Caller(admin), resource_group=other_rg),
        ServiceError.AUTHORIZATION_FAILED,
        None,
        "deploy",
    )


def test_an_app_with_reader_on_a_gallery_in_a_deploys_in_b_until_consent_is_withdrawn(
    tenant, user, gallery, version, deploy
):
    """The seed's scenario, through the deployment service."""
    a_admin = create_user(tenant, "admin@contoso.test", "Admin-Test-Pass-1", is_tenant_admin=True)
    fabrikam = create_tenant("Fabrikam", "fabrikam.test")
    b_admin = create_user(fabrikam, "admin@fabrikam.test", "Admin-Test-Pass-1", is_tenant_admin=True)
    b_sub = create_subscription(Caller.system(), fabrikam, "Fabrikam Prod", owner=b_admin)
    b_rg = create_resource_group(Caller(b_admin), b_sub, "vms", "westeurope")
    directory.set_partner(Caller(a_admin), tenant, fabrikam)
    directory.set_partner(Caller(b_admin), fabrikam, tenant)
    app = directory.register_app(Caller(a_admin), tenant, "Deployer", multi_tenant=True)
    b_sp = directory.consent(Caller(b_admin), fabrikam, str(app.client_id))
    home = app.service_principals.get(tenant=tenant).user
    sharing.assign_role(Caller(user), gallery, home, "reader")
    sharing.assign_role(Caller(b_admin), b_rg, b_sp.user, "contributor")

    vm = deploy(version, as_caller=Caller(b_sp.user, source="api"), resource_group=b_rg, name="cross")
    assert vm.tenant == fabrikam and vm.subscription == b_sub and vm.source_version == version
    assert vm.created_by == b_sp.user
    directory.withdraw_consent(Caller(b_admin), b_sp)
    refused(
        lambda: deploy(version, as_caller=Caller(home, source="api"), resource_group=b_rg, name="again"),
        ServiceError.NOT_FOUND,
        None,
    )


def test_names_are_unique_per_type_in_the_resource_group(deploy, version):
    deploy(version, name="web")
    refused(lambda: deploy(version, name="web"), ServiceError.CONFLICT, "name", "already exists")
    assert deploy(version, name="web", scale_set=True, instance_count=2).name == "web"
    refused(lambda: deploy(version, name="bad name!"), INVALID, "name", "invalid")


# --- Capture ----------------------------------------------------------------------------------------


@pytest.fixture
def running_vm(deploy, make_version):
    v = make_version("1.0.0")
    replicate(v)
    d = deploy(v, name="golden")
    deployments.provision(d.pk)
    d.refresh_from_db()
    return d


def test_capture_a_generalized_vm_into_a_managed_image(caller, running_vm, rg, make_version, deploy):
    image = deployments.capture(caller, running_vm, rg, "golden-image", "image")
    assert isinstance(image, ManagedImage) and image.os_disk.sha256 == running_vm.os_disk.sha256
    assert image.os_type == "Linux" and image.location == running_vm.location
    assert image.os_disk.path != running_vm.os_disk.path
    assert not Blob.objects.filter(container="captures").exists()  # the exported VHD is removed
    ops = set(ActivityLogEntry.objects.filter(status="Succeeded").values_list("operation", flat=True))
    assert {"Microsoft.Compute/virtualMachines/capture/action", "Microsoft.Compute/images/write"} <= ops
    # The captured image is a source again: deploy from it.
    assert deploy(image, name="from-capture").source_image == image


def test_capture_into_a_snapshot_keeps_the_os_state(caller, specialized, deploy, rg):
    replicate(specialized)
    vm = deploy(specialized, os_profile=None, name="special-vm")
    deployments.provision(vm.pk)
    vm.refresh_from_db()
    refused(lambda: deployments.capture(caller, vm, rg, "img", "image"), INVALID, "kind", "snapshot")
    snap = deployments.capture(caller, vm, rg, "special-snap", "snapshot")
    assert isinstance(snap, Snapshot) and snap.os_state == "Specialized" and snap.os_type == "Linux"


def test_capture_refusals(caller, running_vm, deploy, rg):
    version = running_vm.source_version
    deployments.capture(caller, running_vm, rg, "taken", "snapshot")
    refused(
        lambda: deployments.capture(caller, running_vm, rg, "taken", "snapshot"),
        ServiceError.CONFLICT,
        "name",
        "already exists",
    )
    creating = deploy(version)
    refused(
        lambda: deployments.capture(caller, creating, rg, "x", "image"),
        ServiceError.CONFLICT,
        "name",
        "Creating",
    )
    ss = deploy(version, scale_set=True, instance_count=3)
    refused(lambda: deployments.capture(caller, ss, rg, "x", "image"), INVALID, "kind", "scale set")
    assert Snapshot.objects.count() == 1 and not Blob.objects.filter(container="captures").exists()


def test_capture_needs_write_on_the_vm(running_vm, rg, tenant, subscription):
    reader = create_user(tenant, "reader@contoso.test", "Reader-Pass-1")
    grant_as_system(subscription, reader, "reader")
    refused(
        lambda: deployments.capture(Caller(reader), running_vm, rg, "nope", "image"),
        ServiceError.AUTHORIZATION_FAILED,
        None,
        "capture",
    )


def test_a_creation_whose_task_was_lost_is_queued_again(
    deploy, version, settings, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from galleries.deployments import admit_all_waiting

    settings.DEPLOYMENT_REQUEUE_SECONDS = 60
    d = deploy(version)
    assert d.state == Deployment.State.CREATING
    with django_capture_on_commit_callbacks() as fresh:
        admit_all_waiting()
    assert fresh == []  # started just now: its task is still on its way
    # set-up: the task message was lost two minutes ago
    Deployment.objects.filter(pk=d.pk).update(started_at=timezone.now() - timedelta(minutes=2))
    with django_capture_on_commit_callbacks() as stale:
        admit_all_waiting()
    assert len(stale) == 1


# --- Delete -----------------------------------------------------------------------------------------


def test_deleting_a_running_vm_removes_it_and_its_os_disk(
    caller, running_vm, django_capture_on_commit_callbacks
):
    disk = running_vm.os_disk
    store = RegionStore(disk.region)
    assert store.exists(disk.path)
    with django_capture_on_commit_callbacks(execute=True):
        deployments.delete_deployment(caller, running_vm)
    assert not Deployment.objects.filter(pk=running_vm.pk).exists()
    assert not StoredDisk.objects.filter(pk=disk.pk).exists()
    assert not store.exists(disk.path)  # the bytes go once the delete is committed
    entry = ActivityLogEntry.objects.get(operation="Microsoft.Compute/virtualMachines/delete")
    assert entry.status == "Succeeded" and entry.resource_arm_id == running_vm.arm_id


def test_deleting_a_scale_set_removes_it(caller, deploy, version):
    ss = deploy(version, scale_set=True, instance_count=3)
    deployments.provision(ss.pk)
    deployments.delete_deployment(caller, ss)
    assert not Deployment.objects.filter(pk=ss.pk).exists()
    assert ActivityLogEntry.objects.filter(
        operation="Microsoft.Compute/virtualMachineScaleSets/delete", status="Succeeded"
    ).exists()


def test_deleting_a_creating_vm_cancels_it_and_its_task_finds_nothing_to_do(caller, deploy, make_version):
    v = make_version("1.0.0")
    replicate(v)
    d = deploy(v)
    assert d.state == "Creating"
    deployments.delete_deployment(caller, d)
    assert "cancelled" in ActivityLogEntry.objects.get(operation__endswith="virtualMachines/delete").message
    assert deployments.provision(d.pk) == "nothing to do"
    assert not Deployment.objects.filter(pk=d.pk).exists()


def test_deleting_a_creating_vm_admits_the_one_waiting_for_its_replica(caller, deploy, make_version):
    v = make_version("1.0.0")
    complete(v)
    first = [deploy(v) for _ in range(20)]
    waiting = deploy(v)
    assert waiting.state == "Waiting"
    deployments.delete_deployment(caller, first[0])
    waiting.refresh_from_db()
    assert waiting.state == "Creating" and waiting.replica_indexes == [0]


def test_deleting_a_running_vm_frees_no_creation_slot(caller, deploy, make_version):
    """Only creations count against a replica: a running VM's delete admits nobody."""
    v = make_version("1.0.0")
    replicate(v)
    done = deploy(v)
    deployments.provision(done.pk)
    [deploy(v) for _ in range(20)]
    waiting = deploy(v)
    assert waiting.state == "Waiting"
    done.refresh_from_db()
    deployments.delete_deployment(caller, done)
    waiting.refresh_from_db()
    assert waiting.state == "Waiting"


def test_deleting_a_waiting_scale_set_lets_the_one_queued_behind_it_start(caller, deploy, make_version):
    v = make_version("1.0.0", target_regions=[T("westeurope", 2)])
    complete(v)
    running = deploy(v, scale_set=True, instance_count=600)
    big = deploy(v, scale_set=True, instance_count=700)  # needs both replicas: waits
    small = deploy(v, scale_set=True, instance_count=5)  # would fit, but is queued behind `big`
    assert (running.state, big.state, small.state) == ("Creating", "Waiting", "Waiting")
    deployments.delete_deployment(caller, big)
    small.refresh_from_db()
    assert small.state == "Creating" and small.replica_indexes == [1]


def test_a_reader_may_not_delete_a_deployment_and_the_refusal_is_logged(running_vm, tenant, subscription):
    reader = create_user(tenant, "reader@contoso.test", "Reader-Pass-1")
    grant_as_system(subscription, reader, "reader")
    refused(
        lambda: deployments.delete_deployment(Caller(reader), running_vm),
        ServiceError.AUTHORIZATION_FAILED,
        None,
        "virtualMachines/delete",
    )
    assert Deployment.objects.filter(pk=running_vm.pk).exists() and running_vm.os_disk.pk
    entry = ActivityLogEntry.objects.get(operation="Microsoft.Compute/virtualMachines/delete")
    assert entry.status == "Failed" and entry.principal_id == reader.pk


def test_without_any_access_the_deployment_looks_missing(running_vm, tenant):
    stranger = create_user(tenant, "stranger@contoso.test", "Stranger-Pass-1")
    with pytest.raises(ServiceError) as info:
        deployments.delete_deployment(Caller(stranger), running_vm)
    assert info.value.code == ServiceError.NOT_FOUND
    assert Deployment.objects.filter(pk=running_vm.pk).exists()
    assert ActivityLogEntry.objects.filter(
        operation="Microsoft.Compute/virtualMachines/delete", status="Failed"
    ).exists()


def test_deleting_an_already_deleted_deployment_is_harmless(caller, running_vm):
    """A second delete (a double submit, or two tabs) succeeds as Azure's does, and deletes nothing."""
    stale = Deployment.objects.get(pk=running_vm.pk)
    deployments.delete_deployment(caller, running_vm)
    deployments.delete_deployment(caller, stale)
    entries = ActivityLogEntry.objects.filter(operation="Microsoft.Compute/virtualMachines/delete")
    assert [e.status for e in entries] == ["Succeeded", "Succeeded"]
    assert "already deleted" in entries[0].message
