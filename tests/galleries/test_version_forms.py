"""The version pages: create with the target-region editor, estimate and advice; edit only what may
change; delete; the replica advisor page; the version page's badges and cost. Every refusal comes
from the service layer and lands next to the field its property path names."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import ActivityLogEntry
from galleries import advisor, costs
from galleries.models import GalleryImageVersion, Region, TargetRegion
from galleries.services import TargetRegionSpec as T
from tests.portal.test_permissions import HTMX, EndpointPermissions, World, world  # noqa: F401


def error_at(body: bytes | str, field_id: str) -> str | None:
    """The text of the error shown next to the field ``field_id`` (element ``<field_id>-error``)."""
    text = body.decode() if isinstance(body, bytes) else body
    m = re.search(rf'id="{re.escape(field_id)}-error">(.*?)</(?:p|span)>', text, re.S)
    return html.unescape(m.group(1)) if m else None


def errors_in(body: bytes) -> dict[str, str]:
    return {
        k: html.unescape(v)
        for k, v in re.findall(r'id="([\w-]+)-error">(.*?)</(?:p|span)>', body.decode(), re.S)
    }


def create_post(image, *rows, **fields) -> dict:
    """A create-form POST: ``rows`` are (region, replicas, storage) triples."""
    data = {
        "name": "1.0.0",
        "source": image.arm_id,
        "source_id": "",
        "location": "westeurope",
        "replica_count": "1",
        "end_of_life_date": "",
        "tags": "",
    }
    for i, (region, replicas, storage) in enumerate(rows or [("westeurope", "", "Standard_LRS")]):
        data[f"t-{i}-region"] = region
        data[f"t-{i}-replicas"] = replicas
        data[f"t-{i}-storage"] = storage
    data.update(fields)
    return data


@pytest.fixture
def expensive(settings):
    """Prices large enough that the test's few-MiB disks cost whole cents."""
    settings.COST_PRICES = {
        "currency": "USD",
        "storage_per_gib_month": {"Standard_LRS": "500", "Standard_ZRS": "625", "Premium_LRS": "1500"},
        "region_overrides": {"eastus": {"Standard_LRS": "400"}},
        "egress_per_gib": "870",
    }


@pytest.fixture
def owner(client, user):
    client.force_login(user)
    return client


# --- Create ------------------------------------------------------------------------------------------------


def test_create_with_two_regions_creates_the_version_and_shows_its_page(owner, definition, image):
    eol = (timezone.now() + timedelta(days=90)).date().isoformat()
    data = create_post(
        image,
        ("westeurope", "2", "Standard_ZRS"),
        ("eastus", "", "Premium_LRS"),
        replica_count="3",
        end_of_life_date=eol,
        tags="team=images\nenv = prod",
        exclude_from_latest="1",
    )
    r = owner.post(f"/definitions/{definition.pk}/versions/new", data)
    assert r.status_code == 302, errors_in(r.content)
    v = GalleryImageVersion.objects.get(definition=definition, name="1.0.0")
    assert r["Location"] == f"/versions/{v.pk}/"
    rows = {
        t.region.name: (t.replica_count, t.storage_account_type)
        for t in v.target_regions.select_related("region")
    }
    assert rows == {
        "westeurope": (2, "Standard_ZRS"),
        "eastus": (3, "Premium_LRS"),
    }  # blank = the common count
    assert v.exclude_from_latest and v.replica_count == 3
    assert v.end_of_life_date.date().isoformat() == eol
    assert v.tags == {"team": "images", "env": "prod"}
    entry = ActivityLogEntry.objects.filter(resource_arm_id=v.arm_id).latest("pk")
    assert entry.source == "portal"  # created through the service, as the portal
    page = owner.get(r["Location"]).content.decode()
    assert "created; replication to 2 regions has started" in page


def test_the_create_page_offers_regions_of_the_cloud_and_marks_restricted_ones(
    owner, definition, subscription
):
    body = owner.get(f"/definitions/{definition.pk}/versions/new").content.decode()
    assert ">East US<" in body and "West US 3" in body  # a target-only region is a target too
    assert "China East" not in body and "US Gov Virginia" not in body  # other clouds are hidden
    restricted = re.search(r'<option value="australiacentral"[^>]*>([^<]*)<', body)
    assert "disabled" in restricted.group(0) and "not allowed for this subscription" in restricted.group(1)
    assert "never picked by “latest”" in body  # latest semantics explained

    subscription.allowed_restricted_regions.add(Region.objects.get(name="australiacentral"))
    body = owner.get(f"/definitions/{definition.pk}/versions/new").content.decode()
    restricted = re.search(r'<option value="australiacentral"[^>]*>([^<]*)<', body)
    assert "disabled" not in restricted.group(0) and restricted.group(1) == "Australia Central (restricted)"


def test_zrs_is_offered_only_for_a_region_with_zones(owner, definition, image):
    data = create_post(
        image, ("westeurope", "", "Standard_LRS"), ("westus", "", "Standard_LRS"), op="refresh"
    )
    r = owner.post(f"/definitions/{definition.pk}/versions/new", data, **HTMX)
    body = r.content.decode()
    storage = dict(re.findall(r'name="t-(\d)-storage"[^>]*>(.*?)</select>', body, re.S))
    assert "Standard_ZRS" in storage["0"]  # West Europe has zones
    assert "Standard_ZRS" not in storage["1"]  # West US has none


REFUSALS = [
    ("bad name", {"name": "1.0"}, (), "name", "Major.Minor.Patch"),
    ("leading zero", {"name": "1.01.0"}, (), "name", "without leading zeros"),
    (
        "duplicate region",
        {},
        [("westeurope", "", "Standard_LRS"), ("westeurope", "", "Standard_LRS")],
        "t-1-region",
        "listed twice",
    ),
    (
        "ZRS without zones",
        {},
        [("westeurope", "", "Standard_LRS"), ("westus", "", "Standard_ZRS")],
        "t-1-storage",
        "availability zones",
    ),
    (
        "restricted region",
        {},
        [("westeurope", "", "Standard_LRS"), ("australiacentral", "", "Standard_LRS")],
        "t-1-region",
        "restricted region",
    ),
    (
        "other cloud",
        {},
        [("westeurope", "", "Standard_LRS"), ("chinaeast", "", "Standard_LRS")],
        "t-1-region",
        "never crosses clouds",
    ),
    (
        "replica count 0",
        {},
        [("westeurope", "", "Standard_LRS"), ("eastus", "0", "Standard_LRS")],
        "t-1-replicas",
        "between 1 and 50",
    ),
    ("replica count 51", {}, [("westeurope", "51", "Standard_LRS")], "t-0-replicas", "between 1 and 50"),
    ("not a count", {}, [("westeurope", "two", "Standard_LRS")], "t-0-replicas", "whole number"),
    ("common count 0", {"replica_count": "0"}, (), "replica_count", "between 1 and 50"),
    (
        "source not a target",
        {},
        [("eastus", "", "Standard_LRS")],
        "regions",
        "must be one of the target regions",
    ),
    (
        "not a source region",
        {"location": "westus3"},
        [("westus3", "", "Standard_LRS")],
        "location",
        "not a source region",
    ),
    (
        "source elsewhere",
        {"location": "eastus"},
        [("eastus", "", "Standard_LRS")],
        "location",
        "must hold the source",
    ),
    ("no source", {"source": ""}, (), "source", "source id is required"),
    ("past end of life", {"end_of_life_date": "2001-01-01"}, (), "end_of_life_date", "in the past"),
    ("malformed date", {"end_of_life_date": "31/12/2030"}, (), "end_of_life_date", "YYYY-MM-DD"),
    ("bad tag", {"tags": "a/b=1"}, (), "tags", "cannot contain"),
]


@pytest.mark.parametrize(
    "fields, rows, field_id, words", [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
def test_each_refusal_lands_next_to_its_field(owner, definition, image, fields, rows, field_id, words):
    r = owner.post(f"/definitions/{definition.pk}/versions/new", create_post(image, *rows, **fields))
    assert r.status_code in (400, 409), r.status_code
    found = errors_in(r.content)
    assert list(found) == [field_id], found  # next to that field, and only there
    assert words.lower() in found[field_id].lower()
    assert not GalleryImageVersion.objects.filter(definition=definition).exists()
    body = r.content.decode()
    assert 'value="1.0.0"' in body or field_id == "name"  # what was typed is kept


def test_a_source_of_another_os_type_is_refused_next_to_the_source(owner, definition, make_image):
    windows = make_image("win", os_type="Windows")
    r = owner.post(f"/definitions/{definition.pk}/versions/new", create_post(windows))
    assert r.status_code == 400
    assert "OS types must match" in error_at(r.content, "source")


def test_a_duplicate_version_is_a_conflict_next_to_the_name(owner, definition, image, make_version):
    make_version("1.0.0")
    r = owner.post(f"/definitions/{definition.pk}/versions/new", create_post(image))
    assert r.status_code == 409 and "already has a version 1.0.0" in error_at(r.content, "name")


def test_an_unreadable_source_looks_missing(owner, definition):
    r = owner.post(
        f"/definitions/{definition.pk}/versions/new",
        create_post(
            definition,
            source="",
            source_id="/subscriptions/x/resourceGroups/y/providers/Microsoft.Compute/images/z",
        ),
    )
    assert r.status_code == 404 and "was not found" in error_at(r.content, "source")


@pytest.fixture
def snapshots(caller, rg, make_blob):
    from galleries import services

    os_snap = services.create_snapshot(caller, rg, "os", blob=make_blob(), os_type="Linux")
    data_snap = services.create_snapshot(caller, rg, "data", blob=make_blob(virtual_mib=1))
    return os_snap, data_snap


def test_a_version_from_an_os_snapshot_with_data_disk_snapshots(owner, definition, snapshots):
    os_snap, data_snap = snapshots
    body = owner.get(f"/definitions/{definition.pk}/versions/new").content.decode()
    assert "OS-disk snapshots" in body and os_snap.arm_id in body
    data = create_post(os_snap, **{"d-0-lun": "3", "d-0-snapshot": data_snap.arm_id})
    r = owner.post(f"/definitions/{definition.pk}/versions/new", data)
    assert r.status_code == 302, errors_in(r.content)
    v = GalleryImageVersion.objects.get(definition=definition)
    assert sorted((d.lun is None, d.lun) for d in v.disks.all()) == [(False, 3), (True, None)]


@pytest.mark.parametrize(
    "source, disk, field_id, words",
    [
        (
            "image",
            {"d-0-lun": "3", "d-0-snapshot": "data"},
            "data_disks",
            "only accompany an OS-disk snapshot",
        ),
        ("os", {"d-0-lun": "64", "d-0-snapshot": "data"}, "d-0-lun", "between 0 and 63"),
        ("os", {"d-0-lun": "1", "d-0-snapshot": "image"}, "d-0-snapshot", "was not found"),
        ("data", {}, "source", "is of a data disk"),
    ],
)
def test_data_disk_refusals_land_on_their_row(
    owner, definition, image, snapshots, source, disk, field_id, words
):
    objs = {"image": image, "os": snapshots[0], "data": snapshots[1]}
    disk = {k: objs[v].arm_id if k.endswith("snapshot") else v for k, v in disk.items()}
    r = owner.post(f"/definitions/{definition.pk}/versions/new", create_post(objs[source], **disk))
    assert r.status_code in (400, 404)
    found = errors_in(r.content)
    assert list(found) == [field_id] and words in found[field_id], found


# --- The editor --------------------------------------------------------------------------------------------


def test_add_and_remove_rows_rerender_without_saving(owner, definition, image):
    url = f"/definitions/{definition.pk}/versions/new"
    r = owner.post(url, create_post(image, ("westeurope", "2", "Standard_LRS"), op="add"))
    assert r.status_code == 200 and 'name="t-1-region"' in r.content.decode()
    assert "<html" in r.content.decode()  # without htmx: the whole page
    r = owner.post(
        url,
        create_post(
            image, ("westeurope", "2", "Standard_LRS"), ("eastus", "", "Standard_LRS"), op="remove-0"
        ),
        **HTMX,
    )
    body = r.content.decode()
    assert "<html" not in body and body.lstrip().startswith("<fieldset")  # htmx: the editor only
    assert r["HX-Trigger"] == "regions-changed"  # the estimate panel refreshes
    assert re.search(r'<option value="eastus" selected', body) and 'name="t-1-region"' not in body
    assert not GalleryImageVersion.objects.exists()


def test_use_recommended_counts_fills_the_replica_counts(owner, definition, image):
    data = create_post(
        image, ("westeurope", "1", "Standard_LRS"), ("eastus", "", "Standard_LRS"), op="advice"
    )
    data.update({"t-0-vms": "45", "t-1-scalesets": "300, 1000"})
    body = owner.post(f"/definitions/{definition.pk}/versions/new", data, **HTMX).content.decode()
    counts = dict(re.findall(r'name="t-(\d)-replicas" id="t-\d-replicas" value="(\d*)"', body))
    assert counts == {
        "0": str(advisor.with_headroom(3)),  # 45 VMs: 3 replicas, plus headroom
        "1": str(advisor.with_headroom(1 + 2)),  # scale sets of 300 and 1,000 instances: 1 + 2
    }


# --- The estimate panel ------------------------------------------------------------------------------------


def test_the_estimate_shows_what_costs_computes(expensive, owner, definition, image, subscription):
    data = create_post(
        image,
        ("westeurope", "2", "Standard_ZRS"),
        ("eastus", "3", "Premium_LRS"),
        ("westus", "", "Standard_LRS"),
    )
    data["t-0-vms"] = "45"
    r = owner.post(f"/definitions/{definition.pk}/versions/estimate", data, **HTMX)
    assert r.status_code == 200
    body = r.content.decode()
    size = image.os_disk.size_bytes
    expected = costs.estimate_for_specs(
        subscription,
        "westeurope",
        size,
        [T("westeurope", 2, "Standard_ZRS"), T("eastus", 3, "Premium_LRS"), T("westus")],
    )
    assert f'data-cost="monthly">{expected.monthly_storage} USD' in body
    assert f'data-cost="egress">{expected.one_time_egress} USD' in body
    assert expected.one_time_egress > 0 and expected.monthly_storage > 0
    assert expected.lines[1].price_per_gib_month == 1500  # East US Premium (the override is for LRS)
    assert f'data-recommended="westeurope">{advisor.with_headroom(3)}<' in body
    assert "No load planned" in body  # the other rows have no load


def test_the_estimate_lists_a_refusal_instead_of_numbers(owner, definition, image):
    data = create_post(image, ("westeurope", "", "Standard_LRS"), ("westus", "", "Standard_ZRS"))
    body = owner.post(f"/definitions/{definition.pk}/versions/estimate", data, **HTMX).content.decode()
    assert "Region row 2: Standard_ZRS needs availability zones" in body and 'data-cost="monthly"' not in body


def test_the_estimate_without_a_source_counts_no_size(owner, definition, image):
    body = owner.post(
        f"/definitions/{definition.pk}/versions/estimate", create_post(image, source=""), **HTMX
    ).content.decode()
    assert "Choose a source" in body and 'data-cost="monthly">0.00 USD' in body


# --- Edit ----------------------------------------------------------------------------------------------------


@pytest.fixture
def version(make_version):
    return make_version(target_regions=[T("westeurope", 2, "Standard_ZRS"), T("eastus")])


def edit_post(version, **fields) -> dict:
    data = {"replica_count": str(version.replica_count), "end_of_life_date": "", "tags": ""}
    for i, t in enumerate(version.target_regions.select_related("region").order_by("region__display_name")):
        data[f"t-{i}-region"] = t.region.name
        data[f"t-{i}-replicas"] = str(t.replica_count)
    data.update(fields)
    return data


def test_the_edit_page_shows_immutable_properties_read_only(owner, version):
    body = owner.get(f"/versions/{version.pk}/edit").content.decode()
    assert version.source_arm_id in body and 'name="source"' not in body and 'name="location"' not in body
    assert 'name="t-0-storage"' not in body and "Standard_ZRS" in body  # an existing region keeps its type
    assert 'name="t-0-region" value="eastus"' in body  # East US sorts first by display name
    assert 'name="t-0-replicas" id="t-0-replicas" value="1"' in body


def test_edit_changes_counts_regions_end_of_life_and_tags(owner, version):
    eol = (timezone.now() + timedelta(days=10)).date().isoformat()
    data = edit_post(
        version, end_of_life_date=eol, tags="owner=alice", exclude_from_latest="1", **{"t-0-replicas": "4"}
    )
    data.update({"t-2-region": "northeurope", "t-2-replicas": "", "t-2-storage": "Premium_LRS"})
    r = owner.post(f"/versions/{version.pk}/edit", data)
    assert r.status_code == 302, errors_in(r.content)
    version.refresh_from_db()
    rows = {
        t.region.name: (t.replica_count, t.storage_account_type)
        for t in version.target_regions.select_related("region")
    }
    assert rows == {
        "eastus": (4, "Standard_LRS"),
        "westeurope": (2, "Standard_ZRS"),
        "northeurope": (1, "Premium_LRS"),
    }
    assert version.tags == {"owner": "alice"} and version.exclude_from_latest
    assert version.end_of_life_date.date().isoformat() == eol


def test_removing_a_region_in_the_editor_removes_it(owner, version):
    data = edit_post(version)
    data = {k: v for k, v in data.items() if not k.startswith("t-0-")}  # drop East US
    assert owner.post(f"/versions/{version.pk}/edit", data).status_code == 302
    assert set(version.target_regions.filter(removing=False).values_list("region__name", flat=True)) == {
        "westeurope"
    }


@pytest.mark.parametrize(
    "forged, field_id",
    [
        ({"location": "eastus"}, "location"),
        ({"source": "/subscriptions/x/resourceGroups/y/providers/Microsoft.Compute/images/other"}, "source"),
        ({"t-1-storage": "Premium_LRS"}, "t-1-storage"),
    ],
    ids=["location", "source", "storage type of an existing region"],
)
def test_a_forged_change_of_an_immutable_property_is_refused_with_the_services_message(
    owner, version, forged, field_id
):
    before = (version.location_id, version.source_arm_id)
    r = owner.post(f"/versions/{version.pk}/edit", edit_post(version, **forged))
    assert r.status_code == 409
    assert "cannot change" in error_at(r.content, field_id)
    version.refresh_from_db()
    assert (version.location_id, version.source_arm_id) == before
    assert version.target_regions.get(region__name="westeurope").storage_account_type == "Standard_ZRS"


def test_resending_unchanged_immutable_values_is_accepted(owner, version):
    data = edit_post(version, location="westeurope", source=version.source_arm_id)
    assert owner.post(f"/versions/{version.pk}/edit", data).status_code == 302


def test_an_unchanged_expired_end_of_life_is_not_refused(owner, version):
    GalleryImageVersion.objects.filter(pk=version.pk).update(
        end_of_life_date=timezone.now() - timedelta(days=3)
    )
    version.refresh_from_db()
    data = edit_post(
        version, end_of_life_date=version.end_of_life_date.date().isoformat(), **{"t-0-replicas": "2"}
    )
    assert owner.post(f"/versions/{version.pk}/edit", data).status_code == 302


def test_an_end_of_life_date_means_the_same_moment_for_definitions_and_versions(owner, version, definition):
    """One rule (``services.end_of_life_on``): a day typed into either page is 00:00 UTC of that
    day, as ARM stores a bare ``endOfLifeDate`` such as ``2030-12-31``."""
    day = (timezone.now() + timedelta(days=40)).date()
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    r = owner.post(f"/versions/{version.pk}/edit", edit_post(version, end_of_life_date=day.isoformat()))
    assert r.status_code == 302, errors_in(r.content)
    form = {"description": "d", "lifecycle_policy": "None", "tags": "", "end_of_life_date": day.isoformat()}
    r = owner.post(f"/definitions/{definition.pk}/edit", form)
    assert r.status_code == 302, errors_in(r.content)
    version.refresh_from_db()
    definition.refresh_from_db()
    assert version.end_of_life_date == definition.end_of_life_date == midnight


def test_edit_refusals_land_on_the_editor_rows(owner, version):
    data = edit_post(version, **{"t-0-replicas": "51"})
    r = owner.post(f"/versions/{version.pk}/edit", data)
    assert r.status_code == 400 and "between 1 and 50" in error_at(r.content, "t-0-replicas")


def test_the_change_estimate_shows_the_delta(expensive, owner, version):
    data = edit_post(version, **{"t-0-replicas": "3"})
    data.update({"t-2-region": "northeurope", "t-2-replicas": "", "t-2-storage": "Standard_LRS"})
    body = owner.post(f"/versions/{version.pk}/estimate", data, **HTMX).content.decode()
    now = costs.version_cost(version)
    after = costs.estimate_for_version_change(
        version, [T("eastus", 3), T("westeurope", 2), T("northeurope", None, "Standard_LRS")]
    )
    assert f'data-cost="current">{now.monthly_storage} USD' in body
    assert f'data-cost="monthly">{after.monthly_storage} USD' in body
    assert f"+{after.monthly_storage - now.monthly_storage} USD" in body
    assert after.monthly_storage > now.monthly_storage
    assert f'data-cost="egress">{after.one_time_egress} USD' in body  # only North Europe is new
    assert (
        after.one_time_egress
        == costs.estimate("westeurope", now.size_bytes, [("northeurope", 1, "Standard_LRS")]).one_time_egress
    )


# --- Delete ------------------------------------------------------------------------------------------------


def test_delete_asks_first_then_deletes(owner, version, definition):
    body = owner.get(f"/versions/{version.pk}/delete").content.decode()
    assert "cannot be undone" in body and "West Europe × 2" in body
    r = owner.post(f"/versions/{version.pk}/delete")
    assert r.status_code == 302 and r["Location"] == f"/resources/{definition.pk}/"  # the definition's page
    assert not GalleryImageVersion.objects.filter(pk=version.pk).exists()  # nothing was copied yet: at once


def test_delete_of_a_replicated_version_goes_through_deleting(owner, version, caller):
    from galleries.models import Replica

    t = version.target_regions.get(region__name="eastus")
    disk = version.disks.get()
    Replica.objects.create(target_region=t, disk=disk, index=0, path="x", size_bytes=1)
    r = owner.post(f"/versions/{version.pk}/delete")
    assert r.status_code == 302 and r["Location"] == f"/versions/{version.pk}/"
    version.refresh_from_db()
    assert version.provisioning_state == "Deleting"
    assert "the replicas in every region are removed first" in owner.get(r["Location"]).content.decode()
    # A version being deleted cannot change any more: the service's refusal shows on the edit form.
    r = owner.post(f"/versions/{version.pk}/edit", edit_post(version))
    assert r.status_code == 409 and "is being deleted" in error_at(r.content, "general")


# --- Advisor page ------------------------------------------------------------------------------------------


def test_the_advisor_recommends_per_region_and_applies(owner, version):
    url = f"/versions/{version.pk}/advisor"
    body = owner.get(url, {"eastus-vms": "130", "westeurope-scalesets": ""}).content.decode()
    assert f'data-recommended="eastus"><strong>{advisor.with_headroom(7)}</strong>' in body  # 130 VMs → 7
    assert "under-provisioned" in body and "Apply the recommended counts" in body
    r = owner.post(url, {"eastus-vms": "130", "westeurope-scalesets": "", "westeurope-vms": ""})
    assert r.status_code == 302
    counts = dict(version.target_regions.values_list("region__name", "replica_count"))
    assert counts == {"eastus": advisor.with_headroom(7), "westeurope": 2}  # no load given: unchanged
    assert f"East US 1 → {advisor.with_headroom(7)}" in owner.get(r["Location"]).content.decode()


def test_the_advisor_refuses_bad_input_next_to_the_field(owner, version):
    r = owner.get(f"/versions/{version.pk}/advisor", {"eastus-scalesets": "300, 5000"})
    assert "1 to 1,000 instances" in error_at(r.content, "eastus-scalesets")
    r = owner.post(f"/versions/{version.pk}/advisor", {"eastus-vms": "-3"})
    assert r.status_code == 400 and "whole number" in error_at(r.content, "eastus-vms")
    r = owner.post(f"/versions/{version.pk}/advisor", {})
    assert r.status_code == 400 and "at least one region" in error_at(r.content, "general")


def test_applying_a_recommendation_already_in_place_changes_nothing(owner, version):
    r = owner.post(f"/versions/{version.pk}/advisor", {"eastus-vms": "0", "eastus-scalesets": "1"})
    # One scale set needs one replica; with headroom two. East US has 1 → raised.
    assert version.target_regions.get(region__name="eastus").replica_count == 2
    r = owner.post(f"/versions/{version.pk}/advisor", {"eastus-scalesets": "1"}, follow=True)
    assert "already match" in r.content.decode()


def test_a_reader_sees_the_advice_but_no_apply_button(client, world):  # noqa: F811
    client.force_login(world.reader)
    body = client.get(f"/versions/{world.version.pk}/advisor", {"westeurope-vms": "40"}).content.decode()
    assert "data-recommended" in body and "Apply the recommended counts" not in body


# --- Version page ------------------------------------------------------------------------------------------


def test_the_version_page_shows_header_badges_cost_and_links(expensive, owner, make_version):
    v = make_version(
        "1.0.0",
        target_regions=[T("westeurope", 2), T("eastus")],
        end_of_life_date=timezone.now() + timedelta(days=5, hours=1),
    )
    newer = make_version("1.0.1", target_regions=[T("westeurope"), T("eastus")])
    TargetRegion.objects.filter(version=v).update(state="Completed")
    TargetRegion.objects.filter(version=newer, region__name="eastus").update(state="Completed")
    body = owner.get(f"/versions/{v.pk}/").content.decode()
    assert "Access control (IAM)" in body and "Activity log" in body  # the resource header
    assert 'data-eol="6"' in body and "expires in 6 days" in body
    cost = costs.version_cost(v)
    assert f'data-cost="monthly">{cost.monthly_storage} USD' in body
    assert (
        f"/versions/{v.pk}/edit" in body
        and f"/versions/{v.pk}/advisor" in body
        and f"/versions/{v.pk}/delete" in body
    )
    # Latest per region: this version in West Europe, 1.0.1 in East US.
    assert re.search(r"West Europe.*?<span class=\"tag latest\"", body, re.S)
    assert f'latest here: <a href="/versions/{newer.pk}/">1.0.1</a>' in body


def test_an_expired_version_shows_it(owner, version):
    GalleryImageVersion.objects.filter(pk=version.pk).update(
        end_of_life_date=timezone.now() - timedelta(days=1)
    )
    assert 'data-eol="expired"' in owner.get(f"/versions/{version.pk}/").content.decode()


def test_a_reader_gets_no_edit_or_delete_links(client, world):  # noqa: F811
    client.force_login(world.reader)
    body = client.get(f"/versions/{world.version.pk}/").content.decode()
    assert (
        f"/versions/{world.version.pk}/edit" not in body
        and f"/versions/{world.version.pk}/delete" not in body
    )
    assert f"/versions/{world.version.pk}/advisor" in body


def test_the_version_page_costs_the_same_queries_for_two_or_thirty_regions(owner, make_version):
    names = list(
        Region.objects.filter(cloud__name="public", restricted=False)
        .exclude(name="westeurope")
        .values_list("name", flat=True)[:29]
    )
    small = make_version("1.0.0", target_regions=[T("westeurope"), T("eastus")])
    big = make_version("1.0.1", target_regions=[T("westeurope")] + [T(n) for n in names])
    TargetRegion.objects.filter(version=big).update(state="Completed")
    counts = []
    for v in (small, big):
        with CaptureQueriesContext(connection) as q:
            assert owner.get(f"/versions/{v.pk}/").status_code == 200
        counts.append(len(q.captured_queries))
    assert counts[0] == counts[1]


# --- Permissions (the generic mixin) ------------------------------------------------------------------------


def _create_body(w: World) -> dict:
    return create_post(w.version, name="9.0.0", source=w.version.source_arm_id)


class TestCreatePage(EndpointPermissions):
    write = True  # the form is for people who may create versions: a reader gets 403

    def path(self, w):
        return f"/definitions/{w.version.definition_id}/versions/new"


class TestCreateSubmit(EndpointPermissions):
    method = "post"
    write = True
    ok = (302,)

    def path(self, w):
        return f"/definitions/{w.version.definition_id}/versions/new"

    def body(self, w):
        return _create_body(w)


class TestCreateEstimate(EndpointPermissions):
    method = "post"
    write = True
    headers = HTMX

    def path(self, w):
        return f"/definitions/{w.version.definition_id}/versions/estimate"

    def body(self, w):
        return _create_body(w)


class TestEditPage(EndpointPermissions):
    write = True

    def path(self, w):
        return f"/versions/{w.version.pk}/edit"


class TestEditSubmit(EndpointPermissions):
    method = "post"
    write = True
    ok = (302,)

    def path(self, w):
        return f"/versions/{w.version.pk}/edit"

    def body(self, w):
        return edit_post(w.version, **{"t-0-replicas": "2"})


class TestEditEstimate(EndpointPermissions):
    method = "post"
    write = True
    headers = HTMX

    def path(self, w):
        return f"/versions/{w.version.pk}/estimate"

    def body(self, w):
        return edit_post(w.version)


class TestDeletePage(EndpointPermissions):
    write = True  # the confirmation is for people who may delete

    def path(self, w):
        return f"/versions/{w.version.pk}/delete"


class TestDeleteSubmit(EndpointPermissions):
    method = "post"
    write = True
    ok = (302,)

    def path(self, w):
        return f"/versions/{w.version.pk}/delete"


class TestAdvisorPage(EndpointPermissions):
    def path(self, w):
        return f"/versions/{w.version.pk}/advisor?westeurope-vms=25"


class TestAdvisorApply(EndpointPermissions):
    method = "post"
    write = True
    ok = (302,)

    def path(self, w):
        return f"/versions/{w.version.pk}/advisor"

    def body(self, w):
        return {"westeurope-vms": "25"}
