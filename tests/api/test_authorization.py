"""Microsoft.Authorization over ARM (issue 14): role definitions and role assignments at every scope,
with the Django test client, in Azure's shapes and codes; every change through ``accounts.sharing``."""

from __future__ import annotations

import uuid

import pytest

from accounts import directory, sharing
from accounts.activity import Caller
from accounts.models import ActivityLogEntry, UserRoleAssignment
from accounts.roles import ROLE_BY_KEY
from accounts.services import create_tenant, create_user

from .conftest import bearer_for as bearer

V = "api-version=2022-04-01"
AUTHZ = "/providers/Microsoft.Authorization"
READER = ROLE_BY_KEY["reader"].guid


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
        "get",
        f"{rg.arm_id}{AUTHZ}/roleDefinitions?$filter=roleName eq 'Reader'",
        query="api-version=2022-05-01-preview",
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
            "permissions": [
                {"actions": ["*/read"], "notActions": [], "dataActions": [], "notDataActions": []}
            ],
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
    status, listed = api(
        "get", f"/subscriptions/{subscription.guid}{AUTHZ}/roleAssignments?$filter=atScope()"
    )
    assert status == 200 and name in {a["name"] for a in listed["value"]}
    status, listed = api(
        "get",
        f"/subscriptions/{subscription.guid}{AUTHZ}/roleAssignments?$filter=principalId eq '{bob.object_id}'",
    )
    assert [a["name"] for a in listed["value"]] == [name]

    status, deleted = api("delete", path)
    assert status == 200 and deleted == created
    status, again = api("delete", path)
    assert status == 204 and again is None
    status, gone = api("get", path)
    assert status == 404 and gone["error"]["code"] == "RoleAssignmentNotFound"


def assignment_path(scope_id: str, name: str | None = None) -> str:
    return f"{scope_id}{AUTHZ}/roleAssignments/{name or uuid.uuid4()}"


def grant_body(subscription, principal, key="reader", **props) -> dict:
    return {
        "properties": {
            "roleDefinitionId": role_id(subscription, key),
            "principalId": str(principal.object_id),
            **props,
        }
    }


def test_assignments_at_resource_group_and_gallery_and_the_lists_at_every_level(
    api, subscription, rg, gallery, bob
):
    at_rg = assignment_path(rg.arm_id)
    at_gallery = assignment_path(gallery.arm_id)
    status, a = api("put", at_rg, grant_body(subscription, bob, "reader"))
    assert status == 201 and a["properties"]["scope"] == rg.arm_id
    status, b = api("put", at_gallery, grant_body(subscription, bob, "sharing_admin", principalType="User"))
    assert status == 201 and b["properties"]["scope"] == gallery.arm_id
    assert b["properties"]["roleDefinitionId"].endswith("1ef6a3be-d0ac-425d-8c01-acb62866290b")

    sub_list = f"/subscriptions/{subscription.guid}{AUTHZ}/roleAssignments"
    owner = UserRoleAssignment.objects.get(content_object_id=subscription.pk).name
    # The subscription's list without a filter: at, and below (Azure's list-for-subscription).
    status, body = api("get", sub_list)
    assert {x["name"] for x in body["value"]} == {str(owner), a["name"], b["name"]}
    # atScope() at the gallery: there and above (inherited), nothing below.
    status, body = api("get", f"{gallery.arm_id}{AUTHZ}/roleAssignments?$filter=atScope()")
    assert {x["name"] for x in body["value"]} == {str(owner), a["name"], b["name"]}
    status, body = api("get", f"{rg.arm_id}{AUTHZ}/roleAssignments?$filter=atScope()")
    assert {x["name"] for x in body["value"]} == {str(owner), a["name"]}
    status, body = api("get", f"{sub_list}?$filter=atScope()")
    assert {x["name"] for x in body["value"]} == {str(owner)}
    # Paths are case-insensitive, like every ARM path.
    status, body = api("get", at_gallery.lower().replace("roleassignments", "ROLEASSIGNMENTS"))
    assert status == 200 and body["name"] == b["name"]


def test_filters_principal_id_and_assigned_to_with_groups(api, user, tenant, subscription, gallery, bob):
    team = directory.add_group(Caller.system(), tenant, "Team")
    directory.add_member(Caller.system(), team, bob)
    group_path = assignment_path(gallery.arm_id)
    status, g = api(
        "put",
        group_path,
        {"properties": {"roleDefinitionId": role_id(subscription), "principalId": str(team.object_id)}},
    )
    assert status == 201 and g["properties"]["principalType"] == "Group"
    status, direct = api("put", assignment_path(subscription.arm_id), grant_body(subscription, bob))
    sub_list = f"/subscriptions/{subscription.guid}{AUTHZ}/roleAssignments"
    status, body = api("get", f"{sub_list}?$filter=principalId eq '{bob.object_id}'")
    assert [x["name"] for x in body["value"]] == [direct["name"]]
    status, body = api("get", f"{sub_list}?$filter=assignedTo('{bob.object_id}')")
    assert {x["name"] for x in body["value"]} == {direct["name"], g["name"]}
    status, body = api(
        "get", f"{gallery.arm_id}{AUTHZ}/roleAssignments?$filter=atScope() and assignedTo('{bob.object_id}')"
    )
    assert {x["name"] for x in body["value"]} == {direct["name"], g["name"]}
    status, body = api("get", f"{sub_list}?$filter=principalId eq 'bob'")
    assert status == 400 and body["error"]["code"] == "InvalidPrincipalId"
    status, body = api("get", f"{sub_list}?$filter=roleDefinitionId eq 'x'")
    assert status == 400 and body["error"]["code"] == "InvalidQueryParameterValue"
    assert body["error"]["target"] == "$filter"


@pytest.fixture
def outsider(db):
    fabrikam = create_tenant("Fabrikam", "fabrikam.test")
    return create_user(fabrikam, "eve@fabrikam.test", "Eve-Test-Pass-1", "Eve")


def test_refusals_in_azures_codes(api, subscription, gallery, bob, outsider, make_image):
    path = assignment_path(gallery.arm_id)
    cases = [
        (
            grant_body(subscription, bob)
            | {
                "properties": {
                    "roleDefinitionId": f"/subscriptions/{subscription.guid}{AUTHZ}/roleDefinitions/{uuid.uuid4()}",
                    "principalId": str(bob.object_id),
                }
            },
            404,
            "RoleDefinitionDoesNotExist",
        ),
        (grant_body(subscription, outsider), 400, "PrincipalNotFound"),
        (
            {"properties": {"roleDefinitionId": role_id(subscription), "principalId": str(uuid.uuid4())}},
            400,
            "PrincipalNotFound",
        ),
        (
            {"properties": {"roleDefinitionId": role_id(subscription), "principalId": "bob"}},
            400,
            "InvalidPrincipalId",
        ),
        (grant_body(subscription, bob, principalType="ServicePrincipal"), 400, "UnmatchedPrincipalType"),
        (grant_body(subscription, bob, principalType="ForeignGroup"), 400, "InvalidParameter"),
        (grant_body(subscription, bob, condition="@Resource[x] StringEquals 'y'"), 400, "InvalidParameter"),
        (grant_body(subscription, bob, description="why"), 400, "InvalidParameter"),
        (grant_body(subscription, bob, canDelegate=True), 400, "InvalidParameter"),
        ({"properties": {"principalId": str(bob.object_id)}}, 400, "InvalidParameter"),
        ([], 400, "InvalidParameter"),
    ]
    for body, status, code in cases:
        got_status, got = api("put", path, body)
        assert (got_status, got["error"]["code"]) == (status, code), (body, got)
    status, got = api("put", assignment_path(gallery.arm_id, "not-a-guid"), grant_body(subscription, bob))
    assert (status, got["error"]["code"]) == (400, "InvalidRoleAssignmentId")
    # A gallery role grants nothing on a managed image.
    image = make_image()
    status, got = api("put", assignment_path(image.arm_id), grant_body(subscription, bob, "image_reader"))
    assert (status, got["error"]["code"], got["error"]["target"]) == (400, "InvalidParameter", "role")
    assert not UserRoleAssignment.objects.filter(user=bob).exists()
    # Every refusal after the access check is in the activity log, as on the access page.
    assert (
        ActivityLogEntry.objects.filter(operation=sharing.ASSIGN_OP, status="Failed", source="api").count()
        >= 4
    )


def test_duplicates_and_idempotent_puts(api, subscription, gallery, bob):
    path = assignment_path(gallery.arm_id)
    status, first = api("put", path, grant_body(subscription, bob))
    assert status == 201
    status, again = api("put", path, grant_body(subscription, bob))
    assert status == 200 and again == first
    status, body = api("put", assignment_path(gallery.arm_id), grant_body(subscription, bob))
    assert (status, body["error"]["code"]) == (409, "RoleAssignmentExists")
    status, body = api("put", path, grant_body(subscription, bob, "contributor"))
    assert (status, body["error"]["code"]) == (409, "RoleAssignmentUpdateNotPermitted")
    assert UserRoleAssignment.objects.filter(user=bob).count() == 1


def test_manage_access_is_needed_403_when_readable_404_when_not(
    api, user, subscription, gallery, bob, tenant
):
    carol = create_user(tenant, "carol@contoso.test", "Carol-Test-Pass-1", "Carol")
    status, _ = api("put", assignment_path(gallery.arm_id), grant_body(subscription, bob))
    path = assignment_path(gallery.arm_id)
    # bob reads the gallery but may not grant: 403; carol reads nothing: 404.
    status, body = api("put", path, grant_body(subscription, carol), as_=bob)
    assert (status, body["error"]["code"]) == (403, "AuthorizationFailed")
    status, body = api("put", path, grant_body(subscription, carol), as_=carol)
    assert (status, body["error"]["code"]) == (404, "ResourceNotFound")
    status, body = api("get", f"{gallery.arm_id}{AUTHZ}/roleAssignments", as_=carol)
    assert status == 404
    status, body = api("delete", path, as_=bob)
    assert (status, body["error"]["code"]) == (403, "AuthorizationFailed")
    status, body = api("get", f"/subscriptions/{subscription.guid}{AUTHZ}/roleAssignments", as_=carol)
    assert (status, body["error"]["code"]) == (404, "SubscriptionNotFound")
    # bob reads the gallery: its list shows what is there and inherited, not the subscription's own list.
    status, body = api("get", f"/subscriptions/{subscription.guid}{AUTHZ}/roleAssignments", as_=bob)
    assert status == 200 and {x["properties"]["scope"] for x in body["value"]} == {gallery.arm_id}


def test_an_arm_assignment_grants_access_and_shows_on_the_access_page(
    api, client, user, subscription, gallery, bob
):
    gallery_api = f"{gallery.arm_id}"
    status, _ = api("get", gallery_api, query="api-version=2023-07-03", as_=bob)
    assert status == 404
    status, made = api("put", assignment_path(gallery.arm_id), grant_body(subscription, bob))
    assert status == 201
    status, _ = api("get", gallery_api, query="api-version=2023-07-03", as_=bob)
    assert status == 200
    client.force_login(user)
    page = client.get(f"/resources/{gallery.pk}/access/")
    assert page.status_code == 200 and "bob@contoso.test" in page.content.decode()
    # Removed on the access page: gone from the API too.
    a = UserRoleAssignment.objects.get(name=made["name"])
    client.post(f"/resources/{gallery.pk}/access/remove", {"assignment": f"u:{a.pk}"})
    status, _ = api("get", assignment_path(gallery.arm_id, made["name"]))
    assert status == 404
    status, _ = api("get", gallery_api, query="api-version=2023-07-03", as_=bob)
    assert status == 404


def test_api_version_is_required_and_checked(api, subscription):
    status, body = api("get", f"/subscriptions/{subscription.guid}{AUTHZ}/roleAssignments", query="")
    assert (status, body["error"]["code"]) == (400, "MissingApiVersionParameter")
    status, body = api(
        "get", f"/subscriptions/{subscription.guid}{AUTHZ}/roleAssignments", query="api-version=2015-07-01"
    )
    assert (status, body["error"]["code"]) == (400, "NoRegisteredProviderFound")


def test_custom_roles_are_not_supported(api, subscription):
    status, body = api("put", role_id(subscription), {"properties": {"roleName": "Mine"}})
    assert (status, body["error"]["code"]) == (405, "MethodNotAllowed")


def test_an_accepted_guest_with_open_doors_can_be_given_a_role_by_object_id(
    api, tenant, subscription, gallery, outsider
):
    admin = create_user(tenant, "admin@contoso.test", "Admin-Test-Pass-1", is_tenant_admin=True)
    fabrikam = outsider.home_tenant
    f_admin = create_user(fabrikam, "admin@fabrikam.test", "Admin-Test-Pass-1", is_tenant_admin=True)
    path = assignment_path(gallery.arm_id)
    invitation = directory.invite_guest(Caller(admin), tenant, outsider.username)
    status, body = api("put", path, grant_body(subscription, outsider))
    assert (status, body["error"]["code"]) == (400, "PrincipalNotFound")  # invited, not yet a guest
    directory.accept_invitation(Caller(outsider), invitation)
    status, body = api("put", path, grant_body(subscription, outsider))
    assert (status, body["error"]["code"], body["error"]["target"]) == (400, "InvalidParameter", "principal")
    assert "partner" in body["error"]["message"]  # the partner lists are shut: the access page's reason
    directory.set_partner(Caller(admin), tenant, fabrikam)
    directory.set_partner(Caller(f_admin), fabrikam, tenant)
    status, body = api("put", path, grant_body(subscription, outsider))
    assert status == 201 and body["properties"]["principalId"] == str(outsider.object_id)
    status, _ = api("get", gallery.arm_id, query="api-version=2023-07-03", as_=outsider)
    assert status == 200
