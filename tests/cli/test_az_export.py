"""``az group export`` (azure-cli 2.91.0) against the portal over HTTPS (issue 15): the CLI posts
``exportTemplate`` at api-version 2024-11-01, polls the 202's Location and prints the template; its
options and ``--resource-ids`` reach the export."""

from __future__ import annotations

from accounts import directory
from accounts.activity import Caller
from accounts.models import ServicePrincipal
from accounts.sharing import grant_as_system


def test_az_group_export(az, https_portal, tenant, user, subscription, rg, gallery, image, make_version):
    make_version()
    az("cloud", "register", "-n", "Portal", "--endpoint-resource-manager", https_portal.url + "/")
    az("cloud", "set", "-n", "Portal")
    app = directory.register_app(Caller.system(), tenant, "Exporter")
    secret = directory.add_client_secret(Caller.system(), app, "ci")[1]
    grant_as_system(subscription, ServicePrincipal.objects.get(app=app, tenant=tenant).user, "reader")
    az(
        "login", "--service-principal", "-u", str(app.client_id), f"--password={secret}",
        "--tenant", str(tenant.tenant_id),
    )  # fmt: skip

    template = az("group", "export", "-n", "images")
    assert template["$schema"].endswith("/2019-04-01/deploymentTemplate.json#")
    assert template["parameters"] == {
        "galleries_Gallery1_name": {"type": "String"},
        "images_base_name": {"type": "String"},
    }
    assert [r["name"] for r in template["resources"]] == [
        "[parameters('galleries_Gallery1_name')]",
        "[parameters('images_base_name')]",
        "[concat(parameters('galleries_Gallery1_name'), '/myImage1')]",
        "[concat(parameters('galleries_Gallery1_name'), '/myImage1/1.0.0')]",
    ]

    commented = az(
        "group", "export", "-n", "images", "--include-parameter-default-value", "--include-comments"
    )
    assert commented["parameters"]["images_base_name"] == {"defaultValue": "base", "type": "String"}
    assert commented["resources"][0]["comments"] == f"Generalized from resource: '{gallery.arm_id}'."

    one = az("group", "export", "-n", "images", "--skip-all-params", "--resource-ids", gallery.arm_id)
    assert one["parameters"] == {} and [r["name"] for r in one["resources"]] == ["Gallery1"]
