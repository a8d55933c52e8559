"""Managed images and snapshots through the SDK; subscriptions, resource groups and the resource listings
(All Resources) through HTTP — each only what the caller may read."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ResourceNotFoundError

from accounts.activity import Caller
from accounts.services import create_resource_group, create_subscription, create_tenant, create_user
from galleries import services
from galleries.api import arm_versions

RESOURCES = max(arm_versions.RESOURCES_API_VERSIONS)


def test_managed_images_and_snapshots_through_the_sdk(sdk, user, subscription, rg, caller, image, make_blob):
    snap = services.create_snapshot(caller, rg, "data0", blob=make_blob(virtual_mib=1))
    client = sdk(subscription)
    got = client.images.get("images", image.name)
    assert got.id.lower() == image.arm_id.lower() and got.storage_profile.os_disk.os_type == "Linux"
    assert got.storage_profile.os_disk.disk_size_gb == 1 and got.hyper_v_generation == "V1"
    assert [i.name for i in client.images.list_by_resource_group("images")] == [image.name]
    assert [i.name for i in client.images.list()] == [image.name]
    s = client.snapshots.get("images", "data0")
    assert s.disk_size_bytes == snap.disk.size_bytes and s.sku.name == "Standard_LRS"
    assert [x.name for x in client.snapshots.list_by_resource_group("images")] == ["data0"]
    client.snapshots.begin_delete("images", "data0").result()
    with pytest.raises(ResourceNotFoundError):
        client.snapshots.get("images", "data0")


def test_subscriptions_and_resource_groups_show_what_the_caller_reaches(
    client, user, bearer, subscription, rg
):
    other = create_subscription(Caller.system(), user.home_tenant, "Not mine")
    create_resource_group(Caller.system(), other, "hidden", "westeurope")
    r = client.get(f"/subscriptions?api-version={RESOURCES}", **bearer)
    assert r.status_code == 200
    assert [s["subscriptionId"] for s in r.json()["value"]] == [str(subscription.guid)]
    body = client.get(f"/subscriptions/{subscription.guid}?api-version={RESOURCES}", **bearer).json()
    assert body["displayName"] == "Contoso Test" and body["state"] == "Enabled"
    assert client.get(f"/subscriptions/{other.guid}?api-version={RESOURCES}", **bearer).status_code == 404
    groups = client.get(
        f"/subscriptions/{subscription.guid}/resourcegroups?api-version={RESOURCES}", **bearer
    ).json()
    assert [g["name"] for g in groups["value"]] == ["images"]
    one = client.get(
        f"/subscriptions/{subscription.guid}/resourceGroups/IMAGES?api-version={RESOURCES}", **bearer
    )
    assert one.status_code == 200 and one.json()["type"] == "Microsoft.Resources/resourceGroups"
    missing = client.get(
        f"/subscriptions/{other.guid}/resourceGroups/hidden?api-version={RESOURCES}", **bearer
    )
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "SubscriptionNotFound"


def test_resource_listings_filter_by_type_and_cross_subscriptions(
    client, user, bearer, caller, subscription, rg, gallery, definition
):
    second = create_subscription(Caller.system(), user.home_tenant, "Second", owner=user)
    other_rg = create_resource_group(caller, second, "apps", "eastus")
    services.create_gallery(caller, other_rg, "AppsGallery")
    stranger = create_user(create_tenant("Fabrikam", "fabrikam.test"), "eve@fabrikam.test", "Eve-Pass-1")
    theirs = create_subscription(Caller.system(), stranger.home_tenant, "Theirs", owner=stranger)
    services.create_gallery(
        Caller(principal=stranger),
        create_resource_group(Caller(principal=stranger), theirs, "x", "westeurope"),
        "Secret",
    )

    everything = client.get(
        f"/providers/Microsoft.Resources/resources?api-version={RESOURCES}", **bearer
    ).json()["value"]
    names = {r["name"] for r in everything}
    assert {"Gallery1", "AppsGallery", "myImage1"} <= names and "Secret" not in names
    # The resources in the scopes, as ARM lists them: not the resource groups (nor subscriptions) themselves.
    assert not {r["type"] for r in everything} & {
        "Microsoft.Resources/resourceGroups",
        "Microsoft.Resources/subscriptions",
    }
    galleries = client.get(
        f"/providers/Microsoft.Resources/resources?api-version={RESOURCES}&$filter=resourceType eq 'microsoft.compute/galleries'",
        **bearer,
    ).json()["value"]
    assert sorted(r["name"] for r in galleries) == ["AppsGallery", "Gallery1"]
    in_first = client.get(
        f"/subscriptions/{subscription.guid}/resources?api-version={RESOURCES}", **bearer
    ).json()["value"]
    assert "AppsGallery" not in {r["name"] for r in in_first} and "Gallery1" in {r["name"] for r in in_first}
    in_rg = client.get(
        f"/subscriptions/{second.guid}/resourceGroups/apps/resources?api-version={RESOURCES}", **bearer
    )
    assert [r["name"] for r in in_rg.json()["value"]] == ["AppsGallery"]
    bad = client.get(
        f"/subscriptions/{subscription.guid}/resources?api-version={RESOURCES}&$filter=plan eq 'x'", **bearer
    )
    assert bad.status_code == 400 and bad.json()["error"]["target"] == "$filter"
    assert bad.json()["error"]["code"] == "InvalidFilterInQueryString"
