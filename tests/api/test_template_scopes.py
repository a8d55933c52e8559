"""Subscription-scope deployments, resource groups and role assignments in templates (issue 15):
``Microsoft.Resources/resourceGroups`` through the API's resource-group PUT, nested deployments that
target a group, ``Microsoft.Authorization/roleAssignments`` through the API's role-assignment PUT —
driven by azure-mgmt-resource-deployments (``*_at_subscription_scope``) and the Django test client."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.resource.deployments import DeploymentsMgmtClient

from accounts.models import ActivityLogEntry, ResourceGroup, UserRoleAssignment
from accounts.roles import role
from accounts.services import create_user
from accounts.sharing import grant_as_system
from galleries.models import Gallery, TemplateDeployment

from .conftest import bearer_for as _bearer

V = "2025-04-01"
SCHEMA = "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#"
READER = role("reader").guid


def _sub_url(subscription, tail="") -> str:
    return (
        f"/subscriptions/{subscription.guid}/providers/Microsoft.Resources/deployments{tail}?api-version={V}"
    )


def _put(client, url, body, bearer, method="put"):
    return getattr(client, method)(url, body, content_type="application/json", **bearer)


def _tpl(*resources, parameters=None) -> dict:
    return {
        "$schema": SCHEMA,
        "contentVersion": "1.0.0.0",
        "parameters": parameters or {},
        "resources": list(resources),
    }


def _body(tpl, location="westeurope", mode="Incremental") -> dict:
    out = {"properties": {"mode": mode, "template": tpl}}
    if location is not None:
        out["location"] = location
    return out


def _group(name, **extra) -> dict:
    return {
        "type": "Microsoft.Resources/resourceGroups",
        "apiVersion": "2022-09-01",
        "name": name,
        "location": "westeurope",
        **extra,
    }


def _nested_gallery(group: str, gallery: str) -> dict:
    """A nested deployment into ``group`` creating ``gallery`` (deploy-to-subscription's pattern)."""
    return {
        "type": "Microsoft.Resources/deployments",
        "apiVersion": "2022-09-01",
        "name": f"in-{group}",
        "resourceGroup": group,
        "dependsOn": [f"[resourceId('Microsoft.Resources/resourceGroups', '{group}')]"],
        "properties": {
            "mode": "Incremental",
            "expressionEvaluationOptions": {"scope": "inner"},
            "template": {
                "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
                "contentVersion": "1.0.0.0",
                "resources": [
                    {
                        "type": "Microsoft.Compute/galleries",
                        "apiVersion": "2022-03-03",
                        "name": gallery,
                        "location": "westeurope",
                        "properties": {"description": "nested"},
                    }
                ],
                "outputs": {"id": {"type": "string", "value": "[resourceGroup().id]"}},
            },
        },
    }


def _client(pipeline, subscription, role_key="owner"):
    # pinned to 2025-04-01: azure-mgmt-resource-deployments 2.0.0's default is not in the API's list
    return pipeline(subscription, role_key, lambda *a, **kw: DeploymentsMgmtClient(*a, **kw, api_version=V))


def test_a_copy_loop_creates_groups_with_tags_through_the_sdk(pipeline, subscription):
    client = _client(pipeline, subscription)
    tpl = _tpl(
        _group(
            "[concat(parameters('prefix'), copyIndex())]",
            copy={"name": "groups", "count": 2},
            tags={"team": "[parameters('team')]"},
        ),
        parameters={"prefix": {"type": "string"}, "team": {"type": "string"}},
    )
    params = {"prefix": {"value": "tpl-"}, "team": {"value": "images"}}
    done = client.deployments.begin_create_or_update_at_subscription_scope(
        "groups",
        {
            "location": "westeurope",
            "properties": {"mode": "Incremental", "template": tpl, "parameters": params},
        },
    ).result()
    assert done.properties.provisioning_state == "Succeeded", done.properties.error
    assert done.location == "westeurope"
    assert done.id == f"/subscriptions/{subscription.guid}/providers/Microsoft.Resources/deployments/groups"
    made = ResourceGroup.objects.filter(subscription=subscription, name__startswith="tpl-").order_by("name")
    assert [(g.name, g.tags, g.location.name) for g in made] == [
        ("tpl-0", {"team": "images"}, "westeurope"),
        ("tpl-1", {"team": "images"}, "westeurope"),
    ]
    entry = ActivityLogEntry.objects.get(resource_arm_id=made[0].arm_id, operation__endswith="/write")
    assert (entry.principal, entry.source, entry.status) == (client.principal, "api", "Succeeded")
    # list, get and operations at subscription scope
    assert [d.name for d in client.deployments.list_at_subscription_scope()] == ["groups"]
    got = client.deployments.get_at_subscription_scope("groups")
    assert sorted(r.id for r in got.properties.output_resources) == [g.arm_id for g in made]
    ops = list(client.deployment_operations.list_at_subscription_scope("groups"))
    assert sorted((o.properties.provisioning_state, o.properties.target_resource.id) for o in ops) == [
        ("Succeeded", g.arm_id) for g in made
    ]
    one = client.deployment_operations.get_at_subscription_scope("groups", ops[0].operation_id)
    assert one.properties.target_resource.id == ops[0].properties.target_resource.id
    # deployed again with other tags: the groups' tags are replaced (the API's PUT of an existing group)
    params["team"] = {"value": "platform"}
    again = client.deployments.begin_create_or_update_at_subscription_scope(
        "groups",
        {
            "location": "westeurope",
            "properties": {"mode": "Incremental", "template": tpl, "parameters": params},
        },
    ).result()
    assert again.properties.provisioning_state == "Succeeded", again.properties.error
    assert {g.tags["team"] for g in ResourceGroup.objects.filter(name__startswith="tpl-")} == {"platform"}


def test_a_group_and_a_nested_deployment_create_a_gallery_in_it(pipeline, subscription):
    client = _client(pipeline, subscription)
    tpl = _tpl(_group("fresh"), _nested_gallery("fresh", "made"))
    tpl["outputs"] = {
        "where": {
            "type": "string",
            "value": "[reference(subscriptionResourceId('Microsoft.Resources/resourceGroups', 'fresh'), '2022-09-01', 'Full').location]",
        },
        "state": {
            "type": "string",
            "value": "[reference(resourceId('Microsoft.Resources/resourceGroups', 'fresh')).provisioningState]",
        },
    }
    done = client.deployments.begin_create_or_update_at_subscription_scope(
        "fresh", {"location": "westeurope", "properties": {"mode": "Incremental", "template": tpl}}
    ).result()
    assert done.properties.provisioning_state == "Succeeded", done.properties.error
    assert done.properties.outputs == {
        "where": {"type": "String", "value": "westeurope"},
        "state": {"type": "String", "value": "Succeeded"},
    }
    gallery = Gallery.objects.get(name="made")
    assert gallery.resource_group.name == "fresh"
    assert gallery.arm_id == (
        f"/subscriptions/{subscription.guid}/resourceGroups/fresh/providers/Microsoft.Compute/galleries/made"
    )
    ops = {
        o.properties.target_resource.id: o
        for o in client.deployment_operations.list_at_subscription_scope("fresh")
    }
    nested = f"/subscriptions/{subscription.guid}/providers/Microsoft.Resources/deployments/in-fresh"
    assert {k.lower() for k in ops} == {
        ResourceGroup.objects.get(name="fresh").arm_id.lower(),
        nested.lower(),
        gallery.arm_id.lower(),
    }
    assert all(o.properties.provisioning_state == "Succeeded" for o in ops.values())
    checked = client.deployments.begin_validate_at_subscription_scope(
        "again", {"location": "westeurope", "properties": {"mode": "Incremental", "template": tpl}}
    ).result()
    assert checked.properties.provisioning_state == "Succeeded"
    # the template's own resources (the group and the nested deployment), as validate lists them here
    assert {r.id.lower() for r in checked.properties.validated_resources} == {
        k.lower() for k in ops if k.lower() != gallery.arm_id.lower()
    }
    assert not TemplateDeployment.objects.filter(name="again").exists()


def test_a_role_assignment_on_a_gallery_lets_the_principal_read_it(
    pipeline, subscription, rg, tenant, client
):
    sdk = _client(pipeline, subscription)
    colleague = create_user(tenant, "bob@contoso.test", "Bob-Test-Pass-1", "Bob")
    name = "00000000-0000-0000-0000-0000000000b1"
    tpl = {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {"principal": {"type": "string"}},
        "resources": [
            {
                "type": "Microsoft.Compute/galleries",
                "apiVersion": "2022-03-03",
                "name": "shared",
                "location": "[resourceGroup().location]",
                "properties": {},
            },
            {
                "type": "Microsoft.Authorization/roleAssignments",
                "apiVersion": "2022-04-01",
                "name": name,
                "scope": "Microsoft.Compute/galleries/shared",
                "dependsOn": ["shared"],
                "properties": {
                    "roleDefinitionId": f"[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '{READER}')]",
                    "principalId": "[parameters('principal')]",
                    "principalType": "User",
                },
            },
        ],
    }
    gallery_url = f"{rg.arm_id}/providers/Microsoft.Compute/galleries/shared?api-version=2022-03-03"
    assert client.get(gallery_url, **_bearer(colleague)).status_code == 404  # not yet
    done = sdk.deployments.begin_create_or_update(
        rg.name,
        "share",
        {
            "properties": {
                "mode": "Incremental",
                "template": tpl,
                "parameters": {"principal": {"value": str(colleague.object_id)}},
            }
        },
    ).result()
    assert done.properties.provisioning_state == "Succeeded", done.properties.error
    gallery = Gallery.objects.get(name="shared")
    a = UserRoleAssignment.objects.get(user=colleague)
    assert (str(a.name), a.content_object_id, a.permission.codename) == (name, gallery.pk, "role_reader")
    assert [r.id for r in done.properties.output_resources][-1] == (
        f"{gallery.arm_id}/providers/Microsoft.Authorization/roleAssignments/{name}"
    )
    entry = ActivityLogEntry.objects.get(
        operation="Microsoft.Authorization/roleAssignments/write", resource_arm_id=gallery.arm_id
    )
    assert (entry.principal, entry.source, entry.status) == (sdk.principal, "api", "Succeeded")
    read = client.get(gallery_url, **_bearer(colleague))
    assert read.status_code == 200 and read.json()["name"] == "shared"
    # deployed again: the same assignment is there already (the API's PUT answers it unchanged)
    again = sdk.deployments.begin_create_or_update(
        rg.name,
        "share",
        {
            "properties": {
                "mode": "Incremental",
                "template": tpl,
                "parameters": {"principal": {"value": str(colleague.object_id)}},
            }
        },
    ).result()
    assert again.properties.provisioning_state == "Succeeded", again.properties.error
    assert UserRoleAssignment.objects.filter(user=colleague).count() == 1


def test_a_role_assignment_at_the_deployment_scope(client, bearer, subscription, tenant):
    colleague = create_user(tenant, "carol@contoso.test", "Carol-Test-Pass-1", "Carol")
    tpl = _tpl(
        {
            "type": "Microsoft.Authorization/roleAssignments",
            "apiVersion": "2022-04-01",
            "name": "[guid(subscription().id, 'carol')]",
            "properties": {
                "roleDefinitionId": f"/subscriptions/{subscription.guid}/providers/Microsoft.Authorization/roleDefinitions/{READER}",
                "principalId": str(colleague.object_id),
            },
        }
    )
    tpl["outputs"] = {
        "principal": {
            "type": "string",
            "value": "[reference(subscriptionResourceId('Microsoft.Authorization/roleAssignments', guid(subscription().id, 'carol')), '2022-04-01').principalId]",
        }
    }
    response = _put(client, _sub_url(subscription, "/carol"), _body(tpl), bearer)
    assert response.status_code == 201, response.content
    assert response.json()["properties"]["provisioningState"] == "Succeeded", response.json()
    assert response.json()["properties"]["outputs"]["principal"]["value"] == str(colleague.object_id)
    a = UserRoleAssignment.objects.get(user=colleague)
    assert a.content_object_id == subscription.pk and a.permission.codename == "role_reader"


def test_a_contributor_cannot_assign_roles(pipeline, subscription, rg, tenant):
    sdk = _client(pipeline, subscription, "contributor")
    colleague = create_user(tenant, "dan@contoso.test", "Dan-Test-Pass-1", "Dan")
    tpl = _tpl(
        {
            "type": "Microsoft.Authorization/roleAssignments",
            "apiVersion": "2022-04-01",
            "name": "00000000-0000-0000-0000-0000000000d1",
            "properties": {
                "roleDefinitionId": f"[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '{READER}')]",
                "principalId": str(colleague.object_id),
            },
        }
    )
    with pytest.raises(HttpResponseError) as failed:
        sdk.deployments.begin_create_or_update(
            rg.name, "grant", {"properties": {"mode": "Incremental", "template": tpl}}
        ).result()
    assert "DeploymentFailed" in str(failed.value)
    [op] = list(sdk.deployment_operations.list(rg.name, "grant"))
    assert op.properties.provisioning_state == "Failed"
    assert op.properties.status_message.error.code == "AuthorizationFailed"
    assert op.properties.status_code == "Forbidden"
    assert not UserRoleAssignment.objects.filter(user=colleague).exists()


def test_a_group_scoped_type_at_subscription_scope_needs_a_nested_deployment(client, bearer, subscription):
    tpl = _tpl(
        {
            "type": "Microsoft.Compute/galleries",
            "apiVersion": "2022-03-03",
            "name": "loose",
            "location": "westeurope",
            "properties": {},
        }
    )
    response = _put(client, _sub_url(subscription, "/loose"), _body(tpl), bearer)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "InvalidTemplate" and error["target"] == "resources[0].type", error
    assert "subscription scope" in error["message"]
    assert not TemplateDeployment.objects.exists() and not Gallery.objects.exists()


def test_resource_group_function_at_subscription_scope_is_invalid(client, bearer, subscription):
    tpl = _tpl(_group("x", tags={"where": "[resourceGroup().name]"}))
    response = _put(client, _sub_url(subscription, "/rgfn"), _body(tpl), bearer)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "InvalidTemplate"
    assert not ResourceGroup.objects.filter(name="x").exists()


@pytest.mark.parametrize(
    "body, target",
    [
        (_body(_tpl(_group("y")), location=None), "location"),
        (_body(_tpl(_group("y")), mode="Complete"), "properties.mode"),
    ],
)
def test_subscription_scope_body_refusals(client, bearer, subscription, body, target):
    response = _put(client, _sub_url(subscription, "/b"), body, bearer)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["target"] == target
    assert not TemplateDeployment.objects.exists()


def test_without_write_on_the_subscription_nothing_is_deployed(client, subscription, tenant):
    reader = create_user(tenant, "reader@contoso.test", "Reader-Test-Pass-1", "Reader")
    grant_as_system(subscription, reader, "reader")
    response = _put(client, _sub_url(subscription, "/nope"), _body(_tpl(_group("nope"))), _bearer(reader))
    assert response.status_code == 403, response.content
    assert response.json()["error"]["code"] == "AuthorizationFailed"
    assert not ResourceGroup.objects.filter(name="nope").exists() and not TemplateDeployment.objects.exists()
