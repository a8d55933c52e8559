"""Template deployments with image versions (issue 15): a version's operation runs until a real region
worker has replicated it (``galleries.api.deploying``), the deployment is advanced by polls or, when
nobody polls, by the beat task; Complete mode deletes what the group holds and the template does not
name (a version's replicas removed by the worker first); cancel and exportTemplate."""

from __future__ import annotations

import copy

import pytest
from azure.mgmt.resource.deployments import DeploymentsMgmtClient
from azure.mgmt.resource.deployments import models as rm
from conftest import wait_for

from accounts.activity import Caller
from accounts.models import UserRoleAssignment
from accounts.services import create_user
from accounts.sharing import grant_as_system, remove_assignment
from galleries import services
from galleries.models import (
    Gallery,
    GalleryImage,
    GalleryImageVersion,
    Replica,
    TemplateDeployment,
    VersionDisk,
)
from galleries.services import TargetRegionSpec as T
from galleries.tasks import advance_template_deployments

from .conftest import bearer_for as _bearer
from .test_template_deployments import V, _url, template
from .test_template_deployments import _put as _send

PS = GalleryImageVersion.ProvisioningState


def _body(tpl: dict, mode="Incremental", **params) -> dict:
    return {
        "properties": {
            "mode": mode,
            "template": tpl,
            "parameters": {k: {"value": v} for k, v in params.items()},
        }
    }


def _version_params(image, gallery, definition, name="1.0.0") -> dict:
    return {
        "existingManagedImageID": image.arm_id,
        "existingGalleryName": gallery.name,
        "existingGalleryImageDefinitionName": definition.name,
        "galleryImageVersionName": name,
    }


def _ops_url(subscription, rg, name) -> str:
    """DeploymentOperations_List: ``…/resourcegroups/{rg}/deployments/{name}/operations`` (no provider
    segment, as resources.json has it)."""
    return f"/subscriptions/{subscription.guid}/resourcegroups/{rg.name}/deployments/{name}/operations?api-version={V}"


def _state(client, subscription, rg, name, bearer) -> str:
    """A GET of the deployment (which advances it): its provisioning state."""
    return client.get(_url(subscription, rg, f"/{name}"), **bearer).json()["properties"]["provisioningState"]


def _ops(client, subscription, rg, name, bearer) -> list[tuple[str, str, str]]:
    ops = client.get(_ops_url(subscription, rg, name), **bearer).json()["value"]
    return [
        (
            o["properties"]["provisioningOperation"],
            o["properties"]["targetResource"]["resourceName"],
            o["properties"]["provisioningState"],
        )
        for o in ops
    ]


def _gallery_template(*names: str) -> dict:
    return {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": [
            {
                "type": "Microsoft.Compute/galleries",
                "apiVersion": "2022-03-03",
                "name": name,
                "location": "[resourceGroup().location]",
                "properties": {},
            }
            for name in names
        ],
    }


# --- 2. The quickstart sig-image-version-create, through the SDK, with a real worker ---------------------


def test_the_version_quickstart_deploys_unchanged_and_succeeds_once_replicated(
    pipeline, celery_processes, subscription, rg, image, gallery, definition
):
    celery_processes.worker(regions=["westeurope"])
    client = pipeline(subscription, "owner", lambda *a, **kw: DeploymentsMgmtClient(*a, **kw, api_version=V))
    poller = client.deployments.begin_create_or_update(
        rg.name,
        "version",
        rm.Deployment(
            properties=rm.DeploymentProperties(
                mode="Incremental",
                template=template("sig-image-version-create"),
                parameters={k: {"value": v} for k, v in _version_params(image, gallery, definition).items()},
            )
        ),
    )
    # The PUT answered while the version was still replicating.
    initial = poller.polling_method()._initial_response.http_response
    assert initial.status_code == 201
    assert initial.json()["properties"]["provisioningState"] == "Running"
    done = poller.result()
    assert done.properties.provisioning_state == "Succeeded", done.properties.error
    version = GalleryImageVersion.objects.get(definition=definition, name="1.0.0")
    assert version.provisioning_state == PS.SUCCEEDED
    assert version.created_by == client.principal
    assert Replica.objects.filter(target_region__version=version, verified_at__isnull=False).exists()
    # hostCaching ReadWrite, as the quickstart sends it
    assert VersionDisk.objects.get(version=version, lun=None).host_caching == "ReadWrite"
    assert done.properties.outputs == {
        "existingGalleryName": {"type": "String", "value": gallery.name},
        "galleryImageVersion": {"type": "String", "value": "1.0.0"},
        "existingGalleryImageDefinitionName": {"type": "String", "value": definition.name},
    }
    assert [r.id for r in done.properties.output_resources] == [version.arm_id]
    ops = list(client.deployment_operations.list(rg.name, "version"))
    assert [
        (
            o.properties.provisioning_operation,
            o.properties.provisioning_state,
            o.properties.target_resource.id,
        )
        for o in ops
    ] == [("Create", "Succeeded", version.arm_id)]


def test_a_failed_replication_fails_the_deployment(
    client, bearer, celery_processes, subscription, rg, image, gallery, definition, tmp_path
):
    east_root = tmp_path / "eastus-store"
    east_root.write_text("not a folder: East US's store refuses every write")
    celery_processes.worker(
        regions=["westeurope", "eastus"],
        env={"REGION_STORAGE_ROOTS": f"eastus={east_root}", "REPLICATION_MAX_ATTEMPTS": 1},
    )
    tpl = template("sig-image-version-create")
    tpl["resources"][0]["properties"]["publishingProfile"]["targetRegions"].append({"name": "eastus"})
    params = _version_params(image, gallery, definition)
    response = _send(client, _url(subscription, rg, "/fails"), _body(tpl, **params), bearer)
    assert response.status_code == 201, response.content
    assert response.json()["properties"]["provisioningState"] == "Running"
    wait_for(
        lambda: _state(client, subscription, rg, "fails", bearer) != "Running", 120, "the deployment to end"
    )
    props = client.get(_url(subscription, rg, "/fails"), **bearer).json()["properties"]
    assert props["provisioningState"] == "Failed"
    assert props["error"]["code"] == "DeploymentFailed"
    [detail] = props["error"]["details"]
    assert detail["code"] == "ReplicationFailed" and detail["target"].endswith("/versions/1.0.0")
    ops = client.get(_ops_url(subscription, rg, "fails"), **bearer).json()["value"]
    [op] = ops
    assert op["properties"]["provisioningState"] == "Failed"
    assert op["properties"]["statusMessage"]["error"]["code"] == "ReplicationFailed"
    version = GalleryImageVersion.objects.get(definition=definition)
    assert version.provisioning_state == PS.FAILED  # what was deployed stays, as ARM leaves it


def test_the_beat_task_finishes_a_deployment_nobody_polls(
    client, bearer, celery_processes, subscription, rg, image, gallery, definition
):
    celery_processes.worker(regions=["westeurope"])
    params = _version_params(image, gallery, definition)
    response = _send(
        client,
        _url(subscription, rg, "/unwatched"),
        _body(template("sig-image-version-create"), **params),
        bearer,
    )
    assert response.json()["properties"]["provisioningState"] == "Running"
    version = GalleryImageVersion.objects.get(definition=definition)
    wait_for(
        lambda: GalleryImageVersion.objects.get(pk=version.pk).provisioning_state == PS.SUCCEEDED,
        120,
        "the worker to replicate the version",
    )
    assert TemplateDeployment.objects.get(name="unwatched").state == "Running"  # nobody asked yet
    assert advance_template_deployments() == 0
    d = TemplateDeployment.objects.get(name="unwatched")
    assert d.state == "Succeeded" and d.values == ""  # the parameter values are cleared at the end
    assert d.outputs["galleryImageVersion"]["value"] == "1.0.0"


# --- 3. Complete mode -------------------------------------------------------------------------------------


@pytest.fixture
def g2_with_a_replicated_version(caller, rg, image, celery_processes):
    """Gallery g2 (not in the templates below) with a definition and a version a real worker replicated."""
    celery_processes.worker(regions=["westeurope"])
    g2 = services.create_gallery(caller, rg, "g2")
    d2 = services.create_definition(
        caller, g2, "d2", os_type="Linux", os_state="Generalized", publisher="p", offer="o", sku="s"
    )
    v2 = services.create_version(
        caller, d2, "1.0.0", location="westeurope", source=image, target_regions=[T("westeurope", 1)]
    )
    wait_for(
        lambda: GalleryImageVersion.objects.get(pk=v2.pk).provisioning_state == PS.SUCCEEDED,
        120,
        "the worker to replicate g2's version",
    )
    assert Replica.objects.filter(target_region__version=v2).exists()
    return g2, d2, v2


def test_complete_mode_deletes_what_the_template_does_not_name(
    client, bearer, subscription, rg, g2_with_a_replicated_version
):
    g2, d2, v2 = g2_with_a_replicated_version
    response = _send(
        client, _url(subscription, rg, "/complete"), _body(_gallery_template("g1"), "Complete"), bearer
    )
    assert response.status_code == 201, response.content
    # The version's replicas are removed by the worker first: the deployment waits for them.
    assert response.json()["properties"]["provisioningState"] == "Running"
    wait_for(lambda: _state(client, subscription, rg, "complete", bearer) != "Running", 120, "the deletions")
    assert _state(client, subscription, rg, "complete", bearer) == "Succeeded"
    assert list(Gallery.objects.values_list("name", flat=True)) == ["g1"]
    assert not GalleryImage.objects.exists() and not GalleryImageVersion.objects.exists()
    assert not Replica.objects.exists()
    assert _ops(client, subscription, rg, "complete", bearer) == [
        ("Create", "g1", "Succeeded"),
        ("Delete", "g2/d2/1.0.0", "Succeeded"),
        ("Delete", "g2/d2", "Succeeded"),
        ("Delete", "g2", "Succeeded"),
    ]
    body = client.get(_url(subscription, rg, "/complete"), **bearer).json()["properties"]
    assert [r["id"] for r in body["outputResources"]] == [Gallery.objects.get(name="g1").arm_id]
    ops = client.get(_ops_url(subscription, rg, "complete"), **bearer).json()["value"]
    assert {o["properties"]["statusCode"] for o in ops[1:]} == {"OK"}
    assert ops[1]["properties"]["targetResource"] == {
        "id": v2.arm_id,
        "resourceType": "Microsoft.Compute/galleries/images/versions",
        "resourceName": "g2/d2/1.0.0",
    }


def test_incremental_mode_leaves_what_the_template_does_not_name(
    client, bearer, subscription, rg, g2_with_a_replicated_version
):
    response = _send(client, _url(subscription, rg, "/inc"), _body(_gallery_template("g1")), bearer)
    assert response.json()["properties"]["provisioningState"] == "Succeeded"
    assert sorted(Gallery.objects.values_list("name", flat=True)) == ["g1", "g2"]
    assert GalleryImageVersion.objects.get().provisioning_state == PS.SUCCEEDED
    assert _ops(client, subscription, rg, "inc", bearer) == [("Create", "g1", "Succeeded")]


def test_complete_mode_without_delete_on_a_resource_fails_that_operation(
    client, subscription, rg, tenant, image, gallery, definition, g2_with_a_replicated_version
):
    """The deployment runs as its principal: a contributor of the group when it started, whose access
    was narrowed while it waited for a version's replication (reader of the group, contributor of the
    gallery it deploys into) — the deletions Complete mode asks for are then refused, each its own
    failed Delete operation, and the deployment fails; nothing is deleted."""
    g2, d2, v2 = g2_with_a_replicated_version
    deployer = create_user(tenant, "deployer@example.com", "x" * 12)
    grant_as_system(rg, deployer, "contributor")
    bearer = _bearer(deployer)
    tpl = template("sig-image-version-create")
    params = _version_params(image, gallery, definition)
    response = _send(client, _url(subscription, rg, "/narrowed"), _body(tpl, "Complete", **params), bearer)
    assert response.json()["properties"]["provisioningState"] == "Running", response.content
    [assignment] = UserRoleAssignment.objects.filter(user=deployer, content_object=rg)
    remove_assignment(Caller.system(), rg, f"u:{assignment.pk}")
    grant_as_system(rg, deployer, "reader")
    grant_as_system(gallery, deployer, "contributor")
    wait_for(lambda: _state(client, subscription, rg, "narrowed", bearer) != "Running", 120, "the deployment")
    props = client.get(_url(subscription, rg, "/narrowed"), **bearer).json()["properties"]
    assert props["provisioningState"] == "Failed" and props["error"]["code"] == "DeploymentFailed"
    assert {d["code"] for d in props["error"]["details"]} == {"AuthorizationFailed"}
    ops = _ops(client, subscription, rg, "narrowed", bearer)
    assert ops[0] == ("Create", f"{gallery.name}/{definition.name}/1.0.0", "Succeeded")
    assert ("Delete", "g2/d2/1.0.0", "Failed") in ops
    assert (
        Gallery.objects.filter(name="g2").exists() and GalleryImageVersion.objects.filter(pk=v2.pk).exists()
    )


# --- 4. Cancel, DELETE while running, exportTemplate --------------------------------------------------------


def test_cancel_stops_a_deployment_waiting_for_replication(
    client, bearer, subscription, rg, image, gallery, definition
):
    # No worker: the version waits for replication, and so does the deployment.
    params = _version_params(image, gallery, definition)
    tpl = template("sig-image-version-create")
    tpl["resources"].append(
        {
            "type": "Microsoft.Compute/galleries",
            "apiVersion": "2022-03-03",
            "name": "later",
            "location": "[resourceGroup().location]",
            "dependsOn": [
                "[resourceId('Microsoft.Compute/galleries/images/versions', parameters('existingGalleryName'), "
                "parameters('existingGalleryImageDefinitionName'), parameters('galleryImageVersionName'))]"
            ],
            "properties": {},
        }
    )
    response = _send(client, _url(subscription, rg, "/c"), _body(tpl, **params), bearer)
    assert response.json()["properties"]["provisioningState"] == "Running", response.content
    busy = client.delete(_url(subscription, rg, "/c"), **bearer)
    assert busy.status_code == 409, busy.content  # a running deployment's record is not deleted
    canceled = _send(client, _url(subscription, rg, "/c/cancel"), None, bearer, "post")
    assert canceled.status_code == 204, canceled.content
    props = client.get(_url(subscription, rg, "/c"), **bearer).json()["properties"]
    assert props["provisioningState"] == "Canceled"
    assert GalleryImageVersion.objects.filter(definition=definition).exists()  # what is deployed stays
    assert advance_template_deployments() == 0  # later advances do not carry it on
    assert _state(client, subscription, rg, "c", bearer) == "Canceled"
    assert not Gallery.objects.filter(name="later").exists()
    again = _send(client, _url(subscription, rg, "/c/cancel"), None, bearer, "post")
    assert again.status_code == 409, again.content  # only an accepted or running one can be canceled
    assert client.delete(_url(subscription, rg, "/c"), **bearer).status_code == 204


def test_cancel_of_a_finished_deployment_is_409(client, bearer, subscription, rg):
    done = _send(client, _url(subscription, rg, "/done"), _body(_gallery_template("g1")), bearer)
    assert done.json()["properties"]["provisioningState"] == "Succeeded"
    refused = _send(client, _url(subscription, rg, "/done/cancel"), None, bearer, "post")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "Conflict", refused.content
    assert _state(client, subscription, rg, "done", bearer) == "Succeeded"


def test_export_template_answers_the_template_as_sent(client, bearer, subscription, rg):
    tpl = copy.deepcopy(template("sig-create"))
    tpl["metadata"] = {"comments": "kept as sent"}
    _send(client, _url(subscription, rg, "/e"), _body(tpl, galleryName="exported"), bearer)
    exported = _send(client, _url(subscription, rg, "/e/exportTemplate"), None, bearer, "post")
    assert exported.status_code == 200, exported.content
    assert exported.json() == {"template": tpl}


def test_cancel_and_export_need_access(client, bearer, subscription, rg, tenant):
    _send(client, _url(subscription, rg, "/x"), _body(_gallery_template("g1")), bearer)
    reader = create_user(tenant, "reader@example.com", "x" * 12)
    grant_as_system(subscription, reader, "reader")
    outsider = create_user(tenant, "outsider@example.com", "x" * 12)
    refused = _send(client, _url(subscription, rg, "/x/cancel"), None, _bearer(reader), "post")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "AuthorizationFailed"
    # exportTemplate is an action (…/deployments/exportTemplate/action), which Azure's Reader (*/read) has not.
    refused = _send(client, _url(subscription, rg, "/x/exportTemplate"), None, _bearer(reader), "post")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "AuthorizationFailed"
    for tail in ("/x/cancel", "/x/exportTemplate"):
        hidden = _send(client, _url(subscription, rg, tail), None, _bearer(outsider), "post")
        assert hidden.status_code == 404, (tail, hidden.content)
