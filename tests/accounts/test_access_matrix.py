"""The access matrix (F12): every role × every scope × every action × every kind of principal, checked
against a brute-force reference computed here from the stored assignments by walking ``parent`` links
(not the denormalized ancestor columns the filter uses), for every resource of a small tree; the seed's
sharing matrix spelled out; ``restrict()`` costing the same number of queries whatever the number of
assignments and resources; the 404/403 rule of ``require`` and of service writes; and the rules for
granting and removing assignments."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from conftest import refused
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import access, directory, sharing
from accounts.activity import Caller
from accounts.models import (
    ActivityLogEntry,
    GroupRoleAssignment,
    Resource,
    ServicePrincipal,
    User,
    UserRoleAssignment,
)
from accounts.roles import ROLES, Action
from accounts.services import (
    create_group,
    create_resource_group,
    create_subscription,
    create_tenant,
    create_user,
)
from galleries import services
from portal.core.errors import ServiceError

NOT_FOUND = ServiceError.NOT_FOUND
FORBIDDEN = ServiceError.AUTHORIZATION_FAILED

GALLERY = "Microsoft.Compute/galleries"
DEFINITION = "Microsoft.Compute/galleries/images"
VERSION = "Microsoft.Compute/galleries/images/versions"
IMAGE = "Microsoft.Compute/images"
SNAPSHOT = "Microsoft.Compute/snapshots"

R, W, D, M, DEP = "read", "write", "delete", "manage_access", "deploy"
EVERY_TYPE = None
GALLERY_TYPES = {GALLERY, DEFINITION, VERSION}

#: The issue's roles, written out independently of accounts/roles.py: (actions, types it applies to).
EXPECTED_ROLES = {
    "owner": ({R, W, D, M, DEP}, EVERY_TYPE),
    "contributor": ({R, W, D, DEP}, EVERY_TYPE),
    "reader": ({R, DEP}, EVERY_TYPE),
    # Sharing Admin manages access; roles.py adds read ("sharing what one cannot see is not possible").
    "sharing_admin": ({R, M}, GALLERY_TYPES),
    "artifacts_publisher": ({R, W, D}, GALLERY_TYPES | {IMAGE, SNAPSHOT, "Microsoft.Storage/blobs"}),
    "image_reader": ({R, DEP}, GALLERY_TYPES),
}
ROLE_KEYS = list(EXPECTED_ROLES)
SCOPES = ["sub", "rg1", "g1", "d1a", "v1a1"]
KINDS = ["user", "group_member", "service_principal"]


def grants(role_key: str, action: str, resource_type: str) -> bool:
    actions, types = EXPECTED_ROLES[role_key]
    return action in actions and (types is None or resource_type in types)


def test_the_roles_are_the_issues_fixed_action_sets():
    assert {r.key for r in ROLES} == set(EXPECTED_ROLES)
    for r in ROLES:
        actions, types = EXPECTED_ROLES[r.key]
        assert {a.value for a in r.actions} == actions, r.key
        assert (None if r.types is None else set(r.types)) == types, r.key


# --- The brute-force reference ------------------------------------------------------------------------


def reference(principal) -> dict[str, set[int]]:
    """For each action, the pks of every resource on which ``principal`` may do it: an assignment of
    the principal (or one of its groups) at the resource or at an ancestor reached through ``parent``,
    whose role grants the action for the resource's type. Single-tenant: no doors to consider."""
    parent_of, type_of = {}, {}
    for pk, parent_id, rtype in Resource.objects.values_list("pk", "parent_id", "type"):
        parent_of[pk], type_of[pk] = parent_id, rtype
    group_ids = set(principal.groups.values_list("pk", flat=True))
    held = list(
        UserRoleAssignment.objects.filter(user_id=principal.pk).values_list(
            "content_object_id", "permission__codename"
        )
    ) + list(
        GroupRoleAssignment.objects.filter(group_id__in=group_ids).values_list(
            "content_object_id", "permission__codename"
        )
    )
    out = {a.value: set() for a in Action}
    for pk, rtype in type_of.items():
        lineage, node = set(), pk
        while node is not None:
            lineage.add(node)
            node = parent_of[node]
        for scope_pk, codename in held:
            if scope_pk in lineage:
                for action in out:
                    if grants(codename.removeprefix("role_"), action, rtype):
                        out[action].add(pk)
    return out


def subtree(scope: Resource) -> set[int]:
    parent_of = dict(Resource.objects.values_list("pk", "parent_id"))
    out = set()
    for pk in parent_of:
        node = pk
        while node is not None:
            if node == scope.pk:
                out.add(pk)
                break
            node = parent_of[node]
    return out


def restricted(principal, action) -> set[int]:
    return set(Resource.objects.restrict(principal, action).values_list("pk", flat=True))


def one_request(principal) -> User:
    """The principal as one request sees it: a fresh row with the per-request grants memo that
    ``AccessMiddleware`` gives ``request.user`` (so ~100 checks read the grants once)."""
    p = User.objects.get(pk=principal.pk)
    p._access_memo = {}
    return p


def assert_matches_reference(principal, kind: str = "") -> dict[str, set[int]]:
    expected = reference(principal)
    resources = list(Resource.objects.all())
    assert len(resources) > 15
    p = one_request(principal)
    for action in expected:
        assert restricted(p, action) == expected[action], (kind, action)
        for r in resources:
            assert access.allowed(p, action, r) == (r.pk in expected[action]), (kind, action, r.arm_id)
    return expected


# --- The tree and the principals -----------------------------------------------------------------------


@dataclass
class Tree:
    sub: Resource
    rg1: Resource
    rg2: Resource
    g1: Resource
    g2: Resource
    d1a: Resource
    d1b: Resource
    d2a: Resource
    v1a1: Resource
    v1a2: Resource
    v1b1: Resource
    v2a1: Resource
    image: Resource
    snapshot: Resource
    other_sub: Resource
    other_rg: Resource
    other_gallery: Resource


def _definition(caller, gallery, name):
    return services.create_definition(
        caller,
        gallery,
        name,
        publisher="Contoso",
        offer="Matrix",
        sku=name,
        os_type="Linux",
        os_state="Generalized",
    )


@pytest.fixture
def tree(caller, tenant, subscription, rg, make_blob) -> Tree:
    """subscription → resource groups images (gallery GalleryA: definitions d1a with versions 1.0.0 and
    1.0.1, d1b with 1.0.0; a managed image; a snapshot) and apps (gallery GalleryB: d2a with 1.0.0);
    and a second subscription with a resource group and a gallery."""
    rg2 = create_resource_group(caller, subscription, "apps", "westeurope")
    g1 = services.create_gallery(caller, rg, "GalleryA")
    g2 = services.create_gallery(caller, rg2, "GalleryB")
    d1a, d1b, d2a = (
        _definition(caller, g1, "d1a"),
        _definition(caller, g1, "d1b"),
        _definition(caller, g2, "d2a"),
    )
    image = services.create_managed_image(
        caller, rg, "base", os_blob=make_blob(virtual_mib=1), os_type="Linux"
    )
    snapshot = services.create_snapshot(caller, rg, "osdisk", blob=make_blob(virtual_mib=1), os_type="Linux")

    def version(definition, name):
        return services.create_version(caller, definition, name, location="westeurope", source=image)

    system = Caller.system()
    other_sub = create_subscription(system, tenant, "Elsewhere")
    other_rg = create_resource_group(system, other_sub, "other", "westeurope")
    return Tree(
        sub=subscription,
        rg1=rg,
        rg2=rg2,
        g1=g1,
        g2=g2,
        d1a=d1a,
        d1b=d1b,
        d2a=d2a,
        v1a1=version(d1a, "1.0.0"),
        v1a2=version(d1a, "1.0.1"),
        v1b1=version(d1b, "1.0.0"),
        v2a1=version(d2a, "1.0.0"),
        image=image,
        snapshot=snapshot,
        other_sub=other_sub,
        other_rg=other_rg,
        other_gallery=services.create_gallery(system, other_rg, "OtherGallery"),
    )


@pytest.fixture
def principals(tenant, tree) -> dict[str, tuple[User, object]]:
    """kind → (the principal asked about, what the role is assigned to). Bystanders hold roles too:
    a group the principals are not in (Owner at the subscription), another user (Owner at GalleryB),
    and alice is the subscription's Owner."""
    bob = create_user(tenant, "bob@contoso.test", "Bob-Test-Pass-1")
    carol = create_user(tenant, "carol@contoso.test", "Carol-Test-Pass-1")
    dave = create_user(tenant, "dave@contoso.test", "Dave-Test-Pass-1")
    publishers = create_group(tenant, "Publishers", members=[carol])
    create_group(tenant, "Empty")  # carol belongs to one group only; another exists
    bystanders = create_group(tenant, "Bystanders", members=[dave])
    sharing.grant_as_system(tree.sub, bystanders, "owner")
    sharing.grant_as_system(tree.g2, dave, "owner")
    app = directory.register_app(Caller.system(), tenant, "Deployer")
    sp_user = ServicePrincipal.objects.get(app=app, tenant=tenant).user
    return {"user": (bob, bob), "group_member": (carol, publishers), "service_principal": (sp_user, sp_user)}


# --- The matrix -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("scope_name", SCOPES)
@pytest.mark.parametrize("role_key", ROLE_KEYS)
def test_matrix(tree, principals, role_key, scope_name):
    """One role at one scope, held at once by a user directly, by a group (asked about its member) and
    by a service principal: for each, every action on every resource is what the reference says."""
    scope = getattr(tree, scope_name)
    for kind in KINDS:
        principal, _ = principals[kind]
        assert not any(restricted(principal, a) for a in Action), f"{kind} holds nothing before the grant"

    for kind in KINDS:
        sharing.grant_as_system(scope, principals[kind][1], role_key)

    # The reference is not vacuous: it is exactly the scope's subtree, narrowed to the role's types.
    type_of = dict(Resource.objects.values_list("pk", "type"))
    below = subtree(scope)
    actions, types = EXPECTED_ROLES[role_key]
    want = {
        a.value: {pk for pk in below if a.value in actions and (types is None or type_of[pk] in types)}
        for a in Action
    }
    assert tree.other_gallery.pk not in below and tree.other_sub.pk not in below
    for kind in KINDS:
        principal, _ = principals[kind]
        assert assert_matches_reference(principal, kind) == want, kind


# --- The seed's sharing matrix ----------------------------------------------------------------------------


def names(pks) -> set[str]:
    return set(Resource.objects.filter(pk__in=pks).values_list("arm_id", flat=True))


@pytest.mark.parametrize("kind", KINDS)
def test_reader_at_a_gallery_reads_the_gallery_its_definitions_and_versions_and_nothing_above(
    tree, principals, kind
):
    principal, assignee = principals[kind]
    sharing.grant_as_system(tree.g1, assignee, "reader")
    t = tree
    want = {t.g1, t.d1a, t.d1b, t.v1a1, t.v1a2, t.v1b1}
    assert names(restricted(principal, R)) == {r.arm_id for r in want}
    for r in want:
        assert access.allowed(principal, R, r) and access.allowed(principal, DEP, r)
        assert not access.allowed(principal, W, r)
    for r in (t.rg1, t.sub, t.g2, t.d2a, t.v2a1, t.image, t.snapshot, t.rg2):
        assert not access.allowed(principal, R, r), r.arm_id


@pytest.mark.parametrize("kind", KINDS)
def test_reader_at_a_definition_reads_it_and_its_versions_not_the_gallery_nor_siblings(
    tree, principals, kind
):
    principal, assignee = principals[kind]
    sharing.grant_as_system(tree.d1a, assignee, "reader")
    t = tree
    assert names(restricted(principal, R)) == {t.d1a.arm_id, t.v1a1.arm_id, t.v1a2.arm_id}
    for r in (t.g1, t.d1b, t.v1b1, t.rg1, t.sub):
        assert not access.allowed(principal, R, r), r.arm_id


def test_reader_at_a_version_reads_only_that_version(tree, principals):
    bob, _ = principals["user"]
    sharing.grant_as_system(tree.v1a1, bob, "reader")
    assert restricted(bob, R) == {tree.v1a1.pk}
    assert not access.allowed(bob, R, tree.v1a2) and not access.allowed(bob, R, tree.d1a)


# --- restrict() costs a constant number of queries ------------------------------------------------------


def test_restrict_costs_the_same_queries_with_1_or_30_assignments_and_10_or_100_resources(
    caller, tenant, subscription, rg, gallery, django_assert_num_queries
):
    bob = create_user(tenant, "bob@contoso.test", "Bob-Test-Pass-1")
    readers = create_group(tenant, "Readers", members=[bob])
    create_group(tenant, "Others", members=[bob])
    defs = [_definition(caller, gallery, f"d{i}") for i in range(6)]
    sharing.grant_as_system(defs[0], bob, "reader")
    assert Resource.objects.count() <= 10

    with CaptureQueriesContext(connection) as small:
        rows = list(Resource.objects.restrict(bob))
    assert [r.pk for r in rows] == [defs[0].pk]
    n = len(small.captured_queries)

    defs += [_definition(caller, gallery, f"e{i}") for i in range(94)]
    assert Resource.objects.count() >= 100
    for i, d in enumerate(defs[1:30]):  # 29 more: direct and through groups, at definitions
        sharing.grant_as_system(d, readers if i % 2 else bob, "image_reader" if i % 3 else "reader")
    assert (
        UserRoleAssignment.objects.filter(user=bob).count()
        + GroupRoleAssignment.objects.filter(group=readers).count()
        == 30
    )
    with django_assert_num_queries(n):
        rows = list(Resource.objects.restrict(bob))
    assert {r.pk for r in rows} == {d.pk for d in defs[:30]}

    # Mixed scopes (resource group, gallery, subscription) too: still the same count.
    sharing.grant_as_system(rg, readers, "image_reader")
    sharing.grant_as_system(gallery, bob, "sharing_admin")
    with django_assert_num_queries(n):
        rows = list(Resource.objects.restrict(bob))
    assert len(rows) == 1 + len(defs)  # the gallery and every definition, not the resource group
    with django_assert_num_queries(n):
        rows = list(Resource.objects.restrict(bob, M))
    assert len(rows) == 1 + len(defs)


# --- require(): 404 for the unreadable, 403 for the readable ----------------------------------------------


@pytest.fixture
def people(tenant):
    def make(name):
        return create_user(tenant, f"{name}@contoso.test", f"{name.title()}-Test-Pass-1")

    return make


def test_require_answers_404_when_unreadable_and_403_when_readable(gallery, people):
    reader, stranger = people("reader"), people("stranger")
    sharing.grant_as_system(gallery, reader, "reader")
    access.require(reader, R, gallery)
    err = refused(lambda: access.require(reader, W, gallery), FORBIDDEN, None, "does not have authorization")
    assert "reader@contoso.test" in err.message and gallery.arm_id in err.message
    refused(lambda: access.require(stranger, R, gallery), NOT_FOUND, None, gallery.arm_id)
    refused(lambda: access.require(stranger, W, gallery), NOT_FOUND, None, "not found")
    refused(lambda: access.require(None, R, gallery), NOT_FOUND, None, "not found")


def last_entry() -> ActivityLogEntry:
    return ActivityLogEntry.objects.order_by("-id").first()


def test_service_writes_refuse_by_the_same_rule_and_log_the_refusal(gallery, people):
    reader, stranger, contributor = people("reader"), people("stranger"), people("contributor")
    sharing.grant_as_system(gallery, reader, "reader")
    sharing.grant_as_system(gallery, contributor, "contributor")

    refused(
        lambda: services.update_gallery(Caller(reader), gallery, description="x"), FORBIDDEN, None, "reader"
    )
    entry = last_entry()
    assert (entry.status, entry.error_code, entry.principal) == ("Failed", FORBIDDEN, reader)
    assert entry.operation == "Microsoft.Compute/galleries/write" and entry.resource_arm_id == gallery.arm_id

    refused(lambda: services.update_gallery(Caller(stranger), gallery, description="x"), NOT_FOUND, None)
    entry = last_entry()
    assert (entry.status, entry.error_code, entry.principal) == ("Failed", NOT_FOUND, stranger)

    services.update_gallery(Caller(contributor), gallery, description="changed by a contributor")
    gallery.refresh_from_db()
    assert gallery.description == "changed by a contributor"
    assert (last_entry().status, last_entry().principal) == ("Succeeded", contributor)
    refused(lambda: services.delete_gallery(Caller(reader), gallery), FORBIDDEN, None)
    assert (last_entry().status, last_entry().operation) == ("Failed", "Microsoft.Compute/galleries/delete")


def test_a_publisher_at_the_resource_group_creates_galleries_a_reader_does_not(rg, people):
    publisher, reader = people("publisher"), people("reader")
    sharing.grant_as_system(rg, publisher, "artifacts_publisher")
    sharing.grant_as_system(rg, reader, "reader")
    assert access.allowed(publisher, W, rg, GALLERY) and not access.allowed(publisher, W, rg)
    g = services.create_gallery(Caller(publisher), rg, "Published")
    assert access.allowed(publisher, D, g)

    refused(lambda: services.create_gallery(Caller(reader), rg, "NotMine"), FORBIDDEN, None)
    entry = last_entry()
    assert (entry.status, entry.principal, entry.operation) == (
        "Failed",
        reader,
        "Microsoft.Compute/galleries/write",
    )
    assert not Resource.objects.filter(name="NotMine").exists()
    # The publisher reads the resource group only as a container of what it publishes: not the row itself.
    assert not access.allowed(publisher, R, rg)


def test_an_image_reader_at_the_subscription_reads_galleries_but_not_the_resource_group_row(
    subscription, rg, gallery, definition, people
):
    ir = people("imagereader")
    sharing.grant_as_system(subscription, ir, "image_reader")
    assert restricted(ir, R) == {gallery.pk, definition.pk}
    assert not access.allowed(ir, R, rg) and not access.allowed(ir, R, subscription)
    refused(lambda: access.require(ir, R, rg), NOT_FOUND, None)
    refused(lambda: services.create_gallery(Caller(ir), rg, "Nope"), NOT_FOUND, None)
    refused(lambda: services.update_gallery(Caller(ir), gallery, description="x"), FORBIDDEN, None)


# --- Granting and removing ----------------------------------------------------------------------------


def test_granting_needs_manage_access_403_for_a_reader_404_for_a_stranger(gallery, people):
    reader, stranger, target = people("reader"), people("stranger"), people("target")
    sharing.grant_as_system(gallery, reader, "reader")
    refused(lambda: sharing.assign_role(Caller(reader), gallery, target, "reader"), FORBIDDEN, None)
    entry = last_entry()
    assert (entry.status, entry.operation) == ("Failed", sharing.ASSIGN_OP)
    refused(lambda: sharing.assign_role(Caller(stranger), gallery, target, "reader"), NOT_FOUND, None)
    assert not UserRoleAssignment.objects.filter(user=target).exists()
    assert not access.allowed(target, R, gallery)


def test_a_sharing_admin_at_a_gallery_grants_there_and_below_a_duplicate_is_a_conflict(
    gallery, definition, people
):
    admin, target = people("sharer"), people("target")
    sharing.grant_as_system(gallery, admin, "sharing_admin")
    message = sharing.assign_role(Caller(admin), gallery, target, "reader")
    assert "Reader" in message and "target@contoso.test" in message
    assert access.allowed(target, R, gallery) and access.allowed(target, R, definition)
    entry = last_entry()
    assert (entry.status, entry.operation, entry.principal) == ("Succeeded", sharing.ASSIGN_OP, admin)
    sharing.assign_role(Caller(admin), definition, target, "image_reader")  # inherited manage access
    refused(
        lambda: sharing.assign_role(Caller(admin), gallery, target, "Reader"), ServiceError.CONFLICT, "role"
    )
    assert UserRoleAssignment.objects.filter(user=target).count() == 2
    # The sharing admin cannot change the gallery itself.
    refused(lambda: services.update_gallery(Caller(admin), gallery, description="x"), FORBIDDEN, None)


def test_a_grant_at_a_version_works_and_warns(user, make_version, people):
    v = make_version()
    target = people("target")
    message = sharing.assign_role(Caller(user), v, target, "reader")
    assert sharing.VERSION_SCOPE_WARNING in message
    assert access.allowed(target, DEP, v)
    assert sharing.VERSION_SCOPE_WARNING not in sharing.assign_role(
        Caller(user), v.definition, target, "reader"
    )


def test_a_group_of_another_tenant_is_refused(user, gallery):
    other = create_group(create_tenant("Fabrikam", "fabrikam.test"), "Ops")
    refused(
        lambda: sharing.assign_role(Caller(user), gallery, other, "reader"),
        ServiceError.INVALID_PARAMETER,
        "principal",
        "another tenant",
    )
    assert not GroupRoleAssignment.objects.exists()


def test_an_inherited_assignment_is_removed_where_it_was_made_and_removal_is_immediate(
    user, gallery, definition, people
):
    bob = people("bob")
    sharing.assign_role(Caller(user), gallery, bob, "reader")
    a = UserRoleAssignment.objects.get(user=bob)
    assert access.allowed(bob, R, definition)
    refused(
        lambda: sharing.remove_assignment(Caller(user), definition, f"u:{a.pk}"),
        NOT_FOUND,
        "assignment",
        "inherited",
    )
    assert UserRoleAssignment.objects.filter(pk=a.pk).exists()
    assert access.allowed(bob, R, definition)

    message = sharing.remove_assignment(Caller(user), gallery, f"u:{a.pk}")
    assert "Reader" in message and "bob@contoso.test" in message
    assert not access.allowed(bob, R, gallery) and not access.allowed(bob, R, definition)
    assert restricted(bob, R) == set()
    assert (last_entry().status, last_entry().operation) == ("Succeeded", sharing.REMOVE_OP)


def test_removing_needs_manage_access(user, gallery, people):
    reader, stranger = people("reader"), people("stranger")
    sharing.assign_role(Caller(user), gallery, reader, "reader")
    a = UserRoleAssignment.objects.get(user=reader)
    refused(lambda: sharing.remove_assignment(Caller(reader), gallery, f"u:{a.pk}"), FORBIDDEN, None)
    refused(lambda: sharing.remove_assignment(Caller(stranger), gallery, f"u:{a.pk}"), NOT_FOUND, None)
    assert UserRoleAssignment.objects.filter(pk=a.pk).exists()


def test_a_group_assignment_removal_and_membership_changes_take_effect_at_once(user, tenant, gallery, people):
    bob = people("bob")
    team = create_group(tenant, "Team", members=[bob])
    sharing.assign_role(Caller(user), gallery, team, "contributor")
    assert access.allowed(bob, W, gallery)
    directory.remove_member(Caller.system(), team, bob)
    assert not access.allowed(bob, R, gallery)
    directory.add_member(Caller.system(), team, bob)
    assert access.allowed(bob, W, gallery)
    a = GroupRoleAssignment.objects.get(group=team.group)
    sharing.remove_assignment(Caller(user), gallery, f"g:{a.pk}")
    assert not access.allowed(bob, R, gallery)


# --- Principals that hold nothing: operators and deactivated users --------------------------------------


def test_operators_and_deactivated_users_get_nothing_through_the_filter(tenant, gallery, people):
    operator = people("operator")
    operator.is_superuser = operator.is_staff = True
    operator.save()
    assert restricted(operator, R) == set() and not access.allowed(operator, R, gallery)
    gone = people("gone")
    sharing.grant_as_system(gallery, gone, "owner")
    assert access.allowed(gone, M, gallery)
    gone.is_active = False
    gone.save()
    assert restricted(gone, R) == set() and not access.allowed(gone, R, gallery)


def test_a_version_source_named_by_id_must_be_readable(definition, gallery, image, people):
    publisher = people("publisher")
    sharing.grant_as_system(gallery, publisher, "artifacts_publisher")
    assert not access.allowed(publisher, R, image)
    refused(
        lambda: services.create_version(
            Caller(publisher), definition, "1.0.0", location="westeurope", source=image.arm_id
        ),
        NOT_FOUND,
        "properties.storageProfile.source.id",
    )
    sharing.grant_as_system(image, publisher, "reader")
    v = services.create_version(
        Caller(publisher), definition, "1.0.0", location="westeurope", source=image.arm_id
    )
    assert access.allowed(publisher, D, v) and not access.allowed(publisher, DEP, v)


# --- A role's actions hold over HTTP too ------------------------------------------------------------------


def test_an_artifacts_publisher_at_the_resource_group_uploads_vhds_over_http(rg, people, client):
    """The publisher role covers VHD uploads (blobs are among its types) and the services let the
    publisher start and continue one in a resource group where it holds the role; the upload endpoints
    must then not answer "not found" because the resource-group row itself is not readable to it."""
    publisher = people("publisher")
    sharing.grant_as_system(rg, publisher, "artifacts_publisher")
    assert access.allowed(publisher, W, rg, "Microsoft.Storage/blobs")
    assert not access.allowed(publisher, R, rg)  # by design: a gallery-type role, not the row itself
    started = services.start_upload(Caller(publisher), rg, "by-service.vhd", 1024 * 1024 + 512)

    client.force_login(publisher)
    statuses = {
        "POST /uploads/": client.post(
            "/uploads/",
            data={"resourceGroup": rg.arm_id, "name": "by-http.vhd", "size": 1024 * 1024 + 512},
            content_type="application/json",
        ).status_code,
        "GET /uploads/<pk>": client.get(f"/uploads/{started.pk}").status_code,
    }
    assert statuses == {"POST /uploads/": 201, "GET /uploads/<pk>": 200}
