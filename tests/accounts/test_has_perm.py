"""``user.has_perm`` answers what the access module answers (issue 12, item 8).

A role permission on a resource (``has_perm("accounts.role_reader", gallery)``) means "holds that role
there": an assignment of the role at the resource or at one of its ancestors, to the principal, one of
its groups or (an app) another of its service principals, in a tenant whose door is open — and the role
applies to the resource's type. So, for every action A and resource R: ``access.allowed(P, A, R)`` is
true exactly when P holds, on R, some role that grants A. Without an object a role permission is held
by nobody (a role is always held at a scope). Checked here against a reference computed from the stored
assignments through ``parent`` links, and across every door of test_cross_tenant.py."""

from __future__ import annotations

import pytest
import test_access_matrix
import test_cross_tenant
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, Permission

from accounts import access, directory, sharing
from accounts.activity import Caller
from accounts.models import GroupRoleAssignment, PartnerTenant, Resource, User, UserRoleAssignment
from accounts.roles import ROLES, Action

# Fixtures of test_access_matrix.py (a tree of two subscriptions, resource groups, galleries,
# definitions, versions, an image and a snapshot; a user, a group member and a service principal) and of
# test_cross_tenant.py (Contoso and Fabrikam, partners both ways; Bob of Fabrikam invited to Contoso;
# Contoso's multi-tenant app consented in Fabrikam).
tree, principals = test_access_matrix.tree, test_access_matrix.principals
world, guest, app_scenario = test_cross_tenant.world, test_cross_tenant.guest, test_cross_tenant.app_scenario

PERM = {r.key: f"accounts.{r.codename}" for r in ROLES}


def fresh(user: User) -> User:
    """The principal as the next request sees it (nothing memoized, nothing cached by Django)."""
    return User.objects.get(pk=user.pk)


def held_by_reference(principal) -> dict[int, set[str]]:
    """For every resource, the role keys the principal holds there: an assignment of the role to it or
    one of its groups at the resource or an ancestor reached through ``parent``, if the role applies to
    the resource's type. Single-tenant (the tree has no doors)."""
    parent_of, type_of = {}, {}
    for pk, parent_id, rtype in Resource.objects.values_list("pk", "parent_id", "type"):
        parent_of[pk], type_of[pk] = parent_id, rtype
    groups = set(principal.groups.values_list("pk", flat=True))
    assigned = list(
        UserRoleAssignment.objects.filter(user_id=principal.pk).values_list(
            "content_object_id", "permission__codename"
        )
    ) + list(
        GroupRoleAssignment.objects.filter(group_id__in=groups).values_list(
            "content_object_id", "permission__codename"
        )
    )
    roles = {r.codename: r for r in ROLES}
    out = {}
    for pk, rtype in type_of.items():
        lineage, node = set(), pk
        while node is not None:
            lineage.add(node)
            node = parent_of[node]
        out[pk] = {
            roles[codename].key
            for scope, codename in assigned
            if scope in lineage and (roles[codename].types is None or rtype in roles[codename].types)
        }
    return out


def assert_has_perm_is_the_access_modules_answer(principal, resource) -> set[str]:
    """has_perm per role, and the rule that ties it to ``allowed`` per action; returns the roles held."""
    held = {r.key for r in ROLES if principal.has_perm(PERM[r.key], resource)}
    for action in Action:
        assert access.allowed(principal, action, resource) == any(
            action in r.actions for r in ROLES if r.key in held
        ), (principal.username, action, resource.arm_id, held)
    assert principal.get_all_permissions(resource) == {PERM[k] for k in held}
    return held


def test_the_object_permission_backend_is_the_access_modules():
    assert "guardian.backends.ObjectPermissionBackend" not in settings.AUTHENTICATION_BACKENDS
    assert "accounts.backends.AccessBackend" in settings.AUTHENTICATION_BACKENDS


# --- Every role at every scope, held directly, through a group and by a service principal ----------------


@pytest.mark.parametrize("shift", range(len(test_access_matrix.SCOPES)))
@pytest.mark.parametrize("role_key", test_access_matrix.ROLE_KEYS)
def test_has_perm_is_the_role_held_there_counting_inheritance_downward_only(
    tree, principals, role_key, shift
):
    """The user, the group and the service principal each get the role at a different scope (over the
    parametrization every kind meets every scope); on every resource of the tree, has_perm says exactly
    which roles each holds — inherited downward, never upward, only where the role's types apply."""
    scopes = test_access_matrix.SCOPES
    for i, kind in enumerate(test_access_matrix.KINDS):
        scope = getattr(tree, scopes[(shift + i) % len(scopes)])
        sharing.grant_as_system(scope, principals[kind][1], role_key)
    resources = list(Resource.objects.all())
    for kind in test_access_matrix.KINDS:
        principal = fresh(principals[kind][0])
        principal._access_memo = {}  # one request's worth of checks: the grants are read once
        want = held_by_reference(principal)
        assert any(role_key in roles for roles in want.values()), kind  # the reference is not vacuous
        for r in resources:
            assert assert_has_perm_is_the_access_modules_answer(principal, r) == want[r.pk], (kind, r.arm_id)


def test_holding_a_role_is_not_holding_another(tree, principals):
    """An Owner may do what a Reader may, but holds the Owner role, not the Reader role; a Sharing Admin
    at the subscription holds it on the galleries inside, not on the subscription row itself."""
    bob, _ = principals["user"]
    sharing.grant_as_system(tree.sub, bob, "owner")
    sharing.grant_as_system(tree.sub, bob, "sharing_admin")
    bob = fresh(bob)
    assert bob.has_perm(PERM["owner"], tree.v1a1) and not bob.has_perm(PERM["reader"], tree.v1a1)
    assert access.allowed(bob, Action.READ, tree.v1a1)
    assert bob.has_perm(PERM["sharing_admin"], tree.g1) and not bob.has_perm(PERM["sharing_admin"], tree.sub)
    assert not bob.has_perm(PERM["owner"], tree.other_gallery)  # another subscription


def test_without_an_object_nobody_holds_a_role(tree, principals):
    """Global role permissions mean nothing: a role is held at a scope. Even one granted globally (in the
    admin's user permissions) answers no; other global permissions are Django's as before."""
    bob, _ = principals["user"]
    sharing.grant_as_system(tree.sub, bob, "owner")
    role_owner = Permission.objects.get(content_type__app_label="accounts", codename="role_owner")
    view_gallery = Permission.objects.get(content_type__app_label="galleries", codename="view_gallery")
    bob.user_permissions.add(role_owner, view_gallery)
    bob = fresh(bob)
    assert not bob.has_perm(PERM["owner"])
    assert bob.has_perm("galleries.view_gallery")  # a model permission: Django's ModelBackend
    # ... and a model permission is no way around the access module on an object.
    assert not bob.has_perm("galleries.view_gallery", tree.other_gallery)


def test_anonymous_and_deactivated_principals_hold_nothing(tree, principals):
    bob, _ = principals["user"]
    sharing.grant_as_system(tree.g1, bob, "owner")
    assert not AnonymousUser().has_perm(PERM["owner"], tree.g1)
    assert fresh(bob).has_perm(PERM["owner"], tree.g1)
    bob.is_active = False
    bob.save()
    assert not fresh(bob).has_perm(PERM["owner"], tree.g1)


def test_an_operator_holds_no_role_on_a_resource_but_keeps_the_admin(tree, principals):
    """Django's "a superuser holds every permission" stops at objects: on a resource only the access
    module answers, and operators hold no roles (they see everything in the admin only)."""
    operator = User.objects.create_superuser("operator-has-perm", password="x-Operator-1")
    assert not operator.has_perm(PERM["reader"], tree.g1)
    assert not operator.has_perm("galleries.view_gallery", tree.g1)
    assert operator.has_perm("galleries.change_gallery")  # the admin's model permissions


def test_a_deleted_assignment_is_no_longer_held(user, tree, principals):
    bob, _ = principals["user"]
    sharing.assign_role(Caller(user), tree.g1, bob, "reader")
    assert fresh(bob).has_perm(PERM["reader"], tree.v1a1)
    a = UserRoleAssignment.objects.get(user=bob, content_object=tree.g1)
    sharing.remove_assignment(Caller(user), tree.g1, f"u:{a.pk}")
    assert not fresh(bob).has_perm(PERM["reader"], tree.v1a1)
    assert not fresh(bob).has_perm(PERM["reader"], tree.g1)


# --- Across every door ------------------------------------------------------------------------------------


def gallery_chain(w):
    return (w.gallery, w.definition, w.version)


@pytest.mark.parametrize("door", ["a_inbound", "b_outbound", "a_entry_removed"])
def test_a_guest_holds_the_role_only_while_both_partner_entries_are_open(world, guest, door):
    """The issue's finding: with a partner entry closed, has_perm said yes while every page said no."""
    w, bob = world, guest.user
    assert not fresh(bob).has_perm(PERM["reader"], w.gallery)  # invited, not accepted
    directory.accept_invitation(Caller(bob), guest.invitation)
    sharing.assign_role(Caller(w.alice), w.gallery, bob, "reader")
    for r in gallery_chain(w):
        assert assert_has_perm_is_the_access_modules_answer(fresh(bob), r) == {"reader"}
    assert not fresh(bob).has_perm(PERM["reader"], w.sub)  # nothing upward

    if door == "a_inbound":
        directory.set_partner(Caller(w.a_admin), w.a, w.b, inbound=False, outbound=True)
    elif door == "b_outbound":
        directory.set_partner(Caller(w.b_admin), w.b, w.a, inbound=True, outbound=False)
    else:
        directory.remove_partner(Caller(w.a_admin), PartnerTenant.objects.get(tenant=w.a, partner=w.b))
    assert UserRoleAssignment.objects.filter(user=bob, content_object=w.gallery).exists()  # kept
    assert not fresh(bob).has_perm(PERM["reader"], Resource.objects.get(pk=w.gallery.pk))  # the issue's
    for r in gallery_chain(w):
        assert not fresh(bob).has_perm(PERM["reader"], r), r.arm_id
        assert assert_has_perm_is_the_access_modules_answer(fresh(bob), r) == set()

    directory.set_partner(Caller(w.a_admin), w.a, w.b)
    directory.set_partner(Caller(w.b_admin), w.b, w.a)
    assert fresh(bob).has_perm(PERM["reader"], w.version)


def test_a_revoked_invitation_ends_the_role(world, guest):
    w, bob = world, guest.user
    directory.accept_invitation(Caller(bob), guest.invitation)
    sharing.assign_role(Caller(w.alice), w.definition, bob, "image_reader")
    assert fresh(bob).has_perm(PERM["image_reader"], w.version)
    assert not fresh(bob).has_perm(PERM["image_reader"], w.gallery)  # the definition's parent: not held
    directory.revoke_invitation(Caller(w.a_admin), guest.invitation)
    for r in gallery_chain(w):
        assert assert_has_perm_is_the_access_modules_answer(fresh(bob), r) == set()


def test_a_guest_holds_a_groups_role_only_while_member_and_the_doors_are_open(world, guest):
    w, bob = world, guest.user
    team = directory.add_group(Caller(w.a_admin), w.a, "Partners")
    directory.accept_invitation(Caller(bob), guest.invitation)
    directory.add_member(Caller(w.a_admin), team, bob)
    sharing.assign_role(Caller(w.alice), w.definition, team, "image_reader")
    assert assert_has_perm_is_the_access_modules_answer(fresh(bob), w.version) == {"image_reader"}
    directory.set_partner(Caller(w.b_admin), w.b, w.a, inbound=True, outbound=False)
    assert not fresh(bob).has_perm(PERM["image_reader"], w.version)
    directory.set_partner(Caller(w.b_admin), w.b, w.a)
    assert fresh(bob).has_perm(PERM["image_reader"], w.version)
    directory.remove_member(Caller(w.a_admin), team, bob)
    assert not fresh(bob).has_perm(PERM["image_reader"], w.version)


def test_the_app_holds_its_roles_in_both_tenants_until_the_consent_is_withdrawn(world, app_scenario):
    """The seed's app: Reader on the gallery in its home tenant, Contributor on a resource group in the
    tenant that consented — held by each of its service principals (one principal across tenants)."""
    w, s = world, app_scenario
    for sp in (s.home, s.b_user):
        assert assert_has_perm_is_the_access_modules_answer(fresh(sp), w.b_rg) == {"contributor"}
        assert assert_has_perm_is_the_access_modules_answer(fresh(sp), w.version) == {"reader"}
        assert not fresh(sp).has_perm(PERM["contributor"], w.b_sub)  # nothing upward

    directory.set_partner(Caller(w.b_admin), w.b, w.a, inbound=False, outbound=True)
    assert not fresh(s.home).has_perm(PERM["contributor"], w.b_rg)
    assert fresh(s.home).has_perm(PERM["reader"], w.version)  # the home tenant needs no door
    directory.set_partner(Caller(w.b_admin), w.b, w.a)
    assert fresh(s.home).has_perm(PERM["contributor"], w.b_rg)

    directory.withdraw_consent(Caller(w.b_admin), s.b_sp)
    assert assert_has_perm_is_the_access_modules_answer(fresh(s.home), w.b_rg) == set()
    assert fresh(s.home).has_perm(PERM["reader"], w.version)


def test_the_home_tenant_needs_no_door(world):
    w = world
    directory.remove_partner(Caller(w.a_admin), PartnerTenant.objects.get(tenant=w.a, partner=w.b))
    for r in (w.sub, w.rg, *gallery_chain(w)):
        assert assert_has_perm_is_the_access_modules_answer(fresh(w.alice), r) == {"owner"}
    assert not fresh(w.alice).has_perm(PERM["owner"], w.b_rg)
