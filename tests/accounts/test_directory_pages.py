"""The tenant administration pages (F1, F13): only a tenant's administrators see them (others 403,
anonymous to sign-in), another tenant's objects answer 404 by id, every create/delete flow works
through the directory services, and a refusal is shown next to the field it is about."""

from __future__ import annotations

import re
from html import unescape

import pytest

from accounts import access, directory
from accounts.activity import Caller
from accounts.models import (
    ActivityLogEntry,
    AppRegistration,
    ClientSecret,
    DirectoryGroup,
    GuestInvitation,
    PartnerTenant,
    ServicePrincipal,
    User,
)
from accounts.services import create_tenant, create_user

PASS = "Admin-Test-Pass-1"
NEW_PASS = "Quiet-Harbour-Lamp-42"


@pytest.fixture
def admin(tenant):
    return create_user(tenant, "root@contoso.test", PASS, "Contoso Admin", is_tenant_admin=True)


@pytest.fixture
def as_admin(client, admin):
    client.force_login(admin)
    return client


@pytest.fixture
def fabrikam(db):
    return create_tenant("Fabrikam", "fabrikam.test")


@pytest.fixture
def fab_admin(fabrikam):
    return create_user(fabrikam, "root@fabrikam.test", PASS, "Fabrikam Admin", is_tenant_admin=True)


@pytest.fixture
def bob(fabrikam):
    return create_user(fabrikam, "bob@fabrikam.test", PASS, "Bob")


def by(user) -> Caller:
    return Caller(principal=user)


def open_partners(a, b):
    directory.set_partner(Caller.system(), a, b)
    directory.set_partner(Caller.system(), b, a)


def field_error(response, field: str) -> str:
    """The error shown next to ``field`` (``<p class="error" id="<field>-error">``), or ''."""
    m = re.search(
        rf'<p class="error" id="{re.escape(field)}-error"[^>]*>(.*?)</p>', response.content.decode(), re.S
    )
    return unescape(m.group(1)) if m else ""


def text(response) -> str:
    return unescape(response.content.decode())


@pytest.fixture
def world(tenant, admin, user, fabrikam, fab_admin, bob):
    """One of every directory object in Contoso (plus a Fabrikam app consented there)."""
    group = directory.add_group(by(admin), tenant, "Publishers")
    directory.add_member(by(admin), group, user)
    app = directory.register_app(by(admin), tenant, "Contoso Builder", multi_tenant=True)
    secret, _ = directory.add_client_secret(by(admin), app, "ci", 30)
    fab_app = directory.register_app(by(fab_admin), fabrikam, "Fabrikam Scanner", multi_tenant=True)
    consented = directory.consent(by(admin), tenant, str(fab_app.client_id))
    invitation = directory.invite_guest(by(admin), tenant, bob.username)
    partner = directory.set_partner(by(admin), tenant, fabrikam)
    return {
        "user": user,
        "group": group,
        "app": app,
        "secret": secret,
        "fab_app": fab_app,
        "sp": consented,
        "invitation": invitation,
        "partner": partner,
    }


ADMIN_PAGES = [
    "/directory/",
    "/directory/users/",
    "/directory/groups/",
    "/directory/apps/",
    "/directory/service-principals/",
    "/directory/invitations/",
    "/directory/partners/",
]


def object_urls(w) -> list[tuple[str, str]]:
    """Every page and action about one object of Contoso, by id."""
    g, a, s, sp = w["group"].pk, w["app"].pk, w["secret"].pk, w["sp"].pk
    return [
        ("get", f"/directory/users/{w['user'].pk}/delete"),
        ("post", f"/directory/users/{w['user'].pk}/delete"),
        ("get", f"/directory/groups/{g}/"),
        ("post", f"/directory/groups/{g}/"),
        ("post", f"/directory/groups/{g}/members/{w['user'].pk}/remove"),
        ("get", f"/directory/groups/{g}/delete"),
        ("post", f"/directory/groups/{g}/delete"),
        ("get", f"/directory/apps/{a}/"),
        ("post", f"/directory/apps/{a}/secrets"),
        ("post", f"/directory/apps/{a}/secrets/{s}/delete"),
        ("get", f"/directory/apps/{a}/delete"),
        ("post", f"/directory/apps/{a}/delete"),
        ("get", f"/directory/service-principals/{sp}/withdraw"),
        ("post", f"/directory/service-principals/{sp}/withdraw"),
        ("post", f"/directory/invitations/{w['invitation'].pk}/revoke"),
        ("post", f"/directory/partners/{w['partner'].pk}/"),
        ("post", f"/directory/partners/{w['partner'].pk}/remove"),
    ]


def assert_world_intact(w):
    assert User.objects.filter(pk=w["user"].pk, groups=w["group"].pk).exists()
    assert ClientSecret.objects.filter(pk=w["secret"].pk).exists()
    assert AppRegistration.objects.filter(pk=w["app"].pk).exists()
    assert ServicePrincipal.objects.filter(pk=w["sp"].pk).exists()
    assert GuestInvitation.objects.get(pk=w["invitation"].pk).state == GuestInvitation.State.PENDING
    assert PartnerTenant.objects.get(pk=w["partner"].pk).inbound


# --- Who may see the pages --------------------------------------------------------------------------------


def test_anonymous_is_sent_to_sign_in(client, world):
    for url in [*ADMIN_PAGES, "/directory/invitations/mine"]:
        r = client.get(url)
        assert r.status_code == 302 and r.url.startswith("/login/"), url
    r = client.post(f"/directory/invitations/mine/{world['invitation'].pk}/accept")
    assert r.status_code == 302 and r.url.startswith("/login/")
    assert client.post("/directory/groups/", {"displayName": "Anon"}).status_code == 302
    assert not DirectoryGroup.objects.filter(display_name="Anon").exists()


@pytest.mark.parametrize("url", ADMIN_PAGES)
def test_each_page_renders_for_an_admin(as_admin, world, url):
    r = as_admin.get(url)
    assert r.status_code == 200
    assert 'aria-label="Directory"' in r.content.decode()


def test_detail_pages_render_for_an_admin(as_admin, world):
    assert as_admin.get(f"/directory/groups/{world['group'].pk}/").status_code == 200
    assert as_admin.get(f"/directory/apps/{world['app'].pk}/").status_code == 200
    for url in (
        f"/directory/users/{world['user'].pk}/delete",
        f"/directory/groups/{world['group'].pk}/delete",
        f"/directory/apps/{world['app'].pk}/delete",
        f"/directory/service-principals/{world['sp'].pk}/withdraw",
    ):
        r = as_admin.get(url)
        assert r.status_code == 200 and "Cancel" in r.content.decode(), url


def test_a_non_admin_gets_403_on_every_admin_page_and_action(client, user, world):
    client.force_login(user)
    for url in ADMIN_PAGES:
        r = client.get(url)
        assert r.status_code == 403, url
        assert "Only administrators" in r.content.decode()
    for method, url in object_urls(world):
        assert getattr(client, method)(url, {"expires": "30", "member": "x"}).status_code == 403, url
    assert client.post("/directory/groups/", {"displayName": "Sneaky"}).status_code == 403
    assert not DirectoryGroup.objects.filter(display_name="Sneaky").exists()
    assert_world_intact(world)


def test_my_invitations_is_for_every_signed_in_user(client, user):
    client.force_login(user)
    r = client.get("/directory/invitations/mine")
    assert r.status_code == 200 and "No tenant has invited you" in r.content.decode()


def test_an_admin_of_another_tenant_gets_404_for_this_tenants_objects(client, fab_admin, world):
    client.force_login(fab_admin)
    for method, url in object_urls(world):
        r = getattr(client, method)(url, {"expires": "30", "member": "bob@fabrikam.test", "inbound": "1"})
        assert r.status_code == 404, (method, url, r.status_code)
    assert_world_intact(world)


def test_the_lists_show_nothing_of_another_tenant(client, fab_admin, world):
    client.force_login(fab_admin)
    pages = "".join(text(client.get(url)) for url in ADMIN_PAGES)
    for secret in (
        "Contoso",
        "alice@contoso.test",
        "Publishers",
        "Contoso Builder",
        str(world["app"].client_id),
    ):
        assert secret not in pages, secret
    # Its own app, consented in Contoso, is listed in Fabrikam only as its home service principal.
    assert "Fabrikam Scanner" in pages


def test_someone_elses_invitation_cannot_be_accepted(client, user, world):
    client.force_login(user)
    assert "Contoso" not in text(client.get("/directory/invitations/mine")).split("<main")[1]
    assert client.post(f"/directory/invitations/mine/{world['invitation'].pk}/accept").status_code == 404
    assert GuestInvitation.objects.get(pk=world["invitation"].pk).state == GuestInvitation.State.PENDING


# --- Users ------------------------------------------------------------------------------------------------


def test_create_a_user(as_admin, tenant):
    r = as_admin.post(
        "/directory/users/",
        {"username": "Ana@contoso.test", "displayName": "Ana", "password": NEW_PASS, "isAdmin": "1"},
    )
    assert r.status_code == 302 and r.url == "/directory/users/"
    ana = User.objects.get(username="ana@contoso.test")
    assert ana.home_tenant == tenant and ana.is_tenant_admin and ana.check_password(NEW_PASS)
    page = text(as_admin.get("/directory/users/"))
    assert "Created the user ana@contoso.test" in page and "ana@contoso.test" in page
    assert ActivityLogEntry.objects.filter(
        operation="Microsoft.Directory/users/write", status="Succeeded", principal_name="root@contoso.test"
    ).exists()


def test_a_username_in_another_domain_is_shown_next_to_the_field(as_admin):
    r = as_admin.post(
        "/directory/users/", {"username": "ana@fabrikam.test", "displayName": "Ana", "password": NEW_PASS}
    )
    assert r.status_code == 400
    assert "@contoso.test" in field_error(r, "username") and "guests" in field_error(r, "username")
    assert 'value="ana@fabrikam.test"' in r.content.decode() and NEW_PASS not in r.content.decode()
    assert not User.objects.filter(username="ana@fabrikam.test").exists()


def test_a_weak_password_is_shown_next_to_the_password(as_admin):
    r = as_admin.post("/directory/users/", {"username": "ana@contoso.test", "password": "abc"})
    assert r.status_code == 400 and "too short" in field_error(r, "password")
    assert not User.objects.filter(username="ana@contoso.test").exists()


def test_a_duplicate_username_is_a_conflict(as_admin, user):
    r = as_admin.post("/directory/users/", {"username": "ALICE@contoso.test", "password": NEW_PASS})
    assert r.status_code == 409 and "already exists" in field_error(r, "username")


def test_delete_a_user_after_confirming(as_admin, user):
    assert f"Delete the user {user.username}?" in text(as_admin.get(f"/directory/users/{user.pk}/delete"))
    r = as_admin.post(f"/directory/users/{user.pk}/delete")
    assert r.status_code == 302 and not User.objects.filter(pk=user.pk).exists()


def test_an_admin_cannot_delete_themself(as_admin, admin):
    r = as_admin.post(f"/directory/users/{admin.pk}/delete")
    assert r.status_code == 400 and "cannot delete yourself" in text(r)
    assert User.objects.filter(pk=admin.pk).exists()


# --- Groups -----------------------------------------------------------------------------------------------


def test_create_and_delete_a_group(as_admin, tenant):
    r = as_admin.post("/directory/groups/", {"displayName": "Builders", "description": "CI"})
    group = DirectoryGroup.objects.get(tenant=tenant, display_name="Builders")
    assert r.status_code == 302 and r.url == f"/directory/groups/{group.pk}/"
    assert "Builders" in text(as_admin.get("/directory/groups/"))
    r = as_admin.post(f"/directory/groups/{group.pk}/delete")
    assert r.status_code == 302 and not DirectoryGroup.objects.filter(pk=group.pk).exists()


def test_a_duplicate_group_is_shown_next_to_the_name(as_admin, admin, tenant):
    directory.add_group(by(admin), tenant, "Builders")
    r = as_admin.post("/directory/groups/", {"displayName": "builders"})
    assert r.status_code == 409 and "already has a group" in field_error(r, "displayName")
    assert DirectoryGroup.objects.filter(tenant=tenant).count() == 1


def test_a_group_name_of_the_maximum_length_fits_the_auth_group(as_admin, tenant):
    name = "G" * 120
    assert as_admin.post("/directory/groups/", {"displayName": name}).status_code == 302
    group = DirectoryGroup.objects.get(tenant=tenant, display_name=name)
    assert len(group.name) <= 150 and group.name.startswith(str(tenant.tenant_id))


def test_members_are_users_accepted_guests_and_service_principals(
    as_admin, admin, tenant, user, fabrikam, bob
):
    open_partners(tenant, fabrikam)
    directory.accept_invitation(by(bob), directory.invite_guest(by(admin), tenant, bob.username))
    app = directory.register_app(by(admin), tenant, "Deployer")
    group = directory.add_group(by(admin), tenant, "Builders")
    for member in ("alice@contoso.test", "BOB@fabrikam.test", str(app.client_id)):
        r = as_admin.post(f"/directory/groups/{group.pk}/", {"member": member})
        assert r.status_code == 302, (member, field_error(r, "member"))
    sp_user = ServicePrincipal.objects.get(app=app, tenant=tenant).user
    assert set(group.user_set.all()) == {user, bob, sp_user}
    page = text(as_admin.get(f"/directory/groups/{group.pk}/"))
    assert "bob@fabrikam.test" in page and "Guest" in page and "Service principal" in page


def test_a_user_of_another_tenant_who_is_no_guest_cannot_join(as_admin, admin, tenant, bob):
    group = directory.add_group(by(admin), tenant, "Builders")
    r = as_admin.post(f"/directory/groups/{group.pk}/", {"member": bob.username})
    assert r.status_code == 400 and "invited as guests" in field_error(r, "member")
    assert "Fabrikam" not in field_error(r, "member")
    assert not group.user_set.exists()


def test_remove_a_member(as_admin, world):
    group, member = world["group"], world["user"]
    r = as_admin.post(f"/directory/groups/{group.pk}/members/{member.pk}/remove")
    assert r.status_code == 302 and not group.user_set.filter(pk=member.pk).exists()
    # Not a member any more: no such member of this group.
    assert as_admin.post(f"/directory/groups/{group.pk}/members/{member.pk}/remove").status_code == 404


# --- App registrations and client secrets -------------------------------------------------------------------


def test_register_an_app_and_see_its_client_id(as_admin, tenant):
    r = as_admin.post("/directory/apps/", {"displayName": "Builder", "multiTenant": "1"})
    app = AppRegistration.objects.get(home_tenant=tenant, display_name="Builder")
    assert r.status_code == 302 and r.url == f"/directory/apps/{app.pk}/"
    assert app.multi_tenant and ServicePrincipal.objects.filter(app=app, tenant=tenant).exists()
    page = text(as_admin.get(r.url))
    assert str(app.client_id) in page and "Multi-tenant" in page


def test_an_app_needs_a_name(as_admin, tenant):
    r = as_admin.post("/directory/apps/", {"displayName": "  ", "multiTenant": "0"})
    assert r.status_code == 400 and "1–120 characters" in field_error(r, "displayName")
    assert not AppRegistration.objects.filter(home_tenant=tenant).exists()


def test_a_secret_is_shown_once_and_only_its_hash_is_kept(as_admin, admin, tenant):
    app = directory.register_app(by(admin), tenant, "Builder")
    r = as_admin.post(f"/directory/apps/{app.pk}/secrets", {"description": "pipeline", "expires": "90"})
    # redirected after the POST (a reload must not add another), the value in no URL
    assert r.status_code == 302 and r["Location"] == f"/directory/apps/{app.pk}/"
    r = as_admin.get(r["Location"])
    assert r.status_code == 200 and "no-store" in r["Cache-Control"]
    value = unescape(re.search(r'<code id="secret-value">(.*?)</code>', r.content.decode()).group(1))
    secret = ClientSecret.objects.get(app=app)
    assert secret.matches(value) and value not in secret.secret_hash and secret.description == "pipeline"
    assert 85 <= (secret.expires_at - secret.created_at).days <= 90
    again = text(as_admin.get(f"/directory/apps/{app.pk}/"))
    assert value not in again and f"{secret.hint}…" in again and "pipeline" in again


@pytest.mark.parametrize("expires", ["0", "731", "soon", ""])
def test_a_secret_expiry_out_of_range_is_shown_next_to_the_field(as_admin, admin, tenant, expires):
    app = directory.register_app(by(admin), tenant, "Builder")
    r = as_admin.post(f"/directory/apps/{app.pk}/secrets", {"expires": expires})
    assert r.status_code == 400 and "1 to 730 days" in field_error(r, "expires")
    assert not ClientSecret.objects.filter(app=app).exists()


def test_delete_a_secret(as_admin, world):
    app, secret = world["app"], world["secret"]
    r = as_admin.post(f"/directory/apps/{app.pk}/secrets/{secret.pk}/delete")
    assert r.status_code == 302 and not ClientSecret.objects.filter(pk=secret.pk).exists()


def test_delete_an_app_removes_its_service_principals_everywhere(
    as_admin, admin, tenant, fabrikam, fab_admin
):
    app = directory.register_app(by(admin), tenant, "Builder", multi_tenant=True)
    directory.consent(by(fab_admin), fabrikam, str(app.client_id))
    assert ServicePrincipal.objects.filter(app=app).count() == 2
    r = as_admin.post(f"/directory/apps/{app.pk}/delete")
    assert r.status_code == 302 and r.url == "/directory/apps/"
    assert not AppRegistration.objects.filter(pk=app.pk).exists()
    assert not User.objects.filter(kind=User.Kind.SERVICE_PRINCIPAL, display_name="Builder").exists()


# --- Service principals and consent -------------------------------------------------------------------------


def test_consent_to_a_multi_tenant_app_of_another_tenant(as_admin, tenant, fabrikam, fab_admin):
    app = directory.register_app(by(fab_admin), fabrikam, "Scanner", multi_tenant=True)
    r = as_admin.post("/directory/service-principals/", {"clientId": f" {app.client_id} "})
    assert r.status_code == 302
    sp = ServicePrincipal.objects.get(app=app, tenant=tenant)
    page = text(as_admin.get("/directory/service-principals/"))
    assert "Scanner" in page and "Consented" in page and "Fabrikam" in page
    assert f"/directory/service-principals/{sp.pk}/withdraw" in page


def test_consent_to_a_single_tenant_app_is_refused_next_to_the_field(as_admin, tenant, fabrikam, fab_admin):
    app = directory.register_app(by(fab_admin), fabrikam, "Internal")
    r = as_admin.post("/directory/service-principals/", {"clientId": str(app.client_id)})
    assert r.status_code == 400 and "single-tenant" in field_error(r, "clientId")
    assert not ServicePrincipal.objects.filter(app=app, tenant=tenant).exists()


def test_consent_to_an_unknown_client_id(as_admin):
    r = as_admin.post("/directory/service-principals/", {"clientId": "not-a-guid"})
    assert r.status_code == 400 and "No app has the client id" in field_error(r, "clientId")


def test_withdrawing_consent_removes_the_service_principal(as_admin, world):
    sp = world["sp"]
    r = as_admin.post(f"/directory/service-principals/{sp.pk}/withdraw")
    assert r.status_code == 302
    assert (
        not ServicePrincipal.objects.filter(pk=sp.pk).exists() and not User.objects.filter(pk=sp.pk).exists()
    )
    page = text(as_admin.get("/directory/service-principals/"))
    assert "Withdrew consent for Fabrikam Scanner" in page and f"/service-principals/{sp.pk}/" not in page


def test_the_home_service_principal_is_not_withdrawn(as_admin, world):
    home_sp = ServicePrincipal.objects.get(app=world["app"], tenant=world["app"].home_tenant)
    r = as_admin.post(f"/directory/service-principals/{home_sp.pk}/withdraw")
    assert r.status_code == 400 and "delete the app registration" in text(r)
    assert ServicePrincipal.objects.filter(pk=home_sp.pk).exists()


# --- Guest invitations --------------------------------------------------------------------------------------


def test_invite_a_guest_and_list_the_invitation(as_admin, tenant, bob):
    r = as_admin.post("/directory/invitations/", {"username": "bob@fabrikam.test"})
    assert r.status_code == 302
    inv = GuestInvitation.objects.get(tenant=tenant, user=bob)
    assert inv.state == GuestInvitation.State.PENDING
    page = text(as_admin.get("/directory/invitations/"))
    assert (
        "bob@fabrikam.test" in page
        and "Fabrikam" in page
        and "Pending" in page
        and "root@contoso.test" in page
    )


@pytest.mark.parametrize(
    "username, status, words",
    [("alice@contoso.test", 400, "already a member"), ("nobody@nowhere.test", 400, "No user named")],
)
def test_invitation_errors_are_shown_next_to_the_username(as_admin, user, username, status, words):
    r = as_admin.post("/directory/invitations/", {"username": username})
    assert r.status_code == status and words in field_error(r, "username")
    assert not GuestInvitation.objects.exists()


def test_revoke_an_invitation(as_admin, world):
    inv = world["invitation"]
    r = as_admin.post(f"/directory/invitations/{inv.pk}/revoke")
    assert r.status_code == 302
    inv.refresh_from_db()
    assert inv.state == GuestInvitation.State.REVOKED


def test_accepting_from_my_invitations_adds_the_tenant_to_the_switcher(client, admin, tenant, fabrikam, bob):
    open_partners(tenant, fabrikam)
    inv = directory.invite_guest(by(admin), tenant, bob.username)
    client.force_login(bob)
    page = client.get("/directory/invitations/mine")
    assert tenant not in page.context["directories"] and "Accept" in text(page)
    r = client.post(f"/directory/invitations/mine/{inv.pk}/accept", follow=True)
    assert r.status_code == 200 and "You are a guest of Contoso" in text(r)
    assert tenant in r.context["directories"]
    inv.refresh_from_db()
    assert inv.state == GuestInvitation.State.ACCEPTED


def test_accepting_without_partner_entries_warns_and_adds_no_directory(client, admin, tenant, bob):
    inv = directory.invite_guest(by(admin), tenant, bob.username)
    client.force_login(bob)
    r = client.post(f"/directory/invitations/mine/{inv.pk}/accept", follow=True)
    assert "do not allow access yet" in text(r) and tenant not in r.context["directories"]


def test_leaving_ends_the_guest_access_at_once(client, admin, tenant, fabrikam, bob):
    open_partners(tenant, fabrikam)
    inv = directory.accept_invitation(by(bob), directory.invite_guest(by(admin), tenant, bob.username))
    client.force_login(bob)
    assert tenant in client.get("/directory/invitations/mine").context["directories"]
    r = client.post(f"/directory/invitations/mine/{inv.pk}/leave", follow=True)
    assert tenant not in r.context["directories"] and "Revoked" in text(r)
    assert tenant.pk not in access.directories(User.objects.get(pk=bob.pk))


def test_an_accepted_invitation_cannot_be_accepted_again(client, admin, tenant, bob):
    inv = directory.accept_invitation(by(bob), directory.invite_guest(by(admin), tenant, bob.username))
    client.force_login(bob)
    r = client.post(f"/directory/invitations/mine/{inv.pk}/accept")
    assert r.status_code == 409 and "not pending" in text(r)


# --- Partner tenants ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["domain", "tenant id"])
def test_add_a_partner_by_domain_or_tenant_id(as_admin, tenant, fabrikam, how):
    key = "FABRIKAM.test" if how == "domain" else str(fabrikam.tenant_id)
    r = as_admin.post("/directory/partners/", {"partner": key, "inbound": "1"})
    assert r.status_code == 302
    entry = PartnerTenant.objects.get(tenant=tenant, partner=fabrikam)
    assert entry.inbound and not entry.outbound
    assert "Fabrikam" in text(as_admin.get("/directory/partners/"))


@pytest.mark.parametrize(
    "key, words", [("nowhere.test", "No tenant has"), ("contoso.test", "its own partner")]
)
def test_partner_errors_are_shown_next_to_the_field(as_admin, tenant, key, words):
    r = as_admin.post("/directory/partners/", {"partner": key, "inbound": "1", "outbound": "1"})
    assert r.status_code == 400 and words in field_error(r, "partner")
    assert not PartnerTenant.objects.filter(tenant=tenant).exists()


def test_change_a_partners_flags_and_remove_it(as_admin, world):
    entry = world["partner"]
    assert as_admin.post(f"/directory/partners/{entry.pk}/", {"outbound": "1"}).status_code == 302
    entry.refresh_from_db()
    assert not entry.inbound and entry.outbound
    assert as_admin.post(f"/directory/partners/{entry.pk}/remove").status_code == 302
    assert not PartnerTenant.objects.filter(pk=entry.pk).exists()
