"""Cross-tenant access (F13), end to end: the seed's scenario (an app of tenant A consented in tenant B,
Reader on a gallery in A, Contributor on a resource group in B → it may deploy a VM in B from a
version in A; withdraw the consent → it may not), guest invitations accepted and revoked, the partner
lists denying and restoring access at once, and a tenant-B user reading tenant-A resources by id in
every URL → 404."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from conftest import refused

from accounts import access, directory, sharing
from accounts.activity import Caller
from accounts.models import PartnerTenant, Resource, ServicePrincipal, User, UserRoleAssignment
from accounts.services import create_resource_group, create_subscription, create_tenant, create_user
from galleries import services
from galleries.models import Blob
from portal.core.errors import ServiceError

VM = "Microsoft.Compute/virtualMachines"
INVALID = ServiceError.INVALID_PARAMETER
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def world(tenant, user, subscription, rg, gallery, definition, make_version):
    """Contoso (A: alice owns the subscription with a gallery, a definition and a version) and
    Fabrikam (B: its administrator owns a subscription with the resource group 'vms'); each lists the
    other as a partner, inbound and outbound."""
    a_admin = create_user(tenant, "admin@contoso.test", "Admin-Test-Pass-1", is_tenant_admin=True)
    fabrikam = create_tenant("Fabrikam", "fabrikam.test")
    b_admin = create_user(fabrikam, "admin@fabrikam.test", "Admin-Test-Pass-1", is_tenant_admin=True)
    b_sub = create_subscription(Caller.system(), fabrikam, "Fabrikam Prod", owner=b_admin)
    b_rg = create_resource_group(Caller(b_admin), b_sub, "vms", "westeurope")
    directory.set_partner(Caller(a_admin), tenant, fabrikam)
    directory.set_partner(Caller(b_admin), fabrikam, tenant)
    return SimpleNamespace(
        a=tenant,
        b=fabrikam,
        alice=user,
        sub=subscription,
        rg=rg,
        a_admin=a_admin,
        b_admin=b_admin,
        gallery=gallery,
        definition=definition,
        version=make_version(),
        b_sub=b_sub,
        b_rg=b_rg,
    )


def visible(principal) -> set[int]:
    return set(Resource.objects.restrict(principal).values_list("pk", flat=True))


# --- The seed scenario: a multi-tenant app ------------------------------------------------------------


@pytest.fixture
def app_scenario(world):
    """An app registered in A, consented in B; Reader on A's gallery for its home service principal,
    Contributor on B's resource group for its service principal in B."""
    w = world
    app = directory.register_app(Caller(w.a_admin), w.a, "Deployer", multi_tenant=True)
    home_sp = ServicePrincipal.objects.get(app=app, tenant=w.a)
    # Before consent the app has no service principal in B: it cannot be given a role there.
    refused(
        lambda: sharing.assign_role(Caller(w.b_admin), w.b_rg, home_sp.user, "contributor"),
        INVALID,
        "principal",
        "consents",
    )
    b_sp = directory.consent(Caller(w.b_admin), w.b, str(app.client_id))
    assert b_sp.tenant == w.b and b_sp.app == app
    sharing.assign_role(Caller(w.alice), w.gallery, home_sp.user, "reader")
    sharing.assign_role(Caller(w.b_admin), w.b_rg, b_sp.user, "contributor")
    return SimpleNamespace(app=app, home=home_sp.user, b_sp=b_sp, b_user=b_sp.user)


def test_the_app_may_deploy_a_vm_in_b_from_a_version_in_a_until_consent_is_withdrawn(world, app_scenario):
    w, s = world, app_scenario
    for principal in (s.home, s.b_user):  # the app is one principal across the tenants that let it in
        assert access.allowed(principal, "deploy", w.version)
        assert access.allowed(principal, "write", w.b_rg, VM)
        assert access.may_deploy(principal, w.version, w.b_rg)
        assert not access.allowed(principal, "write", w.version)  # Reader in A
        assert not access.allowed(principal, "manage_access", w.b_rg)  # Contributor in B
        assert not access.allowed(principal, "read", w.b_sub)  # nothing upward
    assert visible(s.home) == {w.gallery.pk, w.definition.pk, w.version.pk, w.b_rg.pk}
    assert set(access.directories(s.home)) == {w.a.pk, w.b.pk}

    directory.withdraw_consent(Caller(w.b_admin), s.b_sp)

    assert not access.allowed(s.home, "write", w.b_rg, VM)  # the very next check
    assert not access.may_deploy(s.home, w.version, w.b_rg)
    assert not access.allowed(s.home, "read", w.b_rg)
    assert access.allowed(s.home, "deploy", w.version)  # its home tenant's grant is untouched
    assert visible(s.home) == {w.gallery.pk, w.definition.pk, w.version.pk}
    assert access.directories(s.home) == [w.a.pk]
    assert not User.objects.filter(pk=s.b_user.pk).exists()
    assert not ServicePrincipal.objects.filter(app=s.app, tenant=w.b).exists()
    assert not UserRoleAssignment.objects.filter(content_object=w.b_rg).exclude(user=w.b_admin).exists()


def test_a_consent_in_b_alone_does_not_open_a_to_the_app(world, app_scenario):
    """The consent in B gives the app nothing in A beyond what A granted its home service principal;
    and B's grant to its own service principal gives nothing in A either."""
    w, s = world, app_scenario
    sharing.assign_role(Caller(w.b_admin), w.b_rg, s.b_user, "owner")
    assert not access.allowed(s.b_user, "write", w.version)
    assert not access.allowed(s.b_user, "read", w.sub) and not access.allowed(s.home, "read", w.sub)
    assert access.allowed(s.b_user, "manage_access", w.b_rg)
    # A's owner cannot hand the app's B principal a role in A: it does not belong to A.
    refused(
        lambda: sharing.assign_role(Caller(w.alice), w.gallery, s.b_user, "contributor"),
        INVALID,
        "principal",
        "does not belong",
    )


@pytest.mark.parametrize("door", ["b_inbound", "a_outbound", "b_entry_removed"])
def test_the_partner_lists_close_the_apps_access_in_b_at_once(world, app_scenario, door):
    w, s = world, app_scenario
    assert access.allowed(s.home, "write", w.b_rg, VM)
    if door == "b_inbound":
        directory.set_partner(Caller(w.b_admin), w.b, w.a, inbound=False, outbound=True)
    elif door == "a_outbound":
        directory.set_partner(Caller(w.a_admin), w.a, w.b, inbound=True, outbound=False)
    else:
        directory.remove_partner(Caller(w.b_admin), PartnerTenant.objects.get(tenant=w.b, partner=w.a))
    assert not access.allowed(s.home, "write", w.b_rg, VM)
    assert not access.allowed(s.b_user, "write", w.b_rg, VM)
    assert access.allowed(s.home, "deploy", w.version)  # home tenant needs no door
    # Restored: the assignment survived, so the access is back.
    directory.set_partner(Caller(w.b_admin), w.b, w.a)
    directory.set_partner(Caller(w.a_admin), w.a, w.b)
    assert access.allowed(s.home, "write", w.b_rg, VM)


# --- Guests ---------------------------------------------------------------------------------------------


@pytest.fixture
def guest(world):
    """A Fabrikam user invited into Contoso (not yet accepted)."""
    w = world
    bob = create_user(w.b, "bob@fabrikam.test", "Bob-Test-Pass-1")
    inv = directory.invite_guest(Caller(w.a_admin), w.a, "bob@fabrikam.test")
    return SimpleNamespace(user=bob, invitation=inv)


def test_a_guest_can_be_given_access_only_after_accepting_and_loses_it_on_revocation(world, guest, client):
    w, bob = world, guest.user
    refused(
        lambda: sharing.assign_role(Caller(w.alice), w.gallery, bob, "reader"),
        INVALID,
        "principal",
        "guest",
    )
    assert not UserRoleAssignment.objects.filter(user=bob).exists()
    assert access.directories(bob) == [w.b.pk]

    directory.accept_invitation(Caller(bob), guest.invitation)
    assert set(access.directories(bob)) == {w.a.pk, w.b.pk}
    assert visible(bob) == set()  # a guest sees nothing until granted
    sharing.assign_role(Caller(w.alice), w.gallery, bob, "reader")
    assert visible(bob) == {w.gallery.pk, w.definition.pk, w.version.pk}
    assert access.allowed(bob, "deploy", w.version) and not access.allowed(bob, "write", w.gallery)
    client.force_login(bob)
    assert client.get(f"/versions/{w.version.pk}/").status_code == 200

    directory.revoke_invitation(Caller(w.a_admin), guest.invitation)

    assert visible(bob) == set()
    assert not access.allowed(bob, "read", w.gallery)
    assert access.directories(bob) == [w.b.pk]
    assert not UserRoleAssignment.objects.filter(user=bob, content_object=w.gallery).exists()
    assert client.get(f"/versions/{w.version.pk}/").status_code == 404


def test_a_guest_who_leaves_loses_access_and_the_assignments(world, guest):
    w, bob = world, guest.user
    directory.accept_invitation(Caller(bob), guest.invitation)
    sharing.assign_role(Caller(w.alice), w.definition, bob, "image_reader")
    directory.revoke_invitation(Caller(bob), guest.invitation)  # the guest leaves
    assert visible(bob) == set()
    assert not UserRoleAssignment.objects.filter(user=bob).exists()


@pytest.mark.parametrize("door", ["a_inbound", "b_outbound", "a_entry_removed"])
def test_the_partner_lists_deny_a_granted_guest_at_once_and_restore_it(world, guest, door):
    w, bob = world, guest.user
    directory.accept_invitation(Caller(bob), guest.invitation)
    sharing.assign_role(Caller(w.alice), w.gallery, bob, "reader")
    assert access.allowed(bob, "read", w.gallery)

    if door == "a_inbound":
        directory.set_partner(Caller(w.a_admin), w.a, w.b, inbound=False, outbound=True)
    elif door == "b_outbound":
        directory.set_partner(Caller(w.b_admin), w.b, w.a, inbound=True, outbound=False)
    else:
        directory.remove_partner(Caller(w.a_admin), PartnerTenant.objects.get(tenant=w.a, partner=w.b))

    assert not access.allowed(bob, "read", w.gallery)
    assert visible(bob) == set()
    assert access.directories(bob) == [w.b.pk]
    # While the door is shut, no new assignment either.
    refused(
        lambda: sharing.assign_role(Caller(w.alice), w.definition, bob, "reader"),
        INVALID,
        "principal",
        "partner",
    )
    assert UserRoleAssignment.objects.filter(user=bob, content_object=w.gallery).exists()  # survived

    directory.set_partner(Caller(w.a_admin), w.a, w.b)
    directory.set_partner(Caller(w.b_admin), w.b, w.a)
    assert access.allowed(bob, "read", w.gallery)
    assert visible(bob) == {w.gallery.pk, w.definition.pk, w.version.pk}


def test_a_guest_in_a_group_of_a_holds_its_roles_only_while_the_doors_are_open(world, guest):
    w, bob = world, guest.user
    team = directory.add_group(Caller(w.a_admin), w.a, "Partners")
    refused(lambda: directory.add_member(Caller(w.a_admin), team, bob), INVALID, "member", "guest")
    directory.accept_invitation(Caller(bob), guest.invitation)
    directory.add_member(Caller(w.a_admin), team, bob)
    sharing.assign_role(Caller(w.alice), w.definition, team, "image_reader")
    assert visible(bob) == {w.definition.pk, w.version.pk}

    directory.set_partner(Caller(w.b_admin), w.b, w.a, inbound=True, outbound=False)
    assert visible(bob) == set() and not access.allowed(bob, "deploy", w.version)
    directory.set_partner(Caller(w.b_admin), w.b, w.a)
    assert access.allowed(bob, "deploy", w.version)

    directory.revoke_invitation(Caller(w.a_admin), guest.invitation)
    assert visible(bob) == set()
    assert not bob.groups.filter(pk=team.pk).exists()  # the membership went with the invitation


# --- A tenant-B user reading tenant-A resources by id → 404 everywhere ---------------------------------


def test_a_user_of_another_tenant_gets_404_for_every_tenant_a_resource_by_id(world, client, make_blob, image):
    w = world
    blob = make_blob(virtual_mib=1)
    pending = services.start_upload(Caller(w.alice), w.rg, "pending.vhd", 1024 * 1024 + 512)
    # Bob of Fabrikam: Owner of his own subscription, partners open both ways, but no door into A.
    bob = create_user(w.b, "bob@fabrikam.test", "Bob-Test-Pass-1")
    sharing.assign_role(Caller(w.b_admin), w.b_sub, bob, "owner")
    owner_assignment = UserRoleAssignment.objects.get(user=w.alice, content_object=w.sub)
    a_resources = list(Resource.objects.filter(tenant=w.a))
    assert {r.type for r in a_resources} >= {
        "Microsoft.Resources/subscriptions",
        "Microsoft.Resources/resourceGroups",
        "Microsoft.Compute/galleries",
        "Microsoft.Compute/galleries/images",
        "Microsoft.Compute/galleries/images/versions",
        "Microsoft.Compute/images",
    }
    v = w.version.pk
    requests = [
        ("get", f"/versions/{v}/", {}),
        ("get", f"/versions/{v}/replication", HTMX),
        ("get", f"/versions/{v}/replication", {}),
        ("post", f"/versions/{v}/retry", {}),
        ("get", f"/uploads/{blob.pk}", {}),
        ("get", f"/uploads/{pending.pk}", {}),
        ("put", f"/uploads/{pending.pk}", {"HTTP_CONTENT_RANGE": "bytes 0-3/1049088", "data": b"abcd"}),
        ("delete", f"/uploads/{pending.pk}", {}),
        ("delete", f"/uploads/{blob.pk}", {}),
    ]
    for r in a_resources:
        base = f"/resources/{r.pk}/access/"
        requests += [
            ("get", base, {}),
            ("get", f"{base}check?principal=alice@contoso.test", {}),
            ("get", f"{base}check?principal=bob@fabrikam.test", HTMX),
            ("post", f"{base}add", {"data": {"principal": "bob@fabrikam.test", "role": "owner"}}),
            ("post", f"{base}remove", {"data": {"assignment": f"u:{owner_assignment.pk}"}}),
        ]

    # The URLs are right: alice (the owner) gets them.
    client.force_login(w.alice)
    for method, url, extra in requests:
        if method == "get":
            assert client.get(url, **extra).status_code in (200, 286), url

    client.force_login(bob)
    for method, url, extra in requests:
        extra = dict(extra)
        data = extra.pop("data", None)
        if method == "put":
            response = client.put(url, data=data, content_type="application/octet-stream", **extra)
        elif data is not None:
            response = getattr(client, method)(url, data=data, **extra)
        else:
            response = getattr(client, method)(url, **extra)
        assert response.status_code == 404, (method, url, response.status_code)
    # An upload into A's resource group, named by its ARM id, is "not found" too.
    response = client.post(
        "/uploads/",
        data={"resourceGroup": w.rg.arm_id, "name": "x.vhd", "size": 1024 * 1024 + 512},
        content_type="application/json",
    )
    assert response.status_code == 404 and response.json()["error"]["code"] == "ResourceNotFound"

    # Nothing changed behind the 404s.
    assert not UserRoleAssignment.objects.filter(user=bob, content_object__tenant=w.a).exists()
    assert UserRoleAssignment.objects.filter(pk=owner_assignment.pk).exists()
    assert Blob.objects.filter(pk__in=[blob.pk, pending.pk]).count() == 2
