"""F7 image-version rules and the version limit of F15: every rule is broken once and the refusal's
ARM code, property path and wording are checked; boundaries and success paths too."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import refused
from django.utils import timezone

from accounts.models import Subscription
from accounts.services import create_resource_group
from galleries import services, vhd
from galleries.models import GalleryImageVersion, Region, StoredDisk, TargetRegion, UsageCounter, VersionDisk
from galleries.services import TargetRegionSpec as TR
from portal.core.errors import ServiceError

INVALID = ServiceError.INVALID_PARAMETER
IMMUTABLE = ServiceError.PROPERTY_CHANGE_NOT_ALLOWED
CONFLICT = ServiceError.CONFLICT
QUOTA = ServiceError.QUOTA_EXCEEDED
NOT_FOUND = ServiceError.NOT_FOUND

PP = "properties.publishingProfile"
TRS = f"{PP}.targetRegions"
SOURCE = "properties.storageProfile.source.id"
DATA = "properties.storageProfile.dataDiskImages"


def nothing_written():
    assert not GalleryImageVersion.objects.exists()
    assert not VersionDisk.objects.exists()
    assert not TargetRegion.objects.exists()


def regions_of(version):
    return {
        t.region.name: (t.replica_count, t.storage_account_type, t.exclude_from_latest)
        for t in TargetRegion.objects.filter(version=version).select_related("region")
    }


@pytest.fixture
def snapshot(caller, rg, make_blob):
    def make(name="osSnap", os_type="Linux", os_state="Specialized", **kw):
        return services.create_snapshot(
            caller, rg, name, blob=make_blob(), os_type=os_type, os_state=os_state, **kw
        )

    return make


@pytest.fixture
def data_snapshot(caller, rg, make_blob):
    def make(name):
        return services.create_snapshot(caller, rg, name, blob=make_blob(virtual_mib=1))

    return make


# --- Name and ordering ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, parts",
    [
        ("0.0.0", (0, 0, 0)),
        ("1.0.0", (1, 0, 0)),
        ("10.20.30", (10, 20, 30)),
        ("2024.1.0", (2024, 1, 0)),
        ("2147483647.2147483647.2147483647", (2147483647, 2147483647, 2147483647)),
    ],
)
def test_valid_version_names(make_version, name, parts):
    v = make_version(name)
    assert (v.major, v.minor, v.patch) == parts
    assert v.version_name == name
    assert v.arm_id.endswith(f"/images/myImage1/versions/{name}")


@pytest.mark.parametrize(
    "name",
    [
        "1.0",
        "1",
        "1.0.0.0",
        "a.b.c",
        "1.0.x",
        "01.0.0",
        "1.00.0",
        "1.0.01",
        "-1.0.0",
        "1.0.0-beta",
        "",
        " 1.0.0",
        "1..0",
        "1.0.0.",
        "v1.0.0",
        "1,0,0",
        "１.0.0",
    ],
)
def test_malformed_version_names_are_refused(caller, definition, name):
    # The name is checked before anything else, so no source is needed (a wrong pass would fail on it).
    refused(
        lambda: services.create_version(caller, definition, name, location="westeurope", source=None),
        INVALID,
        "name",
        f"'{name}'",
        "Major.Minor.Patch",
        "leading zeros",
    )
    nothing_written()


@pytest.mark.parametrize(
    "name, part",
    [
        ("2147483648.0.0", "major"),
        ("0.2147483648.0", "minor"),
        ("0.0.2147483648", "patch"),
        ("99999999999.0.0", "major"),
    ],
)
def test_version_parts_are_32_bit(caller, definition, name, part):
    refused(
        lambda: services.create_version(caller, definition, name, location="westeurope", source=None),
        INVALID,
        "name",
        part,
        "2147483647",
        f"'{name}'",
    )
    nothing_written()


def test_version_name_with_trailing_newline_is_refused(make_version):
    refused(lambda: make_version("1.0.0\n"), INVALID, "name", "Major.Minor.Patch")


def test_duplicate_version_is_refused(make_version):
    make_version("1.0.0")
    refused(lambda: make_version("1.0.0"), CONFLICT, "name", "'myImage1'", "1.0.0", "already")
    assert GalleryImageVersion.objects.count() == 1


def test_numeric_order(make_version):
    for name in ["1.0.2", "1.0.10", "1.0.9", "2.0.0", "1.10.0", "1.9.99", "10.0.0"]:
        make_version(name)
    names = [v.name for v in GalleryImageVersion.objects.numeric_order()]
    assert names == ["10.0.0", "2.0.0", "1.10.0", "1.9.99", "1.0.10", "1.0.9", "1.0.2"]
    asc = [v.name for v in GalleryImageVersion.objects.numeric_order(descending=False)]
    assert asc == list(reversed(names))


# --- Location --------------------------------------------------------------------------------------


def test_location_must_be_a_source_region(make_version):
    refused(
        lambda: make_version(location="westus3", target_regions=["westus3"]),
        INVALID,
        "location",
        "West US 3",
        "not a source region",
    )
    nothing_written()


def test_location_must_be_known(make_version):
    refused(lambda: make_version(location="atlantis"), INVALID, "location", "'atlantis'")


def test_location_must_hold_the_source(make_version):
    refused(
        lambda: make_version(location="eastus", target_regions=["eastus", "westeurope"]),
        INVALID,
        "location",
        "'base'",
        "West Europe",
        "East US",
        "must hold the source",
    )
    nothing_written()


def test_location_must_be_a_target_region(make_version):
    refused(
        lambda: make_version(target_regions=["eastus", "northeurope"]),
        INVALID,
        TRS,
        "source region West Europe",
        "target regions",
    )
    nothing_written()


def test_region_names_accepted_in_both_forms(make_version):
    v = make_version(
        location="West Europe", target_regions=["West Europe", "East US 2", TR("North Europe", 2)]
    )
    assert v.location.name == "westeurope"
    assert set(regions_of(v)) == {"westeurope", "eastus2", "northeurope"}
    assert regions_of(v)["northeurope"][0] == 2


def test_default_target_is_the_location_with_the_common_replica_count(make_version):
    v = make_version(replica_count=3)
    assert regions_of(v) == {"westeurope": (3, "Standard_LRS", False)}
    assert v.replica_count == 3
    v2 = make_version("1.0.1")
    assert regions_of(v2) == {"westeurope": (1, "Standard_LRS", False)}


def test_regional_count_defaults_to_common_count(make_version):
    v = make_version(replica_count=4, target_regions=["westeurope", TR("eastus", 2), TR("northeurope")])
    assert {k: c for k, (c, _, _) in regions_of(v).items()} == {
        "westeurope": 4,
        "eastus": 2,
        "northeurope": 4,
    }


# --- Target regions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "targets, index, words",
    [
        (["westeurope", "westeurope"], 1, ["West Europe", "listed twice", "entries 0 and 1"]),
        (["westeurope", "West Europe"], 1, ["West Europe", "listed twice"]),
        (["westeurope", "eastus", "East US"], 2, ["East US", "entries 1 and 2"]),
        (["westeurope", TR("eastus"), TR("EASTUS", 2)], 2, ["East US", "twice"]),
    ],
)
def test_duplicate_target_regions_are_refused(make_version, targets, index, words):
    refused(lambda: make_version(target_regions=targets), INVALID, f"{TRS}[{index}].name", *words)
    nothing_written()


def test_unknown_target_region_is_refused(make_version):
    refused(
        lambda: make_version(target_regions=["westeurope", "atlantis"]),
        INVALID,
        f"{TRS}[1].name",
        "'atlantis'",
    )


@pytest.mark.parametrize("targets", [[], ()])
def test_empty_target_regions_are_refused(make_version, targets):
    refused(lambda: make_version(target_regions=targets), INVALID, TRS, "at least one target region")


@pytest.mark.parametrize(
    "other, cloud",
    [("chinaeast", "Azure China"), ("usgovvirginia", "Azure US Government"), ("germanycentral", "")],
)
def test_replication_never_crosses_clouds(make_version, other, cloud):
    name = Region.objects.get(name=other).display_name
    refused(
        lambda: make_version(target_regions=["westeurope", other]),
        INVALID,
        f"{TRS}[1].name",
        name,
        cloud,
        "Azure public",
        "never crosses clouds",
    )
    nothing_written()


@pytest.mark.parametrize("restricted", ["australiacentral", "Australia Central 2"])
def test_restricted_region_needs_allowance(make_version, subscription, restricted):
    region = services.resolve_region(restricted)
    refused(
        lambda: make_version(target_regions=["westeurope", restricted]),
        INVALID,
        f"{TRS}[1].name",
        region.display_name,
        "restricted",
        "Contoso Test",
        "allowed",
    )
    nothing_written()
    subscription.allowed_restricted_regions.add(region)
    v = make_version(target_regions=["westeurope", restricted])
    assert region.name in regions_of(v)


def test_allowance_for_one_restricted_region_does_not_open_the_other(make_version, subscription, region):
    subscription.allowed_restricted_regions.add(region("australiacentral"))
    refused(
        lambda: make_version(target_regions=["westeurope", "australiacentral", "australiacentral2"]),
        INVALID,
        f"{TRS}[2].name",
        "Australia Central 2",
    )


@pytest.mark.parametrize("count", [1, 2, 50])
def test_replica_count_boundaries_accepted(make_version, count):
    v = make_version(replica_count=count, target_regions=["westeurope", TR("eastus", count)])
    assert v.replica_count == count
    assert {c for c, _, _ in regions_of(v).values()} == {count}


@pytest.mark.parametrize("count", [0, 51, -1, 1000])
def test_regional_replica_count_out_of_range(make_version, count):
    refused(
        lambda: make_version(target_regions=["westeurope", TR("eastus", count)]),
        INVALID,
        f"{TRS}[1].regionalReplicaCount",
        "regional replica count",
        "between 1 and 50",
        f"{count} was given",
    )
    nothing_written()


@pytest.mark.parametrize("count", [0, 51])
def test_common_replica_count_out_of_range(make_version, count):
    refused(
        lambda: make_version(replica_count=count),
        INVALID,
        f"{PP}.replicaCount",
        "replica count",
        "between 1 and 50",
        f"{count} was given",
    )
    nothing_written()


@pytest.mark.parametrize("count", [1.5, "2", True])
def test_replica_count_must_be_whole_number(make_version, count):
    refused(
        lambda: make_version(target_regions=[TR("westeurope", count)]),
        INVALID,
        f"{TRS}[0].regionalReplicaCount",
        "whole number",
    )


def test_storage_account_types(make_version):
    v = make_version(
        target_regions=[
            TR("westeurope", storage_account_type="standard_zrs"),
            TR("eastus", None, "Premium_LRS"),
            "ukwest",
        ],
    )
    assert {k: t for k, (_, t, _) in regions_of(v).items()} == {
        "westeurope": "Standard_ZRS",
        "eastus": "Premium_LRS",
        "ukwest": "Standard_LRS",
    }
    v2 = make_version("1.0.1", storage_account_type="Premium_LRS", target_regions=["westeurope", "ukwest"])
    assert {t for _, t, _ in regions_of(v2).values()} == {"Premium_LRS"}


def test_invalid_storage_account_types(make_version):
    refused(
        lambda: make_version(target_regions=["westeurope", TR("eastus", None, "Standard_GRS")]),
        INVALID,
        f"{TRS}[1].storageAccountType",
        "'Standard_GRS'",
        "Standard_LRS",
        "Standard_ZRS",
        "Premium_LRS",
    )
    refused(
        lambda: make_version(storage_account_type="Ultra"), INVALID, f"{PP}.storageAccountType", "'Ultra'"
    )
    nothing_written()


def test_zrs_only_in_regions_with_zones(make_version):
    refused(
        lambda: make_version(target_regions=["westeurope", TR("ukwest", None, "Standard_ZRS")]),
        INVALID,
        f"{TRS}[1].storageAccountType",
        "Standard_ZRS",
        "UK West",
        "zones",
    )
    # The common type applies to regions without their own: it is checked per region too.
    refused(
        lambda: make_version(
            storage_account_type="Standard_ZRS", target_regions=["westeurope", "eastus", "ukwest"]
        ),
        INVALID,
        f"{TRS}[2].storageAccountType",
        "UK West",
    )
    nothing_written()


# --- Source vs definition ----------------------------------------------------------------------------


def test_os_type_mismatch(make_version, make_image):
    win = make_image("win", os_type="Windows")
    refused(
        lambda: make_version(source=win),
        INVALID,
        SOURCE,
        "'win'",
        "Windows",
        "Linux",
        "'myImage1'",
        "OS types must match",
    )
    nothing_written()


def test_specialized_snapshot_into_generalized_definition(make_version, snapshot):
    snap = snapshot()
    refused(
        lambda: make_version(source=snap),
        INVALID,
        SOURCE,
        "snapshot 'osSnap'",
        "Specialized",
        "Generalized",
        "OS states must match",
    )
    nothing_written()


def test_generalized_image_into_specialized_definition(make_version, make_definition, image):
    spec = make_definition("spec", os_state="Specialized")
    refused(
        lambda: make_version(definition_=spec, source=image),
        INVALID,
        SOURCE,
        "'base'",
        "Generalized",
        "Specialized",
        "OS states must match",
    )
    nothing_written()


def test_specialized_snapshot_into_specialized_definition(make_version, make_definition, snapshot):
    spec = make_definition("spec", os_state="Specialized")
    v = make_version(definition_=spec, source=snapshot())
    assert v.source_snapshot is not None
    assert v.disks.count() == 1


def test_hyper_v_generation_mismatch(make_version, make_image, make_definition):
    v2 = make_image("gen2", hyper_v_generation="V2")
    refused(lambda: make_version(source=v2), INVALID, SOURCE, "'gen2'", "V2", "V1", "'myImage1'")
    d2 = make_definition("gen2def", hyper_v_generation="V2")
    assert make_version(definition_=d2, source=v2).disks.count() == 1


def test_a_trusted_launch_definition_takes_only_a_generation_2_source(
    make_version, make_image, make_definition
):
    """Issue 14: the CLI's default definition (V2, SecurityType TrustedLaunchSupported) takes V2 sources
    only; the generation rule covers it, since such a definition is always V2."""
    tls = make_definition(
        "tls", hyper_v_generation="V2", features=[{"name": "SecurityType", "value": "TrustedLaunchSupported"}]
    )
    refused(lambda: make_version(definition_=tls, source=make_image("gen1")), INVALID, SOURCE, "V1", "V2")
    assert (
        make_version(definition_=tls, source=make_image("gen2", hyper_v_generation="V2")).disks.count() == 1
    )


def test_data_disk_snapshot_as_source_is_refused(make_version, data_snapshot):
    snap = data_snapshot("data0")
    refused(lambda: make_version(source=snap), INVALID, SOURCE, "'data0'", "data disk", "OS-disk snapshot")


def test_unsupported_source_is_refused(make_version, gallery):
    refused(
        lambda: make_version(source=gallery), INVALID, SOURCE, "managed image", "snapshot", "image version"
    )


def test_source_by_arm_id(make_version, image):
    v = make_version(source=image.arm_id.upper())
    assert v.source_image_id == image.pk
    assert v.source_arm_id == image.arm_id


def test_unknown_source_id_names_the_source_property(make_version, rg):
    missing = f"{rg.arm_id}/providers/Microsoft.Compute/images/nope"
    refused(lambda: make_version(source=missing), NOT_FOUND, SOURCE, missing)
    nothing_written()


def test_version_from_another_version(make_version):
    first = make_version("1.0.0")
    second = make_version("1.0.1", source=first)
    assert second.source_version_id == first.pk
    assert [d.sha256 for d in second.disks.all()] == [d.sha256 for d in first.disks.all()]


def test_version_from_another_version_in_a_completed_region(make_version):
    first = make_version("1.0.0", target_regions=["westeurope", "eastus"])
    refused(
        lambda: make_version("2.0.0", source=first, location="eastus", target_regions=["eastus"]),
        INVALID,
        "location",
        "image version '1.0.0'",
        "West Europe",
        "East US",
    )
    TargetRegion.objects.filter(version=first, region__name="eastus").update(
        state=TargetRegion.State.COMPLETED
    )
    second = make_version("2.0.0", source=first, location="eastus", target_regions=["eastus"])
    assert second.location.name == "eastus"


# --- Data-disk snapshots -----------------------------------------------------------------------------


def test_data_disk_snapshots_lun_boundaries(make_version, make_definition, snapshot, data_snapshot):
    spec = make_definition("spec", os_state="Specialized")
    v = make_version(
        definition_=spec,
        source=snapshot(),
        data_disk_snapshots=[(0, data_snapshot("d0")), (63, data_snapshot("d63"))],
    )
    assert list(v.disks.values_list("lun", flat=True)) == [None, 0, 63]


@pytest.mark.parametrize(
    "luns, index, words",
    [
        ((64,), 0, ["between 0 and 63", "64 was given"]),
        ((-1,), 0, ["between 0 and 63", "-1 was given"]),
        (("1",), 0, ["between 0 and 63"]),
        ((True,), 0, ["between 0 and 63"]),
        ((3, 3), 1, ["LUN 3", "two data disks"]),
    ],
)
def test_data_disk_snapshot_luns(make_version, make_definition, snapshot, data_snapshot, luns, index, words):
    spec = make_definition("spec", os_state="Specialized")
    os_snap = snapshot()
    data = [(lun, data_snapshot(f"d{i}")) for i, lun in enumerate(luns)]
    refused(
        lambda: make_version(definition_=spec, source=os_snap, data_disk_snapshots=data),
        INVALID,
        f"{DATA}[{index}].lun",
        *words,
    )
    nothing_written()


def test_data_disk_snapshots_only_with_a_snapshot_source(make_version, data_snapshot):
    refused(
        lambda: make_version(data_disk_snapshots=[(0, data_snapshot("d0"))]),
        INVALID,
        DATA,
        "only accompany an OS-disk snapshot",
    )
    nothing_written()


def test_data_disk_snapshot_must_be_in_the_source_region(
    caller, subscription, make_version, make_definition, make_blob, snapshot
):
    east = create_resource_group(caller, subscription, "east", "eastus")
    far = services.create_snapshot(caller, east, "far", blob=make_blob(resource_group=east, virtual_mib=1))
    spec = make_definition("spec", os_state="Specialized")
    refused(
        lambda: make_version(definition_=spec, source=snapshot(), data_disk_snapshots=[(0, far)]),
        INVALID,
        f"{DATA}[0].source.id",
        "'far'",
        "East US",
        "source region West Europe",
    )
    nothing_written()


# --- Disk size, end of life ----------------------------------------------------------------------------


def _oversize(image):
    disk = StoredDisk.objects.create(
        region=image.location,
        path="disks/fake-oversize.vhd",
        size_bytes=vhd.MAX_VIRTUAL_SIZE + vhd.MIB + vhd.FOOTER_SIZE,
        sha256="0" * 64,
    )
    image.os_disk = disk
    image.save()
    return image


def test_disk_over_1_tib_is_refused(make_version, image):
    refused(lambda: make_version(source=_oversize(image)), INVALID, SOURCE, "OS disk", "1 TiB")
    nothing_written()


def test_data_disk_over_1_tib_is_refused(make_version, make_image):
    img = make_image("withdata", data_luns=(0, 7))
    big = _oversize(make_image("donor")).os_disk
    img.data_disks.filter(lun=7).update(disk=big)
    refused(lambda: make_version(source=img), INVALID, SOURCE, "data disk at LUN 7", "1 TiB")
    nothing_written()


def test_disk_over_1_tib_message_states_the_exact_size(make_version, image):
    err = refused(lambda: make_version(source=_oversize(image)), INVALID, SOURCE, "1 TiB")
    assert "1.00 TiB" not in err.message
    assert "1,099,512,676,352" in err.message or "1,099,512,676,864" in err.message, err.message


def test_disk_of_exactly_1_tib_is_accepted(make_version, image):
    image.os_disk.size_bytes = vhd.MAX_VIRTUAL_SIZE + vhd.FOOTER_SIZE
    image.os_disk.save()
    assert make_version(source=image).disks.get().size_bytes == vhd.MAX_VIRTUAL_SIZE + vhd.FOOTER_SIZE


def test_end_of_life_must_be_in_the_future(make_version):
    refused(
        lambda: make_version(end_of_life_date=timezone.now() - timedelta(minutes=1)),
        INVALID,
        f"{PP}.endOfLifeDate",
        "past",
        "future",
    )
    nothing_written()
    eol = timezone.now() + timedelta(days=90)
    assert make_version(end_of_life_date=eol).end_of_life_date == eol


def test_disabled_subscription_refuses_version(make_version, subscription):
    subscription.state = Subscription.State.DISABLED
    subscription.save()
    refused(lambda: make_version(), CONFLICT, "subscription", "Disabled")
    nothing_written()


# --- Update ------------------------------------------------------------------------------------------


@pytest.fixture
def version(make_version):
    return make_version(
        "1.0.0",
        target_regions=[
            "westeurope",
            TR("eastus", 2, "Premium_LRS"),
            TR("northeurope", None, "Standard_ZRS"),
        ],
    )


def test_add_and_remove_regions_and_change_counts(caller, version):
    services.update_version(
        caller,
        version,
        target_regions=[TR("westeurope", 3), TR("eastus", 5), TR("uksouth", exclude_from_latest=True)],
    )
    assert regions_of(version) == {
        "westeurope": (3, "Standard_LRS", False),
        "eastus": (5, "Premium_LRS", False),
        "uksouth": (1, "Standard_LRS", True),
    }


def test_existing_region_keeps_its_storage_type_when_not_named(caller, version):
    services.update_version(caller, version, target_regions=["westeurope", "eastus", "northeurope"])
    assert regions_of(version)["eastus"][1] == "Premium_LRS"
    assert regions_of(version)["northeurope"][1] == "Standard_ZRS"


def test_update_common_count_exclude_and_end_of_life(caller, version):
    eol = timezone.now() + timedelta(days=10)
    services.update_version(caller, version, replica_count=4, exclude_from_latest=True, end_of_life_date=eol)
    version.refresh_from_db()
    assert (version.replica_count, version.exclude_from_latest, version.end_of_life_date) == (4, True, eol)


def test_changing_storage_type_of_existing_region_is_refused(caller, version):
    refused(
        lambda: services.update_version(
            caller, version, target_regions=["westeurope", TR("eastus", 2, "Standard_LRS"), "northeurope"]
        ),
        IMMUTABLE,
        f"{TRS}[1].storageAccountType",
        "East US",
        "Premium_LRS",
        "cannot change",
    )
    assert regions_of(version)["eastus"] == (2, "Premium_LRS", False)
    # Naming the same type again is fine.
    services.update_version(caller, version, target_regions=["westeurope", TR("eastus", 2, "premium_lrs")])
    assert set(regions_of(version)) == {"westeurope", "eastus"}


def test_source_region_cannot_be_removed(caller, version):
    refused(
        lambda: services.update_version(caller, version, target_regions=["eastus", "northeurope"]),
        INVALID,
        TRS,
        "source region West Europe",
    )
    assert set(regions_of(version)) == {"westeurope", "eastus", "northeurope"}


@pytest.mark.parametrize(
    "changes, target",
    [
        ({"location": "eastus"}, "location"),
        ({"storage_account_type": "Premium_LRS"}, f"{PP}.storageAccountType"),
    ],
)
def test_immutable_version_properties(caller, version, changes, target):
    refused(
        lambda: services.update_version(caller, version, exclude_from_latest=True, **changes),
        IMMUTABLE,
        target,
        f"'{target}'",
        "cannot change after creation",
    )
    version.refresh_from_db()
    assert version.exclude_from_latest is False


def test_source_cannot_change(caller, version, make_image):
    other = make_image("other")
    refused(
        lambda: services.update_version(caller, version, source=other),
        IMMUTABLE,
        SOURCE,
        f"'{SOURCE}'",
        "cannot change",
    )
    refused(lambda: services.update_version(caller, version, source=other.arm_id), IMMUTABLE, SOURCE)


def test_data_disk_snapshots_cannot_change(caller, version, data_snapshot):
    refused(
        lambda: services.update_version(caller, version, data_disk_snapshots=[(0, data_snapshot("d0"))]),
        IMMUTABLE,
        DATA,
    )


def test_resending_same_immutable_values_is_accepted(caller, version, image):
    services.update_version(
        caller,
        version,
        location="West Europe",
        source=image,
        storage_account_type="standard_lrs",
        data_disk_snapshots=[],
        exclude_from_latest=True,
    )
    version.refresh_from_db()
    assert version.exclude_from_latest is True
    services.update_version(caller, version, source=image.arm_id.lower())


def test_resending_null_storage_type_is_accepted(caller, make_version):
    v = make_version(storage_account_type=None)
    assert v.storage_account_type == "Standard_LRS"
    services.update_version(caller, v, storage_account_type=None, exclude_from_latest=True)
    assert GalleryImageVersion.objects.get(pk=v.pk).exclude_from_latest is True


@pytest.mark.parametrize(
    "changes, target, words",
    [
        ({"replica_count": 0}, f"{PP}.replicaCount", ["between 1 and 50"]),
        ({"replica_count": 51}, f"{PP}.replicaCount", ["between 1 and 50"]),
        ({"target_regions": ["westeurope", TR("eastus", 51)]}, f"{TRS}[1].regionalReplicaCount", ["51"]),
        ({"target_regions": ["westeurope", "chinaeast"]}, f"{TRS}[1].name", ["China East"]),
        ({"target_regions": ["westeurope", "australiacentral"]}, f"{TRS}[1].name", ["restricted"]),
        (
            {"target_regions": ["westeurope", TR("ukwest", None, "Standard_ZRS")]},
            f"{TRS}[1].storageAccountType",
            ["UK West"],
        ),
        ({"target_regions": ["westeurope", "West Europe"]}, f"{TRS}[1].name", ["twice"]),
        ({"end_of_life_date": timezone.now() - timedelta(days=1)}, f"{PP}.endOfLifeDate", ["past"]),
        ({"name": "2.0.0"}, "name", ["not a property"]),
    ],
)
def test_invalid_version_updates(caller, version, changes, target, words):
    before = regions_of(version)
    refused(lambda: services.update_version(caller, version, **changes), INVALID, target, *words)
    assert regions_of(version) == before
    version.refresh_from_db()
    assert version.replica_count == 1


# --- Limit (F15, single-threaded) -----------------------------------------------------------------------


def _count(subscription, region):
    row = UsageCounter.objects.filter(subscription=subscription, region__name=region, kind="versions").first()
    return row.count if row else 0


def test_version_limit_per_region(caller, subscription, make_version, make_image):
    subscription.limit_versions = 2
    subscription.save()
    make_version("1.0.0")
    second = make_version("1.0.1")
    refused(lambda: make_version("1.0.2"), QUOTA, "location", "2 image versions", "West Europe", "limit")
    assert not GalleryImageVersion.objects.filter(name="1.0.2").exists()
    assert _count(subscription, "westeurope") == 2
    east = create_resource_group(caller, subscription, "east", "eastus")
    v = make_version("1.0.2", location="eastus", source=make_image("eastimg", resource_group=east))
    assert v.location.name == "eastus"
    assert _count(subscription, "eastus") == 1
    services.delete_version(caller, second)
    assert _count(subscription, "westeurope") == 1
    make_version("1.0.3")
    assert _count(subscription, "westeurope") == 2
