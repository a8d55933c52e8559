"""The README's own sharing scenario ("Share a gallery with another tenant, and take it back"), walked
with the settings a fresh install runs with (``DEBUG`` unset): every step answers a portal page, and the
one that finds nothing answers the portal's 404 page (templates/404.html, in the frame) — never Django's
technical 404 (issue 13, item 5)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.test import Client

from accounts import directory
from accounts.activity import Caller
from accounts.models import UserRoleAssignment
from accounts.services import create_tenant, create_user

TECHNICAL_404 = ("Using the URLconf", "technical_404", "Django tried these URL patterns")


def portal_page(response) -> str:
    html = response.content.decode()
    for marker in TECHNICAL_404:
        assert marker not in html
    assert '<nav class="side" id="side-nav"' in html and 'class="skip-link"' in html  # the portal's frame
    return html


def test_debug_is_off_when_unset():
    """What ``manage.py`` and the WSGI app run with when DEBUG is not in the environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "DJANGO_SETTINGS_MODULE")}
    out = subprocess.run(
        [sys.executable, "-c", "import django, os; from django.conf import settings; print(settings.DEBUG)"],
        env={**env, "DJANGO_SETTINGS_MODULE": "portal.settings.dev"},
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert out.stdout.strip() == "False"
    assert settings.DEBUG is False  # and this test's settings agree


@pytest.fixture
def admin(tenant):
    return create_user(tenant, "admin@contoso.test", "Contoso-Admin-Pass-1", "Admin", is_tenant_admin=True)


@pytest.fixture
def user(admin):
    """tests/conftest.py's subscription, gallery and versions are built by the administrator."""
    return admin


def test_the_sharing_scenario_answers_portal_pages_only(
    client, tenant, admin, gallery, definition, make_version
):
    fabrikam = create_tenant("Fabrikam", "fabrikam.test")
    bob = create_user(fabrikam, "bob@fabrikam.test", "Bob-Pass-1", "Bob", is_tenant_admin=True)
    directory.set_partner(Caller(admin), tenant, fabrikam)
    directory.set_partner(Caller(bob), fabrikam, tenant)
    directory.accept_invitation(Caller(bob), directory.invite_guest(Caller(admin), tenant, bob.username))
    make_version("1.0.0")

    # 1. The administrator opens the gallery from All resources, then its Access control tab, and
    #    adds Reader for Bob.
    client.force_login(admin)
    assert "Gallery1" in portal_page(client.get("/"))
    overview = client.get(f"/resources/{gallery.pk}/")
    assert overview.status_code == 302
    portal_page(client.get(overview["Location"]))
    portal_page(client.get(f"/resources/{gallery.pk}/access/"))
    added = client.post(f"/resources/{gallery.pk}/access/add", {"principal": bob.username, "role": "reader"})
    assert added.status_code == 302
    assert bob.username in portal_page(client.get(added["Location"]))

    # 2. Bob picks Contoso (guest): the gallery, and with hidden types its definition and version.
    guest = Client()
    guest.force_login(bob)
    switched = guest.post("/directory/switch", {"tenant": tenant.pk, "next": "/"})
    assert switched.status_code == 302
    html = portal_page(guest.get("/", {"hidden": "1"}))
    assert "Gallery1/myImage1/1.0.0" in html
    gallery_page = guest.get(overview["Location"])
    assert gallery_page.status_code == 200
    portal_page(gallery_page)

    # 3. The administrator removes Bob's assignment; Bob's next page loads show nothing — the
    #    gallery's page is the portal's "Not found".
    assignment = UserRoleAssignment.objects.get(user=bob, content_object_id=gallery.pk)
    removed = client.post(f"/resources/{gallery.pk}/access/remove", {"assignment": f"u:{assignment.pk}"})
    assert removed.status_code == 302
    portal_page(client.get(removed["Location"]))
    assert "Gallery1" not in portal_page(guest.get("/", {"hidden": "1"})).split('<main id="main"', 1)[1]
    gone = guest.get(overview["Location"])
    assert gone.status_code == 404
    html = portal_page(gone)
    assert "<h1>Not found</h1>" in html and "check that the right directory is selected" in html
    # ... and so are its tabs.
    for path in (f"/resources/{gallery.pk}/", f"/resources/{gallery.pk}/access/"):
        response = guest.get(path)
        assert response.status_code == 404
        portal_page(response)
