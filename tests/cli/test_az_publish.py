"""A platform team's day with the Azure CLI 2.91.0 against the portal over HTTPS and a real region worker
(issue 14): register the cloud, sign in as a person, create a resource group, a gallery, a definition with
the CLI's own defaults (V2, TrustedLaunchSupported) and a version replicated to three regions (one of them
zone-redundant), read its replication status, update it, share the gallery with a person and a service
principal through role assignments, list resources with a filter, sign in as the service principal and read
what was shared, then delete everything again, the resource group last (a long-running delete)."""

from __future__ import annotations

import pytest

from accounts import directory
from accounts.activity import Caller
from accounts.models import ServicePrincipal
from accounts.services import create_user
from galleries.models import GalleryImageVersion, TargetRegion

RG = "images"


@pytest.fixture
def worker(celery_processes):
    return celery_processes.worker(regions=["westeurope", "eastus", "northeurope"])


def test_a_platform_team_publishes_and_shares_with_the_az_cli(
    az, https_portal, tenant, user, subscription, rg, make_image, worker
):
    if not https_portal.userrealm_443:
        pytest.skip(
            "MSAL asks the user realm on port 443, which this process cannot bind (run as root, as CI does)"
        )
    base = https_portal.url
    source = make_image(name="base-v2", hyper_v_generation="V2")
    bob = create_user(tenant, "bob@contoso.test", "Bob-Test-Pass-1", "Bob")
    app = directory.register_app(Caller.system(), tenant, "Pipeline")
    secret = directory.add_client_secret(Caller.system(), app, "ci")[1]
    sp = ServicePrincipal.objects.get(app=app, tenant=tenant).user

    # The whole setup: the cloud from /metadata/endpoints, then a person's sign-in.
    az("cloud", "register", "-n", "Portal", "--endpoint-resource-manager", base + "/")
    az("cloud", "set", "-n", "Portal")
    accounts = az("login", "-u", user.username, "-p", "Alice-Test-Pass-1")
    assert [a["id"] for a in accounts] == [str(subscription.guid)]
    assert accounts[0]["tenantId"] == str(tenant.tenant_id)

    locations = {loc["name"]: loc for loc in az("account", "list-locations")}
    assert locations["westeurope"]["displayName"] == "West Europe"

    # Resource groups (Microsoft.Resources).
    group = az("group", "create", "-n", "scratch", "-l", "westeurope", "--tags", "team=platform")
    assert group["name"] == "scratch" and group["properties"]["provisioningState"] == "Succeeded"
    assert group["tags"] == {"team": "platform"}
    assert {g["name"] for g in az("group", "list")} == {RG, "scratch"}
    assert az("group", "exists", "-n", "scratch") is True

    # A gallery: the CLI prints the gallery, not the operation.
    gallery = az("sig", "create", "-g", RG, "-r", "Golden", "--description", "Golden images")
    assert gallery["name"] == "Golden" and gallery["provisioningState"] == "Succeeded"
    assert gallery["description"] == "Golden images"
    assert [g["name"] for g in az("sig", "list", "-g", RG)] == ["Golden"]
    assert az("sig", "show", "-g", RG, "-r", "Golden")["id"] == gallery["id"]

    # A definition with the CLI's defaults: V2 and the TrustedLaunchSupported feature.
    definition = az(
        "sig", "image-definition", "create", "-g", RG, "-r", "Golden", "-i", "ubuntu",
        "-p", "Contoso", "-f", "Ubuntu", "-s", "22_04", "--os-type", "Linux",
    )  # fmt: skip
    assert definition["hyperVGeneration"] == "V2"
    assert definition["features"] == [{"name": "SecurityType", "value": "TrustedLaunchSupported"}]
    assert [d["name"] for d in az("sig", "image-definition", "list", "-g", RG, "-r", "Golden")] == ["ubuntu"]

    # A version to three regions, one zone-redundant; the CLI waits for the replication to finish.
    version = az(
        "sig", "image-version", "create", "-g", RG, "-r", "Golden", "-i", "ubuntu", "-e", "1.0.0",
        "--managed-image", source.arm_id,
        "--target-regions", "westeurope", "eastus=2", "northeurope=1=standard_zrs",
        timeout=300,
    )  # fmt: skip
    assert version["provisioningState"] == "Succeeded"
    shown = az(
        "sig", "image-version", "show", "-g", RG, "-r", "Golden", "-i", "ubuntu", "-e", "1.0.0",
        "--expand", "ReplicationStatus",
    )  # fmt: skip
    assert shown["replicationStatus"]["aggregatedState"] == "Completed"
    assert {s["region"] for s in shown["replicationStatus"]["summary"]} == {
        "West Europe",
        "East US",
        "North Europe",
    }
    targets = {t["name"]: t for t in shown["publishingProfile"]["targetRegions"]}
    assert targets["East US"]["regionalReplicaCount"] == 2
    assert targets["North Europe"]["storageAccountType"] == "Standard_ZRS"
    stored = GalleryImageVersion.objects.get(name="1.0.0")
    assert TargetRegion.objects.filter(version=stored, state=TargetRegion.State.COMPLETED).count() == 3

    updated = az(
        "sig", "image-version", "update", "-g", RG, "-r", "Golden", "-i", "ubuntu", "-e", "1.0.0",
        "--set", "publishingProfile.excludeFromLatest=true",
        timeout=300,
    )  # fmt: skip
    assert updated["publishingProfile"]["excludeFromLatest"] is True

    # Resource listings with a filter.
    listed = az("resource", "list", "-g", RG, "--resource-type", "Microsoft.Compute/galleries")
    assert [(r["name"], r["type"]) for r in listed] == [("Golden", "Microsoft.Compute/galleries")]

    # Sharing: role assignments for a person (by name) and a service principal (by appId).
    scope = gallery["id"]
    for_bob = az(
        "role", "assignment", "create", "--assignee", bob.username, "--role", "Reader", "--scope", scope
    )
    assert for_bob["principalId"] == str(bob.object_id) and for_bob["scope"].lower() == scope.lower()
    for_sp = az(
        "role", "assignment", "create", "--assignee", str(app.client_id),
        "--role", "Compute Gallery Image Reader", "--scope", scope,
    )  # fmt: skip
    assert for_sp["principalId"] == str(sp.object_id)
    reader = az(
        "role", "assignment", "create", "--assignee", str(app.client_id),
        "--role", "Reader", "--scope", f"/subscriptions/{subscription.guid}/resourceGroups/{RG}",
    )  # fmt: skip
    at_gallery = az("role", "assignment", "list", "--scope", scope)
    assert {(a["principalName"], a["roleDefinitionName"]) for a in at_gallery} >= {
        (bob.username, "Reader"),
        (str(app.client_id), "Compute Gallery Image Reader"),
    }
    az("role", "assignment", "delete", "--ids", for_bob["id"])
    remaining = az("role", "assignment", "list", "--scope", scope)
    assert bob.username not in {a["principalName"] for a in remaining}

    # The service principal signs in and reads what it was given.
    az(
        "login",
        "--service-principal",
        "-u",
        str(app.client_id),
        f"--password={secret}",
        "--tenant",
        str(tenant.tenant_id),
    )
    assert [g["name"] for g in az("sig", "list", "-g", RG)] == ["Golden"]
    assert (
        az("sig", "image-version", "show", "-g", RG, "-r", "Golden", "-i", "ubuntu", "-e", "1.0.0")["name"]
        == "1.0.0"
    )
    with pytest.raises(AssertionError, match="AuthorizationFailed"):
        az("sig", "delete", "-g", RG, "-r", "Golden")

    # Back as the person: take the sharing back and delete everything.
    az("login", "-u", user.username, "-p", "Alice-Test-Pass-1")
    az("role", "assignment", "delete", "--ids", for_sp["id"], reader["id"])
    az("sig", "image-version", "delete", "-g", RG, "-r", "Golden", "-i", "ubuntu", "-e", "1.0.0", timeout=300)
    az("sig", "image-definition", "delete", "-g", RG, "-r", "Golden", "-i", "ubuntu")
    az("sig", "delete", "-g", RG, "-r", "Golden")
    assert az("sig", "list", "-g", RG) == []
    az("group", "delete", "-n", "scratch", "--yes", timeout=300)
    assert az("group", "exists", "-n", "scratch") is False
