"""``az login`` against the portal's Entra-style identity (issue 14): a service principal by client secret,
a person by username and password (the CLI's client id, user realm discovery on port 443, ROPC), and
``az account get-access-token`` giving a token the API takes."""

from __future__ import annotations

import jwt
import pytest
import requests

from accounts import directory
from accounts.activity import Caller
from accounts.models import ServicePrincipal
from accounts.services import create_subscription
from accounts.sharing import grant_as_system


@pytest.fixture
def cloud(az, https_portal, tenant, user):
    base = https_portal.url
    az("cloud", "register", "-n", "Portal", "--endpoint-resource-manager", base + "/")
    az("cloud", "set", "-n", "Portal")
    subscription = create_subscription(Caller.system(), tenant, "Contoso Test", owner=user)
    return base, subscription


def works(https_portal, token: str) -> bool:
    r = requests.get(
        f"{https_portal.url}/subscriptions?api-version=2022-12-01",
        headers={"Authorization": f"Bearer {token}"},
        verify=https_portal.ca_bundle,
        timeout=30,
    )
    return r.status_code == 200


def test_az_login_as_a_service_principal(az, https_portal, cloud, tenant):
    base, subscription = cloud
    app = directory.register_app(Caller.system(), tenant, "Pipeline")
    secret = directory.add_client_secret(Caller.system(), app, "ci")[1]
    grant_as_system(subscription, ServicePrincipal.objects.get(app=app, tenant=tenant).user, "reader")
    accounts = az(  # --password=: a secret may start with "-"
        "login", "--service-principal", "-u", str(app.client_id), f"--password={secret}",
        "--tenant", str(tenant.tenant_id),
    )  # fmt: skip
    assert [a["id"] for a in accounts] == [str(subscription.guid)]
    assert accounts[0]["tenantId"] == str(tenant.tenant_id)
    assert accounts[0]["user"] == {"name": str(app.client_id), "type": "servicePrincipal"}
    token = az("account", "get-access-token")
    assert token["tenant"] == str(tenant.tenant_id) and works(https_portal, token["accessToken"])
    graph = az("account", "get-access-token", "--resource-type", "ms-graph")["accessToken"]
    assert jwt.decode(graph, options={"verify_signature": False})["aud"] == base + "/graph/"
    assert not works(https_portal, graph)  # a Graph token does not open the resource manager


def test_az_login_as_a_person(az, https_portal, cloud, tenant, user):
    base, subscription = cloud
    if not https_portal.userrealm_443:
        pytest.skip("MSAL asks the user realm on port 443, which this process cannot serve")
    # With --tenant: without it the CLI first lists /tenants (Microsoft.Resources, helper ARM's part).
    accounts = az("login", "-u", user.username, "-p", "Alice-Test-Pass-1", "--tenant", tenant.primary_domain)
    assert [a["id"] for a in accounts] == [str(subscription.guid)]
    assert accounts[0]["user"] == {"name": user.username, "type": "user"}
    token = az("account", "get-access-token")
    assert works(https_portal, token["accessToken"])
