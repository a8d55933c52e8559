"""What the az CLI sends for a deployment (issue 15), found by ``tests/cli/test_az_templates.py``:

- the body is JSONC: azure-cli's ``JsonCTemplatePolicy`` (``command_modules/resource/custom.py``) splices
  the template file verbatim after an unquoted ``template:`` key, comments and all ("a JSONC format that
  service can deserialize"); the deployment endpoints read it, the others stay strict JSON;
- ``az deployment group list`` asks for ``…/providers/Microsoft.Resources/deployments/`` with the trailing
  slash of resources.json's ``Deployments_ListByResourceGroup`` path; ARM paths answer either spelling."""

from __future__ import annotations

import json

from accounts import tokens
from galleries.models import Gallery, TemplateDeployment

V = "2025-04-01"

TEMPLATE_FILE = """{
  // a comment, as template files may have
  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
  "contentVersion": "1.0.0.0",
  "parameters": {"galleryName": {"type": "string"}},
  /* a block comment */
  "resources": [
    {
      "type": "Microsoft.Compute/galleries",
      "apiVersion": "2019-12-01",
      "name": "[parameters('galleryName')]",
      "location": "[resourceGroup().location]",
      "properties": {"description": "from JSONC"},
    },
  ]
}"""


def _bearer(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {tokens.issue(user, base='http://testserver')['access_token']}"}


def _jsonc_body(params: dict) -> bytes:
    """The body as ``JsonCTemplatePolicy.on_request`` builds it."""
    partial = json.dumps({"properties": {"mode": "Incremental", "parameters": params}})
    return (partial[:-2] + ", template:" + TEMPLATE_FILE + r"}}").encode()


def _url(subscription, rg, tail="") -> str:
    return (
        f"/subscriptions/{subscription.guid}/resourcegroups/{rg.name}/providers/Microsoft.Resources/"
        f"deployments{tail}?api-version={V}"
    )


def test_a_deployment_body_may_be_jsonc_as_the_az_cli_sends_it(client, user, subscription, rg):
    bearer = _bearer(user)
    body = _jsonc_body({"galleryName": {"value": "jsonc"}})
    with_json = {"content_type": "application/json", **bearer}
    validated = client.post(_url(subscription, rg, "/d/validate"), body, **with_json)
    assert validated.status_code == 200, validated.content
    assert validated.json()["properties"]["provisioningState"] == "Succeeded"
    created = client.put(_url(subscription, rg, "/d"), body, **with_json)
    assert created.status_code == 201, created.content
    assert created.json()["properties"]["provisioningState"] == "Succeeded"
    assert Gallery.objects.get(name="jsonc").description == "from JSONC"
    exported = client.post(_url(subscription, rg, "/d/exportTemplate"), **bearer).json()["template"]
    assert exported["resources"][0]["properties"] == {"description": "from JSONC"}


def test_what_is_neither_json_nor_jsonc_is_still_refused(client, user, subscription, rg):
    bearer = _bearer(user)
    response = client.put(
        _url(subscription, rg, "/d"),
        b'{"properties": {"template": {',
        content_type="application/json",
        **bearer,
    )
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "InvalidRequestContent" and "line 1, column 30" in error["message"]
    assert not TemplateDeployment.objects.exists()


def test_other_endpoints_stay_strict_json(client, user, subscription, rg):
    url = f"{rg.arm_id}/providers/Microsoft.Compute/galleries/strict?api-version=2022-03-03"
    response = client.put(
        url, b'{location: "westeurope", // no\n}', content_type="application/json", **_bearer(user)
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "InvalidRequestContent"
    assert not Gallery.objects.exists()


def test_the_list_answers_with_the_specs_trailing_slash(client, user, subscription, rg):
    bearer = _bearer(user)
    body = _jsonc_body({"galleryName": {"value": "listed"}})
    assert (
        client.put(
            _url(subscription, rg, "/one"), body, content_type="application/json", **bearer
        ).status_code
        == 201
    )
    for tail in ("", "/"):
        response = client.get(_url(subscription, rg, tail), **bearer)
        assert response.status_code == 200, (tail, response.content)
        assert [d["name"] for d in response.json()["value"]] == ["one"]
    at_subscription = client.get(
        f"/subscriptions/{subscription.guid}/providers/Microsoft.Resources/deployments/?api-version={V}",
        **bearer,
    )
    assert at_subscription.status_code == 200 and at_subscription.json()["value"] == []
