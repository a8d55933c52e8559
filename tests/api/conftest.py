"""The API tests drive the server with the real ``azure-mgmt-compute`` SDK, unchanged: a
``ComputeManagementClient`` pointed at pytest-django's live server on loopback. Two things differ from
a client of Azure, both client settings the SDK offers: an authentication policy that sends the
portal's bearer token over plain HTTP (the SDK's own policy refuses tokens without TLS), and a zero
polling interval for long-running operations."""

from __future__ import annotations

import os

import pytest
from azure.core.credentials import AccessToken
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.mgmt.compute import ComputeManagementClient

os.environ.setdefault("DJANGO_LIVE_TEST_SERVER_ADDRESS", "127.0.0.1")


class BearerPolicy(SansIOHTTPPolicy):
    """Adds ``Authorization: Bearer <token>`` to every request."""

    def __init__(self, token: str):
        super().__init__()
        self.token = token

    def on_request(self, request):
        request.http_request.headers["Authorization"] = f"Bearer {self.token}"


class UnusedCredential:
    """The client wants a credential; ``BearerPolicy`` is what authenticates."""

    def get_token(self, *scopes, **kwargs):
        return AccessToken("unused", 2**31 - 1)


def compute_client(base_url: str, token: str, subscription_guid) -> ComputeManagementClient:
    return ComputeManagementClient(
        credential=UnusedCredential(),
        subscription_id=str(subscription_guid),
        base_url=base_url,
        authentication_policy=BearerPolicy(token),
        polling_interval=0,
        retry_total=0,
    )


@pytest.fixture
def sdk(live_server):
    """``sdk(user, subscription)`` → a ComputeManagementClient acting as ``user`` (a person or a
    service principal) with a token from the portal's token service."""
    from accounts import tokens

    return lambda user, subscription: compute_client(
        live_server.url, tokens.issue(user, base=live_server.url)["access_token"], subscription.guid
    )
