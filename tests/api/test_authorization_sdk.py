"""The real azure-mgmt-authorization SDK (4.0.0, api-version 2022-04-01) against the portal: role
definitions by name, role assignments created, read, listed and deleted at the subscription, a resource
group and a gallery; refusals read in the SDK's exceptions."""

from __future__ import annotations

import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.authorization.v2022_04_01.models import RoleAssignmentCreateParameters

from accounts.services import create_user


@pytest.fixture
def authz(pipeline):
    """``authz(subscription)`` → an AuthorizationManagementClient of a pipeline service principal that owns
    the subscription (azure-identity's ClientSecretCredential, no custom policy)."""
    return lambda subscription: pipeline(subscription, "owner", AuthorizationManagementClient)


@pytest.mark.django_db(transaction=True)
def test_assignments_through_the_sdk_at_three_scopes(authz, user, tenant, subscription, rg, gallery):
    bob = create_user(tenant, "bob@contoso.test", "Bob-Test-Pass-1", "Bob")
    client = authz(subscription)
    sub_scope = f"/subscriptions/{subscription.guid}"
    (reader,) = client.role_definitions.list(sub_scope, filter="roleName eq 'Reader'")
    assert reader.role_name == "Reader" and reader.role_type == "BuiltInRole"
    assert (
        reader.id
        == f"{sub_scope}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"
    )
    assert client.role_definitions.get_by_id(reader.id).role_name == "Reader"

    made = {}
    for scope in (sub_scope, rg.arm_id, gallery.arm_id):
        name = str(uuid.uuid4())
        a = client.role_assignments.create(
            scope,
            name,
            RoleAssignmentCreateParameters(
                role_definition_id=reader.id, principal_id=str(bob.object_id), principal_type="User"
            ),
        )
        assert (a.name, a.scope, a.principal_type, a.role_definition_id) == (name, scope, "User", reader.id)
        assert client.role_assignments.get(scope, name).id == a.id
        assert client.role_assignments.get_by_id(a.id).name == name
        made[scope] = a

    listed = {
        a.name
        for a in client.role_assignments.list_for_subscription(filter=f"principalId eq '{bob.object_id}'")
    }
    assert listed == {a.name for a in made.values()}
    at_rg = {a.name for a in client.role_assignments.list_for_resource_group(rg.name)}
    assert at_rg >= {made[sub_scope].name, made[rg.arm_id].name, made[gallery.arm_id].name}
    at_gallery = {a.name for a in client.role_assignments.list_for_scope(gallery.arm_id, filter="atScope()")}
    assert made[gallery.arm_id].name in at_gallery and made[sub_scope].name in at_gallery

    with pytest.raises(ResourceExistsError) as err:
        client.role_assignments.create(
            gallery.arm_id,
            str(uuid.uuid4()),
            RoleAssignmentCreateParameters(role_definition_id=reader.id, principal_id=str(bob.object_id)),
        )
    assert err.value.error.code == "RoleAssignmentExists"
    with pytest.raises(HttpResponseError) as err:
        client.role_assignments.create(
            gallery.arm_id,
            str(uuid.uuid4()),
            RoleAssignmentCreateParameters(role_definition_id=reader.id, principal_id=str(uuid.uuid4())),
        )
    assert err.value.status_code == 400 and err.value.error.code == "PrincipalNotFound"

    for scope, a in made.items():
        deleted = client.role_assignments.delete(scope, a.name)
        assert deleted.name == a.name
        assert client.role_assignments.delete(scope, a.name) is None  # 204: already gone
        with pytest.raises(ResourceNotFoundError):
            client.role_assignments.get(scope, a.name)
