"""The directory pages on the generic edge (issue 13): every page is a ``portal.core.generic`` view;
the lists are django-tables2 tables (sortable, searchable with django-filter, an htmx request gets the
table only) scoped to the administrator's tenant; the forms are Django forms whose refusals land on
the field the service names (with aria-invalid and aria-describedby); the rows' buttons post."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from accounts import directory
from accounts.activity import Caller
from accounts.models import GuestInvitation
from accounts.services import create_tenant, create_user
from portal.core import generic

PASS = "Admin-Test-Pass-1"
HTMX = {"HTTP_HX_REQUEST": "true"}


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


def by(user) -> Caller:
    return Caller(principal=user)


def text(response) -> str:
    return unescape(response.content.decode())


def table(response, table_id: str) -> str:
    """The HTML of the table ``table_id`` (empty when the page has none)."""
    m = re.search(rf'<table[^>]*id="{table_id}".*?</table>', response.content.decode(), re.S)
    return unescape(m.group(0)) if m else ""


def directory_patterns(resolver=None):
    for p in (resolver or get_resolver()).url_patterns:
        if isinstance(p, URLResolver):
            yield from (p.url_patterns if p.namespace == "directory" else directory_patterns(p))


def test_every_directory_page_is_a_generic_view():
    """A hand-written view added under /directory/ fails here (the switcher is the session's, not a
    page of the directory)."""
    names = []
    for p in directory_patterns():
        assert isinstance(p, URLPattern)
        view = getattr(p.callback, "view_class", None)
        assert view is not None and issubclass(view, generic.ResourceView), p.name
        names.append(p.name)
    assert {"users", "groups", "group", "apps", "app", "invitations", "my-invitations"} <= set(names)
    assert len(names) == 22


def test_lists_sort_by_a_column(as_admin, admin, tenant):
    for name in ("zoe", "bea"):
        create_user(tenant, f"{name}@contoso.test", PASS, name.title())
    rows = table(as_admin.get("/directory/users/", {"sort": "-username"}), "users")
    assert rows.index("zoe@contoso.test") < rows.index("root@contoso.test") < rows.index("bea@contoso.test")
    assert 'aria-sort="descending"' in rows
    rows = table(as_admin.get("/directory/users/", {"sort": "username"}), "users")
    assert rows.index("bea@contoso.test") < rows.index("root@contoso.test") < rows.index("zoe@contoso.test")


def test_search_narrows_the_list_and_never_leaves_the_tenant(client, as_admin, admin, tenant, fabrikam):
    directory.add_group(by(admin), tenant, "Publishers", "ship images")
    directory.add_group(by(admin), tenant, "Readers")
    fab_admin = create_user(fabrikam, "root@fabrikam.test", PASS, is_tenant_admin=True)
    directory.add_group(by(fab_admin), fabrikam, "Publishers abroad")
    rows = table(as_admin.get("/directory/groups/", {"q": "publ"}), "groups")
    assert "Publishers" in rows and "Readers" not in rows and "abroad" not in rows
    assert "Readers" in table(as_admin.get("/directory/groups/", {"q": "READ"}), "groups")
    nothing = as_admin.get("/directory/groups/", {"q": "abroad"})
    assert nothing.status_code == 200 and "Nothing matches the search." in text(nothing)
    assert "Clear" in text(nothing)


def test_invitations_filter_by_state(as_admin, admin, tenant, fabrikam):
    bob = create_user(fabrikam, "bob@fabrikam.test", PASS, "Bob")
    eve = create_user(fabrikam, "eve@fabrikam.test", PASS, "Eve")
    directory.invite_guest(by(admin), tenant, bob.username)
    directory.revoke_invitation(by(admin), directory.invite_guest(by(admin), tenant, eve.username))
    rows = table(
        as_admin.get("/directory/invitations/", {"state": GuestInvitation.State.REVOKED}), "invitations"
    )
    assert "eve@fabrikam.test" in rows and "bob@fabrikam.test" not in rows


def test_an_htmx_request_gets_the_table_only(as_admin, admin, tenant):
    directory.register_app(by(admin), tenant, "Builder")
    html = as_admin.get("/directory/apps/", {"sort": "-created_at"}, **HTMX).content.decode()
    assert html.lstrip().startswith('<div id="object-table"') and "Builder" in html
    assert 'aria-label="Directory"' not in html and "<form" not in html


def test_the_users_list_shows_accepted_guests_once(as_admin, admin, tenant, fabrikam):
    bob = create_user(fabrikam, "bob@fabrikam.test", PASS, "Bob")
    other = create_tenant("Northwind", "northwind.test")
    directory.invite_guest(
        by(create_user(other, "root@northwind.test", PASS, is_tenant_admin=True)), other, bob.username
    )
    directory.accept_invitation(by(bob), directory.invite_guest(by(admin), tenant, bob.username))
    rows = table(as_admin.get("/directory/users/"), "users")
    assert rows.count("bob@fabrikam.test") == 1 and "Guest" in rows and "from Fabrikam" in rows
    assert f'href="/directory/users/{bob.pk}/delete"' not in rows and 'href="/directory/invitations/"' in rows
    # the administrator is not offered to delete themself
    assert f"/directory/users/{admin.pk}/delete" not in rows


def test_a_refusal_marks_its_field(as_admin):
    r = as_admin.post(
        "/directory/users/", {"username": "ana@fabrikam.test", "password": "Quiet-Harbour-Lamp-42"}
    )
    assert r.status_code == 400
    field = re.search(r'<input[^>]*name="username"[^>]*>', r.content.decode()).group(0)
    assert 'aria-invalid="true"' in field and 'aria-describedby="username-error"' in field
    assert 'value="ana@fabrikam.test"' in field


def test_the_forms_start_from_their_defaults(as_admin, admin, tenant):
    partners = as_admin.get("/directory/partners/").content.decode()
    for flag in ("inbound", "outbound"):
        assert re.search(rf'<input[^>]*name="{flag}"[^>]*checked', partners), flag
    apps = as_admin.get("/directory/apps/").content.decode()
    assert re.search(r'<input[^>]*value="0"[^>]*checked', apps)
    app = directory.register_app(by(admin), tenant, "Builder")
    page = as_admin.get(f"/directory/apps/{app.pk}/").content.decode()
    assert re.search(r'<input[^>]*name="expires"[^>]*value="180"', page) and "1–730" in page
    assert f'action="/directory/apps/{app.pk}/secrets"' in page


def test_row_buttons_post_with_their_question(as_admin, admin, tenant, fabrikam):
    app = directory.register_app(by(admin), tenant, "Builder")
    secret, _ = directory.add_client_secret(by(admin), app, "ci", 30)
    directory.set_partner(by(admin), tenant, fabrikam, inbound=True, outbound=False)
    secrets = table(as_admin.get(f"/directory/apps/{app.pk}/"), "secrets")
    assert f'action="/directory/apps/{app.pk}/secrets/{secret.pk}/delete"' in secrets
    assert f"Delete the client secret {secret.hint}…?" in secrets and "csrfmiddlewaretoken" in secrets
    partners = table(as_admin.get("/directory/partners/"), "partners")
    assert re.search(r'name="inbound" value="1" checked', partners)
    assert not re.search(r'name="outbound" value="1" checked', partners)
    assert "Remove the partner Fabrikam?" in partners
    # the apps list has no row actions
    assert "<form" not in table(as_admin.get("/directory/apps/"), "apps")


def test_a_refused_row_action_shows_above_the_list(client, admin, tenant, fabrikam):
    bob = create_user(fabrikam, "bob@fabrikam.test", PASS, "Bob")
    inv = directory.accept_invitation(by(bob), directory.invite_guest(by(admin), tenant, bob.username))
    client.force_login(bob)
    r = client.post(f"/directory/invitations/mine/{inv.pk}/accept")
    assert r.status_code == 409
    error = re.search(r'<p class="error" role="alert" id="page-error">(.*?)</p>', text(r), re.S).group(1)
    assert "not pending" in error and "Contoso" in table(r, "my-invitations")


def test_every_search_finds_its_row(client, as_admin, admin, tenant, fabrikam):
    """Each list's search box, over the names the list shows (client ids included)."""
    fab_admin = create_user(fabrikam, "root@fabrikam.test", PASS, is_tenant_admin=True)
    bob = create_user(fabrikam, "bob@fabrikam.test", PASS, "Bob")
    group = directory.add_group(by(admin), tenant, "Publishers")
    directory.add_member(by(admin), group, admin)
    app = directory.register_app(by(admin), tenant, "Builder")
    directory.add_client_secret(by(admin), app, "pipeline", 30)
    scanner = directory.register_app(by(fab_admin), fabrikam, "Scanner", multi_tenant=True)
    directory.consent(by(admin), tenant, str(scanner.client_id))
    directory.invite_guest(by(admin), tenant, bob.username)
    directory.set_partner(by(admin), tenant, fabrikam)
    searches = [
        ("/directory/users/", "users", "ROOT@", "root@contoso.test"),
        (f"/directory/groups/{group.pk}/", "members", "contoso admin", "root@contoso.test"),
        ("/directory/apps/", "apps", str(app.client_id)[:8], "Builder"),
        (f"/directory/apps/{app.pk}/", "secrets", "pipe", "pipeline"),
        ("/directory/service-principals/", "service-principals", "fabrikam", "Scanner"),
        ("/directory/invitations/", "invitations", "bob", "bob@fabrikam.test"),
        ("/directory/partners/", "partners", "fabrikam.test", "Fabrikam"),
    ]
    for url, table_id, query, shown in searches:
        r = as_admin.get(url, {"q": query})
        assert r.status_code == 200 and shown in table(r, table_id), url
        assert shown not in table(as_admin.get(url, {"q": "zzz-nothing"}), table_id), url
    client.force_login(bob)
    mine = table(client.get("/directory/invitations/mine", {"q": "contoso.test"}), "my-invitations")
    assert "Contoso" in mine
