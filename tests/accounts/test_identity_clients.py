"""The real client libraries against the portal over HTTPS (issue 14), unchanged but for trusting the
portal's CA and turning off instance discovery (MSAL would ask login.microsoftonline.com about the
authority — what ``az config set core.instance_discovery=false`` does for the CLI):

- msal's ``ConfidentialClientApplication`` (client credentials) and ``PublicClientApplication`` with the
  Azure CLI's client id (username and password: user realm discovery on port 443, then ROPC, then a
  silent refresh with the refresh token);
- azure-identity's ``ClientSecretCredential`` (authority = the portal) driving ``azure-mgmt-compute`` with no
  custom policy, and ``ManagedIdentityCredential`` through ``IDENTITY_ENDPOINT`` and ``IDENTITY_HEADER``."""

from __future__ import annotations

import msal
import pytest
import requests
from azure.identity import ClientSecretCredential, ManagedIdentityCredential
from azure.mgmt.compute import ComputeManagementClient

from accounts import directory
from accounts.activity import Caller
from accounts.models import ManagedIdentity, ServicePrincipal
from accounts.services import create_subscription
from accounts.sharing import grant_as_system

AZ_CLI = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
SUBSCRIPTIONS = "/subscriptions?api-version=2022-12-01"


@pytest.fixture
def world(https_portal, tenant, user, monkeypatch):
    """An app with a secret whose service principal is Reader of a subscription Alice owns."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", https_portal.ca_bundle)
    subscription = create_subscription(Caller.system(), tenant, "Contoso Test", owner=user)
    app = directory.register_app(Caller.system(), tenant, "Pipeline")
    secret = directory.add_client_secret(Caller.system(), app, "ci")[1]
    sp = ServicePrincipal.objects.get(app=app, tenant=tenant)
    grant_as_system(subscription, sp.user, "reader")
    return https_portal, tenant, app, secret, sp, subscription


def arm(portal, token: str) -> list[str]:
    r = requests.get(
        f"{portal[0]}{SUBSCRIPTIONS}",
        headers={"Authorization": f"Bearer {token}"},
        verify=portal.ca_bundle,
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return [s["subscriptionId"] for s in r.json()["value"]]


def test_msal_confidential_client_gets_a_token_by_client_credentials(world):
    portal, tenant, app, secret, sp, subscription = world
    client = msal.ConfidentialClientApplication(
        str(app.client_id),
        client_credential=secret,
        authority=f"{portal[0]}/{tenant.tenant_id}",
        instance_discovery=False,
        verify=portal.ca_bundle,
    )
    result = client.acquire_token_for_client(scopes=[f"{portal[0]}/.default"])
    assert "access_token" in result, result
    assert arm(portal, result["access_token"]) == [str(subscription.guid)]
    wrong = msal.ConfidentialClientApplication(
        str(app.client_id),
        client_credential="wrong",
        authority=f"{portal[0]}/{tenant.primary_domain}",
        instance_discovery=False,
        verify=portal.ca_bundle,
    ).acquire_token_for_client(scopes=[f"{portal[0]}/.default"])
    assert wrong["error"] == "invalid_client" and 7000215 in wrong["error_codes"], wrong


def test_msal_public_client_signs_a_person_in_with_the_azure_clis_client_id(world, user):
    portal, tenant, app, secret, sp, subscription = world
    if not portal.userrealm_443:
        pytest.skip("MSAL asks the user realm on port 443, which this process cannot serve")
    client = msal.PublicClientApplication(
        AZ_CLI, authority=f"{portal[0]}/organizations", instance_discovery=False, verify=portal.ca_bundle
    )
    scopes = [f"{portal[0]}//.default"]  # what the CLI asks: the resource manager audience + /.default
    result = client.acquire_token_by_username_password(user.username, "Alice-Test-Pass-1", scopes=scopes)
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == user.username
    assert arm(portal, result["access_token"]) == [str(subscription.guid)]
    [account] = client.get_accounts()
    assert account["home_account_id"] == f"{user.object_id}.{tenant.tenant_id}"
    assert account["username"] == user.username
    refreshed = client.acquire_token_silent(scopes, account=account, force_refresh=True)
    assert refreshed and "access_token" in refreshed, refreshed
    assert refreshed["access_token"] != result["access_token"]
    assert arm(portal, refreshed["access_token"]) == [str(subscription.guid)]


def test_azure_identity_client_secret_credential_drives_the_compute_sdk_unchanged(world):
    portal, tenant, app, secret, sp, subscription = world
    credential = ClientSecretCredential(
        str(tenant.tenant_id),
        str(app.client_id),
        secret,
        authority=portal[0],
        disable_instance_discovery=True,
        connection_verify=portal.ca_bundle,
    )
    token = credential.get_token(f"{portal[0]}/.default")
    assert arm(portal, token.token) == [str(subscription.guid)]
    compute = ComputeManagementClient(
        credential,
        str(subscription.guid),
        base_url=portal[0],
        credential_scopes=[f"{portal[0]}/.default"],
        connection_verify=portal.ca_bundle,
    )
    assert list(compute.galleries.list()) == []


def test_azure_identity_managed_identity_credential_reads_identity_endpoint_and_header(world, monkeypatch):
    portal, tenant, app, secret, sp, subscription = world
    _, header = ManagedIdentity.enable(sp)
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"{portal[0]}/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", header)
    token = ManagedIdentityCredential().get_token(f"{portal[0]}/.default")
    assert arm(portal, token.token) == [str(subscription.guid)]
