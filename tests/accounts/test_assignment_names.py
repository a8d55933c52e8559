"""Role assignments have a GUID name (their ARM name, issue 14): given at creation, or the caller's, and
given to the rows that existed before the migration that added it."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accounts import sharing
from accounts.models import UserRoleAssignment
from accounts.services import create_user

BEFORE = [("accounts", "0006_subscription_request")]
AFTER = [("accounts", "0007_authz_assignment_name")]


def test_every_assignment_gets_a_name_and_the_api_can_choose_it(caller, tenant, gallery):
    bob = create_user(tenant, "bob@contoso.test", "Bob-Test-Pass-1")
    carol = create_user(tenant, "carol@contoso.test", "Carol-Test-Pass-1")
    sharing.assign_role(caller, gallery, bob, "reader")
    chosen = uuid.uuid4()
    sharing.assign_role(caller, gallery, carol.object_id, "reader", name=chosen)
    assert UserRoleAssignment.objects.get(user=carol).name == chosen
    assert isinstance(UserRoleAssignment.objects.get(user=bob).name, uuid.UUID)
    # The access page's ids and the GUID both remove.
    sharing.remove_assignment(caller, gallery, str(chosen))
    assert not UserRoleAssignment.objects.filter(user=carol).exists()


@pytest.mark.django_db(transaction=True)
def test_the_migration_names_existing_rows(user, tenant, subscription):
    bob = create_user(tenant, "bob@contoso.test", "Bob-Test-Pass-1")
    sharing.grant_as_system(subscription, bob, "reader")
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    try:
        executor.migrate(BEFORE)
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(AFTER)
        names = list(UserRoleAssignment.objects.values_list("name", flat=True))
        assert len(names) == 2 and None not in names and len(set(names)) == 2
    finally:  # back to the newest schema: later tests need every table (the migrations after AFTER too)
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(latest)
