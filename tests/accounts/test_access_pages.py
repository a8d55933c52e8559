"""The access-control page of a scope: direct and inherited assignments with who granted them and when,
adding and removing (manage access only, logged), inline errors next to the field, the version-scope
warning, and "check access" showing each action and where it comes from."""

from __future__ import annotations

import pytest
from django.urls import resolve

from accounts.models import ActivityLogEntry, UserRoleAssignment
from accounts.services import create_group, create_tenant, create_user
from accounts.sharing import grant_as_system
from portal.core import generic

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def ana(tenant):
    return create_user(tenant, "ana@contoso.test", "Ana-Pass-1", "Ana")


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def page(client, resource) -> str:
    response = client.get(f"/resources/{resource.pk}/access/")
    assert response.status_code == 200
    return response.content.decode()


def test_lists_direct_and_inherited_assignments_with_their_scope(signed_in, subscription, gallery, ana, user):
    grant_as_system(gallery, ana, "image_reader")
    html = page(signed_in, gallery)
    assert "Compute Gallery Image Reader" in html and "Ana" in html and "This resource" in html
    # the owner's assignment is inherited from the subscription
    assert "Owner" in html and "Inherited" in html and subscription.name in html
    assert "Add role assignment" in html  # the owner may manage access


def test_add_a_role_assignment_is_logged_and_takes_effect(signed_in, gallery, definition, ana):
    from accounts import access

    assert not access.allowed(ana, "read", definition)
    response = signed_in.post(
        f"/resources/{gallery.pk}/access/add", {"principal": ana.username, "role": "reader"}
    )
    assert response.status_code == 302
    assert access.allowed(ana, "read", definition)  # inherited downward
    entry = ActivityLogEntry.objects.filter(operation="Microsoft.Authorization/roleAssignments/write").first()
    assert (
        entry.status == "Succeeded" and entry.resource_arm_id == gallery.arm_id and "Reader" in entry.message
    )
    follow = signed_in.get(response["Location"]).content.decode()
    assert "Granted &#x27;Reader&#x27; to ana@contoso.test" in follow


def test_an_unknown_principal_is_refused_next_to_the_field(signed_in, gallery):
    response = signed_in.post(
        f"/resources/{gallery.pk}/access/add", {"principal": "ghost@nowhere.test", "role": "reader"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="principal-error"' in html and "ghost@nowhere.test" in html and 'aria-invalid="true"' in html
    entry = ActivityLogEntry.objects.filter(status="Failed").get()
    assert (
        entry.operation == "Microsoft.Authorization/roleAssignments/write"
        and entry.error_code == "InvalidParameter"
    )


def test_a_user_of_another_tenant_without_a_door_is_refused_and_logged(signed_in, gallery):
    outsider = create_user(create_tenant("Fabrikam", "fabrikam.test"), "eve@fabrikam.test", "Eve-Pass-1")
    response = signed_in.post(
        f"/resources/{gallery.pk}/access/add", {"principal": outsider.username, "role": "reader"}
    )
    assert response.status_code == 400
    # Not in this directory: answered like a name nobody has (issue 12, test_directory_lookup.py).
    assert (
        "No user, group or service principal named &#x27;eve@fabrikam.test&#x27;" in response.content.decode()
    )
    entry = ActivityLogEntry.objects.filter(operation="Microsoft.Authorization/roleAssignments/write").first()
    assert (
        entry.status == "Failed"
        and entry.error_code == "InvalidParameter"
        and entry.principal.username == "alice@contoso.test"
    )


def test_granting_at_a_version_warns_that_the_gallery_is_recommended(signed_in, make_version, ana):
    version = make_version()
    assert "Sharing at the gallery or the image definition is recommended" in page(signed_in, version)
    response = signed_in.post(
        f"/resources/{version.pk}/access/add", {"principal": ana.username, "role": "reader"}, follow=True
    )
    html = response.content.decode()
    assert 'class="warning"' in html and "Sharing at the gallery" in html


def test_a_group_can_be_granted_and_its_members_get_access(signed_in, tenant, gallery, ana):
    from accounts import access

    create_group(tenant, "App teams", members=[ana])
    signed_in.post(f"/resources/{gallery.pk}/access/add", {"principal": "App teams", "role": "image_reader"})
    assert access.allowed(ana, "deploy", gallery)
    assert "App teams" in page(signed_in, gallery)


def test_remove_ends_access_and_is_logged(signed_in, gallery, ana):
    from accounts import access

    grant_as_system(gallery, ana, "reader")
    a = UserRoleAssignment.objects.get(user=ana, content_object_id=gallery.pk)
    response = signed_in.post(f"/resources/{gallery.pk}/access/remove", {"assignment": f"u:{a.pk}"})
    assert response.status_code == 302
    assert not access.allowed(ana, "read", gallery)
    entry = ActivityLogEntry.objects.filter(
        operation="Microsoft.Authorization/roleAssignments/delete"
    ).first()
    assert entry.status == "Succeeded" and "ana@contoso.test" in entry.message


def test_an_inherited_assignment_cannot_be_removed_at_the_child(signed_in, subscription, gallery, user):
    a = UserRoleAssignment.objects.get(user=user, content_object_id=subscription.pk)
    response = signed_in.post(
        f"/resources/{gallery.pk}/access/remove", {"assignment": f"u:{a.pk}"}, follow=True
    )
    assert "remove it where it was made" in response.content.decode()
    assert UserRoleAssignment.objects.filter(pk=a.pk).exists()


def test_a_reader_sees_the_assignments_but_no_forms(client, gallery, ana):
    grant_as_system(gallery, ana, "reader")
    client.force_login(ana)
    html = page(client, gallery)
    assert "Role assignments" in html and "Add role assignment" not in html and ">Remove<" not in html
    assert "needs the Owner or Compute Gallery Sharing Admin role" in html


def test_a_sharing_admin_may_grant_on_the_gallery(client, gallery, ana, tenant):
    from accounts import access

    grant_as_system(gallery, ana, "sharing_admin")
    other = create_user(tenant, "ola@contoso.test", "Ola-Pass-1")
    client.force_login(ana)
    assert "Add role assignment" in page(client, gallery)
    assert (
        client.post(
            f"/resources/{gallery.pk}/access/add", {"principal": other.username, "role": "image_reader"}
        ).status_code
        == 302
    )
    assert access.allowed(other, "read", gallery)


def test_check_access_shows_each_action_and_where_it_comes_from(signed_in, tenant, gallery, definition, ana):
    group = create_group(tenant, "Readers", members=[ana])
    grant_as_system(gallery, group, "image_reader")
    response = signed_in.get(f"/resources/{definition.pk}/access/check", {"principal": ana.username}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    rows = {line.split("</td>")[0].split("<td>")[-1]: line for line in html.split("<tr>") if "<td>" in line}
    assert (
        "Yes" in rows["Read"]
        and "Compute Gallery Image Reader at Gallery1" in rows["Read"]
        and "group Readers" in rows["Read"]
    )
    assert "Yes" in rows["Deploy from"]
    assert "No" in rows["Write"] and "No" in rows["Manage access"] and "No" in rows["Delete"]


def test_check_access_of_an_unknown_principal_says_so(signed_in, gallery):
    """A 200 with the message in the fragment: htmx swaps only 2xx answers."""
    for extra in ({}, HTMX):
        response = signed_in.get(
            f"/resources/{gallery.pk}/access/check", {"principal": "nobody@x.test"}, **extra
        )
        assert response.status_code == 200
        assert "No user, group or service principal named" in response.content.decode()


def test_an_unknown_role_is_refused_next_to_the_role_picker(signed_in, gallery, ana):
    response = signed_in.post(
        f"/resources/{gallery.pk}/access/add", {"principal": ana.username, "role": "boss"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="role-error">There is no role named &#x27;boss&#x27;' in html
    assert 'aria-describedby="role-error"' in html and 'value="ana@contoso.test"' in html


def test_the_access_pages_are_on_the_generic_fetch():
    """One fetch through the access filter in ``dispatch`` (404 unreadable, sign-in when signed out)."""
    for url in (
        "/resources/1/access/",
        "/resources/1/access/add",
        "/resources/1/access/remove",
        "/resources/1/access/check",
    ):
        assert issubclass(resolve(url).func.view_class, generic.ResourceView), url
