"""Looking a principal up from what someone typed (issue 12, item 6): "Check access", the assignee of a
new role assignment and a new group member resolve only principals the caller's current directory may
see — its members, its guests (accepted invitations) and the service principals present in it — and
answer a principal of another directory exactly like one that does not exist: the same status, the same
message, the same queries. The "not found" answer of Check access is a 200 fragment, so htmx (which does
not swap 4xx answers) shows it."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import quote

import pytest
import test_cross_tenant
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import directory, sharing
from accounts.activity import Caller
from accounts.models import ActivityLogEntry, DirectoryGroup, User, UserRoleAssignment
from accounts.services import create_group, create_user
from portal.core.errors import ServiceError

# The cross-tenant world of test_cross_tenant.py: Contoso (alice owns a subscription with a gallery, a
# definition and a version) and Fabrikam (its administrator owns the resource group 'vms'), partners
# both ways; Bob of Fabrikam invited to Contoso; the multi-tenant app of Contoso consented in Fabrikam.
world, guest, app_scenario = test_cross_tenant.world, test_cross_tenant.guest, test_cross_tenant.app_scenario

HTMX = {"HTTP_HX_REQUEST": "true"}
UNKNOWN = "No user, group or service principal named"


def check(client, resource, principal: str, **extra):
    return client.get(f"/resources/{resource.pk}/access/check", {"principal": principal}, **extra)


def html(response) -> str:
    return unescape(response.content.decode())


def _page(response, typed: str) -> str:
    """The page with what was typed, and what differs per response anyway (the CSRF token, masked anew
    each time: 64 letters and digits; a nonce), blanked."""
    text = html(response).replace(typed, "<typed>").replace(quote(typed), "<typed>")
    text = re.sub(r"\b[A-Za-z0-9]{64}\b", "<csrf>", text)
    return re.sub(r'(nonce=")[^"]*', r"\1", text)


def same_answer(a, b, typed_a: str, typed_b: str) -> None:
    """The two answers are the same but for the echo of what was typed."""
    assert a.status_code == b.status_code
    assert _page(a, typed_a) == _page(b, typed_b)


@pytest.fixture
def bob_reads_b_rg(world, guest):
    """Bob of Fabrikam (invited to Contoso, not accepted yet) reads Fabrikam's resource group."""
    sharing.assign_role(Caller(world.b_admin), world.b_rg, guest.user, "reader")
    return guest.user


def test_bob_of_fabrikam_cannot_resolve_alice_of_contoso(client, world, bob_reads_b_rg):
    """The issue's finding: as Bob, Check access on his own tenant's resource named Alice, with her
    name and tenant. Now Alice of Contoso is answered like someone who does not exist — in the fragment
    htmx swaps (200), with the message shown."""
    client.force_login(bob_reads_b_rg)
    seen_from_b = check(client, world.b_rg, "alice@contoso.test", **HTMX)
    assert seen_from_b.status_code == 200
    text = html(seen_from_b)
    assert UNKNOWN in text and "alice@contoso.test" in text and 'role="alert"' in text
    assert "Contoso" not in text and "Alice" not in text and "<table" not in text
    nobody = check(client, world.b_rg, "nobody@contoso.test", **HTMX)
    same_answer(seen_from_b, nobody, "alice@contoso.test", "nobody@contoso.test")
    # The full page (no htmx) says the same, with a 200 too.
    full, full_nobody = (
        check(client, world.b_rg, "alice@contoso.test"),
        check(client, world.b_rg, "nobody@contoso.test"),
    )
    assert full.status_code == 200 and UNKNOWN in html(full)
    same_answer(full, full_nobody, "alice@contoso.test", "nobody@contoso.test")


def normalized_queries(client, resource, typed: str) -> list[str]:
    """The statements one check runs, with their literals (what was typed, the session's expiry
    time) blanked."""
    with CaptureQueriesContext(connection) as ctx:
        assert check(client, resource, typed, **HTMX).status_code == 200
    return [re.sub(r"'(?:[^']|'')*'", "?", q["sql"]) for q in ctx.captured_queries]


def test_an_unseen_principal_costs_the_same_queries_as_an_unknown_one(client, world, bob_reads_b_rg):
    client.force_login(bob_reads_b_rg)
    check(client, world.b_rg, "warm-up@contoso.test", **HTMX)  # the same cold start for both below
    unseen = normalized_queries(client, world.b_rg, "alice@contoso.test")
    unknown = normalized_queries(client, world.b_rg, "nobody@contoso.test")
    assert unseen == unknown


def test_the_directory_sees_its_members_guests_and_service_principals_present_in_it(
    client,
    world,
    app_scenario,
):
    """Fabrikam's administrator, on Fabrikam's resource group: Fabrikam's users, Fabrikam's accepted
    guests and the service principals in Fabrikam resolve; the rest is unknown."""
    w, s = world, app_scenario
    client.force_login(w.b_admin)
    carol = create_user(w.b, "carol@fabrikam.test", "Carol-Test-Pass-1", "Carol")
    dana = create_user(w.a, "dana@contoso.test", "Dana-Test-Pass-1", "Dana")
    create_group(w.b, "Fabrikam operators", members=[carol])
    create_group(w.a, "Contoso only")

    def resolves(typed: str) -> bool:
        response = check(client, w.b_rg, typed, **HTMX)
        assert response.status_code == 200, typed
        return UNKNOWN not in html(response)

    assert resolves("carol@fabrikam.test") and resolves("CAROL@fabrikam.test")  # a member
    assert resolves("Fabrikam operators")  # its group (answered: check access is for one principal)
    assert "a group" in html(check(client, w.b_rg, "Fabrikam operators", **HTMX))
    assert resolves(str(s.app.client_id))  # the app consented in Fabrikam: its service principal here
    assert not resolves("Contoso only")  # another tenant's group
    assert not resolves("alice@contoso.test")  # another tenant's user

    # Dana of Contoso becomes a guest of Fabrikam only by accepting its invitation.
    invitation = directory.invite_guest(Caller(w.b_admin), w.b, dana.username)
    assert not resolves("dana@contoso.test")  # pending
    directory.accept_invitation(Caller(dana), invitation)
    assert resolves("dana@contoso.test")  # accepted: a guest
    directory.revoke_invitation(Caller(w.b_admin), invitation)
    assert not resolves("dana@contoso.test")  # revoked

    # Without the consent, the app has no service principal in Fabrikam.
    directory.withdraw_consent(Caller(w.b_admin), s.b_sp)
    assert not resolves(str(s.app.client_id))


def test_the_current_directory_decides(client, world, guest):
    """Bob, a guest of Contoso with Reader on its gallery: from his home directory Contoso's people are
    unknown to him; switched to Contoso, they resolve (and Fabrikam's do not)."""
    w, bob = world, guest.user
    directory.accept_invitation(Caller(bob), guest.invitation)
    sharing.assign_role(Caller(w.alice), w.gallery, bob, "reader")
    client.force_login(bob)
    assert UNKNOWN in html(check(client, w.gallery, "alice@contoso.test", **HTMX))
    assert UNKNOWN not in html(check(client, w.gallery, "bob@fabrikam.test", **HTMX))

    assert client.post("/directory/switch", {"tenant": w.a.pk}).status_code == 302
    response = check(client, w.gallery, "alice@contoso.test", **HTMX)
    assert UNKNOWN not in html(response) and "Contoso" in html(response)
    assert UNKNOWN in html(check(client, w.gallery, "admin@fabrikam.test", **HTMX))
    assert UNKNOWN not in html(check(client, w.gallery, "bob@fabrikam.test", **HTMX))  # a guest here


def test_a_new_assignee_of_another_directory_is_answered_like_one_that_does_not_exist(client, world):
    """Adding a role assignment: a user of another tenant without a door here gets the very answer of a
    name nobody has (400 next to the field, a Failed activity-log entry), and nothing is granted."""
    w = world
    eve = create_user(w.b, "eve@fabrikam.test", "Eve-Test-Pass-1", "Eve")
    client.force_login(w.alice)
    url = f"/resources/{w.gallery.pk}/access/add"
    unseen = client.post(url, {"principal": eve.username, "role": "reader"})
    unknown = client.post(url, {"principal": "ghost@fabrikam.test", "role": "reader"})
    assert unseen.status_code == 400 and UNKNOWN in html(unseen)
    assert "Fabrikam" not in re.search(r'id="principal-error">(.*?)</p>', html(unseen), re.S).group(1)
    same_answer(unseen, unknown, eve.username, "ghost@fabrikam.test")
    entries = ActivityLogEntry.objects.filter(operation=sharing.ASSIGN_OP, status="Failed").order_by("id")
    assert [(e.status, e.error_code) for e in entries] == [("Failed", "InvalidParameter")] * 2
    assert entries[0].message.replace(eve.username, "?") == entries[1].message.replace(
        "ghost@fabrikam.test", "?"
    )
    assert not UserRoleAssignment.objects.filter(user=eve).exists()


def test_a_new_group_member_of_another_directory_is_answered_like_one_that_does_not_exist(
    client, world, guest
):
    w = world
    group = directory.add_group(Caller(w.a_admin), w.a, "Builders")
    client.force_login(w.a_admin)
    url = f"/directory/groups/{group.pk}/"
    unseen = client.post(url, {"member": guest.user.username})  # invited, not accepted
    unknown = client.post(url, {"member": "ghost@fabrikam.test"})
    assert unseen.status_code == 400 and "invited as guests" in html(unseen)
    same_answer(unseen, unknown, guest.user.username, "ghost@fabrikam.test")
    assert not group.user_set.exists()


# --- The one lookup function ----------------------------------------------------------------------------


def test_find_principal_resolves_only_in_the_directory_it_is_given(world, app_scenario):
    w, s = world, app_scenario
    a_group = DirectoryGroup.objects.get(pk=create_group(w.a, "Readers").pk)
    assert directory.find_principal(w.a, "ALICE@contoso.test") == w.alice
    assert directory.find_principal(w.a, "readers") == a_group
    assert directory.find_principal(w.a, str(s.app.client_id)) == s.home
    assert directory.find_principal(w.b, str(s.app.client_id)) == s.b_user
    assert directory.find_principal(w.b, s.b_user.username) == s.b_user
    for tenant, typed in [
        (w.b, "alice@contoso.test"),
        (w.b, "Readers"),
        (w.a, s.b_user.username),  # the app's service principal in Fabrikam, asked in Contoso
        (w.a, "admin@fabrikam.test"),
        (None, "alice@contoso.test"),  # no current directory: nobody
        (w.a, "alice@contoso.test\x00"),  # no name has a NUL (PostgreSQL would refuse it)
        (w.a, "a" * 2000),
    ]:
        with pytest.raises(ServiceError) as info:
            directory.find_principal(tenant, typed)
        assert info.value.code == ServiceError.INVALID_PARAMETER and info.value.target == "principal"
        assert UNKNOWN in info.value.message
    assert directory.find_principal(w.a, "alice@contoso.test", groups=False) == w.alice
    with pytest.raises(ServiceError):
        directory.find_principal(w.a, "Readers", groups=False)
    assert User.objects.filter(username="alice@contoso.test").exists()
