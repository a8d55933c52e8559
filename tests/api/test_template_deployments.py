"""Template deployments (F20, issue 15 part 1): ``Microsoft.Resources/deployments`` at resource-group
scope, through the Django test client and azure-mgmt-resource. Azure's quickstart templates (in
``tests/fixtures/templates/``) deploy unchanged; refusals come before anything exists; a failing
resource fails the deployment with one detail per failed resource and leaves the earlier ones. Image
versions (replication by a real worker), Complete mode, cancel and exportTemplate:
``test_template_deployment_versions.py``."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.resource.deployments import DeploymentsMgmtClient
from azure.mgmt.resource.deployments import models as rm

from accounts.models import ActivityLogEntry
from accounts.services import create_user
from accounts.sharing import grant_as_system
from galleries.models import Gallery, GalleryImage, TemplateDeployment

from .conftest import bearer_for as _bearer

V = "2025-04-01"
TEMPLATES = Path(__file__).resolve().parent.parent / "fixtures" / "templates"


def template(name: str) -> dict:
    return json.loads((TEMPLATES / name / "azuredeploy.json").read_text())


def _url(subscription, rg, tail="") -> str:
    return (
        f"/subscriptions/{subscription.guid}/resourcegroups/{rg.name}/providers/Microsoft.Resources/"
        f"deployments{tail}?api-version={V}"
    )


def _put(client, url, body, bearer, method="put"):
    return getattr(client, method)(url, body, content_type="application/json", **bearer)


def _deploy_body(tpl: dict, **params) -> dict:
    return {
        "properties": {
            "mode": "Incremental",
            "template": tpl,
            "parameters": {k: {"value": v} for k, v in params.items()},
        }
    }


def test_quickstarts_deploy_unchanged_through_the_sdk(pipeline, subscription, rg):
    # azure-mgmt-resource 26 moved deployments to azure-mgmt-resource-deployments 2.0.0, whose default
    # api-version (2026-06-01) the API does not list yet: pinned to 2025-04-01 (ResourceManagementClient's).
    client = pipeline(subscription, "owner", lambda *a, **kw: DeploymentsMgmtClient(*a, **kw, api_version=V))
    gallery = client.deployments.begin_create_or_update(
        rg.name,
        "sig",
        rm.Deployment(
            properties=rm.DeploymentProperties(
                mode="Incremental",
                template=template("sig-create"),
                parameters={"galleryName": {"value": "qs"}},
            )
        ),
    ).result()
    assert gallery.properties.provisioning_state == "Succeeded"
    assert Gallery.objects.get(name="qs").created_by == client.principal
    definition = client.deployments.begin_create_or_update(
        rg.name,
        "def",
        {
            "properties": {
                "mode": "Incremental",
                "template": template("sig-image-definition-create"),
                "parameters": {
                    "galleryName": {"value": "qs"},
                    "galleryImageDefinitionName": {"value": "ubuntu"},
                },
            }
        },
    ).result()
    assert definition.properties.provisioning_state == "Succeeded", definition.properties.error
    made = GalleryImage.objects.get(name="ubuntu")
    assert (made.publisher, made.offer, made.sku, made.os_type) == (
        "myPublisher",
        "myOffer",
        "mySku",
        "Linux",
    )
    assert made.location.name == "westeurope"  # resourceGroup().location
    names = [d.name for d in client.deployments.list_by_resource_group(rg.name)]
    assert names == ["sig", "def"]
    got = client.deployments.get(rg.name, "def")
    assert got.properties.parameters["galleryName"] == {"type": "String", "value": "qs"}
    assert [r.id for r in got.properties.output_resources] == [made.arm_id]
    ops = list(client.deployment_operations.list(rg.name, "def"))
    assert [(o.properties.provisioning_state, o.properties.target_resource.id) for o in ops] == [
        ("Succeeded", made.arm_id)
    ]
    validated = client.deployments.begin_validate(
        rg.name,
        "again",
        {
            "properties": {
                "mode": "Incremental",
                "template": template("sig-create"),
                "parameters": {"galleryName": {"value": "x"}},
            }
        },
    ).result()
    assert validated.properties.provisioning_state == "Succeeded"
    assert not Gallery.objects.filter(name="x").exists()  # validate creates nothing
    broken = template("sig-image-definition-create")
    broken["resources"][0]["properties"]["osType"] = "Plan9"
    with pytest.raises(HttpResponseError) as failed:  # the poller reads Failed from Azure-AsyncOperation
        client.deployments.begin_create_or_update(
            rg.name,
            "broken",
            {
                "properties": {
                    "mode": "Incremental",
                    "template": broken,
                    "parameters": {
                        "galleryName": {"value": "qs"},
                        "galleryImageDefinitionName": {"value": "x"},
                    },
                }
            },
        ).result()
    assert "DeploymentFailed" in str(failed.value)
    client.deployments.begin_delete(rg.name, "broken").result()
    client.deployments.begin_delete(rg.name, "sig").result()
    assert [d.name for d in client.deployments.list_by_resource_group(rg.name)] == ["def"]
    assert Gallery.objects.filter(name="qs").exists()  # deleting the record leaves the resources


def test_outputs_and_dependencies(client, bearer, user, subscription, rg):
    tpl = {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {"name": {"type": "string"}, "secret": {"type": "securestring", "defaultValue": "s3"}},
        "resources": [
            {
                "type": "Microsoft.Compute/galleries",
                "apiVersion": "2022-03-03",
                "name": "[parameters('name')]",
                "location": "[resourceGroup().location]",
                "properties": {"description": "first"},
            },
            {
                "type": "Microsoft.Compute/galleries/images",
                "apiVersion": "2022-03-03",
                "name": "[concat(parameters('name'), '/def')]",
                "location": "[resourceGroup().location]",
                "dependsOn": ["[resourceId('Microsoft.Compute/galleries', parameters('name'))]"],
                "properties": {
                    "osType": "Linux",
                    "osState": "Generalized",
                    "identifier": {"publisher": "p", "offer": "o", "sku": "s"},
                    "description": "[reference(resourceId('Microsoft.Compute/galleries', parameters('name'))).description]",
                },
            },
        ],
        "outputs": {
            "unique": {
                "type": "string",
                "value": "[reference(resourceId('Microsoft.Compute/galleries', parameters('name'))).identifier.uniqueName]",
            }
        },
    }
    response = _put(client, _url(subscription, rg, "/d1"), _deploy_body(tpl, name="g1"), bearer)
    assert response.status_code == 201, response.content
    props = response.json()["properties"]
    assert props["provisioningState"] == "Succeeded", props
    assert props["outputs"]["unique"]["value"] == Gallery.objects.get(name="g1").unique_name
    assert props["parameters"]["secret"] == {"type": "SecureString"}  # secure values are not kept
    assert GalleryImage.objects.get(name="def").description == "first"
    assert props["dependencies"][0]["dependsOn"][0]["resourceName"] == "g1"
    gallery = Gallery.objects.get(name="g1")
    entry = ActivityLogEntry.objects.get(resource_arm_id=gallery.arm_id, operation__endswith="/write")
    assert (entry.principal, entry.source, entry.status) == (user, "api", "Succeeded")
    again = _put(client, _url(subscription, rg, "/d1"), _deploy_body(tpl, name="g1"), bearer)
    assert again.status_code == 200, again.content  # a deployed name: the record is replaced
    assert again.json()["properties"]["provisioningState"] == "Succeeded"
    assert TemplateDeployment.objects.count() == 1


def test_a_bad_template_is_refused_before_anything_exists(client, bearer, subscription, rg):
    tpl = template("sig-create")
    tpl["resources"].append({**tpl["resources"][0], "name": "[nosuch('x')]"})
    response = _put(client, _url(subscription, rg, "/bad"), _deploy_body(tpl, galleryName="g"), bearer)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "InvalidTemplate"
    assert not Gallery.objects.exists() and not TemplateDeployment.objects.exists()
    validate = _put(
        client, _url(subscription, rg, "/bad/validate"), _deploy_body(tpl, galleryName="g"), bearer, "post"
    )
    assert validate.status_code == 400 and validate.json()["error"]["code"] == "InvalidTemplate"


@pytest.mark.parametrize(
    "properties, target",
    [
        ({"templateLink": {"uri": "https://x"}}, "properties.templateLink"),
        ({"template": {}, "mode": "Replace"}, "properties.mode"),
        ({"template": {}, "debugSetting": {}}, "properties.debugSetting"),
        ({"template": "x"}, "properties.template"),
        ({"template": {}, "parameters": []}, "properties.parameters"),
    ],
)
def test_unimplemented_properties_are_refused(client, bearer, subscription, rg, properties, target):
    response = _put(client, _url(subscription, rg, "/x"), {"properties": properties}, bearer)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["target"] == target


def test_a_failing_resource_fails_the_deployment_and_leaves_the_earlier_ones(
    client, bearer, subscription, rg
):
    tpl = template("sig-create")
    tpl["resources"].append(
        {
            "type": "Microsoft.Compute/galleries/images",
            "apiVersion": "2019-12-01",
            "name": "[concat(parameters('galleryName'), '/def')]",
            "location": "[parameters('location')]",
            "dependsOn": ["[parameters('galleryName')]"],
            "properties": {
                "osType": "Plan9",
                "osState": "Generalized",
                "identifier": {"publisher": "p", "offer": "o", "sku": "s"},
            },
        }
    )
    response = _put(client, _url(subscription, rg, "/f"), _deploy_body(tpl, galleryName="kept"), bearer)
    assert response.status_code == 201, response.content
    props = response.json()["properties"]
    assert props["provisioningState"] == "Failed"
    assert props["error"]["code"] == "DeploymentFailed"
    [detail] = props["error"]["details"]
    # ARM's shape: the failed resource's id as the target, the service's error (naming the property) inside.
    assert detail["target"].endswith("/galleries/kept/images/def"), detail
    [inner] = detail["details"]
    assert "osType" in (inner.get("target") or "") + inner["message"], inner
    assert Gallery.objects.filter(name="kept").exists() and not GalleryImage.objects.exists()
    ops_url = f"/subscriptions/{subscription.guid}/resourcegroups/{rg.name}/deployments/f/operations?api-version={V}"
    ops = client.get(ops_url, **bearer).json()["value"]
    assert [o["properties"]["provisioningState"] for o in ops] == ["Succeeded", "Failed"]
    assert ops[1]["properties"]["statusMessage"]["error"]["code"]
    one = client.get(ops_url.replace("/operations?", f"/operations/{ops[1]['operationId']}?"), **bearer)
    assert one.status_code == 200 and one.json() == ops[1]
    status = client.get(response["Azure-AsyncOperation"], **bearer).json()
    assert status["status"] == "Failed" and status["error"]["code"] == "DeploymentFailed"


def test_without_write_on_the_group_nothing_is_deployed(client, subscription, rg, tenant):
    reader = create_user(tenant, "reader@example.com", "x" * 12)
    grant_as_system(subscription, reader, "reader")
    outsider = create_user(tenant, "outsider@example.com", "x" * 12)
    body = _deploy_body(template("sig-create"), galleryName="no")
    refused = _put(client, _url(subscription, rg, "/p"), body, _bearer(reader))
    assert refused.status_code == 403, refused.content
    assert refused.json()["error"]["code"] == "AuthorizationFailed"
    hidden = _put(client, _url(subscription, rg, "/p"), body, _bearer(outsider))
    assert hidden.status_code == 404, hidden.content
    assert not Gallery.objects.exists() and not TemplateDeployment.objects.exists()


def test_get_of_a_missing_deployment_is_404(client, bearer, subscription, rg):
    response = client.get(_url(subscription, rg, "/none"), **bearer)
    assert response.status_code == 404
    assert response.json()["error"]["code"]


@pytest.mark.parametrize("name", ["d" * 65, "bad!name", "tab\tname"])  # a NUL is the kernel's (target "path")
@pytest.mark.parametrize("tail", ["", "/validate", "/whatIf"])
def test_a_name_arm_refuses_is_400_naming_it(client, bearer, subscription, rg, name, tail):
    """ARM's deploymentName (1–64 of letters, digits, - _ . ( )): refused before anything is kept — never
    the database's length error."""
    url = _url(subscription, rg, f"/{quote(name)}{tail}")
    response = _put(
        client, url, _deploy_body(template("sig-create"), galleryName="g"), bearer, "post" if tail else "put"
    )
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["target"] == "name" and "64" in error["message"], error
    assert not TemplateDeployment.objects.exists() and not Gallery.objects.exists()
