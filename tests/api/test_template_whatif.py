"""What-if of a template deployment (issue 15): ``Deployments_WhatIf`` and
``Deployments_WhatIfAtSubscriptionScope`` through azure-mgmt-resource-deployments' ``begin_what_if``
(202 + Location, final state via the Location) and the Django test client. Azure's quickstart templates
(``tests/fixtures/templates/``) are Create on an empty group and NoChange once deployed."""

from __future__ import annotations

import copy

import pytest
from azure.mgmt.resource.deployments import DeploymentsMgmtClient
from azure.mgmt.resource.deployments import models as rm

from accounts.activity import Caller
from accounts.services import create_resource_group, create_user
from accounts.sharing import grant_as_system
from galleries import services
from galleries.models import Gallery, GalleryImage, TemplateDeployment, WhatIfResult

from .test_template_deployments import V, _bearer, _deploy_body, _put, _url, template


@pytest.fixture
def deployments(pipeline, subscription):
    return pipeline(subscription, "owner", lambda *a, **kw: DeploymentsMgmtClient(*a, **kw, api_version=V))


def _what_if(client, rg, tpl, mode="Incremental", result_format=None, **params):
    settings = rm.DeploymentWhatIfSettings(result_format=result_format) if result_format else None
    return client.deployments.begin_what_if(
        rg.name,
        "wi",
        rm.DeploymentWhatIf(
            properties=rm.DeploymentWhatIfProperties(
                mode=mode,
                template=tpl,
                parameters={k: {"value": v} for k, v in params.items()},
                what_if_settings=settings,
            )
        ),
    ).result()


def _deploy(client, rg, name, tpl, **params):
    done = client.deployments.begin_create_or_update(
        rg.name,
        name,
        rm.Deployment(
            properties=rm.DeploymentProperties(
                mode="Incremental", template=tpl, parameters={k: {"value": v} for k, v in params.items()}
            )
        ),
    ).result()
    assert done.properties.provisioning_state == "Succeeded", done.properties.error


def _kinds(result) -> list[tuple[str, str]]:
    return [(c.resource_id.rsplit("/providers/", 1)[1], c.change_type) for c in result.changes]


def test_quickstarts_create_then_no_change_then_modify(deployments, rg):
    gallery, definition = template("sig-create"), template("sig-image-definition-create")
    names = {"galleryName": "qs", "galleryImageDefinitionName": "ubuntu"}
    created = _what_if(deployments, rg, gallery, galleryName="qs")
    assert created.status == "Succeeded"
    assert _kinds(created) == [("Microsoft.Compute/galleries/qs", "Create")]
    after = created.changes[0].after
    assert after["properties"] == {"description": "My Private Gallery"} and after["location"] == "westeurope"
    assert _kinds(_what_if(deployments, rg, definition, **names)) == [
        ("Microsoft.Compute/galleries/qs/images/ubuntu", "Create")
    ]
    assert not Gallery.objects.exists() and not TemplateDeployment.objects.exists()  # nothing made

    _deploy(deployments, rg, "sig", gallery, galleryName="qs")
    _deploy(deployments, rg, "def", definition, **names)
    same = _what_if(deployments, rg, gallery, galleryName="qs")
    assert _kinds(same) == [("Microsoft.Compute/galleries/qs", "NoChange")]
    assert same.changes[0].before == same.changes[0].after
    assert same.changes[0].before["properties"]["provisioningState"] == "Succeeded"
    # "min": "1" (text) is stored as 1; "2030-01-01" as 2030-01-01T00:00:00Z: no change.
    unchanged = _what_if(deployments, rg, definition, **names)
    assert _kinds(unchanged) == [("Microsoft.Compute/galleries/qs/images/ubuntu", "NoChange")]
    assert not unchanged.changes[0].delta

    changed = copy.deepcopy(definition)
    changed["resources"][0]["properties"]["description"] = "Another description"
    changed["resources"][0]["properties"]["osType"] = "linux"  # the API takes enums without case
    modified = _what_if(deployments, rg, changed, **names)
    [change] = modified.changes
    assert change.change_type == "Modify"
    [delta] = change.delta
    assert (delta.path, delta.property_change_type) == ("properties.description", "Modify")
    assert (delta.before, delta.after) == ("Sample Gallery Image Description", "Another description")
    assert change.after["properties"]["description"] == "Another description"
    assert change.after["properties"]["identifier"] == change.before["properties"]["identifier"]
    assert GalleryImage.objects.get(name="ubuntu").description == "Sample Gallery Image Description"


def test_complete_mode_deletes_what_the_template_does_not_name(deployments, rg):
    _deploy(deployments, rg, "sig", template("sig-create"), galleryName="qs")
    extra = services.create_gallery(Caller.system(), rg, "extra")
    result = _what_if(deployments, rg, template("sig-create"), mode="Complete", galleryName="qs")
    assert _kinds(result) == [
        ("Microsoft.Compute/galleries/qs", "NoChange"),
        ("Microsoft.Compute/galleries/extra", "Delete"),
    ]
    assert result.changes[1].before["id"] == extra.arm_id
    assert Gallery.objects.filter(name="extra").exists()
    incremental = _what_if(deployments, rg, template("sig-create"), galleryName="qs")
    assert _kinds(incremental) == [("Microsoft.Compute/galleries/qs", "NoChange")]


def test_resource_id_only(deployments, rg):
    result = _what_if(
        deployments, rg, template("sig-create"), result_format="ResourceIdOnly", galleryName="g"
    )
    [change] = result.changes
    assert change.change_type == "Create" and change.resource_id.endswith("/galleries/g")
    assert change.after is None and change.before is None and change.delta is None


def test_tags_a_put_would_clear_are_a_delete(client, user, subscription, rg):
    services.create_gallery(Caller.system(), rg, "qs", description="My Private Gallery", tags={"env": "prod"})
    bearer = _bearer(user)
    body = _deploy_body(template("sig-create"), galleryName="qs")
    response = _put(client, _url(subscription, rg, "/w/whatIf"), body, bearer, "post")
    assert response.status_code == 202, response.json()
    assert response["Retry-After"]
    result = client.get(response["Location"], **bearer)
    assert result.status_code == 200, result.content
    [change] = result.json()["properties"]["changes"]
    assert change["changeType"] == "Modify"
    assert {d["path"]: d["propertyChangeType"] for d in change["delta"]} == {"tags": "Delete"}
    assert change["after"]["tags"] == {} and change["before"]["tags"] == {"env": "prod"}


def test_the_result_is_the_askers_only(client, user, subscription, rg, tenant):
    bearer = _bearer(user)
    body = _deploy_body(template("sig-create"), galleryName="qs")
    response = _put(client, _url(subscription, rg, "/w/whatIf"), body, bearer, "post")
    location = response["Location"]
    other = create_user(tenant, "other@example.com", "x" * 12)
    grant_as_system(subscription, other, "owner")
    assert client.get(location, **_bearer(other)).status_code == 404
    wrong = location.replace(location.split("/whatIfResults/")[1].split("?")[0], "not-a-guid")
    assert client.get(wrong, **bearer).status_code == 404
    assert client.get(location.replace("/w/", "/x/"), **bearer).status_code == 404
    assert WhatIfResult.objects.count() == 1


def test_refusals(client, user, caller, subscription, rg, tenant):
    bearer = _bearer(user)
    url = _url(subscription, rg, "/w/whatIf")
    tpl = template("sig-create")
    tpl["resources"].append({**tpl["resources"][0], "name": "[nosuch('x')]"})
    bad = _put(client, url, _deploy_body(tpl, galleryName="g"), bearer, "post")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "InvalidTemplate", bad.content
    body = _deploy_body(template("sig-create"), galleryName="g")
    body["properties"]["whatIfSettings"] = {"resultFormat": "Everything"}
    setting = _put(client, url, body, bearer, "post")
    assert setting.status_code == 400
    assert setting.json()["error"]["target"] == "properties.whatIfSettings.resultFormat"
    body["properties"]["whatIfSettings"] = {"resultFormat": "ResourceIdOnly"}
    deploy = _put(client, _url(subscription, rg, "/w"), body, bearer)  # only a what-if takes whatIfSettings
    assert deploy.status_code == 400
    assert deploy.json()["error"]["target"] == "properties.whatIfSettings"
    reader = create_user(tenant, "reader@example.com", "x" * 12)
    grant_as_system(subscription, reader, "reader")
    refused = _put(
        client, url, _deploy_body(template("sig-create"), galleryName="g"), _bearer(reader), "post"
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "AuthorizationFailed"
    outsider = create_user(tenant, "outsider@example.com", "x" * 12)
    hidden = _put(
        client, url, _deploy_body(template("sig-create"), galleryName="g"), _bearer(outsider), "post"
    )
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "SubscriptionNotFound"
    grant_as_system(create_resource_group(caller, subscription, "other", "westeurope"), outsider, "owner")
    unreadable = _put(
        client, url, _deploy_body(template("sig-create"), galleryName="g"), _bearer(outsider), "post"
    )  # the subscription shows (something in it is theirs), the group does not
    assert unreadable.status_code == 404 and unreadable.json()["error"]["code"] == "ResourceGroupNotFound"
    assert not WhatIfResult.objects.exists() and not Gallery.objects.exists()


def test_subscription_scope_flattens_nested_deployments(deployments, subscription, rg):
    inner = template("sig-create")
    outer = {
        "$schema": "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": [
            {
                "type": "Microsoft.Resources/deployments",
                "apiVersion": "2021-04-01",
                "name": "inner",
                "resourceGroup": rg.name,
                "properties": {
                    "mode": "Incremental",
                    "expressionEvaluationOptions": {"scope": "inner"},
                    "template": inner,
                    "parameters": {"galleryName": {"value": "sub"}},
                },
            }
        ],
    }
    result = deployments.deployments.begin_what_if_at_subscription_scope(
        "wi",
        {"location": "westeurope", "properties": {"mode": "Incremental", "template": outer}},
    ).result()
    assert [(c.resource_id, c.change_type) for c in result.changes] == [
        (f"{rg.arm_id}/providers/Microsoft.Compute/galleries/sub", "Create")
    ]
    assert not Gallery.objects.exists()


def _post_what_if(client, bearer, subscription, rg, tpl, **params) -> list[dict]:
    response = _put(client, _url(subscription, rg, "/w/whatIf"), _deploy_body(tpl, **params), bearer, "post")
    assert response.status_code == 202, response.json()
    result = client.get(response["Location"], **bearer)
    assert result.status_code == 200 and result.json()["status"] == "Succeeded", result.content
    return result.json()["properties"]["changes"]


_IDENTITY = {"publisher": "p", "offer": "o", "sku": "s", "os_type": "Linux", "os_state": "Generalized"}


def _definition(gallery: str, name: str, **properties) -> dict:
    return {
        "type": "Microsoft.Compute/galleries/images",
        "apiVersion": "2022-03-03",
        "name": f"{gallery}/{name}",
        "location": "[resourceGroup().location]",
        "properties": {
            "osType": "Linux",
            "osState": "Generalized",
            "identifier": {"publisher": "p", "offer": "o", "sku": "s"},
            **properties,
        },
    }


def test_reference_of_what_the_deployment_has_yet_to_make_is_deploy(client, user, subscription, rg):
    bearer = _bearer(user)
    g1 = services.create_gallery(Caller.system(), rg, "g1")
    services.create_definition(Caller.system(), g1, "def", **_IDENTITY)
    g2 = "resourceId('Microsoft.Compute/galleries', 'g2')"
    tpl = {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": [
            {
                "type": "Microsoft.Compute/galleries",
                "apiVersion": "2022-03-03",
                "name": "g2",
                "location": "[resourceGroup().location]",
                "properties": {"description": "second"},
            },
            {
                **_definition("g1", "def", description=f"[reference({g2}).description]"),
                "dependsOn": [f"[{g2}]"],
            },
            {
                **_definition("g1", "new", description=f"[reference({g2}).description]"),
                "dependsOn": [f"[{g2}]"],
            },
        ],
    }
    changes = _post_what_if(client, bearer, subscription, rg, tpl)
    assert [(c["resourceId"].rsplit("/", 1)[1], c["changeType"]) for c in changes] == [
        ("g2", "Create"),
        ("def", "Deploy"),  # its description is the new gallery's: not known before it exists
        ("new", "Create"),
    ]
    assert changes[1]["before"]["name"] == "def" and "after" not in changes[1]
    assert changes[2]["after"]["id"].endswith("/images/new")


def test_a_property_the_resource_lacks_is_a_create_in_the_delta(client, user, subscription, rg):
    bearer = _bearer(user)
    g1 = services.create_gallery(Caller.system(), rg, "g1")
    services.create_definition(
        Caller.system(), g1, "def", **_IDENTITY, disallowed_disk_types=["Standard_LRS", "Premium_LRS"]
    )
    tpl = {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "resources": [
            _definition(
                "g1",
                "def",
                eula="Use it well",
                osState="generalized",  # the API matches enums without case
                provisioningState="Failed",  # read-only: never a change
                recommended={"vCPUs": {"min": 2}},
                disallowed={"diskTypes": ["standard_lrs", "Premium_LRS"]},  # a list, without case
            )
        ],
    }
    [change] = _post_what_if(client, bearer, subscription, rg, tpl)
    assert change["changeType"] == "Modify"
    delta = {d["path"]: d for d in change["delta"]}
    assert set(delta) == {"properties.eula", "properties.recommended"}  # the definition has neither
    assert delta["properties.recommended"]["after"] == {"vCPUs": {"min": 2}}
    assert delta["properties.eula"] == {
        "path": "properties.eula",
        "propertyChangeType": "Create",
        "after": "Use it well",
    }
    assert change["after"]["properties"]["eula"] == "Use it well"
    assert change["after"]["properties"]["provisioningState"] == "Succeeded"
