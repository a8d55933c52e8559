"""Issue 12, item 7: a strict Content-Security-Policy on every HTML response.

The policy allows scripts, styles, images, fonts and requests of this origin only, no inline script, no
``eval`` (htmx's ``hx-on`` attributes and trigger filters need it, so the templates use neither), no inline
style, no plugins, no ``<base>`` elsewhere, no framing, forms posting here only. The API's interactive
docs (Swagger UI, ReDoc) keep their own policy (``portal/api_docs_urls.py``).

- Every URL name of the project (walked as tests/portal/test_permissions.py does, admin and directory
  included) is requested; each HTML answer — pages, redirects, 403/404/405 pages — carries the policy and
  has no inline script, event-handler attribute or style attribute in its body.
- The templates themselves hold none of what the policy forbids, so a new page cannot bring one back.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import get_resolver

from accounts import directory
from accounts.activity import Caller
from accounts.models import User
from accounts.services import create_tenant, create_user
from accounts.sharing import grant_as_system
from galleries import services, vhd
from portal.api_docs_urls import LOCAL_ONLY

ROOT = Path(__file__).resolve().parents[2]
HEADER = "Content-Security-Policy"
REQUIRED = {
    "default-src": {"'self'"},
    "script-src": {"'self'"},
    "style-src": {"'self'"},
    "object-src": {"'none'"},
    "base-uri": {"'self'"},
    "frame-ancestors": {"'none'"},
    "form-action": {"'self'"},
}
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
EVENT_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I)
STYLE_ATTRIBUTE = re.compile(r"<[a-z][^>]*\sstyle\s*=", re.I)
INLINE_STYLE = re.compile(r"<style[\s>]", re.I)


def directives(policy: str) -> dict[str, set[str]]:
    out = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            out[words[0]] = set(words[1:])
    return out


def assert_strict(response, where: str):
    assert HEADER in response, f"{where}: no {HEADER} header"
    policy = directives(response[HEADER])
    for name, sources in REQUIRED.items():
        assert policy.get(name) == sources, f"{where}: {name} is {policy.get(name)}, not {sources}"
    everything = " ".join(response[HEADER].split(";"))
    assert "'unsafe-inline'" not in everything and "'unsafe-eval'" not in everything, where


def assert_no_inline_code(html: str, where: str):
    for pattern, what in [
        (INLINE_SCRIPT, "an inline <script>"),
        (EVENT_HANDLER, "an on…= event-handler attribute"),
        (STYLE_ATTRIBUTE, "a style= attribute"),
        (INLINE_STYLE, "a <style> element"),
    ]:
        found = pattern.search(html)
        assert not found, f"{where}: {what}: {found.group(0)[:200]}"
    assert "javascript:" not in html, where


class World:
    def __init__(self, user, subscription, rg, gallery, definition, version, image, blob, snapshot):
        tenant = user.home_tenant
        self.owner, self.subscription, self.rg = user, subscription, rg
        self.gallery, self.definition, self.version, self.image = gallery, definition, version, image
        self.blob, self.snapshot = blob, snapshot
        self.admin = create_user(
            tenant, "root@contoso.test", "Admin-Test-Pass-1", "Admin", is_tenant_admin=True
        )
        admin = Caller(principal=self.admin)
        fabrikam = create_tenant("Fabrikam", "fabrikam.test")
        self.bob = create_user(fabrikam, "bob@fabrikam.test", "Bob-Test-Pass-1", "Bob")
        self.group = directory.add_group(admin, tenant, "Publishers")
        directory.add_member(admin, self.group, user)
        self.app = directory.register_app(admin, tenant, "Builder", multi_tenant=True)
        self.secret, _ = directory.add_client_secret(admin, self.app, "ci", 30)
        fab_admin = create_user(
            fabrikam, "root@fabrikam.test", "Admin-Test-Pass-1", "FA", is_tenant_admin=True
        )
        fab_app = directory.register_app(Caller(principal=fab_admin), fabrikam, "Scanner", multi_tenant=True)
        self.sp = directory.consent(admin, tenant, str(fab_app.client_id))
        self.invitation = directory.invite_guest(admin, tenant, self.bob.username)
        self.partner = directory.set_partner(admin, tenant, fabrikam)
        self.operator = User.objects.create_superuser("operator", "op@example.test", "Operator-Test-Pass-1")


@pytest.fixture
def world(user, caller, subscription, rg, gallery, definition, make_version, image, make_blob):
    snapshot = services.create_snapshot(caller, rg, "snap1", blob=make_blob(), os_type="Linux")
    pending = services.start_upload(caller, rg, "pending.vhd", vhd.MIB + 512)
    return World(user, subscription, rg, gallery, definition, make_version(), image, pending, snapshot)


def url_names(resolver=None, prefix="", route=""):
    """(name, route) of every named URL, namespaces included (the admin's are requested separately)."""
    for p in (resolver or get_resolver()).url_patterns:
        if hasattr(p, "url_patterns"):
            if p.namespace == "admin":
                continue
            yield from url_names(
                p, prefix + (f"{p.namespace}:" if p.namespace else ""), route + str(p.pattern)
            )
        elif p.name:
            yield prefix + p.name, route + str(p.pattern)


def path_for(name: str, route: str, w: World) -> tuple[str, User | None]:
    """A path of the URL ``name`` about an object of the world, and who asks for it."""
    pks = {
        "version-": w.version.pk,
        "gallery-": w.gallery.pk,
        "definition-create": w.gallery.pk,
        "definition-": w.definition.pk,
        "image-": w.image.pk,
        "snapshot-": w.snapshot.pk,
        "subscription-": w.subscription.pk,
        "resource-group-": w.rg.pk,
        "resource-": w.gallery.pk,
        "access:": w.gallery.pk,
        "upload-": w.blob.pk,
        "deployment-": 999999,  # none here: the portal's 404 page
        "directory:user": w.owner.pk,
        "directory:group": w.group.pk,
        "directory:app": w.app.pk,
        "directory:sp": w.sp.pk,
        "directory:invitation": w.invitation.pk,
        "directory:my-invitation": w.invitation.pk,
        "directory:partner": w.partner.pk,
        "administration:": w.subscription.pk,  # day-one administration (requests: none, 404)
        "administration:request-": 999999,
    }
    if name in ("arm-not-found",):
        return f"/subscriptions/{w.subscription.guid}/nothing", w.owner
    if name == "arm-provider-not-found":
        return "/providers/Nothing", w.owner
    values = {
        "user_pk": str(w.owner.pk),
        "secret_pk": str(w.secret.pk),
        "tenant": "contoso.test",
        "sub": str(w.subscription.guid),
        "rg": w.rg.name,
        "gallery": w.gallery.name,
        "image": w.definition.name,
        "version": w.version.name,
        "name": w.image.name,
        "location": "westeurope",
        "operation": "00000000-0000-0000-0000-000000000000",
        "scope": f"subscriptions/{w.subscription.guid}",  # Microsoft.Authorization at any scope
        "role_id": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
        "key": str(w.owner.object_id),  # Microsoft Graph objects
        "namespace": "Microsoft.Compute",  # resource providers
        "deployment": "d1",  # Microsoft.Resources/deployments
        "deployment_operation": "1",
    }
    if route.startswith("^"):  # a regular expression route: its named groups become <name>
        route = re.sub(r"\(\?P<(\w+)>(?:[^()]|\([^()]*\))*\)", r"<\1>", route)
        route = route.lstrip("^").rstrip("$").replace("\\.", ".")
    if "<int:pk>" in route:
        prefix = max((p for p in pks if name.startswith(p)), key=len, default=None)
        assert prefix is not None, f"add the URL name {name!r} ({route}) to path_for()"
        values["pk"] = str(pks[prefix])

    def fill(m):
        key = m.group(1)
        assert key in values, f"add the URL parameter {key!r} of {name!r} to path_for()"
        return values[key]

    path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", fill, route)
    who = w.admin if name.startswith("directory:") and "my-invitation" not in name else w.owner
    if "my-invitation" in name:
        who = w.bob
    if name.startswith("administration:operator"):
        who = w.operator
    return path, who


def test_every_html_response_carries_the_strict_policy_and_no_inline_code(client, world):
    seen_pages = 0
    for name, route in sorted(set(url_names())):
        path, who = path_for(name, route, world)
        for user in (None, who):  # anonymous (sign-in redirects, 401s) and the one the page is for
            if user is None:
                client.logout()
            else:
                client.force_login(user)
            response = client.get(path)
            where = f"{name} GET {path} as {user or 'anonymous'} → {response.status_code}"
            if name in ("api-docs", "api-redoc"):
                assert response[HEADER] == LOCAL_ONLY, where  # their own policy, not overwritten
                continue
            if not response.get("Content-Type", "").startswith("text/html"):
                continue
            assert_strict(response, where)
            html = b"".join(response) if response.streaming else response.content
            assert_no_inline_code(html.decode(), where)
            seen_pages += response.status_code == 200
    assert seen_pages >= 40, f"only {seen_pages} pages rendered: the walk no longer reaches the pages"


def test_the_error_pages_and_the_admin_carry_it_too(client, world):
    r = client.get("/no-such-page/")
    assert r.status_code == 404
    assert_strict(r, "404")
    assert_no_inline_code(r.content.decode(), "404")
    reader = create_user(world.owner.home_tenant, "reader@contoso.test", "Reader-Pass-1", "Reader")
    grant_as_system(world.subscription, reader, "reader")
    client.force_login(reader)
    r = client.get(f"/galleries/{world.gallery.pk}/edit")
    assert r.status_code == 403 and "You do not have permission" in r.content.decode()
    assert_strict(r, "403")
    assert_no_inline_code(r.content.decode(), "403")
    client.force_login(world.operator)
    for path in [
        "/admin/",
        "/admin/accounts/user/",
        f"/admin/accounts/user/{world.owner.pk}/change/",
        f"/admin/accounts/user/{world.owner.pk}/password/",
        "/admin/accounts/subscription/",
        "/admin/auth/group/add/",
    ]:
        r = client.get(path)
        assert r.status_code == 200, path
        assert_strict(r, path)
        assert_no_inline_code(r.content.decode(), path)
    client.logout()
    r = client.get("/admin/login/")
    assert_strict(r, "/admin/login/")


TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT / "templates")))
def test_no_template_holds_what_the_policy_forbids(template):
    text = template.read_text()
    where = str(template.relative_to(ROOT))
    assert_no_inline_code(text, where)
    # htmx evaluates hx-on attributes, trigger filters (event[expression]) and js: values with eval.
    assert "hx-on" not in text, f"{where}: hx-on needs eval"
    assert not re.search(r'hx-trigger="[^"]*\[', text), f"{where}: an hx-trigger filter needs eval"
    assert not re.search(r"hx-vals=['\"]\s*(js|javascript):", text) and "hx-vars" not in text, where


def test_htmx_is_configured_for_the_policy():
    base = (ROOT / "templates" / "base.html").read_text()
    meta = re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", base)
    assert meta, 'base.html needs <meta name="htmx-config">'
    import json

    config = json.loads(meta.group(1))
    assert config["includeIndicatorStyles"] is False  # htmx would inject an inline <style>
    assert config["allowEval"] is False and config["allowScriptTags"] is False
    css = (ROOT / "static" / "portal" / "portal.css").read_text()
    assert ".htmx-indicator" in css  # the indicator styles htmx no longer injects
