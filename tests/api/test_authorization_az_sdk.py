"""The az CLI 2.91.0's own Authorization SDK (azure-mgmt-authorization 5.0.0b2, in the CLI's venv: role
definitions with api-version 2022-05-01-preview, TypeSpec models) reads what the portal answers: the
calls ``az role assignment create/list/delete`` make, in a subprocess of the CLI's Python. Skipped unless
``AZ_PYTHON`` names that Python (the az scenario harness sets it)."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap

import pytest

from accounts import tokens
from accounts.services import create_user

AZ_PYTHON = os.environ.get("AZ_PYTHON", "")

SCRIPT = textwrap.dedent(
    """
    import json, sys, uuid
    from azure.core.credentials import AccessToken
    from azure.core.pipeline.policies import SansIOHTTPPolicy
    from azure.mgmt.authorization import AuthorizationManagementClient
    from azure.mgmt.authorization.models import RoleAssignmentCreateParameters

    base, token, sub, scope, principal = sys.argv[1:]

    class Bearer(SansIOHTTPPolicy):
        def on_request(self, request):
            request.http_request.headers["Authorization"] = "Bearer " + token

    class Unused:
        def get_token(self, *scopes, **kwargs):
            return AccessToken("unused", 2**31 - 1)

    client = AuthorizationManagementClient(Unused(), sub, base_url=base, authentication_policy=Bearer(), retry_total=0)
    out = {}
    defs = list(client.role_definitions.list(scope, filter="roleName eq 'Reader'"))
    out["definition"] = [defs[0].id, defs[0].role_name, defs[0].role_type]
    name = str(uuid.uuid4())
    # As RoleApiHelper.create_role_assignment builds it (custom.py), unset fields None.
    params = RoleAssignmentCreateParameters(
        role_definition_id=defs[0].id, principal_id=principal, principal_type="User",
        description=None, condition=None, condition_version=None)
    made = client.role_assignments.create(scope, name, params)
    out["created"] = [made.name, made.scope, made.principal_id, made.role_definition_id]
    listed = list(client.role_assignments.list_for_scope(scope=scope, filter="atScope()"))
    out["listed"] = sorted(a.name for a in listed)
    client.role_assignments.delete_by_id(made.id)
    out["after"] = sorted(a.name for a in client.role_assignments.list_for_scope(scope=scope, filter="atScope()"))
    print(json.dumps(out))
    """
)


@pytest.mark.skipif(not AZ_PYTHON, reason="AZ_PYTHON (the az CLI's Python) is not set")
@pytest.mark.django_db(transaction=True)
def test_the_clis_sdk_creates_lists_and_deletes(live_server, user, tenant, subscription, gallery):
    bob = create_user(tenant, "bob@contoso.test", "Bob-Test-Pass-1", "Bob")
    run = subprocess.run(
        [
            AZ_PYTHON,
            "-c",
            SCRIPT,
            live_server.url,
            tokens.issue(user)["access_token"],
            str(subscription.guid),
            gallery.arm_id,
            str(bob.object_id),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    reader = f"/subscriptions/{subscription.guid}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"
    assert out["definition"] == [reader, "Reader", "BuiltInRole"]
    name, scope, principal, role = out["created"]
    assert (scope, principal, role) == (gallery.arm_id, str(bob.object_id), reader)
    assert name in out["listed"] and name not in out["after"]
