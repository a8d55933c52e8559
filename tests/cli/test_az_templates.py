"""``az deployment group …`` (azure-cli 2.91.0) against the portal over HTTPS (issue 15): Azure's
quickstart templates (``tests/fixtures/templates/``) deployed unchanged with their parameter files, then
``show``, ``list``, ``operation group list``, ``validate``, ``export``, ``cancel`` and ``delete``; the
created resources read back with ``az sig … show``. One portal per test: the scenario shares it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accounts import directory
from accounts.activity import Caller
from accounts.models import ServicePrincipal
from accounts.sharing import grant_as_system
from galleries.models import Gallery, GalleryImage, TemplateDeployment

from .conftest import AzError

RG = "images"
TEMPLATES = Path(__file__).resolve().parent.parent / "fixtures" / "templates"


def quickstart(name: str) -> list[str]:
    """``--template-file`` and ``--parameters @…`` of a quickstart, unchanged."""
    folder = TEMPLATES / name
    return [
        "--template-file", str(folder / "azuredeploy.json"),
        "--parameters", f"@{folder / 'azuredeploy.parameters.json'}",
    ]  # fmt: skip


def sign_in(az, https_portal, tenant, subscription) -> None:
    """The cloud from /metadata/endpoints, then a service principal (owner of the subscription)."""
    az("cloud", "register", "-n", "Portal", "--endpoint-resource-manager", https_portal.url + "/")
    az("cloud", "set", "-n", "Portal")
    app = directory.register_app(Caller.system(), tenant, "Deployer")
    secret = directory.add_client_secret(Caller.system(), app, "ci")[1]
    grant_as_system(subscription, ServicePrincipal.objects.get(app=app, tenant=tenant).user, "owner")
    az(
        "login", "--service-principal", "-u", str(app.client_id), f"--password={secret}",
        "--tenant", str(tenant.tenant_id),
    )  # fmt: skip


def write(tmp_path: Path, name: str, template: dict) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(template))
    return str(path)


#: A gallery and an output read from it with reference().
WITH_OUTPUTS = {
    "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
    "contentVersion": "1.0.0.0",
    "parameters": {"name": {"type": "string"}},
    "resources": [
        {
            "type": "Microsoft.Compute/galleries",
            "apiVersion": "2022-03-03",
            "name": "[parameters('name')]",
            "location": "[resourceGroup().location]",
            "tags": {"from": "[deployment().name]"},
            "properties": {"description": "with outputs"},
        }
    ],
    "outputs": {
        "unique": {
            "type": "string",
            "value": "[reference(resourceId('Microsoft.Compute/galleries', parameters('name'))).identifier.uniqueName]",
        },
        "name": {"type": "string", "value": "[parameters('name')]"},
    },
}


def version_template(image_id: str) -> dict:
    """One image version of ``qs/ubuntu`` from ``image_id`` (no worker: it stays replicating)."""
    return {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": [
            {
                "type": "Microsoft.Compute/galleries/images/versions",
                "apiVersion": "2022-03-03",
                "name": "qs/ubuntu/1.0.0",
                "location": "[resourceGroup().location]",
                "properties": {
                    "publishingProfile": {"targetRegions": [{"name": "westeurope"}]},
                    "storageProfile": {"source": {"id": image_id}},
                },
            }
        ],
    }


def test_az_deployment_group(az, https_portal, tenant, subscription, rg, image, tmp_path):
    sign_in(az, https_portal, tenant, subscription)

    # The quickstarts, their parameter files unchanged; the names that file leaves to the user
    # (GEN-UNIQUE, GET-PREREQ-…) given on the command line, as the quickstart's README says.
    sig = az(
        "deployment", "group", "create", "-g", RG, "-n", "sig", *quickstart("sig-create"),
        "--parameters", "galleryName=qs",
    )  # fmt: skip
    assert sig["name"] == "sig" and sig["properties"]["provisioningState"] == "Succeeded"
    assert sig["properties"]["parameters"]["galleryName"] == {"type": "String", "value": "qs"}
    gallery = az("sig", "show", "-g", RG, "-r", "qs")
    assert gallery["description"] == "My Private Gallery" and gallery["location"] == "westeurope"
    assert [r["id"] for r in sig["properties"]["outputResources"]] == [gallery["id"]]

    definition = az(
        "deployment", "group", "create", "-g", RG, "-n", "def", *quickstart("sig-image-definition-create"),
        "--parameters", "galleryName=qs", "galleryImageDefinitionName=ubuntu",
    )  # fmt: skip
    assert definition["properties"]["provisioningState"] == "Succeeded", definition["properties"]
    shown = az("sig", "image-definition", "show", "-g", RG, "-r", "qs", "-i", "ubuntu")
    assert shown["identifier"] == {"publisher": "myPublisher", "offer": "myOffer", "sku": "mySku"}
    assert shown["recommended"]["memory"] == {"min": 2048, "max": 307720}
    assert shown["osType"] == "Linux" and shown["description"] == "Sample Gallery Image Description"

    # Outputs, read from the deployed resource with reference().
    outputs = az(
        "deployment", "group", "create", "-g", RG, "-n", "outputs",
        "--template-file", write(tmp_path, "outputs.json", WITH_OUTPUTS), "--parameters", "name=out",
    )  # fmt: skip
    assert outputs["properties"]["outputs"] == {
        "unique": {"type": "String", "value": Gallery.objects.get(name="out").unique_name},
        "name": {"type": "String", "value": "out"},
    }
    assert Gallery.objects.get(name="out").tags == {"from": "outputs"}

    # show, list, operations.
    assert az("deployment", "group", "show", "-g", RG, "-n", "def")["id"] == definition["id"]
    assert [d["name"] for d in az("deployment", "group", "list", "-g", RG)] == ["sig", "def", "outputs"]
    ops = az("deployment", "operation", "group", "list", "-g", RG, "-n", "def")
    assert [
        (o["properties"]["provisioningOperation"], o["properties"]["provisioningState"],
         o["properties"]["targetResource"]["id"])
        for o in ops
    ] == [("Create", "Succeeded", shown["id"])]  # fmt: skip

    # validate: the checks, nothing created; a bad template is refused with the engine's error.
    validated = az(
        "deployment", "group", "validate", "-g", RG, *quickstart("sig-create"), "--parameters", "galleryName=x",
    )  # fmt: skip
    assert validated["properties"]["provisioningState"] == "Succeeded"
    assert [r["id"] for r in validated["properties"]["validatedResources"]] == [
        gallery["id"].replace("/qs", "/x")
    ]
    assert not Gallery.objects.filter(name="x").exists()
    broken = dict(WITH_OUTPUTS, resources=[dict(WITH_OUTPUTS["resources"][0], name="[nosuch()]")])
    with pytest.raises(AzError, match="InvalidTemplate"):
        az(
            "deployment", "group", "validate", "-g", RG,
            "--template-file", write(tmp_path, "broken.json", broken), "--parameters", "name=y",
        )  # fmt: skip

    # export: the template as deployed.
    exported = az("deployment", "group", "export", "-g", RG, "-n", "sig")
    assert exported == json.loads((TEMPLATES / "sig-create" / "azuredeploy.json").read_text())

    # cancel: a version that cannot replicate (no region worker) keeps its deployment running.
    az(
        "deployment", "group", "create", "-g", RG, "-n", "slow", "--no-wait",
        "--template-file", write(tmp_path, "version.json", version_template(image.arm_id)),
    )  # fmt: skip
    assert (
        az("deployment", "group", "show", "-g", RG, "-n", "slow")["properties"]["provisioningState"]
        == "Running"
    )
    az("deployment", "group", "cancel", "-g", RG, "-n", "slow")
    canceled = az("deployment", "group", "show", "-g", RG, "-n", "slow")["properties"]
    assert canceled["provisioningState"] == "Canceled"
    assert canceled["error"]["code"] == "DeploymentCanceled"
    with pytest.raises(AzError, match="only an accepted or running deployment can be canceled"):
        az("deployment", "group", "cancel", "-g", RG, "-n", "slow")

    # delete: the record goes, the resources stay.
    az("deployment", "group", "delete", "-g", RG, "-n", "sig")
    assert [d["name"] for d in az("deployment", "group", "list", "-g", RG)] == ["def", "outputs", "slow"]
    assert Gallery.objects.filter(name="qs").exists()


@pytest.fixture
def worker(celery_processes):
    return celery_processes.worker(regions=["westeurope"])


def test_az_deploys_the_image_version_quickstart(
    az, https_portal, tenant, subscription, rg, gallery, definition, image, worker
):
    """The quickstart unchanged (its osDiskImage.hostCaching ReadWrite included): the deployment ends when
    the version has replicated; a what-if of the same deployment then reports no change."""
    sign_in(az, https_portal, tenant, subscription)
    args = [
        *quickstart("sig-image-version-create"), "--parameters", f"existingGalleryName={gallery.name}",
        f"existingGalleryImageDefinitionName={definition.name}", f"existingManagedImageID={image.arm_id}",
    ]  # fmt: skip
    version = az("deployment", "group", "create", "-g", RG, "-n", "version", *args, timeout=300)
    props = version["properties"]
    assert props["provisioningState"] == "Succeeded", props
    assert props["outputs"] == {
        "existingGalleryName": {"type": "String", "value": gallery.name},
        "galleryImageVersion": {"type": "String", "value": "0.0.1"},
        "existingGalleryImageDefinitionName": {"type": "String", "value": definition.name},
    }
    shown = az(
        "sig", "image-version", "show", "-g", RG, "-r", gallery.name, "-i", definition.name, "-e", "0.0.1"
    )
    assert shown["provisioningState"] == "Succeeded"
    assert shown["storageProfile"]["osDiskImage"]["hostCaching"] == "ReadWrite"
    assert shown["storageProfile"]["source"]["id"].lower() == image.arm_id.lower()
    result = az("deployment", "group", "what-if", "-g", RG, "-n", "version", *args, "--no-pretty-print")
    assert result["status"] == "Succeeded", result
    assert [c["changeType"] for c in result["changes"]] == ["NoChange"], result["changes"]


def test_az_what_if_of_a_redeploy_reports_no_change(az, https_portal, tenant, subscription, rg):
    sign_in(az, https_portal, tenant, subscription)
    args = [*quickstart("sig-image-definition-create"), "--parameters", "galleryName=qs",
            "galleryImageDefinitionName=ubuntu"]  # fmt: skip
    az(
        "deployment",
        "group",
        "create",
        "-g",
        RG,
        "-n",
        "sig",
        *quickstart("sig-create"),
        "--parameters",
        "galleryName=qs",
    )
    az("deployment", "group", "create", "-g", RG, "-n", "def", *args)
    assert GalleryImage.objects.filter(name="ubuntu").exists()
    result = az("deployment", "group", "what-if", "-g", RG, "-n", "def", *args, "--no-pretty-print")
    assert result["status"] == "Succeeded", result
    changes = result["changes"]
    assert changes and {c["changeType"] for c in changes} == {"NoChange"}, changes
    assert TemplateDeployment.objects.filter(name="def").count() == 1
