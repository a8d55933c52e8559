"""The frame around every page (issue 13, docs/frame.md): exactly one navigation entry is the current
page, Resource groups and the API docs are in the navigation, a skip link and a favicon, and the
stylesheet collapses the sidebar on narrow screens behind a menu button."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders

from accounts.activity import Caller
from accounts.services import create_resource_group, create_subscription, create_tenant, create_user
from accounts.sharing import grant_as_system

CURRENT = re.compile(r'<a href="([^"]*)"[^>]*aria-current="page"[^>]*>([^<]*)</a>')


def current_entries(response) -> list[str]:
    html = response.content.decode()
    nav = html[html.index('<nav class="side"') : html.index("</nav>", html.index('<nav class="side"'))]
    return [label for _, label in CURRENT.findall(nav)]


@pytest.fixture
def admin(tenant):
    return create_user(tenant, "root@contoso.test", "Admin-Test-Pass-1", "Root", is_tenant_admin=True)


@pytest.mark.parametrize(
    "path, entry",
    [
        ("/", "All resources"),
        ("/directory/", "Directory"),
        ("/directory/users/", "Directory"),
        ("/directory/invitations/mine", "My invitations"),
        ("/galleries/", "Galleries"),
        ("/subscriptions/", "Subscriptions"),
        ("/resource-groups/", "Resource groups"),
        ("/activity/", "Activity log"),
        ("/notifications/", "Notifications"),
    ],
)
def test_exactly_one_navigation_entry_is_the_current_page(client, admin, path, entry):
    client.force_login(admin)
    response = client.get(path)
    assert response.status_code == 200
    assert current_entries(response) == [entry]


def test_resource_pages_highlight_the_entry_of_their_type(client, user, rg, gallery):
    client.force_login(user)
    assert current_entries(client.get(f"/resource-groups/{rg.pk}/")) == ["Resource groups"]
    assert current_entries(client.get(f"/resource-groups/{rg.pk}/", {"hidden": "1"})) == ["Resource groups"]
    assert current_entries(client.get(f"/resources/{rg.pk}/access/")) == ["Resource groups"]
    assert current_entries(client.get(f"/resources/{gallery.pk}/access/")) == ["Galleries"]
    assert current_entries(client.get(f"/resources/{gallery.pk}/activity/")) == ["Galleries"]
    assert current_entries(client.get(f"/subscriptions/{rg.subscription_id}/")) == ["Subscriptions"]


def test_the_404_of_an_unreadable_resource_highlights_nothing(client, gallery, tenant):
    """The navigation of a 404 must not tell the type of what the user may not read."""
    stranger = create_user(tenant, "nobody@contoso.test", "Nobody-Pass-1", "Nobody")
    client.force_login(stranger)
    response = client.get(f"/resources/{gallery.pk}/access/")
    assert response.status_code == 404
    assert current_entries(response) == []


def test_the_frame_links_resource_groups_api_docs_favicon_and_skip_link(client, user):
    client.force_login(user)
    html = client.get("/").content.decode()
    assert '<a href="/resource-groups/"' in html
    assert '<a href="/api/docs/"' in html
    assert re.search(r'<link rel="icon" href="[^"]*favicon\.svg" type="image/svg\+xml">', html)
    assert finders.find("portal/favicon.svg")
    skip = html.index('class="skip-link" href="#main"')
    assert skip < html.index('<header class="topbar">')  # the first thing a keyboard reaches
    assert '<main id="main"' in html
    assert 'id="menu-toggle" aria-controls="side-nav" aria-expanded="false"' in html
    assert 'id="side-nav"' in html


def test_the_stylesheet_collapses_the_sidebar_on_narrow_screens():
    css = (settings.BASE_DIR / "static/portal/portal.css").read_text()
    narrow = css[css.index("@media (max-width: 900px)") :]
    assert ".topbar .menu-toggle { display:inline-block; }" in narrow
    assert "nav.side { display:none;" in narrow
    assert "body.nav-open nav.side { display:block; }" in narrow
    assert "body.nav-open .topbar .account { display:flex;" in narrow  # Sign out is in the open menu


def test_the_resource_groups_list_shows_only_readable_groups(client, user, tenant, rg):
    other_sub = create_subscription(Caller.system(), tenant, "Contoso Other")
    hidden = create_resource_group(Caller.system(), other_sub, "secret-rg", "westeurope")
    shared = create_resource_group(Caller.system(), other_sub, "shared-rg", "westeurope")
    grant_as_system(shared, user, "reader")
    client.force_login(user)
    html = client.get("/resource-groups/").content.decode()
    assert f'href="/resource-groups/{rg.pk}/">images</a>' in html
    assert f'href="/resource-groups/{shared.pk}/">shared-rg</a>' in html
    assert "Contoso Other" in html and "Contoso Test" in html  # the subscription by its name
    assert hidden.name not in html


def test_the_resource_groups_list_of_a_stranger_and_of_another_tenant_is_empty(client, rg, tenant):
    for who in (
        create_user(tenant, "nobody@contoso.test", "Nobody-Pass-1", "Nobody"),
        create_user(create_tenant("Fabrikam", "fabrikam.test"), "eve@fabrikam.test", "Eve-Pass-1", "Eve"),
    ):
        client.force_login(who)
        response = client.get("/resource-groups/")
        assert response.status_code == 200
        assert "images" not in response.content.decode().split('<main id="main"', 1)[1]


def test_the_resource_groups_list_asks_anonymous_to_sign_in(client, db):
    response = client.get("/resource-groups/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
