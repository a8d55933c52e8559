"""Microsoft.Resources over ARM (F21), through the Django test client and the real azure-mgmt-resource
SDK: resource groups created, tagged, checked for existence and deleted as a long-running operation that
deletes what is inside (through each type's service and the activity log); ARM's ``$filter`` grammar
and ``$expand`` on the resource listings; tenants, providers and compute usages."""

from __future__ import annotations

import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.resource.resources import models as rm

from accounts import tokens
from accounts.activity import Caller
from accounts.models import ActivityLogEntry, Resource, ResourceGroup
from accounts.services import create_user
from accounts.sharing import grant_as_system
from galleries import services
from galleries.api import arm_versions
from galleries.models import ArmOperation, Blob, Gallery, GalleryImageVersion, Region, UsageCounter

V = "2025-04-01"
COMPUTE_V = max(arm_versions.IMAGE_API_VERSIONS)


def _sub(subscription) -> str:
    return f"/subscriptions/{subscription.guid}"


def arm_error(response, status: int, code: str):
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code, error
    return error


def _json(client, method, url, body, bearer):
    return getattr(client, method)(url, body, content_type="application/json", **bearer)


# --- Resource groups ------------------------------------------------------------------------------------


def test_create_update_tags_and_check_existence(client, bearer, subscription):
    url = f"{_sub(subscription)}/resourcegroups/apps?api-version={V}"
    created = _json(client, "put", url, {"location": "West Europe", "tags": {"team": "a"}}, bearer)
    assert created.status_code == 201, created.content
    assert created.json() == {
        "id": f"/subscriptions/{subscription.guid}/resourceGroups/apps",
        "name": "apps",
        "type": "Microsoft.Resources/resourceGroups",
        "location": "westeurope",
        "tags": {"team": "a"},
        "properties": {"provisioningState": "Succeeded"},
    }
    again = _json(client, "put", url, {"location": "westeurope", "tags": {"team": "b"}}, bearer)
    assert again.status_code == 200 and again.json()["tags"] == {"team": "b"}
    arm_error(_json(client, "put", url, {"location": "eastus"}, bearer), 409, "InvalidResourceGroupLocation")
    arm_error(_json(client, "put", url, {"tags": {}}, bearer), 400, "LocationRequired")
    arm_error(
        _json(client, "put", url, {"location": "westeurope", "managedBy": "x"}, bearer),
        400,
        "InvalidParameter",
    )
    patched = _json(client, "patch", url, {"tags": {"env": "prod"}}, bearer)
    assert patched.status_code == 200 and patched.json()["tags"] == {"env": "prod"}
    assert ResourceGroup.objects.get(name="apps").tags == {"env": "prod"}

    assert client.head(url, **bearer).status_code == 204
    missing = client.head(f"{_sub(subscription)}/resourcegroups/nope?api-version={V}", **bearer)
    assert missing.status_code == 404 and not missing.content
    arm_error(
        client.get(f"{_sub(subscription)}/resourcegroups/nope?api-version={V}", **bearer),
        404,
        "ResourceGroupNotFound",
    )
    bad = _json(
        client,
        "put",
        f"{_sub(subscription)}/resourcegroups/bad.?api-version={V}",
        {"location": "westeurope"},
        bearer,
    )
    arm_error(bad, 400, "InvalidParameter")


def test_creating_needs_write_on_the_subscription_and_deleting_delete_on_the_group(
    client, user, subscription, rg
):
    reader = create_user(user.home_tenant, "rita@contoso.test", "Rita-Pass-1")
    grant_as_system(subscription, reader, "reader")
    theirs = {
        "HTTP_AUTHORIZATION": f"Bearer {tokens.issue(reader, base='http://testserver')['access_token']}"
    }
    r = _json(
        client,
        "put",
        f"{_sub(subscription)}/resourcegroups/new?api-version={V}",
        {"location": "westeurope"},
        theirs,
    )
    arm_error(r, 403, "AuthorizationFailed")
    arm_error(
        _json(client, "patch", f"{_sub(subscription)}/resourcegroups/images?api-version={V}", {}, theirs),
        403,
        "AuthorizationFailed",
    )
    arm_error(
        client.delete(f"{_sub(subscription)}/resourcegroups/images?api-version={V}", **theirs),
        403,
        "AuthorizationFailed",
    )
    assert ResourceGroup.objects.filter(name="images").exists() and not ArmOperation.objects.exists()
    stranger = create_user(user.home_tenant, "sam@contoso.test", "Sam-Pass-1")
    nobody = {
        "HTTP_AUTHORIZATION": f"Bearer {tokens.issue(stranger, base='http://testserver')['access_token']}"
    }
    arm_error(
        client.delete(f"{_sub(subscription)}/resourcegroups/images?api-version={V}", **nobody),
        404,
        "SubscriptionNotFound",
    )


def _version(client, bearer, subscription, image, rg="images"):
    base = f"{_sub(subscription)}/resourceGroups/{rg}/providers/Microsoft.Compute/galleries/g1"
    nv = max(arm_versions.GALLERY_API_VERSIONS)
    _json(client, "put", f"{base}?api-version={nv}", {"location": "westeurope"}, bearer)
    definition = {
        "location": "westeurope",
        "properties": {
            "osType": "Linux",
            "osState": "Generalized",
            "hyperVGeneration": "V1",
            "identifier": {"publisher": "P", "offer": "O", "sku": "S"},
        },
    }
    _json(client, "put", f"{base}/images/d1?api-version={nv}", definition, bearer)
    version = {
        "location": "westeurope",
        "properties": {
            "publishingProfile": {"targetRegions": [{"name": "westeurope"}]},
            "storageProfile": {"source": {"id": image.arm_id}},
        },
    }
    r = _json(client, "put", f"{base}/images/d1/versions/1.0.0?api-version={nv}", version, bearer)
    assert r.status_code == 201, r.content


def test_deleting_a_group_deletes_everything_inside_then_the_group(
    client, bearer, subscription, rg, image, make_blob
):
    _version(client, bearer, subscription, image)
    make_blob(name="pending.vhd")  # an upload in the group too
    grant_as_system(rg, create_user(rg.tenant, "gus@contoso.test", "Gus-Pass-1"), "reader")  # goes with it
    # A replica still being removed by its region's worker: the deletion waits for it.
    GalleryImageVersion.objects.update(provisioning_state="Deleting")
    url = f"{_sub(subscription)}/resourcegroups/images?api-version={V}"
    deleted = client.delete(url, **bearer)
    assert deleted.status_code == 202 and not deleted.content
    assert "Azure-AsyncOperation" not in deleted
    location = deleted["Location"]
    assert location.startswith(f"http://testserver/subscriptions/{subscription.guid}/operationresults/")
    assert f"api-version={V}" in location
    running = client.get(location.removeprefix("http://testserver"), **bearer)
    assert running.status_code == 202 and running["Location"] == location and running["Retry-After"] == "0"
    assert client.get(url, **bearer).json()["properties"]["provisioningState"] == "Deleting"
    assert Gallery.objects.exists() and image.__class__.objects.exists()  # both wait for the version
    services.finish_version_deletion(GalleryImageVersion.objects.get())  # what the last region's worker does
    done = client.get(location.removeprefix("http://testserver"), **bearer)
    assert done.status_code == 200, done.content
    assert not Resource.objects.filter(resource_group_id=rg.pk).exists()
    assert not ResourceGroup.objects.filter(pk=rg.pk).exists() and not Blob.objects.exists()
    assert UsageCounter.objects.filter(count__gt=0).count() == 0
    logged = list(
        ActivityLogEntry.objects.filter(operation__endswith="/delete").values_list("operation", flat=True)
    )
    for op in (
        "Microsoft.Compute/galleries/delete",
        "Microsoft.Compute/images/delete",
        "Microsoft.Resources/resourceGroups/delete",
    ):
        assert op in logged, logged
    arm_error(client.get(url, **bearer), 404, "ResourceGroupNotFound")
    arm_error(client.delete(url, **bearer), 404, "ResourceGroupNotFound")


def test_a_deletion_nobody_polls_still_ends(client, bearer, subscription, rg, image):
    """``az group delete --no-wait``: beat's task carries on once the workers removed the replicas."""
    from galleries.tasks import advance_group_deletions

    _version(client, bearer, subscription, image)
    GalleryImageVersion.objects.update(provisioning_state="Deleting")
    assert (
        client.delete(f"{_sub(subscription)}/resourcegroups/images?api-version={V}", **bearer).status_code
        == 202
    )
    assert advance_group_deletions() == 0 and ResourceGroup.objects.filter(pk=rg.pk).exists()
    services.finish_version_deletion(GalleryImageVersion.objects.get())
    assert advance_group_deletions() == 1
    assert not ResourceGroup.objects.filter(pk=rg.pk).exists()
    assert ArmOperation.objects.get(resource_type="Microsoft.Resources/resourceGroups").status == "Succeeded"


def test_a_deletion_refused_inside_fails_the_operation(client, bearer, subscription, rg, image, caller):
    """A version in another group published from this group's managed image: the image cannot go."""
    from accounts.services import create_resource_group

    create_resource_group(caller, subscription, "other", "westeurope")
    _version(client, bearer, subscription, image, rg="other")
    deleted = client.delete(f"{_sub(subscription)}/resourcegroups/images?api-version={V}", **bearer)
    assert deleted.status_code == 202
    failed = client.get(deleted["Location"].removeprefix("http://testserver"), **bearer)
    error = arm_error(failed, 409, "Conflict")
    assert "delete that version first" in error["message"]
    assert ResourceGroup.objects.filter(pk=rg.pk).exists()


def test_the_sdk_drives_resource_groups(pipeline, user, subscription, rg):
    client = pipeline(subscription, "owner", ResourceManagementClient)
    group = client.resource_groups.create_or_update(
        "sdk", rm.ResourceGroup(location="eastus", tags={"a": "1"})
    )
    assert (
        group.name == "sdk"
        and group.location == "eastus"
        and group.properties.provisioning_state == "Succeeded"
    )
    assert client.resource_groups.check_existence("sdk") is True
    assert client.resource_groups.check_existence("absent") is False
    assert client.resource_groups.update("sdk", rm.ResourceGroupPatchable(tags={"b": "2"})).tags == {"b": "2"}
    names = {g.name for g in client.resource_groups.list(filter="tagName eq 'b' and tagValue eq '2'")}
    assert names == {"sdk"}
    assert {g.name for g in client.resource_groups.list()} == {"sdk", "images"}
    services.create_gallery(Caller(principal=user), rg, "g1")
    listed = list(
        client.resources.list(
            filter="resourceGroup eq 'images' and resourceType eq 'Microsoft.Compute/galleries'",
            expand="createdTime,changedTime,provisioningState",
        )
    )
    assert [r.name for r in listed] == ["g1"] and listed[0].provisioning_state == "Succeeded"
    assert listed[0].created_time is not None
    assert client.resource_groups.begin_delete("sdk").result() is None
    with pytest.raises(ResourceNotFoundError):
        client.resource_groups.get("sdk")
    with pytest.raises(HttpResponseError) as refused:
        list(client.resources.list(filter="plan eq 'x'"))
    assert refused.value.error.code == "InvalidFilterInQueryString"
    compute = client.providers.get("Microsoft.Compute")
    galleries = next(t for t in compute.resource_types if t.resource_type == "galleries")
    assert (
        compute.registration_state == "Registered"
        and max(arm_versions.GALLERY_API_VERSIONS) in galleries.api_versions
    )
    assert "West Europe" in galleries.locations
    assert {p.namespace for p in client.providers.list()} == {
        "Microsoft.Compute",
        "Microsoft.Resources",
        "Microsoft.Authorization",
    }
    assert client.providers.register("Microsoft.Compute").registration_state == "Registered"


# --- Resource listings: $filter and $expand -----------------------------------------------------------------


def test_the_filter_grammar_narrows_the_listing(client, bearer, caller, subscription, rg):
    from accounts.services import create_resource_group

    other = create_resource_group(caller, subscription, "Other", "eastus")
    services.create_gallery(caller, rg, "alpha", tags={"env": "prod", "dept": "a"})
    services.create_gallery(caller, rg, "beta", tags={"env": "dev"})
    services.create_gallery(caller, other, "gamma", tags={"department": "x"})
    url = f"{_sub(subscription)}/resources"

    def names(flt):
        r = client.get(url, {"api-version": V, "$filter": flt}, **bearer)
        assert r.status_code == 200, r.content
        return sorted(x["name"] for x in r.json()["value"])

    galleries = "resourceType eq 'Microsoft.Compute/galleries'"
    assert names(galleries) == ["alpha", "beta", "gamma"]
    assert names(f"resourceGroup eq 'IMAGES' and {galleries}") == ["alpha", "beta"]
    assert names("resourcegroup eq 'other'") == ["gamma"]
    assert names(f"location eq 'East US' and {galleries}") == ["gamma"]
    assert names("name eq 'Alpha'") == ["alpha"]
    assert names(f"name ne 'alpha' and {galleries}") == ["beta", "gamma"]
    assert names("substringof('ET', name)") == ["beta"]
    assert names("substringof('a', name) and (resourceGroup eq 'other' or name eq 'beta')") == [
        "beta",
        "gamma",
    ]
    assert names("tagName eq 'env'") == ["alpha", "beta"]
    assert names("tagName eq 'env' and tagValue eq 'prod'") == ["alpha"]
    assert names("startswith(tagName, 'dep')") == ["alpha", "gamma"]
    assert names("name eq 'it''s'") == []
    for bad, clause in (
        ("plan eq 'x'", "plan eq 'x'"),
        ("tagValue eq 'prod'", "tagValue eq 'prod'"),
        ("substringof('a', location)", "substringof('a', location)"),
        ("name gt 'a'", "gt"),
        ("name eq 'a' and", "and"),
    ):
        r = client.get(url, {"api-version": V, "$filter": bad}, **bearer)
        error = arm_error(r, 400, "InvalidFilterInQueryString")
        assert error["message"].startswith(f"Invalid $filter '{bad}' specified in the query string.")
        assert clause in error["message"].split("query string.", 1)[1]
    groups = client.get(
        f"{_sub(subscription)}/resourcegroups", {"api-version": V, "$filter": "tagname eq 'x'"}, **bearer
    )
    assert groups.status_code == 200 and groups.json()["value"] == []
    arm_error(
        client.get(
            f"{_sub(subscription)}/resourcegroups",
            {"api-version": V, "$filter": "name eq 'images'"},
            **bearer,
        ),
        400,
        "InvalidFilterInQueryString",
    )
    in_group = client.get(
        f"{_sub(subscription)}/resourceGroups/Other/resources",
        {"api-version": V, "$filter": galleries},
        **bearer,
    )
    assert [x["name"] for x in in_group.json()["value"]] == ["gamma"]


def test_expand_adds_times_and_state_and_refuses_the_rest(client, bearer, caller, subscription, rg):
    services.create_gallery(caller, rg, "alpha")
    url = f"{_sub(subscription)}/resources"
    plain = client.get(url, {"api-version": V}, **bearer).json()["value"][0]
    assert set(plain) == {"id", "name", "type", "location", "tags"}
    full = client.get(
        url, {"api-version": V, "$expand": "createdTime,changedTime,provisioningState"}, **bearer
    )
    item = full.json()["value"][0]
    assert (
        item["provisioningState"] == "Succeeded" and item["createdTime"].endswith("Z") and item["changedTime"]
    )
    arm_error(client.get(url, {"api-version": V, "$expand": "plan"}, **bearer), 400, "InvalidParameter")


# --- Tenants, providers, usages -------------------------------------------------------------------------------


def test_tenants_providers_and_usages(client, bearer, user, caller, subscription, rg):
    tenants = client.get("/tenants", {"api-version": "2022-12-01"}, **bearer).json()["value"]
    assert tenants == [
        {
            "id": f"/tenants/{user.home_tenant.tenant_id}",
            "tenantId": str(user.home_tenant.tenant_id),
            "tenantCategory": "Home",
            "displayName": user.home_tenant.name,
            "defaultDomain": user.home_tenant.primary_domain,
            "domains": [user.home_tenant.primary_domain],
            "tenantType": "AAD",
        }
    ]
    sub = client.get(f"{_sub(subscription)}", {"api-version": V}, **bearer).json()
    assert sub["tenantId"] == str(user.home_tenant.tenant_id) and sub["state"] == "Enabled"
    tenant_level = client.get("/providers/microsoft.compute", {"api-version": V}, **bearer).json()
    assert tenant_level["id"] == "/providers/Microsoft.Compute" and "registrationState" not in tenant_level
    assert len(client.get("/providers", {"api-version": V}, **bearer).json()["value"]) == 3
    arm_error(
        client.get(f"{_sub(subscription)}/providers/Microsoft.Nope", {"api-version": V}, **bearer),
        400,
        "InvalidResourceNamespace",
    )
    shouted = client.get(
        f"{_sub(subscription)}/PROVIDERS/microsoft.compute/Locations/westeurope/USAGES",
        {"api-version": COMPUTE_V},
        **bearer,
    )
    assert shouted.status_code == 200  # ARM paths are case-insensitive
    registered = client.post(
        f"{_sub(subscription)}/providers/Microsoft.Compute/register?api-version={V}", **bearer
    )
    assert registered.status_code == 200 and registered.json()["registrationState"] == "Registered"

    services.create_gallery(caller, rg, "g1")
    usages = client.get(
        f"{_sub(subscription)}/providers/Microsoft.Compute/locations/westeurope/usages",
        {"api-version": COMPUTE_V},
        **bearer,
    )
    assert usages.status_code == 200
    assert usages.json()["value"][0] == {
        "unit": "Count",
        "currentValue": 1,
        "limit": subscription.limit_galleries,
        "name": {"value": "galleries", "localizedValue": "Galleries"},
    }
    assert [u["name"]["value"] for u in usages.json()["value"]] == [
        "galleries",
        "galleryImages",
        "galleryImageVersions",
    ]
    arm_error(
        client.get(
            f"{_sub(subscription)}/providers/Microsoft.Compute/locations/mars/usages",
            {"api-version": COMPUTE_V},
            **bearer,
        ),
        400,
        "InvalidParameter",
    )


def test_subscription_locations_are_the_region_catalogue(client, bearer, subscription):
    """``az account list-locations``: Subscriptions - List Locations, every region with its zones."""
    r = client.get(f"/subscriptions/{subscription.guid}/locations?api-version=2022-12-01", **bearer)
    assert r.status_code == 200
    by_name = {loc["name"]: loc for loc in r.json()["value"]}
    west = by_name["westeurope"]
    assert west["id"] == f"/subscriptions/{subscription.guid}/locations/westeurope"
    assert west["type"] == "Region" and west["displayName"] == "West Europe"
    assert [z["logicalZone"] for z in west["availabilityZoneMappings"]] == ["1", "2", "3"]
    assert "availabilityZoneMappings" not in by_name["australiasoutheast"]  # no zones there
    assert set(by_name) == set(Region.objects.values_list("name", flat=True))
    other = client.get(f"/subscriptions/{uuid.uuid4()}/locations?api-version=2022-12-01", **bearer)
    assert other.status_code == 404 and other.json()["error"]["code"] == "SubscriptionNotFound"
