"""The real azure-mgmt-compute SDK against the portal (F19): create a gallery, a definition and a version
with two target regions through long-running operations that finish when a real worker has
replicated the version; read it with its replication status; list at every level across pages;
update replica counts and exclude-from-latest; read the service layer's refusals in the SDK's
exception; delete everything."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.compute import models as m

from galleries.models import TargetRegion

RG = "images"


@pytest.fixture
def worker(celery_processes):
    return celery_processes.worker(regions=["westeurope", "eastus"])


def _version_body(source_id: str, regions: list[tuple[str, int]], **profile) -> m.GalleryImageVersion:
    return m.GalleryImageVersion(
        location="westeurope",
        publishing_profile=m.GalleryImageVersionPublishingProfile(
            target_regions=[m.TargetRegion(name=n, regional_replica_count=c) for n, c in regions], **profile
        ),
        storage_profile=m.GalleryImageVersionStorageProfile(
            source=m.GalleryArtifactVersionFullSource(id=source_id)
        ),
    )


def _definition_body(sku: str = "22_04") -> m.GalleryImage:
    return m.GalleryImage(
        location="westeurope",
        os_type="Linux",
        os_state="Generalized",
        hyper_v_generation="V1",
        identifier=m.GalleryImageIdentifier(publisher="Contoso", offer="Ubuntu", sku=sku),
        description="Ubuntu for the app teams",
    )


def test_the_whole_lifecycle_through_the_sdk(sdk, user, subscription, rg, image, worker, settings):
    settings.ARM_PAGE_SIZE = 2
    client = sdk(subscription)

    gallery = client.galleries.begin_create_or_update(
        RG, "SdkGallery", m.Gallery(location="westeurope", description="From the SDK")
    ).result()
    assert gallery.name == "SdkGallery" and gallery.provisioning_state == "Succeeded"
    assert gallery.description == "From the SDK" and gallery.identifier.unique_name.endswith("-SDKGALLERY")

    definition = client.gallery_images.begin_create_or_update(
        RG, "SdkGallery", "ubuntu", _definition_body()
    ).result()
    assert definition.identifier.publisher == "Contoso" and definition.os_state == "Generalized"

    version = client.gallery_image_versions.begin_create_or_update(
        RG, "SdkGallery", "ubuntu", "1.0.0", _version_body(image.arm_id, [("westeurope", 1), ("East US", 2)])
    ).result()  # returns once replication has finished
    assert version.provisioning_state == "Succeeded"
    assert version.storage_profile.source.id.lower() == image.arm_id.lower()

    got = client.gallery_image_versions.get(RG, "SdkGallery", "ubuntu", "1.0.0", expand="ReplicationStatus")
    status = got.replication_status
    assert status.aggregated_state == "Completed"
    assert {s.region for s in status.summary} == {"West Europe", "East US"}
    assert all(s.state == "Completed" and s.progress == 100 for s in status.summary)
    assert {(t.name, t.regional_replica_count) for t in got.publishing_profile.target_regions} == {
        ("West Europe", 1),
        ("East US", 2),
    }
    assert TargetRegion.objects.filter(version__name="1.0.0", state="Completed").count() == 2

    # Lists at every level, across pages of two (nextLink followed by the SDK).
    for name in ("SdkGallery2", "SdkGallery3"):
        client.galleries.begin_create_or_update(RG, name, m.Gallery(location="westeurope")).result()
    for sku in ("22_10", "24_04"):
        client.gallery_images.begin_create_or_update(
            RG, "SdkGallery", f"ubuntu-{sku}", _definition_body(sku)
        ).result()
    for name in ("1.0.1", "1.1.0"):
        client.gallery_image_versions.begin_create_or_update(
            RG, "SdkGallery", "ubuntu", name, _version_body(image.arm_id, [("westeurope", 1)])
        ).result()
    expected = {"SdkGallery", "SdkGallery2", "SdkGallery3"}
    assert {g.name for g in client.galleries.list()} == expected
    assert {g.name for g in client.galleries.list_by_resource_group(RG)} == expected
    assert {d.name for d in client.gallery_images.list_by_gallery(RG, "SdkGallery")} == {
        "ubuntu",
        "ubuntu-22_10",
        "ubuntu-24_04",
    }
    assert [
        v.name for v in client.gallery_image_versions.list_by_gallery_image(RG, "SdkGallery", "ubuntu")
    ] == [
        "1.0.0",
        "1.0.1",
        "1.1.0",
    ]

    # Update replica counts and exclude-from-latest (PATCH), finished when replication is.
    updated = client.gallery_image_versions.begin_update(
        RG,
        "SdkGallery",
        "ubuntu",
        "1.0.0",
        m.GalleryImageVersionUpdate(
            publishing_profile=m.GalleryImageVersionPublishingProfile(
                target_regions=[
                    m.TargetRegion(name="westeurope", regional_replica_count=2),
                    m.TargetRegion(name="eastus", regional_replica_count=1),
                ],
                exclude_from_latest=True,
            )
        ),
    ).result()
    assert updated.provisioning_state == "Succeeded"
    assert updated.publishing_profile.exclude_from_latest is True
    assert {(t.name, t.regional_replica_count) for t in updated.publishing_profile.target_regions} == {
        ("West Europe", 2),
        ("East US", 1),
    }

    # Refusals of the service layer, read from the SDK's exception.
    with pytest.raises(HttpResponseError) as immutable:
        client.gallery_images.begin_update(
            RG,
            "SdkGallery",
            "ubuntu",
            m.GalleryImageUpdate(
                os_type="Linux",
                os_state="Generalized",
                identifier=m.GalleryImageIdentifier(publisher="Other", offer="Ubuntu", sku="22_04"),
            ),
        ).result()
    assert immutable.value.status_code == 409
    assert immutable.value.error.code == "PropertyChangeNotAllowed"
    assert immutable.value.error.target == "properties.identifier.publisher"

    with pytest.raises(HttpResponseError) as invalid:
        client.gallery_image_versions.begin_create_or_update(
            RG,
            "SdkGallery",
            "ubuntu",
            "2.0.0",
            _version_body(image.arm_id, [("westeurope", 1), ("Atlantis", 1)]),
        ).result()
    assert invalid.value.status_code == 400
    assert invalid.value.error.code == "InvalidParameter"
    assert invalid.value.error.target == "properties.publishingProfile.targetRegions[1].name"

    # Delete everything; each deletion finishes when the resource is gone.
    for name in ("1.0.0", "1.0.1", "1.1.0"):
        client.gallery_image_versions.begin_delete(RG, "SdkGallery", "ubuntu", name).result()
    with pytest.raises(ResourceNotFoundError):
        client.gallery_image_versions.get(RG, "SdkGallery", "ubuntu", "1.0.0")
    for name in ("ubuntu", "ubuntu-22_10", "ubuntu-24_04"):
        client.gallery_images.begin_delete(RG, "SdkGallery", name).result()
    for name in expected:
        client.galleries.begin_delete(RG, name).result()
    assert list(client.galleries.list_by_resource_group(RG)) == []


def test_a_failed_replication_fails_the_operation_with_the_region_and_its_error(
    sdk, user, subscription, rg, image, gallery, definition, celery_processes, tmp_path
):
    east_root = tmp_path / "eastus-store"
    east_root.write_text("not a folder: East US's store refuses every write")
    celery_processes.worker(
        regions=["westeurope", "eastus"],
        env={"REGION_STORAGE_ROOTS": f"eastus={east_root}", "REPLICATION_MAX_ATTEMPTS": 1},
    )
    client = sdk(subscription)
    poller = client.gallery_image_versions.begin_create_or_update(
        RG,
        gallery.name,
        definition.name,
        "1.0.0",
        _version_body(image.arm_id, [("westeurope", 1), ("eastus", 1)]),
    )
    with pytest.raises(HttpResponseError) as failed:
        poller.result()
    error = failed.value.error
    assert error.code == "ReplicationFailed" and "East US" in error.message
    assert error.target == "properties.publishingProfile.targetRegions"
    assert [d.target for d in error.details] == ["eastus"] and "Not a directory" in error.details[0].message
    got = client.gallery_image_versions.get(
        RG, gallery.name, definition.name, "1.0.0", expand="ReplicationStatus"
    )
    assert got.provisioning_state == "Failed" and got.replication_status.aggregated_state == "Failed"
    states = {s.region: (s.state, s.details) for s in got.replication_status.summary}
    assert states["West Europe"] == ("Completed", None)
    assert states["East US"][0] == "Failed" and "Not a directory" in states["East US"][1]
