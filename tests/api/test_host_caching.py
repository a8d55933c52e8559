"""An image version's disks' ``hostCaching`` (Azure's ``GalleryDiskImage.hostCaching``, enum ``HostCaching``:
None, ReadOnly, ReadWrite): kept per disk as given at creation (None when not given), shown by GET,
refused by name when not one of the three, and never changed afterwards (409 ``PropertyChangeNotAllowed``
naming the disk's property, as a changed source is)."""

from __future__ import annotations

import pytest
from azure.mgmt.compute import models as m

from galleries.api import arm_versions
from galleries.models import VersionDisk

NEWEST = max(arm_versions.GALLERY_API_VERSIONS)


@pytest.fixture
def url(subscription, rg, gallery, definition):
    return (
        f"/subscriptions/{subscription.guid}/resourceGroups/{rg.name}/providers/Microsoft.Compute/galleries/"
        f"{gallery.name}/images/{definition.name}/versions/1.0.0?api-version={NEWEST}"
    )


def _body(source_id: str, os_caching=None, data=None) -> dict:
    storage: dict = {"source": {"id": source_id}}
    if os_caching is not None:
        storage["osDiskImage"] = {"hostCaching": os_caching}
    if data is not None:
        storage["dataDiskImages"] = data
    return {"location": "westeurope", "properties": {"storageProfile": storage}}


def _send(client, url, body, bearer, method="put"):
    return getattr(client, method)(url, body, content_type="application/json", **bearer)


def _error(response, status: int, code: str, target: str) -> None:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert (error["code"], error["target"]) == (code, target), error


def test_host_caching_is_kept_per_disk_and_shown(client, bearer, url, make_image):
    source = make_image("withdata", data_luns=(1, 2))
    data = [{"lun": 1, "hostCaching": "readwrite"}, {"lun": 2}]  # Azure's enum reader ignores case
    created = _send(client, url, _body(source.arm_id, "ReadOnly", data), bearer)
    assert created.status_code == 201, created.content
    stored = dict(VersionDisk.objects.values_list("lun", "host_caching"))
    assert stored == {None: "ReadOnly", 1: "ReadWrite", 2: "None"}
    storage = client.get(url, **bearer).json()["properties"]["storageProfile"]
    assert storage["osDiskImage"]["hostCaching"] == "ReadOnly"
    assert [(d["lun"], d["hostCaching"]) for d in storage["dataDiskImages"]] == [
        (1, "ReadWrite"),
        (2, "None"),
    ]


def test_a_version_without_host_caching_has_none(client, bearer, url, image):
    assert _send(client, url, _body(image.arm_id), bearer).status_code == 201
    shown = client.get(url, **bearer).json()["properties"]["storageProfile"]["osDiskImage"]
    assert shown["hostCaching"] == "None"


@pytest.mark.parametrize(
    ("os_caching", "data", "target"),
    [
        ("Fast", None, "properties.storageProfile.osDiskImage.hostCaching"),
        ("", None, "properties.storageProfile.osDiskImage.hostCaching"),
        (
            None,
            [{"lun": 1}, {"lun": 2, "hostCaching": "WriteOnly"}],
            "properties.storageProfile.dataDiskImages[1].hostCaching",
        ),
        (7, None, "properties.storageProfile.osDiskImage.hostCaching"),
    ],
)
def test_a_value_outside_azures_enum_is_refused_by_name(
    client, bearer, url, make_image, os_caching, data, target
):
    source = make_image("withdata", data_luns=(1, 2))
    _error(
        _send(client, url, _body(source.arm_id, os_caching, data), bearer), 400, "InvalidParameter", target
    )
    assert not VersionDisk.objects.exists()


def test_host_caching_cannot_change_after_creation(client, bearer, url, make_image):
    source = make_image("withdata", data_luns=(1,))
    first = _body(source.arm_id, "ReadWrite", [{"lun": 1, "hostCaching": "ReadOnly"}])
    assert _send(client, url, first, bearer).status_code == 201
    os_changed = _body(source.arm_id, "ReadOnly", [{"lun": 1, "hostCaching": "ReadOnly"}])
    _error(
        _send(client, url, os_changed, bearer),
        409,  # the code and status of every immutable property here (a changed source too)
        "PropertyChangeNotAllowed",
        "properties.storageProfile.osDiskImage.hostCaching",
    )
    data_changed = {"properties": {"storageProfile": {"dataDiskImages": [{"lun": 1, "hostCaching": "None"}]}}}
    _error(
        _send(client, url, data_changed, bearer, "patch"),
        409,  # the code and status of every immutable property here (a changed source too)
        "PropertyChangeNotAllowed",
        "properties.storageProfile.dataDiskImages[0].hostCaching",
    )
    assert dict(VersionDisk.objects.values_list("lun", "host_caching")) == {None: "ReadWrite", 1: "ReadOnly"}
    # What GET shows, sent back unchanged (or in another case), is no change.
    again = client.get(url, **bearer).json()
    again["properties"]["storageProfile"]["osDiskImage"]["hostCaching"] = "readwrite"
    assert _send(client, url, again, bearer).status_code == 200


def test_the_sdk_sends_and_reads_host_caching(sdk, subscription, rg, gallery, definition, image):
    client = sdk(subscription)
    # The PUT is sent by begin_create_or_update; replication (the poller) is not waited for here.
    client.gallery_image_versions.begin_create_or_update(
        rg.name,
        gallery.name,
        definition.name,
        "1.0.0",
        m.GalleryImageVersion(
            location="westeurope",
            storage_profile=m.GalleryImageVersionStorageProfile(
                source=m.GalleryArtifactVersionFullSource(id=image.arm_id),
                os_disk_image=m.GalleryOSDiskImage(host_caching="ReadOnly"),
            ),
        ),
    )
    got = client.gallery_image_versions.get(rg.name, gallery.name, definition.name, "1.0.0")
    assert got.storage_profile.os_disk_image.host_caching == "ReadOnly"
