"""The access filter at scale (issue 16): assignments carry their scope's type, tenant and ancestors; a
principal's grants are built from its assignment rows and kept per process keyed by exactly those rows
and its open tenants; the WHERE is one condition written against the resource table's alias of the query
at hand. Each rule is broken here: a change made behind the services' back is seen by the very next
check (the open tenants are part of the key too: a withdrawn invitation or partner entry is
seen at once, tests/accounts/test_cross_tenant.py), typed models and sub-queries filter as the
reference says, and the copied scope columns equal the scope's."""

from __future__ import annotations

from importlib import import_module

import pytest
from django.apps import apps as django_apps
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from hypothesis import given
from hypothesis import strategies as st

from accounts import access, directory, sharing
from accounts.activity import Caller
from accounts.models import (
    GroupRoleAssignment,
    Resource,
    ResourceGroup,
    Subscription,
    User,
    UserRoleAssignment,
)
from accounts.services import create_group, create_resource_group, create_user
from galleries.models import Gallery, GalleryImage, GalleryImageVersion, ManagedImage
from tests.accounts.test_access_property import (  # noqa: F401  (cast and forest are fixtures)
    ACTIONS,
    arrange,
    assignment,
    cast,
    drawn,
    forest,
    growth,
    reference,
)

TYPED = (Subscription, ResourceGroup, Gallery, GalleryImage, GalleryImageVersion, ManagedImage)


def fresh(user) -> User:
    """The principal as the next request loads it: a new object with an empty request memo."""
    one = User.objects.get(pk=user.pk)
    one._access_memo = {}
    return one


def readable(user, queryset=None) -> set[int]:
    return set(access.restrict(queryset or Resource.objects.all(), fresh(user)).values_list("pk", flat=True))


@drawn(40)
@given(
    who=st.sampled_from(["person", "person", "sp"]),
    membership=st.tuples(st.booleans(), st.booleans()),
    steps=growth,
    assignments=st.lists(assignment, max_size=8),
)
def test_typed_models_and_subqueries_equal_the_reference(
    forest,  # noqa: F811
    cast,  # noqa: F811
    who,
    membership,
    steps,
    assignments,
):
    """The written condition takes the alias of the resource table in the query at hand: a typed model
    (the resource table joined under the model's own), and a restricted query used as a sub-query (its
    aliases renamed) give the reference's answer, example after example (ids reused after each
    rollback on SQLite: the cached grants must never answer for an earlier example's rows)."""
    principal = cast[who]
    savepoint = transaction.savepoint()
    try:
        arrange(forest, cast, principal, membership, steps, assignments)
        expected = reference(principal)
        type_of = dict(Resource.objects.values_list("pk", "type"))
        for action in ACTIONS:
            for model in TYPED:
                got = set(
                    access.restrict(model.objects.all(), fresh(principal), action).values_list(
                        "pk", flat=True
                    )
                )
                assert got == {pk for pk in expected[action] if type_of[pk] == model.ARM_TYPE}, (
                    action,
                    model,
                )
            inner = Resource.objects.restrict(fresh(principal), action).values("pk")
            got = set(Resource.objects.filter(pk__in=inner).values_list("pk", flat=True))
            assert got == expected[action], action
            children = Resource.objects.filter(parent__in=Resource.objects.restrict(fresh(principal), action))
            assert set(children.values_list("pk", flat=True)) == {
                pk
                for pk, parent in Resource.objects.values_list("pk", "parent_id")
                if parent in expected[action]
            }
    finally:
        transaction.savepoint_rollback(savepoint)


@pytest.fixture
def person(tenant):
    return create_user(tenant, "kim@contoso.test", "Kim-Test-Pass-1")


def test_an_assignment_deleted_behind_the_services_back_is_seen_at_once(person, subscription, rg):
    sharing.grant_as_system(rg, person, "reader")
    assert rg.pk in readable(person)
    # A raw delete: no service, no signal, no access.forget — only the rows changed.
    UserRoleAssignment.objects.filter(user=person).delete()
    assert readable(person) == set()


def test_a_group_membership_removed_is_seen_at_once(tenant, person, rg):
    group = create_group(tenant, "Readers")
    directory.add_member(Caller.system(), group, person)
    sharing.grant_as_system(rg, group, "reader")
    assert rg.pk in readable(person)
    person.groups.clear()  # the membership rows only
    assert readable(person) == set()
    group.group.user_set.add(person)
    assert rg.pk in readable(person)
    GroupRoleAssignment.objects.all().delete()
    assert readable(person) == set()


def test_the_same_rows_share_one_grants_and_a_change_builds_another(person, rg, subscription):
    sharing.grant_as_system(rg, person, "reader")
    first, second = access.grants_for(fresh(person)), access.grants_for(fresh(person))
    assert first is second  # kept: the same rows and tenants
    assert first.q(access.Action.READ) is second.q(access.Action.READ)  # and its WHERE with them
    sharing.grant_as_system(subscription, person, "reader")
    third = access.grants_for(fresh(person))
    assert third is not first
    assert subscription.pk in readable(person)


def test_the_filter_reads_the_same_queries_for_one_assignment_and_for_forty(tenant, person, subscription):
    groups = [create_resource_group(Caller.system(), subscription, f"rg-{i}", "eastus") for i in range(40)]
    sharing.grant_as_system(groups[0], person, "reader")

    def count_reads() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert readable(person)
        return len(ctx.captured_queries)

    one = count_reads()
    for g in groups[1:]:
        sharing.grant_as_system(g, person, "reader")
    assert count_reads() == one
    assert readable(person) >= {g.pk for g in groups}


def test_assignments_carry_their_scopes_columns(person, tenant, rg, subscription):
    sharing.grant_as_system(rg, person, "reader")
    group = create_group(tenant, "Copiers")
    sharing.grant_as_system(subscription, group, "owner")
    for a in (
        UserRoleAssignment.objects.get(user=person),
        GroupRoleAssignment.objects.get(group=group.group),
    ):
        scope = Resource.objects.get(pk=a.content_object_id)
        assert a.scope_type == scope.type
        for field, column in a.SCOPE_FIELDS.items():
            assert getattr(a, field) == getattr(scope, column), field
    assert UserRoleAssignment.objects.get(user=person).scope_subscription_id == subscription.pk


def test_with_scopes_fills_assignments_for_bulk_create(person, rg):
    perm = UserRoleAssignment.objects.model._meta.get_field("permission").related_model.objects.get(
        codename="role_reader", content_type__app_label="accounts"
    )
    made = UserRoleAssignment.objects.bulk_create(
        UserRoleAssignment.with_scopes(
            [UserRoleAssignment(user=person, permission=perm, content_object_id=rg.pk)]
        )
    )
    assert made[0].scope_type == rg.type and made[0].scope_resource_group_id is None
    assert made[0].scope_subscription_id == rg.subscription_id
    assert rg.pk in readable(person)


def test_the_migration_copies_every_existing_assignments_scope(person, rg, subscription):
    """0009's backfill, run on rows whose copied columns are blank (as before the migration)."""
    sharing.grant_as_system(rg, person, "reader")
    UserRoleAssignment.objects.update(
        scope_type="", scope_tenant_id=None, scope_subscription_id=None, scope_resource_group_id=None
    )
    import_module("accounts.migrations.0009_assignment_scope").copy_scopes(django_apps, None)
    a = UserRoleAssignment.objects.get(user=person)
    assert (a.scope_type, a.scope_tenant_id, a.scope_subscription_id) == (
        rg.type,
        rg.tenant_id,
        subscription.pk,
    )
    every = UserRoleAssignment.objects.all()  # the subscription's Owner too
    assert every.filter(scope_type=F("content_object__type")).count() == every.count() == 2


def test_written_takes_only_a_written_condition():
    with pytest.raises(TypeError, match="Written"):
        list(Resource.objects.filter(type__written="1 = 1"))


def test_an_assignment_saved_again_takes_its_scope_again(person, rg, subscription):
    """The copied columns follow the scope on every save, not only the first (no stale ancestors)."""
    sharing.grant_as_system(rg, person, "reader")
    a = UserRoleAssignment.objects.get(user=person)
    a.content_object = Resource.objects.get(pk=subscription.pk)
    a.save()
    a.refresh_from_db()
    assert (a.scope_type, a.scope_subscription_id) == (subscription.type, None)
    assert readable(person) >= {subscription.pk, rg.pk}
