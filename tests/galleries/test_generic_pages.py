"""The resource pages on the generic views (issue 13, items 2 and 3): every galleries resource page
comes from ``portal.core.generic``; lists sort, filter, choose columns and answer htmx with the table
only; bulk delete and tag check each row; the frame (breadcrumbs of names, Essentials, command bar);
the version create steps; the defects fixed here (defaults that agree, a Source list of compatible
sources only, one size format)."""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.services import create_user
from accounts.sharing import grant_as_system
from galleries import services
from galleries.models import Gallery, GalleryImage, GalleryImageVersion, ManagedImage
from portal.core import generic
from tests.portal.test_permissions import EndpointPermissions, World


def text(response) -> str:
    return response.content.decode()


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


# --- Every resource page is a generic view -------------------------------------------------------------

#: URL prefixes of the galleries' resource pages (lists, pages, create / edit / delete, bulk actions).
RESOURCE_PAGES = ("galleries/", "definitions/", "images/", "snapshots/", "versions/")
#: On the generic fetch (``generic.ResourceView``: one fetch through the access filter in ``dispatch``)
#: but not one of the page bases: the create steps and edit form of a version (their region editor is
#: a formset, their errors placed by the version form), its estimate panels, the replica advisor and
#: the retry of failed regions.
FETCH_ONLY = {
    "version-create",
    "version-estimate",
    "version-edit",
    "version-change-estimate",
    "version-advisor",
    "version-retry",
}
#: Lean on purpose (``galleries/panel.py``, measured by bench/pages.py): its own tests.
NOT_PAGES = {"version-replication"}
GENERIC = (
    generic.ObjectView,
    generic.ObjectListView,
    generic.ObjectEditView,
    generic.ObjectDeleteView,
    generic.BulkView,
)


def _patterns(resolver, prefix=""):
    for p in resolver.url_patterns:
        route = prefix + str(p.pattern)
        if isinstance(p, URLResolver):
            yield from _patterns(p, route)
        elif isinstance(p, URLPattern) and p.name:
            yield route, p


def test_every_galleries_resource_page_is_a_generic_view():
    """Fails when a resource type adds a hand-written detail, list, edit or delete view."""
    pages = [(route, p) for route, p in _patterns(get_resolver()) if route.startswith(RESOURCE_PAGES)]
    assert len(pages) >= 25
    hand_written = []
    for route, p in pages:
        if p.name in NOT_PAGES:
            continue
        view_class = getattr(p.callback, "view_class", None)
        bases = generic.ResourceView if p.name in FETCH_ONLY else GENERIC
        if view_class is None or not issubclass(view_class, bases):
            hand_written.append(f"{p.name} ({route})")
    assert hand_written == []


# --- Lists: sort, filter, columns, htmx ----------------------------------------------------------------


def _names(page: str, table_id: str) -> list[str]:
    body = page[page.index(f'id="{table_id}"') :]
    return re.findall(r'<a href="/[a-z]+/\d+/">([^<]+)</a>', body)


def test_a_list_sorts_by_a_column_and_filters_by_name_tag_and_group(signed_in, caller, rg, gallery):
    services.create_gallery(caller, rg, "Alpha", tags={"env": "prod"})
    services.create_gallery(caller, rg, "Zulu", tags={"env": "test"})
    assert _names(text(signed_in.get("/galleries/")), "galleries") == ["Alpha", "Gallery1", "Zulu"]
    assert _names(text(signed_in.get("/galleries/?sort=-name")), "galleries") == ["Zulu", "Gallery1", "Alpha"]
    assert _names(text(signed_in.get("/galleries/?tag=env=prod")), "galleries") == ["Alpha"]
    assert _names(text(signed_in.get("/galleries/?tag=env")), "galleries") == ["Alpha", "Zulu"]
    assert _names(text(signed_in.get("/galleries/?q=ul")), "galleries") == ["Zulu"]
    assert _names(text(signed_in.get(f"/galleries/?resource_group={rg.pk}")), "galleries") == [
        "Alpha",
        "Gallery1",
        "Zulu",
    ]
    # A tag key is a literal, never a lookup path.
    assert signed_in.get("/galleries/?tag=env__contains=p").status_code == 200


def test_a_filter_that_cannot_be_read_says_so_and_lists_nothing(signed_in, gallery):
    page = text(signed_in.get("/galleries/?resource_group=999999"))
    assert 'id="filter-resource_group-error"' in page and "Gallery1" not in page.split('id="list-filters"')[1]


def test_managed_images_filter_by_os_type(signed_in, make_image):
    make_image("lin")
    make_image("win", os_type="Windows")
    assert _names(text(signed_in.get("/images/?os_type=Windows")), "images") == ["win"]


def test_the_column_chooser_is_remembered_and_reset(signed_in, gallery):
    page = text(signed_in.get("/galleries/?columns=name&columns=tags"))
    head = page[page.index('id="galleries"') : page.index("</thead>")]
    assert "Tags" in head and "Resource group" not in head and "Description" not in head
    page = text(signed_in.get("/galleries/"))  # remembered in the session
    assert "Resource group" not in page[page.index('id="galleries"') : page.index("</thead>")]
    page = text(signed_in.get("/galleries/?reset_columns=1"))
    assert "Resource group" in page[page.index('id="galleries"') : page.index("</thead>")]


def test_htmx_gets_only_the_table(signed_in, gallery):
    page = text(signed_in.get("/galleries/?sort=-name", HTTP_HX_REQUEST="true"))
    assert page.lstrip().startswith('<div id="object-table"') and "<html" not in page
    assert 'href="/galleries/' in page


# --- Bulk actions --------------------------------------------------------------------------------------


@pytest.fixture
def colleague(user, gallery, caller, rg):
    """Contributor on ``Mine``, Reader on ``Gallery1``, nothing on ``Hidden``."""
    bob = create_user(user.home_tenant, "bob@contoso.test", "Bob-Pass-1", "Bob")
    mine = services.create_gallery(caller, rg, "Mine")
    services.create_gallery(caller, rg, "Hidden")
    grant_as_system(mine, bob, "contributor")
    grant_as_system(gallery, bob, "reader")
    return bob


def test_bulk_delete_names_and_skips_what_one_may_not_delete(client, colleague, gallery):
    client.force_login(colleague)
    page = text(client.get("/galleries/"))
    assert 'id="bulk-delete"' in page and 'name="pk"' in page and "Hidden" not in page
    pks = list(Gallery.objects.values_list("pk", flat=True))  # including the one Bob cannot see
    r = client.post("/galleries/bulk-delete", {"pk": pks})
    page = text(r)
    assert r.status_code == 200 and Gallery.objects.count() == 3  # a confirmation first
    allowed = page[page.index('id="bulk-allowed"') : page.index('id="bulk-refused"')]
    refused = page[page.index('id="bulk-refused"') :]
    assert "Mine" in allowed and "Gallery1" not in allowed
    assert "Gallery1" in refused.split("</div>")[0] and "Hidden" not in page
    r = client.post("/galleries/bulk-delete", {"pk": pks, "confirm": "1"}, follow=True)
    assert set(Gallery.objects.values_list("name", flat=True)) == {"Gallery1", "Hidden"}
    page = text(r)
    assert "Deleted 1 galleries: Mine." in page and "Skipped Gallery1: Your role here does not allow" in page


def test_bulk_delete_names_what_the_service_refuses_and_deletes_the_rest(signed_in, caller, rg, definition):
    empty = services.create_gallery(caller, rg, "Empty")
    pks = [definition.gallery_id, empty.pk]
    r = signed_in.post("/galleries/bulk-delete", {"pk": pks, "confirm": "1"}, follow=True)
    assert list(Gallery.objects.values_list("name", flat=True)) == ["Gallery1"]
    assert "Skipped Gallery1: " in text(r) and "delete them first" in text(r)


def test_bulk_delete_of_rows_none_may_be_deleted_is_refused(client, colleague, gallery):
    client.force_login(colleague)
    assert client.post("/galleries/bulk-delete", {"pk": [gallery.pk], "confirm": "1"}).status_code == 403
    assert Gallery.objects.filter(pk=gallery.pk).exists()


def test_bulk_tag_adds_and_removes_a_tag_through_the_service(signed_in, caller, rg, gallery):
    other = services.create_gallery(caller, rg, "Other", tags={"keep": "1"})
    pks = [gallery.pk, other.pk]
    page = text(signed_in.post("/galleries/bulk-tag", {"pk": pks}))
    assert 'name="key"' in page and 'name="value"' in page
    r = signed_in.post("/galleries/bulk-tag", {"pk": pks, "confirm": "1", "key": "env", "value": "prod"})
    assert r.status_code == 302
    other.refresh_from_db()
    gallery.refresh_from_db()
    assert gallery.tags == {"env": "prod"} and other.tags == {"keep": "1", "env": "prod"}
    r = signed_in.post(
        "/galleries/bulk-tag", {"pk": pks, "confirm": "1", "key": "a<b", "value": "x"}, follow=True
    )
    assert "Skipped Gallery1: " in text(r) and "tag names cannot contain" in text(r)
    signed_in.post("/galleries/bulk-tag", {"pk": [other.pk], "confirm": "1", "key": "keep", "remove": "on"})
    other.refresh_from_db()
    assert other.tags == {"env": "prod"}


def test_a_gallery_page_deletes_and_tags_its_definitions_in_bulk(
    signed_in, gallery, definition, make_definition, make_version
):
    make_version()  # myImage1 has a version: the service refuses to delete it
    empty = make_definition("empty")
    back = f"/galleries/{gallery.pk}/"
    page = text(signed_in.get(back))
    assert 'formaction="/definitions/bulk-delete"' in page and f'name="pk" value="{empty.pk}"' in page
    both = [definition.pk, empty.pk]
    r = signed_in.post(
        "/definitions/bulk-tag", {"pk": both, "confirm": "1", "key": "t", "value": "1", "return_url": back}
    )
    assert r.status_code == 302 and r["Location"] == back
    definition.refresh_from_db()
    assert definition.tags == {"t": "1"}
    r = signed_in.post(
        "/definitions/bulk-delete", {"pk": both, "confirm": "1", "return_url": back}, follow=True
    )
    assert "Deleted 1 image definitions: empty." in text(r)
    assert "Skipped myImage1: " in text(r) and "delete them first" in text(r)
    assert list(GalleryImage.objects.values_list("name", flat=True)) == ["myImage1"]


# --- The frame -----------------------------------------------------------------------------------------


def test_breadcrumbs_of_names_essentials_and_one_command_bar(signed_in, subscription, rg, make_version):
    version = make_version()
    page = text(signed_in.get(f"/versions/{version.pk}/"))
    crumbs = page[
        page.index('aria-label="Breadcrumb"') : page.index("</nav>", page.index('aria-label="Breadcrumb"'))
    ]
    labels = re.findall(r"<a [^>]*>([^<]+)</a>", crumbs)
    assert labels == [subscription.display_name, rg.name, "Gallery1", "myImage1", "1.0.0"]
    assert (
        f'href="/subscriptions/{subscription.pk}/"' in crumbs
        and f'href="/resource-groups/{rg.pk}/"' in crumbs
    )
    assert crumbs.count('aria-current="page"') == 1 and 'aria-current="page">1.0.0<' in crumbs
    assert version.arm_id not in crumbs  # names, not the raw ARM id
    essentials = page[page.index('id="essentials"') : page.index("</dl>", page.index('id="essentials"'))]
    assert f'<a href="/resource-groups/{rg.pk}/">{rg.name}</a>' in essentials
    assert f'<a href="/subscriptions/{subscription.pk}/">{subscription.display_name}</a>' in essentials
    assert f'data-copy="{version.arm_id}"' in essentials and f'data-copy="{subscription.guid}"' in essentials
    assert page.count('role="toolbar"') == 1
    for key in ("deploy", "advisor", "edit", "delete", "refresh"):
        assert f'id="{key}"' in page
    assert f'href="/deployments/new?source={version.pk}" id="deploy">Create VM' in page
    assert "/static/portal/resource.js" in page and "/static/portal/resource.css" in page


def test_a_definition_offers_create_version_and_a_reader_gets_no_edit_or_delete(
    client, user, subscription, definition
):
    client.force_login(user)
    page = text(client.get(f"/definitions/{definition.pk}/"))
    assert f'href="/definitions/{definition.pk}/versions/new" id="create-version"' in page
    assert 'id="edit"' in page and 'id="delete"' in page
    reader = create_user(user.home_tenant, "reader@contoso.test", "Reader-Pass-1", "Reader")
    grant_as_system(subscription, reader, "reader")
    client.force_login(reader)
    page = text(client.get(f"/definitions/{definition.pk}/"))
    assert 'id="create-version"' not in page and 'id="edit"' not in page and 'id="delete"' not in page
    assert 'id="refresh"' in page


def test_an_edit_page_ends_its_breadcrumbs_with_edit(signed_in, gallery):
    page = text(signed_in.get(f"/galleries/{gallery.pk}/edit"))
    crumbs = page[page.index('aria-label="Breadcrumb"') :]
    assert (
        f'<a href="/galleries/{gallery.pk}/">Gallery1</a>' in crumbs and 'aria-current="page">Edit<' in crumbs
    )


# --- Defects of issue 13 -------------------------------------------------------------------------------


def test_the_create_forms_default_to_the_same_generation(signed_in, gallery, rg, make_blob):
    """Definitions defaulted to V2 while images defaulted to V1: both defaults gave a refused version."""
    make_blob()
    chosen = r'<select name="hyper_v_generation"[^>]*>.*?<option value="(V\d)" selected>'
    definition_page = text(signed_in.get(f"/galleries/{gallery.pk}/definitions/new"))
    image_page = text(signed_in.get(f"/images/new?resourceGroup={rg.pk}"))
    snapshot_page = text(signed_in.get(f"/snapshots/new?resourceGroup={rg.pk}"))
    generations = {re.search(chosen, p, re.S).group(1) for p in (definition_page, image_page, snapshot_page)}
    assert generations == {"V1"}


def test_the_source_list_offers_only_compatible_sources(
    signed_in, make_definition, make_image, caller, rg, make_blob
):
    definition = make_definition("gen2", hyper_v_generation="V2")
    v1, v2 = make_image("v1-image"), make_image("v2-image", hyper_v_generation="V2")
    windows = make_image("win-image", os_type="Windows", hyper_v_generation="V2")
    data = services.create_snapshot(caller, rg, "data-snap", blob=make_blob())
    os_v1 = services.create_snapshot(caller, rg, "os-v1", blob=make_blob(), os_type="Linux")
    page = text(signed_in.get(f"/definitions/{definition.pk}/versions/new"))
    source = page[
        page.index('<select id="source"') : page.index("</select>", page.index('<select id="source"'))
    ]
    assert v2.arm_id in source
    assert v1.arm_id not in source and windows.arm_id not in source and os_v1.arm_id not in source
    offered = signed_in.get(f"/definitions/{definition.pk}/versions/new").context["sources"]
    assert [s.arm_id for s in offered["data_snapshots"]] == [data.arm_id]  # no OS: offered as data disks


def test_one_size_format_on_every_page(signed_in, make_version, image, caller, rg, make_blob):
    """ "64.0 MiB" on one page was "64.0 MB" on the next: sizes are binary units everywhere."""
    version = make_version()
    snap = services.create_snapshot(caller, rg, "s", blob=make_blob(virtual_mib=1), os_type="Linux")
    pages = {
        "image list": text(signed_in.get("/images/")),
        "image page": text(signed_in.get(f"/images/{image.pk}/")),
        "snapshot list": text(signed_in.get("/snapshots/")),
        "snapshot page": text(signed_in.get(f"/snapshots/{snap.pk}/")),
        "version page": text(signed_in.get(f"/versions/{version.pk}/")),
        "replication panel": text(signed_in.get(f"/versions/{version.pk}/replication")),
        "upload page": text(signed_in.get(f"/uploads/new?resourceGroup={rg.pk}")),
        "image form": text(signed_in.get(f"/images/new?resourceGroup={rg.pk}")),
    }
    for name, page in pages.items():
        assert re.search(r"\d MB\b|\d kB\b|\d GB\b", page) is None, name
    assert "2.0 MiB" in pages["image list"] and "2.0 MiB" in pages["image page"]
    assert "1.0 MiB" in pages["snapshot page"] and "2.0 MiB" in pages["version page"]
    assert "MiB" in pages["replication panel"] and "4.0 MiB" in pages["upload page"]


# --- Version create steps ------------------------------------------------------------------------------


def _basics(image, **extra):
    return {
        "name": "1.0.0",
        "source": image.arm_id,
        "location": "westeurope",
        "replica_count": "1",
        "t-0-region": "westeurope",
        "t-0-storage": "Standard_LRS",
        **extra,
    }


def test_the_create_steps_check_each_step_and_create_nothing_before_review(signed_in, definition, image):
    url = f"/definitions/{definition.pk}/versions/new"
    page = text(signed_in.get(url))
    assert '<span aria-current="step">1. Basics</span>' in page
    assert 'id="step-replication" aria-label="Replication" hidden' in page
    # Basics refused: stays on Basics with the service's message.
    r = signed_in.post(url, {**_basics(image, name="1.0"), "step": "basics", "goto": "replication"})
    assert r.status_code == 400 and '<span aria-current="step">1. Basics</span>' in text(r)
    assert "is invalid" in text(r) and 'id="name-error"' in text(r)
    r = signed_in.post(url, {**_basics(image, source="/subscriptions/x/nothing"), "goto": "replication"})
    assert r.status_code == 400 and 'id="source-error"' in text(r)
    # Basics accepted: Replication.
    r = signed_in.post(url, {**_basics(image), "step": "basics", "goto": "replication"})
    assert r.status_code == 200 and '<span aria-current="step">2. Replication</span>' in text(r)
    # A region the cloud does not have is refused on Replication, not later.
    r = signed_in.post(url, {**_basics(image, **{"t-0-region": "mars"}), "goto": "review"})
    assert r.status_code == 400 and '<span aria-current="step">2. Replication</span>' in text(r)
    # Bad tags are refused on Tags.
    r = signed_in.post(url, {**_basics(image), "tags": "no equals", "goto": "review"})
    assert r.status_code == 400 and '<span aria-current="step">3. Tags</span>' in text(r)
    # Review: the summary, nothing created yet.
    r = signed_in.post(url, {**_basics(image), "tags": "team=core", "goto": "review"})
    page = text(r)
    assert r.status_code == 200 and '<span aria-current="step">4. Review + create</span>' in page
    assert 'id="review-name">1.0.0<' in page and "West Europe × 1" in page and "team=core" in page
    assert 'id="create-version"' in page and not GalleryImageVersion.objects.exists()
    # Going back needs no checks.
    r = signed_in.post(url, {**_basics(image, name="bad"), "goto": "basics"})
    assert r.status_code == 200 and '<span aria-current="step">1. Basics</span>' in text(r)
    # Create (the Review page's button posts the whole version).
    r = signed_in.post(url, {**_basics(image), "tags": "team=core", "step": "review"})
    version = GalleryImageVersion.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/versions/{version.pk}/"
    assert version.tags == {"team": "core"}
    assert ManagedImage.objects.count() == 1


def test_the_region_editor_is_a_formset(signed_in, definition, image):
    url = f"/definitions/{definition.pk}/versions/new"
    page = text(signed_in.get(url))
    assert 'name="t-TOTAL_FORMS" value="1"' in page and 'name="t-0-region"' in page
    # "+ Add region" re-renders the editor with one more row and its management form.
    page = text(
        signed_in.post(url, {**_basics(image), "t-TOTAL_FORMS": "1", "t-INITIAL_FORMS": "0", "op": "add"})
    )
    assert 'name="t-TOTAL_FORMS" value="2"' in page and 'name="t-1-region"' in page
    # The management form counts the rows: a row beyond it is not read.
    form = {
        **_basics(image),
        "t-TOTAL_FORMS": "1",
        "t-INITIAL_FORMS": "0",
        "t-1-region": "eastus",
        "goto": "review",
    }
    page = text(signed_in.post(url, form))
    regions = page[page.index('id="review-regions"') :].split("</dd>")[0]
    assert "West Europe × 1" in regions and "East US" not in regions
    # More rows than any cloud has regions are refused before anything else reads them.
    many = {f"t-{i}-region": "westeurope" for i in range(101)}
    r = signed_in.post(url, {**_basics(image), **many, "t-TOTAL_FORMS": "101", "t-INITIAL_FORMS": "0"})
    assert (
        r.status_code == 400 and 'id="regions-error"' in text(r) and not GalleryImageVersion.objects.exists()
    )


# --- Permission tests of the create steps --------------------------------------------------------------


@pytest.fixture
def world(user, subscription, rg, make_version):
    return World(user, subscription, rg, make_version(), None)


class StepPermissions(EndpointPermissions):
    """A step of the version create flow (POST with ``goto``): a stranger 404, a Reader 403, the
    owner the next step — and nothing is created by any of them."""

    method = "post"
    write = True
    goto = "replication"

    def path(self, w):
        return f"/definitions/{w.version.definition_id}/versions/new"

    def body(self, w):
        return {
            "name": "2.0.0",
            "source": w.version.source_arm_id,
            "location": "westeurope",
            "replica_count": "1",
            "t-0-region": "westeurope",
            "goto": self.goto,
        }

    def test_the_owner_succeeds(self, client, world):
        super().test_the_owner_succeeds(client, world)
        assert not GalleryImageVersion.objects.filter(major=2).exists()


class TestStepReplication(StepPermissions):
    pass


class TestStepReview(StepPermissions):
    goto = "review"
