"""Microsoft.Authorization over ARM (issue 14): role definitions and role assignments at every scope,
with the Django test client, in Azure's shapes and codes; every change through ``accounts.sharing``."""

from __future__ import annotations

import uuid

import pytest

from accounts import sharing, tokens
from accounts.activity import Caller
from accounts.models import ActivityLogEntry, UserRoleAssignment
from accounts.roles import ROLE_BY_KEY
from accounts.services import create_tenant, create_user
from accounts import directory

V = "api-version=2022-04-01"
AUTHZ = "/providers/Microsoft.Authorization"
READER = ROLE_BY_KEY["reader"].guid


def bearer(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {tokens.issue(user)['access_token']}"}


@pytest.fixture
def bob(tenant):
    return create_user(tenant, "bob@contoso.test", "Bob-Test-Pass-1", "Bob")


@pytest.fixture
def api(client, user):
    """``api(method, path, body=None, as_=user)`` → (status, json)."""

    def call(method, path, body=None, as_=None, query=V):
        sep = "&" if "?" in path else "?"
        url = f"{path}{sep}{query}" if query else path
        kwargs = bearer(as_ or user)
        if body is not None:
            r = getattr(client, method)(url, body, content_type="application/json", **kwargs)
        else:
            r = getattr(client, method)(url, **kwargs)
        return r.status_code, (r.json() if r.content else None)

    return call


def role_id(subscription, key="reader"):
    return f"/subscriptions/{subscription.guid}{AUTHZ}/roleDefinitions/{ROLE_BY_KEY[key].guid}"


def test_role_definitions_list_filter_and_get(api, subscription, rg):
    status, body = api("get", f"/subscriptions/{subscription.guid}{AUTHZ}/roleDefinitions")
    assert status == 200 and len(body["value"]) == 6
    status, body = api(
        "get", f"{rg.arm_id}{AUTHZ}/roleDefinitions?$filter=roleName eq 'Reader'", query="api-version=2022-05-01-preview"
    )
    assert status == 200
    (reader,) = body["value"]
    assert reader == {
        "id": role_id(subscription),
        "type": "Microsoft.Authorization/roleDefinitions",
        "name": READER,
        "properties": {
            "roleName": "Reader",
            "type": "BuiltInRole",
            "description": "View all resources, but does not allow you to make any changes.",
            "assignableScopes": ["/"],
            "permissions": [{"actions": ["*/read"], "notActions": [], "dataActions": [], "notDataActions": []}],
            "createdOn": None,
            "updatedOn": None,
            "createdBy": None,
            "updatedBy": None,
        },
    }
    status, body = api("get", role_id(subscription))
    assert status == 200 and body["properties"]["roleName"] == "Reader"
    status, body = api("get", f"{AUTHZ}/roleDefinitions/{READER}")
    assert status == 200 and body["id"] == f"{AUTHZ}/roleDefinitions/{READER}"
    status, body = api("get", f"{AUTHZ}/roleDefinitions/{uuid.uuid4()}")
    assert status == 404 and body["error"]["code"] == "RoleDefinitionDoesNotExist"
    status, body = api("get", f"{AUTHZ}/roleDefinitions?$filter=roleName eq 'Boss'")
    assert status == 200 and body["value"] == []


def test_create_get_list_delete_at_the_subscription(api, subscription, bob):
    name = str(uuid.uuid4())
    path = f"/subscriptions/{subscription.guid}{AUTHZ}/roleAssignments/{name}"
    body = {"properties": {"roleDefinitionId": role_id(subscription), "principalId": str(bob.object_id)}}
    status, created = api("put", path, body)
    assert status == 201, created
    assert created["id"] == path and created["name"] == name
    assert created["type"] == "Microsoft.Authorization/roleAssignments"
    props = created["properties"]
    assert props["principalType"] == "User" and props["scope"] == f"/subscriptions/{subscription.guid}"
    assert props["roleDefinitionId"] == role_id(subscription)
    assert UserRoleAssignment.objects.get(name=name).user == bob
    entry = ActivityLogEntry.objects.filter(operation=sharing.ASSIGN_OP).first()
    assert entry.status == "Succeeded" and entry.source == "api"

    status, got = api("get", path)
    assert status == 200 and got == created
    status, listed = api("get", f"/subscriptions/{subscription.guid}{AUTHZ}/roleAssignments?$filter=atScope()")
    assert status == 200 and name in {a["name"] for a in listed["value"]}
    status, listed = api(
        "get", f"/subscriptions/{subscription.guid}{AUTHZ}/roleAssignments?$filter=principalId eq '{bob.object_id}'"
    )
    assert [a["name"] for a in listed["value"]] == [name]

    status, deleted = api("delete", path)
    assert status == 200 and deleted == created
    status, again = api("delete", path)
    assert status == 204 and again is None
    status, gone = api("get", path)
    assert status == 404 and gone["error"]["code"] == "RoleAssignmentNotFound"
