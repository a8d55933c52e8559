"""The minimal Microsoft Graph under /graph/v1.0 (issue 14): what the az CLI asks to resolve --assignee
and to name the principals of role assignments, in Graph's shapes; only the caller's directory."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from accounts import directory, tokens
from accounts.activity import Caller
from accounts.services import create_tenant, create_user

G = "/graph/v1.0"
BASE = "http://testserver"  # the test client's host: tokens name it as issuer and audience


@pytest.fixture
def graph(client, user):
    def call(method, path, body=None, as_=None):
        who = as_ or user
        token, _ = tokens.access_token(
            who,
            who.home_tenant,
            base=BASE,
            audience=tokens.audiences(BASE)["graph"],
            client_id=tokens.AZ_CLI_CLIENT_ID,
        )
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
        if body is not None:
            r = getattr(client, method)(G + path, body, content_type="application/json", **headers)
        else:
            r = getattr(client, method)(G + path, **headers)
        return r.status_code, r.json()

    return call


@pytest.fixture
def world(tenant, user):
    admin = create_user(tenant, "admin@contoso.test", "Admin-Test-Pass-1", is_tenant_admin=True)
    app = directory.register_app(Caller(admin), tenant, "Deployer")
    team = directory.add_group(Caller(admin), tenant, "Team")
    fabrikam = create_tenant("Fabrikam", "fabrikam.test")
    eve = create_user(fabrikam, "eve@fabrikam.test", "Eve-Test-Pass-1", "Eve")
    other_app = directory.register_app(Caller.system(), fabrikam, "Elsewhere")
    return app, team, eve, other_app


def flt(text: str) -> str:
    return "?$filter=" + quote(text, safe="")


def test_users_by_user_principal_name_and_by_id(graph, user, world):
    _, _, eve, _ = world
    status, body = graph("get", "/users" + flt("userPrincipalName eq 'ALICE@contoso.test'"))
    assert status == 200 and body["@odata.context"].endswith("/graph/v1.0/$metadata#users")
    (alice,) = body["value"]
    assert alice["id"] == str(user.object_id) and alice["userPrincipalName"] == "alice@contoso.test"
    assert alice["displayName"] == "Alice"
    # Another tenant's user is not in this directory: an empty list, then not found by id.
    status, body = graph("get", "/users" + flt("userPrincipalName eq 'eve@fabrikam.test'"))
    assert status == 200 and body["value"] == []
    status, body = graph("get", f"/users/{user.object_id}")
    assert status == 200 and body["userPrincipalName"] == "alice@contoso.test"
    status, body = graph("get", "/users/alice@contoso.test")
    assert status == 200 and body["id"] == str(user.object_id)
    status, body = graph("get", f"/users/{eve.object_id}")
    assert status == 404 and body["error"]["code"] == "Request_ResourceNotFound"
    assert set(body["error"]) == {"code", "message", "innerError"}


def test_service_principals_by_app_id_and_display_name(graph, world):
    app, _, _, other_app = world
    sp_user = app.service_principals.get().user
    for text in (
        f"servicePrincipalNames/any(c:c eq '{app.client_id}')",
        f"appId eq '{app.client_id}'",
        "displayName eq 'Deployer'",
    ):
        status, body = graph("get", "/servicePrincipals" + flt(text))
        assert status == 200, body
        (sp,) = body["value"]
        assert sp["id"] == str(sp_user.object_id) and sp["appId"] == str(app.client_id)
        assert sp["servicePrincipalNames"] == [str(app.client_id)]
    status, body = graph(
        "get", "/servicePrincipals" + flt(f"servicePrincipalNames/any(c:c eq '{other_app.client_id}')")
    )
    assert body["value"] == []
    status, body = graph("get", f"/servicePrincipals/{sp_user.object_id}")
    assert status == 200 and body["displayName"] == "Deployer"


def test_groups_and_get_by_ids(graph, user, world):
    app, team, eve, _ = world
    status, body = graph("get", "/groups" + flt("displayName eq 'team'"))
    assert [g["id"] for g in body["value"]] == [str(team.object_id)]
    sp_user = app.service_principals.get().user
    ids = [str(user.object_id), str(team.object_id), str(sp_user.object_id), str(eve.object_id)]
    status, body = graph(
        "post",
        "/directoryObjects/getByIds",
        {"ids": ids, "types": ["user", "group", "servicePrincipal", "directoryObjectPartnerReference"]},
    )
    assert status == 200
    assert [(o["id"], o["@odata.type"]) for o in body["value"]] == [
        (str(user.object_id), "#microsoft.graph.user"),
        (str(team.object_id), "#microsoft.graph.group"),
        (str(sp_user.object_id), "#microsoft.graph.servicePrincipal"),
    ]
    status, body = graph("post", "/directoryObjects/getByIds", {"ids": ["nope"]})
    assert status == 400 and body["error"]["code"] == "Request_BadRequest"


def test_me_and_unsupported_queries(graph, user):
    status, body = graph("get", "/me")
    assert status == 200 and body["id"] == str(user.object_id)
    status, body = graph("get", "/users" + flt("jobTitle eq 'x'"))
    assert status == 400 and body["error"]["code"] == "Request_UnsupportedQuery"
    status, body = graph("get", "/users" + flt("userPrincipalName eq 'a' or 1 eq 1"))
    assert status == 400 and body["error"]["code"] == "Request_UnsupportedQuery"
    status, body = graph("get", "/users?$top=5")
    assert status == 400 and body["error"]["code"] == "Request_UnsupportedQuery"


def test_graph_needs_authentication(client):
    r = client.get(G + "/me")
    assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidAuthenticationToken"
