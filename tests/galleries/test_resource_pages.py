"""Pages of galleries, image definitions, managed images and snapshots, and the VHD upload page:
each renders what it should, each form creates through the service, a refused value shows the
service's message next to its field, immutable fields are read-only (and a forged change is refused),
deletes ask first, lists respect the access filter and the current directory, the definition page's
query count does not grow with its versions, and every URL gets the generic permission tests."""

from __future__ import annotations

import io
import re
from datetime import UTC, timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.activity import Caller
from accounts.services import create_resource_group, create_subscription, create_tenant, create_user
from accounts.sharing import grant_as_system
from galleries import services, vhd
from galleries.models import Gallery, GalleryImage, ManagedImage, Snapshot, TargetRegion
from tests.portal.test_permissions import EndpointPermissions, World


def error_of(html: str, field: str) -> str:
    """The text of the error shown next to ``field`` (``<p class="error" id="<field>-error">``)."""
    m = re.search(rf'<p class="error" id="{re.escape(field)}-error" role="alert">(.*?)</p>', html, re.S)
    return m.group(1) if m else ""


def text(response) -> str:
    return response.content.decode()


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


# --- Lists --------------------------------------------------------------------------------------------


def test_the_lists_show_the_directorys_resources_with_a_create_button(
    signed_in, gallery, image, make_blob, caller, rg
):
    services.create_snapshot(caller, rg, "snap1", blob=make_blob(), os_type="Linux")
    page = text(signed_in.get("/galleries/"))
    assert f'href="/galleries/{gallery.pk}/"' in page and "Gallery1" in page and 'id="create"' in page
    page = text(signed_in.get("/images/"))
    assert f'href="/images/{image.pk}/"' in page and "Linux" in page and 'id="create"' in page
    page = text(signed_in.get("/snapshots/"))
    assert "snap1" in page and 'id="create"' in page


def test_empty_lists_say_so_and_a_reader_gets_no_create_button(client, user, subscription, rg, gallery):
    reader = create_user(user.home_tenant, "reader@contoso.test", "Reader-Pass-1", "Reader")
    grant_as_system(subscription, reader, "reader")
    client.force_login(reader)
    page = text(client.get("/galleries/"))
    assert "Gallery1" in page and 'id="create"' not in page
    page = text(client.get("/images/"))
    assert "No managed images to show" in page and 'id="create"' not in page
    page = text(client.get("/snapshots/"))
    assert "No snapshots to show" in page


def test_lists_respect_access_and_the_current_directory(client, user, caller, rg, gallery):
    services.create_gallery(caller, rg, "Secret")
    colleague = create_user(user.home_tenant, "bob@contoso.test", "Bob-Pass-1", "Bob")
    grant_as_system(gallery, colleague, "reader")  # only Gallery1
    client.force_login(colleague)
    page = text(client.get("/galleries/"))
    assert "Gallery1" in page and "Secret" not in page and 'id="create"' not in page
    # Another tenant's galleries never show, even to their own... and ours never to them.
    fabrikam = create_tenant("Fabrikam", "fabrikam.test")
    eve = create_user(fabrikam, "eve@fabrikam.test", "Eve-Pass-1", "Eve")
    sub = create_subscription(Caller.system(), fabrikam, "Fabrikam", owner=eve)
    services.create_gallery(
        Caller(eve), create_resource_group(Caller(eve), sub, "apps", "eastus"), "EveGallery"
    )
    client.force_login(user)
    page = text(client.get("/galleries/"))
    assert "Gallery1" in page and "Secret" in page and "EveGallery" not in page
    client.force_login(eve)
    page = text(client.get("/galleries/"))
    assert "EveGallery" in page and "Gallery1" not in page


# --- Galleries ----------------------------------------------------------------------------------------


def test_create_a_gallery(signed_in, rg):
    page = text(signed_in.get("/galleries/new"))
    assert f'<option value="{rg.pk}"' in page
    r = signed_in.post(
        "/galleries/new",
        {
            "resourceGroup": rg.pk,
            "name": "Team.Images",
            "description": "ours",
            "tags": "env=prod\nteam = core\n",
        },
    )
    g = Gallery.objects.get(name="Team.Images")
    assert r.status_code == 302 and r["Location"] == f"/galleries/{g.pk}/"
    assert g.description == "ours" and g.tags == {"env": "prod", "team": "core"}
    assert g.location.name == "westeurope"
    page = text(signed_in.get(r["Location"]))
    assert "Created the gallery Team.Images" in page and "env: prod" in page


def test_a_bad_gallery_name_shows_the_service_message_next_to_the_name(signed_in, rg):
    r = signed_in.post("/galleries/new", {"resourceGroup": rg.pk, "name": "_bad-name", "tags": ""})
    assert r.status_code == 400
    msg = error_of(text(r), "name")
    assert "The gallery name &#x27;_bad-name&#x27; is invalid" in msg
    assert not Gallery.objects.exists()


def test_a_duplicate_gallery_name_and_bad_tags_are_refused_next_to_their_fields(signed_in, rg, gallery):
    r = signed_in.post("/galleries/new", {"resourceGroup": rg.pk, "name": "GALLERY1"})
    assert r.status_code == 409 and "already exists" in error_of(text(r), "name")
    r = signed_in.post("/galleries/new", {"resourceGroup": rg.pk, "name": "G2", "tags": "no equals sign"})
    assert r.status_code == 400 and "is not key=value" in error_of(text(r), "tags")
    r = signed_in.post("/galleries/new", {"resourceGroup": rg.pk, "name": "G2", "tags": "a<b=1"})
    assert r.status_code == 400 and "tag names cannot contain" in error_of(text(r), "tags")
    assert not Gallery.objects.filter(name="G2").exists()


def test_gallery_overview_lists_its_definitions(signed_in, gallery, definition, make_definition):
    make_definition("second", os_type="Windows", sku="Win")
    page = text(signed_in.get(f"/galleries/{gallery.pk}/"))
    assert "Gallery1" in page and "test gallery" in page
    assert f'href="/definitions/{definition.pk}/"' in page and "second" in page and "Windows" in page
    assert f'href="/galleries/{gallery.pk}/definitions/new"' in page
    assert 'class="active">Overview' in page  # the resource header


def test_edit_a_gallery_location_is_read_only_and_a_forged_change_is_refused(signed_in, gallery):
    page = text(signed_in.get(f"/galleries/{gallery.pk}/edit"))
    assert 'id="ro-location"' in page and 'name="location"' not in page
    r = signed_in.post(f"/galleries/{gallery.pk}/edit", {"description": "new words", "tags": "a=1"})
    assert r.status_code == 302
    gallery.refresh_from_db()
    assert gallery.description == "new words" and gallery.tags == {"a": "1"}
    r = signed_in.post(
        f"/galleries/{gallery.pk}/edit", {"description": "x", "tags": "", "location": "eastus"}
    )
    assert r.status_code == 409
    assert "location cannot change" in error_of(text(r), "location")
    gallery.refresh_from_db()
    assert gallery.description == "new words" and gallery.location.name == "westeurope"


def test_deleting_a_gallery_asks_first_and_refuses_a_non_empty_one(
    signed_in, caller, rg, gallery, definition
):
    page = text(signed_in.get(f"/galleries/{gallery.pk}/delete"))
    assert "Delete the gallery Gallery1?" in page and 'method="post"' in page
    r = signed_in.post(f"/galleries/{gallery.pk}/delete")
    assert r.status_code == 409
    assert "still has 1 image definition(s); delete them first" in text(r)
    assert Gallery.objects.filter(pk=gallery.pk).exists()
    empty = services.create_gallery(caller, rg, "Empty")
    r = signed_in.post(f"/galleries/{empty.pk}/delete")
    assert r.status_code == 302 and r["Location"] == "/galleries/"
    assert not Gallery.objects.filter(pk=empty.pk).exists()


# --- Image definitions ----------------------------------------------------------------------------------

DEFINITION = {
    "name": "web",
    "publisher": "Contoso",
    "offer": "Web",
    "sku": "Nginx",
    "os_type": "Linux",
    "os_state": "Generalized",
    "hyper_v_generation": "V2",
    "min_vcpus": "2",
    "max_vcpus": "8",
    "min_memory_gb": "",
    "max_memory_gb": "32",
    "description": "front ends",
    "release_note_uri": "https://example.test/notes",
    "lifecycle_policy": "None",
    "tags": "tier=web",
}


def test_create_a_definition(signed_in, gallery):
    page = text(signed_in.get(f"/galleries/{gallery.pk}/definitions/new"))
    assert 'name="publisher"' in page and 'name="disallowed_disk_types"' in page
    eol = (timezone.now() + timedelta(days=400)).date().isoformat()
    r = signed_in.post(
        f"/galleries/{gallery.pk}/definitions/new",
        {**DEFINITION, "end_of_life_date": eol, "disallowed_disk_types": ["Standard_LRS"]},
    )
    d = GalleryImage.objects.get(name="web")
    assert r.status_code == 302 and r["Location"] == f"/definitions/{d.pk}/"
    assert (d.publisher, d.offer, d.sku, d.hyper_v_generation) == ("Contoso", "Web", "Nginx", "V2")
    assert (d.min_vcpus, d.max_vcpus, d.min_memory_gb, d.max_memory_gb) == (2, 8, None, 32)
    assert d.disallowed_disk_types == ["Standard_LRS"] and d.tags == {"tier": "web"}
    assert d.end_of_life_date.date().isoformat() == eol


def test_definition_form_refusals_show_next_to_their_fields(signed_in, gallery, definition):
    url = f"/galleries/{gallery.pk}/definitions/new"
    same = {
        **DEFINITION,
        "publisher": "contoso",
        "offer": "finance",
        "sku": "BACKEND",
    }  # myImage1's identifier
    r = signed_in.post(url, same)
    assert r.status_code == 409
    assert "already has publisher" in error_of(text(r), "identifier")
    r = signed_in.post(url, {**DEFINITION, "min_vcpus": "16", "max_vcpus": "4"})
    assert r.status_code == 400
    assert "minimum recommended vCPUs (16) is greater than the maximum (4)" in error_of(text(r), "min_vcpus")
    r = signed_in.post(url, {**DEFINITION, "max_memory_gb": "lots"})
    assert r.status_code == 400 and "must be a whole number" in error_of(text(r), "max_memory_gb")
    r = signed_in.post(url, {**DEFINITION, "end_of_life_date": "2001-01-01"})
    assert r.status_code == 400 and "is in the past" in error_of(text(r), "end_of_life_date")
    r = signed_in.post(url, {**DEFINITION, "release_note_uri": "ftp://x"})
    assert r.status_code == 400 and "not a valid http(s) URI" in error_of(text(r), "release_note_uri")
    r = signed_in.post(url, {**DEFINITION, "plan_name": "gold"})
    assert r.status_code == 400 and "purchase plan needs" in error_of(text(r), "plan_publisher")
    r = signed_in.post(url, {**DEFINITION, "name": "bad name!"})
    assert r.status_code == 400 and "is invalid" in error_of(text(r), "name")
    assert 'value="Nginx"' in text(r)  # what was typed is kept
    assert not GalleryImage.objects.filter(name="web").exists()


def test_edit_a_definition_immutables_are_read_only_and_a_forged_change_is_refused(signed_in, definition):
    url = f"/definitions/{definition.pk}/edit"
    page = text(signed_in.get(url))
    for field in ("publisher", "offer", "sku", "os_type", "os_state", "hyper_v_generation"):
        assert f'id="ro-{field}"' in page and f'name="{field}"' not in page
    assert 'name="min_vcpus"' in page and 'name="release_note_uri"' in page
    form = {
        "min_vcpus": "2",
        "max_vcpus": "4",
        "description": "edited",
        "lifecycle_policy": "None",
        "tags": "",
    }
    r = signed_in.post(url, form)
    assert r.status_code == 302
    definition.refresh_from_db()
    assert (definition.min_vcpus, definition.max_vcpus, definition.description) == (2, 4, "edited")
    r = signed_in.post(url, {**form, "publisher": "Fabrikam"})
    assert r.status_code == 409
    assert "properties.identifier.publisher" in error_of(text(r), "publisher")
    r = signed_in.post(url, {**form, "min_vcpus": "9"})
    assert r.status_code == 400 and "greater than the maximum" in error_of(text(r), "min_vcpus")
    definition.refresh_from_db()
    assert definition.publisher == "Contoso" and definition.min_vcpus == 2
    # Re-sending the unchanged value is accepted (what an ARM PUT does).
    assert signed_in.post(url, {**form, "publisher": "Contoso", "os_type": "linux"}).status_code == 302


def test_the_lifecycle_settings_of_a_definition_are_edited_on_its_form(signed_in, gallery, definition):
    url = f"/definitions/{definition.pk}/edit"
    page = text(signed_in.get(url))
    assert 'name="lifecycle_policy"' in page and 'name="lifecycle_keep_deployed"' in page
    assert '<option value="true" selected>' in page
    form = {"description": "", "lifecycle_policy": "TrimOlderToSource", "tags": ""}
    assert signed_in.post(url, {**form, "lifecycle_keep_deployed": "false"}).status_code == 302
    definition.refresh_from_db()
    assert definition.lifecycle_policy == "TrimOlderToSource" and definition.lifecycle_keep_deployed is False
    assert '<option value="false" selected>' in text(signed_in.get(url))
    assert signed_in.post(url, form).status_code == 302  # not sent: unchanged
    definition.refresh_from_db()
    assert definition.lifecycle_keep_deployed is False
    assert "Lets them go" in text(signed_in.get(f"/definitions/{definition.pk}/"))
    r = signed_in.post(url, {**form, "lifecycle_keep_deployed": "maybe"})
    assert r.status_code == 400 and "true or false" in error_of(text(r), "lifecycle_keep_deployed")
    r = signed_in.post(
        f"/galleries/{gallery.pk}/definitions/new", {**DEFINITION, "lifecycle_keep_deployed": "false"}
    )
    assert r.status_code == 302 and GalleryImage.objects.get(name="web").lifecycle_keep_deployed is False


def test_end_of_life_kept_when_unchanged_and_cleared_when_emptied(signed_in, caller, definition):
    eol = timezone.now() + timedelta(days=30, hours=5)
    services.update_definition(caller, definition, end_of_life_date=eol)
    url = f"/definitions/{definition.pk}/edit"
    page = text(signed_in.get(url))
    day = eol.astimezone(UTC).date().isoformat()
    assert f'value="{day}"' in page
    form = {"description": "d", "lifecycle_policy": "None", "tags": "", "end_of_life_date": day}
    assert signed_in.post(url, form).status_code == 302
    definition.refresh_from_db()
    assert definition.end_of_life_date == eol  # same day: the stored time is kept
    assert signed_in.post(url, {**form, "end_of_life_date": ""}).status_code == 302
    definition.refresh_from_db()
    assert definition.end_of_life_date is None


def test_definition_overview_lists_versions_in_numeric_order_with_latest_and_badges(
    signed_in, caller, definition, make_version
):
    services.update_definition(
        caller,
        definition,
        min_vcpus=2,
        max_vcpus=16,
        min_memory_gb=4,
        end_of_life_date=timezone.now() + timedelta(days=10),
    )
    v = {n: make_version(n, target_regions=["westeurope", "eastus"]) for n in ("1.0.2", "1.0.10", "1.0.9")}
    TargetRegion.objects.filter(version__in=[v["1.0.9"], v["1.0.2"]]).update(state="Completed")
    TargetRegion.objects.filter(version=v["1.0.10"], region__name="westeurope").update(state="Completed")
    services.update_version(caller, v["1.0.2"], end_of_life_date=timezone.now() + timedelta(days=3))
    page = text(signed_in.get(f"/definitions/{definition.pk}/"))
    assert "Contoso / Finance / Backend" in page
    assert "Linux · Generalized" in page and 'id="generation">V1' in page
    assert "2–16" in page and "at least 4 GB" in page
    assert "Ends " in page  # the definition's end-of-life badge
    assert re.findall(r'data-version="([\d.]+)"', page) == ["1.0.10", "1.0.9", "1.0.2"]
    for version in v.values():
        assert f'href="/versions/{version.pk}/"' in page
    latest = page[page.index('id="latest"') : page.index("<h2>Versions")]
    assert "West Europe</strong>: <a" in latest and "1.0.10" in latest
    assert "East US</strong>: <a" in latest and "1.0.9" in latest
    row = page[page.index('data-version="1.0.10"') : page.index('data-version="1.0.9"')]
    assert "latest · West Europe" in row and "latest · East US" not in row and "InProgress" in row
    row = page[page.index('data-version="1.0.2"') :]
    assert "badge-eol-date" in row.split("</tr>")[0]
    assert f'href="/definitions/{definition.pk}/versions/new"' in page


def test_definition_page_queries_do_not_grow_with_versions(signed_in, definition, make_version):
    for i in range(2):
        make_version(f"1.0.{i}", target_regions=["westeurope", "eastus"])
    url = f"/definitions/{definition.pk}/"
    signed_in.get(url)  # warm caches (session, content types)
    with CaptureQueriesContext(connection) as few:
        assert signed_in.get(url).status_code == 200
    for i in range(2, 15):
        make_version(f"1.0.{i}", target_regions=["westeurope", "eastus", "northeurope"])
    with CaptureQueriesContext(connection) as many:
        page = text(signed_in.get(url))
    assert page.count("data-version=") == 15
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


def test_deleting_a_definition_refuses_while_it_has_versions(
    signed_in, caller, gallery, definition, make_version
):
    make_version()
    assert "Delete the image definition myImage1?" in text(
        signed_in.get(f"/definitions/{definition.pk}/delete")
    )
    r = signed_in.post(f"/definitions/{definition.pk}/delete")
    assert r.status_code == 409 and "still has 1 version(s); delete them first" in error_of(text(r), "delete")
    empty = services.create_definition(
        caller, gallery, "empty", publisher="P", offer="O", sku="S", os_type="Linux", os_state="Generalized"
    )
    r = signed_in.post(f"/definitions/{empty.pk}/delete")
    assert r.status_code == 302 and r["Location"] == f"/galleries/{gallery.pk}/"
    assert not GalleryImage.objects.filter(pk=empty.pk).exists()


# --- Managed images and snapshots -------------------------------------------------------------------------


def test_create_a_managed_image_from_uploaded_blobs(signed_in, rg, make_blob):
    os_blob, data0, data1 = (
        make_blob("os.vhd"),
        make_blob("d0.vhd", virtual_mib=1),
        make_blob("d1.vhd", virtual_mib=1),
    )
    page = text(signed_in.get(f"/images/new?resourceGroup={rg.pk}&blob={os_blob.pk}"))
    assert f'<option value="{os_blob.pk}" selected>vhds/os.vhd' in page  # preselected from the upload page
    r = signed_in.post(
        "/images/new",
        {
            "resourceGroup": rg.pk,
            "name": "web-base",
            "os_blob": os_blob.pk,
            "os_type": "Windows",
            "hyper_v_generation": "V2",
            "data_0_lun": "3",
            "data_0_blob": data1.pk,
            "data_2_lun": "0",
            "data_2_blob": data0.pk,
            "tags": "",
        },
    )
    image = ManagedImage.objects.get(name="web-base")
    assert r.status_code == 302 and r["Location"] == f"/images/{image.pk}/"
    assert (image.os_type, image.hyper_v_generation) == ("Windows", "V2")
    assert [(d.lun, d.disk.sha256) for d in image.data_disks.all()] == [(0, data0.sha256), (3, data1.sha256)]
    page = text(signed_in.get(r["Location"]))
    assert "Data disk, LUN 3" in page and os_blob.sha256 in page


def test_managed_image_refusals_show_next_to_their_fields(signed_in, rg, image, make_blob):
    blob = make_blob("x.vhd")
    base = {
        "resourceGroup": rg.pk,
        "name": "img2",
        "os_blob": blob.pk,
        "os_type": "Linux",
        "hyper_v_generation": "V1",
    }
    r = signed_in.post("/images/new", {**base, "name": "base"})
    assert r.status_code == 409 and "already exists" in error_of(text(r), "name")
    r = signed_in.post("/images/new", {**base, "data_1_lun": "70", "data_1_blob": blob.pk})
    assert r.status_code == 400 and "between 0 and 63" in error_of(text(r), "data_1_lun")
    r = signed_in.post(
        "/images/new",
        {**base, "data_0_lun": "1", "data_0_blob": blob.pk, "data_3_lun": "1", "data_3_blob": blob.pk},
    )
    assert r.status_code == 400 and "LUN 1 is used by two data disks" in error_of(text(r), "data_3_lun")
    r = signed_in.post("/images/new", {**base, "os_blob": ""})
    assert r.status_code == 400 and "Choose the VHD" in error_of(text(r), "os_blob")
    assert not ManagedImage.objects.filter(name="img2").exists()


def test_create_a_snapshot_and_refusals(signed_in, rg, make_blob):
    blob = make_blob("s.vhd")
    page = text(signed_in.get(f"/snapshots/new?resourceGroup={rg.pk}"))
    assert f'<option value="{blob.pk}"' in page and "None (a data disk)" in page
    base = {
        "resourceGroup": rg.pk,
        "name": "snap-1",
        "blob": blob.pk,
        "os_type": "Linux",
        "os_state": "Specialized",
    }
    r = signed_in.post("/snapshots/new", {**base, "name": "-bad"})
    assert r.status_code == 400 and "is invalid" in error_of(text(r), "name")
    r = signed_in.post("/snapshots/new", {**base, "os_state": "Sleepy"})
    assert r.status_code == 400 and "not a valid OS state" in error_of(text(r), "os_state")
    r = signed_in.post("/snapshots/new", base)
    snap = Snapshot.objects.get(name="snap-1")
    assert r.status_code == 302 and r["Location"] == f"/snapshots/{snap.pk}/"
    assert (snap.os_type, snap.os_state, snap.disk.sha256) == ("Linux", "Specialized", blob.sha256)
    assert "OS disk (Linux)" in text(signed_in.get(r["Location"]))


def test_a_source_in_use_cannot_be_deleted_and_an_unused_one_can(signed_in, make_version, image, make_image):
    version = make_version()
    page = text(signed_in.get(f"/images/{image.pk}/"))
    assert f'href="/versions/{version.pk}/"' in page
    assert "Delete the managed image base?" in text(signed_in.get(f"/images/{image.pk}/delete"))
    r = signed_in.post(f"/images/{image.pk}/delete")
    assert r.status_code == 409 and "delete that version first" in error_of(text(r), "delete")
    spare = make_image("spare")
    r = signed_in.post(f"/images/{spare.pk}/delete")
    assert r.status_code == 302 and r["Location"] == "/images/"
    assert not ManagedImage.objects.filter(pk=spare.pk).exists()


def test_deleting_a_snapshot(signed_in, caller, rg, make_blob):
    snap = services.create_snapshot(caller, rg, "old", blob=make_blob())
    assert "Delete the snapshot old?" in text(signed_in.get(f"/snapshots/{snap.pk}/delete"))
    r = signed_in.post(f"/snapshots/{snap.pk}/delete")
    assert r.status_code == 302 and r["Location"] == "/snapshots/"
    assert not Snapshot.objects.filter(pk=snap.pk).exists()


# --- Upload page ------------------------------------------------------------------------------------------


def test_the_upload_page_carries_what_the_script_needs(signed_in, rg, make_blob, caller):
    done = make_blob("ready.vhd")
    services.start_upload(caller, rg, "half.vhd", 3 * vhd.MIB + 512)
    r = signed_in.get(f"/uploads/new?resourceGroup={rg.pk}")
    page = text(r)
    assert r.status_code == 200
    form = page[page.index('<form class="stack" id="vhd-upload"') : page.index('<div class="field">')]
    assert 'data-start-url="/uploads/"' in form and 'data-detail-url="/uploads/"' in form
    assert f'data-resource-group="{rg.arm_id}"' in form
    chunk = int(re.search(r'data-chunk-bytes="(\d+)"', form).group(1))
    assert 0 < chunk <= settings.UPLOAD_MAX_CHUNK_BYTES
    assert f'data-image-url="/images/new?resourceGroup={rg.pk}"' in form
    assert 'id="vhd-file"' in page and 'id="upload-error"' in page and 'role="progressbar"' in page
    assert "Create managed image from this VHD" in page
    assert "/static/portal/upload.js" in page
    assert f"blob={done.pk}" in page and "half.vhd" in page and "choose the same file to resume" in page


def test_the_upload_page_respects_a_small_server_chunk_limit(signed_in, rg, settings):
    settings.UPLOAD_MAX_CHUNK_BYTES = 1024 * 1024
    page = text(signed_in.get(f"/uploads/new?resourceGroup={rg.pk}"))
    assert 'data-chunk-bytes="1048576"' in page


def test_the_upload_page_without_a_group_offers_the_writable_ones(client, user, rg, subscription):
    client.force_login(user)
    page = text(client.get("/uploads/new"))
    assert f'<option value="{rg.pk}"' in page and 'id="vhd-upload"' in page  # the only one: chosen
    reader = create_user(user.home_tenant, "reader@contoso.test", "Reader-Pass-1", "Reader")
    grant_as_system(subscription, reader, "reader")
    client.force_login(reader)
    page = text(client.get("/uploads/new"))
    assert 'id="no-groups"' in page and 'id="vhd-upload"' not in page


def test_create_pages_without_a_writable_group_explain_why(client, user, subscription, rg):
    reader = create_user(user.home_tenant, "reader@contoso.test", "Reader-Pass-1", "Reader")
    grant_as_system(subscription, reader, "reader")
    client.force_login(reader)
    for url in ("/galleries/new", "/images/new", "/snapshots/new"):
        page = text(client.get(url))
        assert 'id="no-groups"' in page, url


def test_a_publisher_at_a_resource_group_may_create_there(client, user, rg):
    publisher = create_user(user.home_tenant, "pub@contoso.test", "Pub-Pass-1", "Pub")
    grant_as_system(rg, publisher, "artifacts_publisher")
    client.force_login(publisher)
    assert 'id="create"' in text(client.get("/galleries/"))
    r = client.post("/galleries/new", {"resourceGroup": rg.pk, "name": "PubGallery"})
    assert r.status_code == 302 and Gallery.objects.filter(name="PubGallery").exists()
    assert 'id="vhd-upload"' in text(client.get(f"/uploads/new?resourceGroup={rg.pk}"))


# --- Generic permission tests -------------------------------------------------------------------------------


@pytest.fixture
def world(user, subscription, rg, make_version, caller, make_blob, make_image, gallery):
    """The permission tests' world (tests/portal/test_permissions.py), plus what these pages act on:
    an empty gallery and definition, an unused managed image, a snapshot and an uploaded VHD."""
    buf = io.BytesIO()
    vhd.write_fixed_vhd(buf, vhd.MIB, seed=99)
    pending = services.start_upload(caller, rg, "pending.vhd", len(buf.getvalue()))
    w = World(user, subscription, rg, make_version(), pending)
    w.available = make_blob("ready.vhd")
    w.empty_gallery = services.create_gallery(caller, rg, "EmptyGallery")
    w.empty_definition = services.create_definition(
        caller,
        gallery,
        "emptyDef",
        publisher="P",
        offer="O",
        sku="S",
        os_type="Linux",
        os_state="Generalized",
    )
    w.spare_image = make_image("spare")
    w.snapshot = services.create_snapshot(caller, rg, "snap", blob=w.available, os_type="Linux")
    return w


class ListPermissions(EndpointPermissions):
    """A list is not one resource: someone without a role gets the page, without our resources."""

    def hidden(self, w) -> str:
        raise NotImplementedError

    @pytest.mark.parametrize("who", ["stranger", "foreigner"])
    def test_a_principal_without_a_role_gets_404(self, client, world, who):
        client.force_login(getattr(world, who))
        response = self.call(client, world)
        assert response.status_code == 200 and self.hidden(world) not in text(response)
        assert 'id="create"' not in text(response)

    def test_the_owner_succeeds(self, client, world):
        client.force_login(world.owner)
        response = self.call(client, world)
        assert response.status_code == 200 and self.hidden(world) in text(response)
        assert 'id="create"' in text(response)


class TestGalleryList(ListPermissions):
    def hidden(self, w):
        return f'href="/galleries/{w.version.gallery_id}/"'

    def path(self, w):
        return "/galleries/"


class TestImageList(ListPermissions):
    def hidden(self, w):
        return f'href="/images/{w.spare_image.pk}/"'

    def path(self, w):
        return "/images/"


class TestSnapshotList(ListPermissions):
    def hidden(self, w):
        return f'href="/snapshots/{w.snapshot.pk}/"'

    def path(self, w):
        return "/snapshots/"


class TestGalleryPage(EndpointPermissions):
    def path(self, w):
        return f"/galleries/{w.version.gallery_id}/"


class TestDefinitionPage(EndpointPermissions):
    def path(self, w):
        return f"/definitions/{w.version.definition_id}/"


class TestImagePage(EndpointPermissions):
    def path(self, w):
        return f"/images/{w.spare_image.pk}/"


class TestSnapshotPage(EndpointPermissions):
    def path(self, w):
        return f"/snapshots/{w.snapshot.pk}/"


class TestGalleryCreate(EndpointPermissions):
    method = "post"
    write = True
    ok = (302,)

    def path(self, w):
        return "/galleries/new"

    def body(self, w):
        return {"resourceGroup": w.rg.pk, "name": "Created"}


class TestGalleryEditPage(EndpointPermissions):
    write = True

    def path(self, w):
        return f"/galleries/{w.empty_gallery.pk}/edit"


class TestGalleryEdit(EndpointPermissions):
    method = "post"
    write = True
    ok = (302,)

    def path(self, w):
        return f"/galleries/{w.empty_gallery.pk}/edit"

    def body(self, w):
        return {"description": "changed", "tags": ""}


class TestGalleryDelete(EndpointPermissions):
    method = "post"
    write = True
    ok = (302,)

    def path(self, w):
        return f"/galleries/{w.empty_gallery.pk}/delete"


class TestGalleryDeleteConfirmation(EndpointPermissions):
    write = True

    def path(self, w):
        return f"/galleries/{w.empty_gallery.pk}/delete"


class TestDefinitionCreatePage(EndpointPermissions):
    write = True

    def path(self, w):
        return f"/galleries/{w.version.gallery_id}/definitions/new"


class TestDefinitionCreate(EndpointPermissions):
    method = "post"
    write = True
    ok = (302,)

    def path(self, w):
        return f"/galleries/{w.version.gallery_id}/definitions/new"

    def body(self, w):
        return {**DEFINITION, "name": "created"}


class TestDefinitionEdit(EndpointPermissions):
    method = "post"
    write = True
    ok = (302,)

    def path(self, w):
        return f"/definitions/{w.empty_definition.pk}/edit"

    def body(self, w):
        return {"description": "changed", "lifecycle_policy": "None", "tags": ""}


class TestDefinitionDelete(EndpointPermissions):
    method = "post"
    write = True
    ok = (302,)

    def path(self, w):
        return f"/definitions/{w.empty_definition.pk}/delete"


class TestImageCreate(EndpointPermissions):
    method = "post"
    write = True
    ok = (302,)

    def path(self, w):
        return "/images/new"

    def body(self, w):
        return {"resourceGroup": w.rg.pk, "name": "made", "os_blob": w.available.pk, "os_type": "Linux"}


class TestImageDelete(EndpointPermissions):
    method = "post"
    write = True
    ok = (302,)

    def path(self, w):
        return f"/images/{w.spare_image.pk}/delete"


class TestSnapshotCreate(EndpointPermissions):
    method = "post"
    write = True
    ok = (302,)

    def path(self, w):
        return "/snapshots/new"

    def body(self, w):
        return {"resourceGroup": w.rg.pk, "name": "made", "blob": w.available.pk}


class TestSnapshotDelete(EndpointPermissions):
    method = "post"
    write = True
    ok = (302,)

    def path(self, w):
        return f"/snapshots/{w.snapshot.pk}/delete"


class TestUploadPage(EndpointPermissions):
    write = True  # a Reader may not upload: 403

    def path(self, w):
        return f"/uploads/new?resourceGroup={w.rg.pk}"


class BulkPermissions(EndpointPermissions):
    """A bulk action on one selected row, confirmed: a row one may not read is not found (404), one
    may read but not change is refused (403)."""

    method = "post"
    write = True
    ok = (302,)

    def row(self, w):
        raise NotImplementedError

    def body(self, w):
        return {"pk": [self.row(w).pk], "confirm": "1"}


class TestGalleryBulkDelete(BulkPermissions):
    def path(self, w):
        return "/galleries/bulk-delete"

    def row(self, w):
        return w.empty_gallery


class TestGalleryBulkTag(BulkPermissions):
    def path(self, w):
        return "/galleries/bulk-tag"

    def row(self, w):
        return w.empty_gallery

    def body(self, w):
        return {**super().body(w), "key": "env", "value": "prod"}


class TestDefinitionBulkDelete(BulkPermissions):
    def path(self, w):
        return "/definitions/bulk-delete"

    def row(self, w):
        return w.empty_definition


class TestDefinitionBulkTag(TestGalleryBulkTag):
    def path(self, w):
        return "/definitions/bulk-tag"

    def row(self, w):
        return w.empty_definition


class TestImageBulkDelete(BulkPermissions):
    def path(self, w):
        return "/images/bulk-delete"

    def row(self, w):
        return w.spare_image


class TestSnapshotBulkDelete(BulkPermissions):
    def path(self, w):
        return "/snapshots/bulk-delete"

    def row(self, w):
        return w.snapshot


#: For the integrator: the URL names these classes cover.
COVERED = {
    "galleries",
    "images",
    "snapshots",
    "gallery-detail",
    "definition-detail",
    "image-detail",
    "snapshot-detail",
    "gallery-create",
    "gallery-edit",
    "gallery-delete",
    "definition-create",
    "definition-edit",
    "definition-delete",
    "image-create",
    "image-delete",
    "snapshot-create",
    "snapshot-delete",
    "upload-page",
    "gallery-bulk-delete",
    "gallery-bulk-tag",
    "image-bulk-delete",
    "snapshot-bulk-delete",
    "definition-bulk-delete",
    "definition-bulk-tag",
}


def test_every_url_of_these_pages_has_permission_tests():
    from galleries.views import resources

    assert {p.name for p in resources.urlpatterns} == COVERED


def test_the_overview_tab_of_each_type_leads_to_its_page(
    signed_in, gallery, definition, image, caller, rg, make_blob
):
    snap = services.create_snapshot(caller, rg, "s1", blob=make_blob())
    for obj, page in (
        (gallery, f"/galleries/{gallery.pk}/"),
        (definition, f"/definitions/{definition.pk}/"),
        (image, f"/images/{image.pk}/"),
        (snap, f"/snapshots/{snap.pk}/"),
    ):
        r = signed_in.get(f"/resources/{obj.pk}/")
        assert r.status_code == 302 and r["Location"] == page
        assert f'href="/resources/{obj.pk}/" class="active">Overview' in text(signed_in.get(page))
