"""Issue 14: ``az sig image-definition create`` with the CLI's defaults. az 2.91.0 (azure-cli
``vm/custom.py`` ``create_gallery_image`` → ``aaz/latest/sig/image_definition/_create.py``) sends, with
no ``--hyper-v-generation`` and no ``--features``, exactly ``AZ_BODY`` below at api-version 2021-10-01
(read off the command's own request builder). The portal stores the SecurityType feature, returns it as
Azure does, and refuses the features it does not implement yet (F23) by index."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute import models as m

from accounts import tokens
from galleries.api import arm_versions
from galleries.models import GalleryImage

NEWEST = max(arm_versions.GALLERY_API_VERSIONS)
AZ_API_VERSION = "2021-10-01"
TLS = [{"name": "SecurityType", "value": "TrustedLaunchSupported"}]
AZ_BODY = {
    "location": "westeurope",
    "properties": {
        "disallowed": {},
        "features": TLS,
        "hyperVGeneration": "V2",
        "identifier": {"offer": "O", "publisher": "P", "sku": "S"},
        "osState": "Generalized",
        "osType": "Linux",
    },
    "tags": {},
}


#: The az CLI's own venv (issue 14: azure-cli 2.91.0 beside the project's, never in it); AZ_PYTHON names
#: its interpreter elsewhere.
AZ_PYTHON = Path(os.environ.get("AZ_PYTHON") or Path(__file__).resolve().parents[2] / ".venv-az/bin/python")

#: Runs ``az sig image-definition create`` with the CLI's defaults up to the request and prints the
#: api-version and the body its request builder made, without logging in or sending anything.
AZ_CAPTURE = """
import json, sys
from azure.cli.core import _profile, get_default_cli
from azure.cli.command_modules.vm.aaz.latest.sig.image_definition import _create
sub, tenant = "00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002"
_profile.Profile.get_login_credentials = lambda self, *a, **k: (object(), sub, tenant)
def capture(self):
    op = self.GalleryImagesCreateOrUpdate(ctx=self.ctx)
    print(json.dumps({"api": op.query_parameters["api-version"], "body": op.content}))
    sys.exit(0)
_create.Create._execute_operations = capture
get_default_cli().invoke(["sig", "image-definition", "create", "-g", "rg", "--gallery-name", "g",
    "--gallery-image-definition", "d", "--publisher", "P", "--offer", "O", "--sku", "S",
    "--os-type", "Linux", "-l", "westeurope", "--subscription", sub, "--only-show-errors"])
"""


@pytest.mark.skipif(not AZ_PYTHON.exists(), reason="the az CLI venv (.venv-az) is not installed")
def test_az_body_is_what_the_installed_cli_sends(tmp_path):
    profile = {
        "subscriptions": [
            {
                "id": "00000000-0000-0000-0000-000000000001",
                "name": "s",
                "state": "Enabled",
                "user": {"name": "sp", "type": "servicePrincipal"},
                "isDefault": True,
                "tenantId": "00000000-0000-0000-0000-000000000002",
                "environmentName": "AzureCloud",
            }
        ]
    }
    (tmp_path / "azureProfile.json").write_text(json.dumps(profile))
    env = {**os.environ, "AZURE_CONFIG_DIR": str(tmp_path)}
    run = subprocess.run(
        [str(AZ_PYTHON), "-c", AZ_CAPTURE], capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr[-2000:]
    sent = json.loads(run.stdout.strip().splitlines()[-1])
    assert sent == {"api": AZ_API_VERSION, "body": AZ_BODY}, sent


@pytest.fixture
def call(client, user, subscription, rg, gallery):
    """call(method, name, body=None, api_version=NEWEST) → response, on a definition of Gallery1."""
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {tokens.issue(user, base='http://testserver')['access_token']}"}
    base = (
        f"/subscriptions/{subscription.guid}/resourceGroups/{rg.name}/providers/Microsoft.Compute/galleries/"
        f"{gallery.name}/images"
    )

    def go(method, name, body=None, api_version=NEWEST):
        url = f"{base}/{name}?api-version={api_version}"
        if body is None:
            return getattr(client, method)(url, **bearer)
        return getattr(client, method)(url, json.dumps(body), content_type="application/json", **bearer)

    return go


def error_of(r, status, code, target):
    assert r.status_code == status, (r.status_code, r.content[:400])
    error = r.json()["error"]
    assert (error["code"], error["target"]) == (code, target), error
    return error["message"]


def test_the_az_cli_default_body_is_accepted_and_echoed(call):
    r = call("put", "azdefault", AZ_BODY, AZ_API_VERSION)
    assert r.status_code in (200, 201), r.content[:400]
    assert r.json()["properties"]["features"] == TLS
    got = call("get", "azdefault", api_version=AZ_API_VERSION).json()["properties"]
    assert got["features"] == TLS and got["hyperVGeneration"] == "V2"
    assert GalleryImage.objects.get(name="azdefault").security_type == "TrustedLaunchSupported"
    # az sig image-definition update: GET, change, PUT the whole body back (features unchanged).
    again = call("put", "azdefault", {**AZ_BODY, "properties": {**got, "description": "changed"}})
    assert again.status_code == 200, again.content[:400]
    assert again.json()["properties"]["features"] == TLS


def test_features_are_left_out_before_2020_09_30_and_when_there_are_none(call):
    assert call("put", "tls", AZ_BODY).status_code in (200, 201)
    assert "features" not in call("get", "tls", api_version="2019-07-01").json()["properties"]
    assert call("get", "tls", api_version="2020-09-30").json()["properties"]["features"] == TLS
    plain = {**AZ_BODY, "properties": {k: v for k, v in AZ_BODY["properties"].items() if k != "features"}}
    assert call(
        "put",
        "plain",
        {
            **plain,
            "properties": {
                **plain["properties"],
                "identifier": {"publisher": "P", "offer": "O", "sku": "Plain"},
            },
        },
    ).status_code in (200, 201)
    assert "features" not in call("get", "plain").json()["properties"]


@pytest.mark.parametrize(
    "features, target, words",
    [
        (
            [{"name": "SecurityType", "value": "ConfidentialVM"}],
            "properties.features[0]",
            "not supported yet",
        ),
        (
            [*TLS, {"name": "IsAcceleratedNetworkSupported", "value": "True"}],
            "properties.features[1]",
            "not supported yet",
        ),
        ([{**TLS[0], "startsAtVersion": "1.0.0"}], "properties.features[0].startsAtVersion", "not supported"),
        ("SecurityType=TrustedLaunch", "properties.features", "must be a list"),
    ],
)
def test_features_the_portal_does_not_implement_are_refused(call, features, target, words):
    body = {**AZ_BODY, "properties": {**AZ_BODY["properties"], "features": features}}
    assert words in error_of(call("put", "refused", body), 400, "InvalidParameter", target)
    assert call("get", "refused").status_code == 404


def test_trusted_launch_with_generation_1_is_refused(call):
    body = {**AZ_BODY, "properties": {**AZ_BODY["properties"], "hyperVGeneration": "V1"}}
    assert "V2" in error_of(call("put", "gen1", body), 400, "InvalidParameter", "properties.hyperVGeneration")


def test_features_cannot_change(call):
    assert call("put", "fixed", AZ_BODY).status_code in (200, 201)
    changed = [{"name": "SecurityType", "value": "TrustedLaunch"}]
    body = {**AZ_BODY, "properties": {**AZ_BODY["properties"], "features": changed}}
    message = error_of(call("put", "fixed", body), 409, "PropertyChangeNotAllowed", "properties.features")
    assert "allowUpdateImage" in message
    r = call("patch", "fixed", {"properties": {"features": []}})
    error_of(r, 409, "PropertyChangeNotAllowed", "properties.features")
    assert call("get", "fixed").json()["properties"]["features"] == TLS


def test_the_sdk_creates_a_trusted_launch_supported_definition(sdk, user, subscription, rg, gallery):
    client = sdk(subscription)
    body = m.GalleryImage(
        location="westeurope",
        os_type="Linux",
        os_state="Generalized",
        hyper_v_generation="V2",
        identifier=m.GalleryImageIdentifier(publisher="Contoso", offer="Ubuntu", sku="tl"),
        features=[m.GalleryImageFeature(name="SecurityType", value="TrustedLaunchSupported")],
    )
    made = client.gallery_images.begin_create_or_update(rg.name, gallery.name, "tl", body).result()
    assert [(f.name, f.value) for f in made.features] == [("SecurityType", "TrustedLaunchSupported")]
    got = client.gallery_images.get(rg.name, gallery.name, "tl")
    assert [(f.name, f.value) for f in got.features] == [("SecurityType", "TrustedLaunchSupported")]
    body.features = [m.GalleryImageFeature(name="SecurityType", value="ConfidentialVMSupported")]
    body.identifier.sku = "cvm"
    with pytest.raises(HttpResponseError) as info:
        client.gallery_images.begin_create_or_update(rg.name, gallery.name, "cvm", body).result()
    assert info.value.error.code == "InvalidParameter"
    assert info.value.error.target == "properties.features[0]"
