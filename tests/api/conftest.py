"""The API tests drive the server with the real Azure SDKs, unchanged: a ``ComputeManagementClient`` with an
``azure-identity`` ``ClientSecretCredential`` whose authority is the portal (``sdk``), against pytest-django's
live server speaking HTTPS with the local CA (``tls_live_server``), as a platform team's pipeline would. One
client setting differs from a client of Azure: a zero polling interval for long-running operations."""

from __future__ import annotations

import os

import pytest
from azure.identity import ClientSecretCredential
from azure.mgmt.compute import ComputeManagementClient

from accounts import directory, tokens
from accounts.activity import Caller
from accounts.models import ServicePrincipal
from accounts.sharing import grant_as_system

os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1")


def identity_client(
    server, tenant: str, client_id, secret: str, subscription_guid, client_class=ComputeManagementClient
):
    """A management client of ``client_class`` signed in as the app ``client_id`` in ``tenant`` (GUID or
    domain) by azure-identity's ``ClientSecretCredential`` with the portal (``server``) as authority."""
    credential = ClientSecretCredential(
        str(tenant), str(client_id), secret, authority=server.url, disable_instance_discovery=True
    )
    return client_class(
        credential,
        str(subscription_guid),
        base_url=server.url,
        credential_scopes=[f"{server.url}/.default"],
        polling_interval=0,
        retry_total=0,
    )


@pytest.fixture
def pipeline(tls_live_server):
    """``pipeline(subscription, role="owner", client_class=ComputeManagementClient)`` → a management client
    acting as a new app's service principal ("Pipeline N") of the subscription's tenant, given ``role`` on the
    subscription; signed in by ``ClientSecretCredential`` at the portal's token endpoint, no custom policy.
    ``client.principal`` is the service principal's user."""
    made = []

    def make(subscription, role: str = "owner", client_class=ComputeManagementClient):
        tenant = subscription.tenant
        app = directory.register_app(Caller.system(), tenant, f"Pipeline {len(made) + 1}")
        secret = directory.add_client_secret(Caller.system(), app, "sdk tests")[1]
        principal = ServicePrincipal.objects.get(app=app, tenant=tenant).user
        grant_as_system(subscription, principal, role)
        client = identity_client(
            tls_live_server, tenant.tenant_id, app.client_id, secret, subscription.guid, client_class
        )
        client.principal = principal
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def sdk(pipeline):
    """``sdk(subscription, role="owner")`` → a ``ComputeManagementClient`` of ``pipeline``."""
    return lambda subscription, role="owner": pipeline(subscription, role)


def bearer_for(user) -> dict:
    """Django test-client headers carrying a resource-manager bearer token of ``user``."""
    return {"HTTP_AUTHORIZATION": f"Bearer {tokens.issue(user, base='http://testserver')['access_token']}"}


@pytest.fixture
def bearer(user):
    """The signed-in ``user``'s bearer headers (modules with another ``bearer`` override it)."""
    return bearer_for(user)
