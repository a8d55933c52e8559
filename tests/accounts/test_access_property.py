"""Property (F12): for random hierarchies and random assignment sets, ``restrict()`` (and ``allowed()``)
give exactly what a brute-force reference computes from the assignments.

A forest of differently shaped trees is built once per test through the services (a deep one with
versions, managed image and snapshot; a wide one of galleries and definitions; empty resource
groups). Each example then grows it at random (new resource groups, galleries, definitions, versions
under random parents), draws random group memberships for the principal (a person or a service
principal) and random assignments held by the principal, two groups and a bystander, and compares,
for every action, the filter with the reference. Every example runs inside a savepoint that is rolled
back afterwards, so examples do not see each other's rows."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts import access, directory, sharing
from accounts.activity import Caller
from accounts.models import GroupRoleAssignment, Resource, ServicePrincipal, User, UserRoleAssignment
from accounts.roles import Action
from accounts.services import create_group, create_resource_group, create_subscription, create_user
from galleries import services
from portal.core.errors import ServiceError

GALLERY_TYPES = {
    "Microsoft.Compute/galleries",
    "Microsoft.Compute/galleries/images",
    "Microsoft.Compute/galleries/images/versions",
}
PUBLISHING_TYPES = GALLERY_TYPES | {"Microsoft.Compute/images", "Microsoft.Compute/snapshots"}
#: role key → (actions, the resource types it applies to or None for all), written out from the issue.
ROLE_TABLE = {
    "owner": ({"read", "write", "delete", "manage_access", "deploy"}, None),
    "contributor": ({"read", "write", "delete", "deploy"}, None),
    "reader": ({"read", "deploy"}, None),
    "sharing_admin": ({"read", "manage_access"}, GALLERY_TYPES),
    "artifacts_publisher": ({"read", "write", "delete"}, PUBLISHING_TYPES),
    "image_reader": ({"read", "deploy"}, GALLERY_TYPES),
}
ACTIONS = [a.value for a in Action]
CONTAINER_TYPES = {
    "Microsoft.Resources/subscriptions": "rg",
    "Microsoft.Resources/resourceGroups": "gallery",
    "Microsoft.Compute/galleries": "definition",
    "Microsoft.Compute/galleries/images": "version",
}


def reference(principal) -> dict[str, set[int]]:
    """Top-down: from each scope the principal (or one of its groups) holds a role at, every resource
    reachable through ``children`` (the scope included) whose type the role covers."""
    children: dict[int, list[int]] = {}
    type_of: dict[int, str] = {}
    for pk, parent_id, rtype in Resource.objects.values_list("pk", "parent_id", "type"):
        type_of[pk] = rtype
        children.setdefault(parent_id, []).append(pk)
    groups = list(principal.groups.values_list("pk", flat=True))
    held = list(
        UserRoleAssignment.objects.filter(user=principal).values_list(
            "content_object_id", "permission__codename"
        )
    )
    held += GroupRoleAssignment.objects.filter(group_id__in=groups).values_list(
        "content_object_id", "permission__codename"
    )
    out = {a: set() for a in ACTIONS}
    for scope, codename in held:
        actions, types = ROLE_TABLE[codename.removeprefix("role_")]
        stack = [scope]
        while stack:
            pk = stack.pop()
            stack.extend(children.get(pk, ()))
            if types is None or type_of[pk] in types:
                for a in actions:
                    out[a].add(pk)
    return out


@dataclass
class Forest:
    caller: Caller
    image: Resource
    resources: list[Resource] = field(default_factory=list)


@pytest.fixture
def forest(caller, tenant, subscription, rg, make_blob) -> Forest:
    system = Caller.system()

    def definition(gallery, name):
        return services.create_definition(
            system, gallery, name, publisher="P", offer="O", sku=name, os_type="Linux", os_state="Generalized"
        )

    image = services.create_managed_image(
        caller, rg, "base", os_blob=make_blob(virtual_mib=1), os_type="Linux"
    )
    snapshot = services.create_snapshot(caller, rg, "osdisk", blob=make_blob(virtual_mib=1), os_type="Linux")
    # Deep: images/G1/{a: 1.0.0, 1.0.1; b: 1.0.0}; apps/G2/c, apps/G3; an empty resource group.
    g1 = services.create_gallery(system, rg, "G1")
    a, b = definition(g1, "a"), definition(g1, "b")
    versions = [
        services.create_version(system, d, n, location="westeurope", source=image)
        for d, n in ((a, "1.0.0"), (a, "1.0.1"), (b, "1.0.0"))
    ]
    apps = create_resource_group(system, subscription, "apps", "westeurope")
    g2, g3 = services.create_gallery(system, apps, "G2"), services.create_gallery(system, apps, "G3")
    c = definition(g2, "c")
    empty = create_resource_group(system, subscription, "empty", "westeurope")
    # Wide: a second subscription with galleries of one definition each, and an empty resource group.
    wide = create_subscription(system, tenant, "Wide")
    w_rg = create_resource_group(system, wide, "wide", "westeurope")
    w_galleries = [services.create_gallery(system, w_rg, f"W{i}") for i in range(3)]
    w_defs = [definition(g, f"w{i}") for i, g in enumerate(w_galleries)]
    w_empty = create_resource_group(system, wide, "nothing", "westeurope")
    resources = [subscription, rg, image, snapshot, g1, a, b, *versions, apps, g2, g3, c, empty]
    resources += [wide, w_rg, *w_galleries, *w_defs, w_empty]
    return Forest(caller=system, image=image, resources=resources)


@pytest.fixture
def cast(tenant):
    """The principals: a person and an app's service principal (either is the one asked about), two
    groups, and a bystander whose assignments must never count for the principal."""
    person = create_user(tenant, "pat@contoso.test", "Pat-Test-Pass-1")
    bystander = create_user(tenant, "by@contoso.test", "By-Test-Pass-1")
    app = directory.register_app(Caller.system(), tenant, "Robot")
    sp = ServicePrincipal.objects.get(app=app, tenant=tenant).user
    return {
        "person": person,
        "sp": sp,
        "bystander": bystander,
        "groups": [create_group(tenant, "G-one"), create_group(tenant, "G-two")],
    }


growth = st.lists(st.tuples(st.sampled_from(list(CONTAINER_TYPES)), st.integers(0, 10_000)), max_size=4)
assignment = st.tuples(
    st.sampled_from(["principal", "group0", "group1", "bystander"]),
    st.integers(0, 10_000),  # which resource is the scope (modulo their number)
    st.sampled_from(list(ROLE_TABLE)),
)


def grow(forest: Forest, steps) -> list[Resource]:
    """Add resources under random existing containers, through the services."""
    made = list(forest.resources)
    for n, (parent_type, pick) in enumerate(steps):
        parents = [r for r in made if r.type == parent_type]
        parent = parents[pick % len(parents)].typed()
        kind, system = CONTAINER_TYPES[parent_type], forest.caller
        if kind == "rg":
            made.append(create_resource_group(system, parent, f"grown{n}", "westeurope"))
        elif kind == "gallery":
            made.append(services.create_gallery(system, parent, f"Grown{n}"))
        elif kind == "definition":
            made.append(
                services.create_definition(
                    system,
                    parent,
                    f"grown{n}",
                    publisher="P",
                    offer="O",
                    sku=f"s{n}",
                    os_type="Linux",
                    os_state="Generalized",
                )
            )
        else:
            made.append(
                services.create_version(
                    system, parent, f"9.9.{n}", location="westeurope", source=forest.image
                )
            )
    return made


def arrange(forest, cast, principal, membership, steps, assignments) -> None:
    """One drawn example: the forest grown by ``steps``, the principal in the groups ``membership`` says,
    and the ``assignments`` granted (a repeat or a gallery role on an image or snapshot is refused, and
    must be refused for that reason)."""
    holders = {
        "principal": principal,
        "group0": cast["groups"][0],
        "group1": cast["groups"][1],
        "bystander": cast["bystander"],
    }
    resources = grow(forest, steps)
    for member, group in zip(membership, cast["groups"], strict=True):
        if member:
            directory.add_member(Caller.system(), group, principal)
    for holder, pick, role_key in assignments:
        scope = resources[pick % len(resources)]
        try:
            sharing.grant_as_system(scope, holders[holder], role_key)
        except ServiceError as err:
            types = ROLE_TABLE[role_key][1]
            if err.code == ServiceError.CONFLICT:
                continue  # the same assignment drawn twice
            # A gallery role means nothing on a managed image or snapshot, so it is refused there.
            assert err.code == ServiceError.INVALID_PARAMETER and err.target == "role", err
            assert types is not None and scope.type not in types, (role_key, scope.type)


def drawn(max_examples: int):
    """The examples' settings for a property over the forest and cast (function-scoped fixtures, slow
    examples, no example database: each example is rolled back)."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    who=st.sampled_from(["person", "sp"]),
    membership=st.tuples(st.booleans(), st.booleans()),
    steps=growth,
    assignments=st.lists(assignment, max_size=8),
)
def test_restrict_equals_the_reference(forest, cast, who, membership, steps, assignments):
    principal = cast[who]
    savepoint = transaction.savepoint()
    try:
        arrange(forest, cast, principal, membership, steps, assignments)
        expected = reference(principal)
        for action in ACTIONS:
            got = set(Resource.objects.restrict(principal, action).values_list("pk", flat=True))
            assert got == expected[action], (action, sorted(got ^ expected[action]))
        one_request = User.objects.get(pk=principal.pk)
        one_request._access_memo = {}
        everything = list(Resource.objects.all())
        for action in ACTIONS:
            for r in everything:
                assert access.allowed(one_request, action, r) == (r.pk in expected[action]), (
                    action,
                    r.arm_id,
                )
    finally:
        transaction.savepoint_rollback(savepoint)
    # The rollback undid the example: nothing the principal could see is left.
    assert not Resource.objects.restrict(principal).exists()
