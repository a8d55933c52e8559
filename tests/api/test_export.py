"""``ResourceGroups_ExportTemplate`` (issue 15): the template Azure's export writes of a group's galleries,
definitions, versions, managed images and snapshots — through the real azure-mgmt-resource SDK (the
long-running operation the az CLI polls) and through the Django test client for every option, every
refusal and the access filter."""

from __future__ import annotations

import json

import pytest
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.resource.resources import models as rm

from accounts.activity import Caller
from accounts.services import create_resource_group, create_user
from accounts.sharing import grant_as_system
from galleries import deployments, services
from galleries.api import arm, arm_versions, export
from galleries.arm.evaluator import Scope
from galleries.arm.expand import expand, flatten
from galleries.models import GalleryImageVersion
from galleries.services import TargetRegionSpec

from .conftest import bearer_for as bearer_of

V = "2025-04-01"
GALLERY_V = max(arm_versions.GALLERY_API_VERSIONS)
IMAGE_V = max(arm_versions.IMAGE_API_VERSIONS)


@pytest.fixture
def group(caller, rg, gallery, definition, make_version, image):
    """``images``: Gallery1 (tagged) › myImage1 › 1.0.0 (from the managed image ``base``, also in the group)."""
    services.update_gallery(caller, gallery, description="test gallery", tags={"team": "platform"})
    make_version(
        target_regions=[
            TargetRegionSpec(name="westeurope"),
            TargetRegionSpec(name="northeurope", regional_replica_count=2),
        ]
    )
    return rg


def post(client, headers, subscription, body, rg="images", version=V):
    return client.post(
        f"/subscriptions/{subscription.guid}/resourcegroups/{rg}/exportTemplate?api-version={version}",
        json.dumps(body),
        content_type="application/json",
        **headers,
    )


def export_of(client, headers, subscription, body, rg="images") -> dict:
    """POST, then the Location (202, as Azure answers from 2019-08-01) → the result."""
    accepted = post(client, headers, subscription, body, rg)
    assert accepted.status_code == 202, accepted.content
    assert accepted.content == b"" and accepted["Retry-After"] == "0"
    location = accepted["Location"]
    assert location.startswith(f"http://testserver/subscriptions/{subscription.guid}/operationresults/")
    assert location.endswith(f"?api-version={V}")
    done = client.get(location.removeprefix("http://testserver"), **headers)
    assert done.status_code == 200, done.content
    return done.json()


def by_type(template: dict) -> dict:
    return {r["type"]: r for r in template["resources"]}


def get_properties(client, headers, arm_id: str, api_version: str) -> dict:
    r = client.get(f"{arm_id}?api-version={api_version}", **headers)
    assert r.status_code == 200, r.content
    return r.json()


def test_the_template_of_a_group(client, bearer, subscription, group, gallery, definition, image):
    result = export_of(client, bearer, subscription, {"resources": ["*"]})
    assert "error" not in result
    t = result["template"]
    assert t["$schema"] == "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
    assert t["contentVersion"] == "1.0.0.0" and t["variables"] == {}
    # One parameter per top-level resource, named as Azure names them; no default without the option.
    assert t["parameters"] == {
        "galleries_Gallery1_name": {"type": "String"},
        "images_base_name": {"type": "String"},
    }
    assert [r["type"] for r in t["resources"]] == [
        "Microsoft.Compute/galleries",
        "Microsoft.Compute/images",
        "Microsoft.Compute/galleries/images",
        "Microsoft.Compute/galleries/images/versions",
    ]
    r = by_type(t)
    g, d, v, i = (
        r["Microsoft.Compute/galleries"],
        r["Microsoft.Compute/galleries/images"],
        r["Microsoft.Compute/galleries/images/versions"],
        r["Microsoft.Compute/images"],
    )
    assert list(g) == ["type", "apiVersion", "name", "location", "tags", "properties"]
    assert g["apiVersion"] == GALLERY_V and i["apiVersion"] == IMAGE_V
    assert g["name"] == "[parameters('galleries_Gallery1_name')]"
    assert g["location"] == "westeurope" and g["tags"] == {"team": "platform"}
    assert g["properties"] == {"description": "test gallery"}  # identifier.uniqueName is read-only
    assert d["name"] == "[concat(parameters('galleries_Gallery1_name'), '/myImage1')]"
    assert d["dependsOn"] == [
        "[resourceId('Microsoft.Compute/galleries', parameters('galleries_Gallery1_name'))]"
    ]
    assert v["name"] == "[concat(parameters('galleries_Gallery1_name'), '/myImage1/1.0.0')]"
    image_ref = "[resourceId('Microsoft.Compute/images', parameters('images_base_name'))]"
    assert v["dependsOn"] == [
        "[resourceId('Microsoft.Compute/galleries/images', parameters('galleries_Gallery1_name'), 'myImage1')]",
        "[resourceId('Microsoft.Compute/galleries', parameters('galleries_Gallery1_name'))]",
        image_ref,
    ]
    assert i["name"] == "[parameters('images_base_name')]" and "dependsOn" not in i
    # Properties exactly as GET renders them at that api-version, minus the read-only ones.
    got = get_properties(client, bearer, definition.arm_id, GALLERY_V)["properties"]
    del got["provisioningState"]
    assert d["properties"] == got
    version = GalleryImageVersion.objects.get(definition=definition)
    got = get_properties(client, bearer, version.arm_id, GALLERY_V)["properties"]
    for gone in ("provisioningState",):
        del got[gone]
    del got["publishingProfile"]["publishedDate"]
    del got["storageProfile"]["osDiskImage"]["sizeInGB"]
    del got["safetyProfile"]["reportedForPolicyViolation"]
    got["storageProfile"]["source"]["id"] = image_ref
    assert v["properties"] == got
    assert {
        t["name"]: t["regionalReplicaCount"] for t in v["properties"]["publishingProfile"]["targetRegions"]
    } == {
        "West Europe": 1,
        "North Europe": 2,
    }
    got = get_properties(client, bearer, image.arm_id, IMAGE_V)["properties"]
    del got["provisioningState"]
    assert i["properties"] == got


def test_the_sdk_exports_as_the_az_cli_does(pipeline, subscription, group):
    """azure-mgmt-resource's ``begin_export_template`` — what ``az group export`` calls, at api-version
    2024-11-01 — polls the 202's Location (``final-state-via: location``) and reads the result."""
    client = pipeline(subscription, "reader", ResourceManagementClient)
    for api_version in ("2024-11-01", V):
        request = rm.ExportTemplateRequest(
            resources=["*"], options="IncludeParameterDefaultValue,IncludeComments", output_format="Json"
        )
        client._config.api_version = api_version  # the az CLI asks for 2024-11-01; the SDK's default is V
        result = client.resource_groups.begin_export_template("images", request).result()
        assert result.error is None
        template = result.template
        assert template["parameters"]["galleries_Gallery1_name"] == {
            "defaultValue": "Gallery1",
            "type": "String",
        }
        assert {r["type"] for r in template["resources"]} == set(export.API_VERSION) - {
            "Microsoft.Compute/snapshots"
        }
        assert all(
            r["comments"].startswith("Generalized from resource: '/subscriptions/")
            for r in template["resources"]
        )


def test_the_options(client, bearer, subscription, group, image):
    def template(options):
        return export_of(client, bearer, subscription, {"resources": ["*"], "options": options})["template"]

    with_defaults = template("includeparameterdefaultvalue , IncludeComments")
    assert with_defaults["parameters"] == {
        "galleries_Gallery1_name": {"defaultValue": "Gallery1", "type": "String"},
        "images_base_name": {"defaultValue": "base", "type": "String"},
    }
    gallery = by_type(with_defaults)["Microsoft.Compute/galleries"]
    assert list(gallery)[0] == "comments"
    assert gallery["comments"] == f"Generalized from resource: '{group.subscription and gallery_id(group)}'."

    literal = template("SkipResourceNameParameterization")
    assert literal["parameters"] == {}
    r = by_type(literal)
    assert r["Microsoft.Compute/galleries/images"]["name"] == "Gallery1/myImage1"
    assert r["Microsoft.Compute/galleries/images/versions"]["name"] == "Gallery1/myImage1/1.0.0"
    assert r["Microsoft.Compute/galleries/images/versions"]["dependsOn"] == [
        "[resourceId('Microsoft.Compute/galleries/images', 'Gallery1', 'myImage1')]",
        "[resourceId('Microsoft.Compute/galleries', 'Gallery1')]",
        "[resourceId('Microsoft.Compute/images', 'base')]",
    ]
    assert template("SkipAllParameterization")["parameters"] == {}


def gallery_id(rg) -> str:
    return f"{rg.arm_id}/providers/Microsoft.Compute/galleries/Gallery1"


def test_what_is_outside_the_export_is_a_parameter(client, bearer, subscription, group, definition, image):
    """Only the version asked for: its parents are named through the gallery's parameter but not depended
    on, and its source (not exported) is an external-id parameter — its id itself with
    SkipAllParameterization."""
    version = GalleryImageVersion.objects.get(definition=definition)
    body = {"resources": [version.arm_id.upper()], "options": "IncludeParameterDefaultValue"}
    t = export_of(client, bearer, subscription, body)["template"]
    assert [r["type"] for r in t["resources"]] == ["Microsoft.Compute/galleries/images/versions"]
    v = t["resources"][0]
    assert "dependsOn" not in v
    assert v["properties"]["storageProfile"]["source"]["id"] == "[parameters('images_base_externalid')]"
    assert t["parameters"] == {
        "galleries_Gallery1_name": {"defaultValue": "Gallery1", "type": "String"},
        "images_base_externalid": {"defaultValue": image.arm_id, "type": "String"},
    }
    body["options"] = "SkipAllParameterization"
    t = export_of(client, bearer, subscription, body)["template"]
    assert t["parameters"] == {}
    assert t["resources"][0]["properties"]["storageProfile"]["source"]["id"] == image.arm_id


def test_only_what_the_caller_may_read_is_exported(client, user, subscription, group, definition, gallery):
    """Reader on one definition: the group answers (something in it is readable) with that definition and
    its version only — the gallery and the managed image are parameters; someone who may read nothing in the
    group gets the 404 of a missing group, as every group endpoint."""
    tenant = user.home_tenant
    dana = create_user(tenant, "dana@contoso.test", "Dana-Pass-12", "Dana")
    grant_as_system(definition, dana, "reader")
    t = export_of(client, bearer_of(dana), subscription, {"resources": ["*"]})["template"]
    assert [r["type"] for r in t["resources"]] == [
        "Microsoft.Compute/galleries/images",
        "Microsoft.Compute/galleries/images/versions",
    ]
    assert "dependsOn" not in t["resources"][0]
    assert t["resources"][1]["dependsOn"] == [
        "[resourceId('Microsoft.Compute/galleries/images', parameters('galleries_Gallery1_name'), 'myImage1')]"
    ]
    assert set(t["parameters"]) == {"galleries_Gallery1_name", "images_base_externalid"}
    # An id she may not read is refused exactly as a missing one.
    hidden = post(client, bearer_of(dana), subscription, {"resources": [gallery.arm_id]})
    missing = post(client, bearer_of(dana), subscription, {"resources": [gallery.arm_id + "x"]})
    assert hidden.status_code == missing.status_code == 400
    assert hidden.json()["error"]["target"] == missing.json()["error"]["target"] == "resources[0]"
    assert "was not found in resource group 'images'" in hidden.json()["error"]["message"]
    erin = create_user(tenant, "erin@contoso.test", "Erin-Pass-12", "Erin")
    for rg in ("images", "absent"):
        r = post(client, bearer_of(erin), subscription, {"resources": ["*"]}, rg=rg)
        assert r.status_code == 404 and r.json()["error"]["code"] in (
            "ResourceGroupNotFound",
            "SubscriptionNotFound",
        )
    other = create_resource_group(Caller.system(), subscription, "empty", "westeurope")
    grant_as_system(other, erin, "reader")
    t = export_of(client, bearer_of(erin), subscription, {"resources": ["*"]}, rg="empty")["template"]
    assert t["resources"] == [] and t["parameters"] == {}


def test_the_result_url_is_the_askers_only(client, bearer, user, subscription, group):
    accepted = post(client, bearer, subscription, {"resources": ["*"]})
    path = accepted["Location"].removeprefix("http://testserver")
    frank = create_user(user.home_tenant, "frank@contoso.test", "Frank-Pass-12", "Frank")
    grant_as_system(subscription, frank, "reader")
    r = client.get(path, **bearer_of(frank))
    assert r.status_code == 404 and r.json()["error"]["code"] == "ResourceNotFound"
    token = path.split("/operationresults/")[1].split("?")[0]
    tampered = path.replace(token, token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    assert client.get(tampered, **bearer).status_code == 404
    assert client.get(path, **bearer).status_code == 200


def test_an_api_version_before_2019_08_01_answers_at_once(client, bearer, subscription, group):
    r = post(client, bearer, subscription, {"resources": ["*"]}, version="2019-05-10")
    assert r.status_code == 200
    assert len(r.json()["template"]["resources"]) == 4


@pytest.mark.parametrize(
    ("body", "target", "words"),
    [
        ({}, "resources", "required"),
        ({"resources": []}, "resources", "empty"),
        ({"resources": "*"}, "resources", "a list"),
        ({"resources": ["gallery1"]}, "resources[0]", "resource id"),
        ({"resources": [7]}, "resources[0]", "resource id"),
        ({"resources": ["*"], "options": "IncludeEverything"}, "options", "not an export option"),
        ({"resources": ["*"], "options": 3}, "options", "text"),
        ({"resources": ["*"], "outputFormat": "Bicep"}, "outputFormat", "not implemented"),
        ({"resources": ["*"], "format": "json"}, "format", "not a property"),
        ([], "body", "object"),
    ],
)
def test_bad_requests_are_refused_by_name(client, bearer, subscription, group, body, target, words):
    r = post(client, bearer, subscription, body)
    assert r.status_code == 400, r.content
    error = r.json()["error"]
    assert error["code"] == "InvalidParameter" and error["target"] == target, error
    assert words in error["message"], error


def test_types_the_api_does_not_serve_are_named_in_the_error(
    client, bearer, caller, subscription, group, image
):
    profile = deployments.OsProfile("web01", "azureuser", "Str0ng-Passw0rd!", "")
    deployments.create_deployment(caller, image, group, "vm1", os_profile=profile)
    result = export_of(client, bearer, subscription, {"resources": ["*"]})
    assert len(result["template"]["resources"]) == 4
    assert result["error"] == {
        "code": "ExportTemplateCompletedWithErrors",
        "message": "Export template operation completed with errors. Some resources were not exported. Please "
        "see details for more information.",
        "details": [
            {
                "code": "ExportTemplateProviderError",
                "target": "Microsoft.Compute/virtualMachines",
                "message": "Could not get resources of the type 'Microsoft.Compute/virtualMachines'. Resources "
                "of this type will not be exported.",
            }
        ],
    }


def test_every_exported_body_is_one_the_api_accepts(client, bearer, subscription, group, caller, make_blob):
    """What the export writes can be deployed: the template engine (``galleries.arm``) expands it into
    another group with other names, in dependency order, and each body passes the API's own readers
    (``galleries.api.arm``) without a refusal — nothing read-only or unknown is exported."""
    services.create_snapshot(caller, group, "data0", blob=make_blob(virtual_mib=1))
    t = export_of(client, bearer, subscription, {"resources": ["*"]})["template"]
    assert set(t["parameters"]) == {"galleries_Gallery1_name", "images_base_name", "snapshots_data0_name"}
    names = {"galleries_Gallery1_name": "Gallery2", "images_base_name": "base2", "snapshots_data0_name": "d2"}
    scope = Scope(str(subscription.guid), resource_group="copy", location="westeurope", deployment_name="rt")
    plan = expand(
        t,
        {k: {"value": v} for k, v in names.items()},
        scope,
        api_versions=lambda type_: {export.API_VERSION[type_]} if type_ in export.API_VERSION else None,
    )
    copy = f"/subscriptions/{subscription.guid}/resourceGroups/copy/providers/Microsoft.Compute"
    ids = {r.id: r for r in flatten(plan)}
    assert set(ids) == {
        f"{copy}/galleries/Gallery2",
        f"{copy}/galleries/Gallery2/images/myImage1",
        f"{copy}/galleries/Gallery2/images/myImage1/versions/1.0.0",
        f"{copy}/images/base2",
        f"{copy}/snapshots/d2",
    }
    version = ids[f"{copy}/galleries/Gallery2/images/myImage1/versions/1.0.0"]
    assert set(version.depends_on) == {
        f"{copy}/galleries/Gallery2/images/myImage1",
        f"{copy}/galleries/Gallery2",
        f"{copy}/images/base2",
    }
    readers = {
        "Microsoft.Compute/galleries": arm.gallery_in,
        "Microsoft.Compute/galleries/images": arm.definition_in,
        "Microsoft.Compute/galleries/images/versions": arm.version_in,
    }
    assert ids[f"{copy}/galleries/Gallery2"].body["tags"] == {"team": "platform"}
    for resource in ids.values():
        if resource.type in readers:
            parsed = readers[resource.type](resource.body, partial=False)
            assert parsed["location"] == "westeurope"
    assert arm.version_in(version.body, partial=False)["source"] == f"{copy}/images/base2"
    snap = next(r for r in t["resources"] if r["type"] == "Microsoft.Compute/snapshots")
    assert snap["sku"] == {"name": "Standard_LRS", "tier": "Standard"}
    assert not {"timeCreated", "diskSizeBytes", "provisioningState"} & set(snap["properties"])
