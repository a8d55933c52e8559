"""F5 gallery rules and F15 limits/usage (single-threaded): every rule is broken once and the refusal's
ARM code, property path and wording are checked; the boundaries and success paths are checked too."""

from __future__ import annotations

import pytest
from conftest import refused

from accounts.activity import Caller
from accounts.models import Subscription
from accounts.services import create_resource_group, create_subscription
from galleries import services
from galleries.models import Gallery, UsageCounter
from portal.core.errors import ServiceError

INVALID = ServiceError.INVALID_PARAMETER
IMMUTABLE = ServiceError.PROPERTY_CHANGE_NOT_ALLOWED
CONFLICT = ServiceError.CONFLICT
QUOTA = ServiceError.QUOTA_EXCEEDED


# --- Name ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "G",
        "7",
        "Gallery1",
        "my.gallery_1",
        "a.b",
        "a_b",
        "A1.b_2.C3",
        "9lives",
        "a" * 80,
        "x" + "._" * 39 + "y",
    ],
)
def test_valid_gallery_names_are_accepted(caller, rg, name):
    g = services.create_gallery(caller, rg, name)
    assert g.name == name
    assert Gallery.objects.filter(pk=g.pk, name=name).exists()


@pytest.mark.parametrize(
    "name, words",
    [
        (".gallery", ["'.gallery'", "letters and digits", "middle"]),
        ("_gallery", ["'_gallery'", "middle"]),
        ("gallery.", ["'gallery.'", "middle"]),
        ("gallery_", ["'gallery_'", "middle"]),
        ("my-gallery", ["'my-gallery'", "letters and digits"]),
        ("my gallery", ["'my gallery'"]),
        ("my/gallery", ["'my/gallery'"]),
        ("galería", ["'galería'"]),
        ("a" * 81, ["81 characters", "limit is 80"]),
        ("", ["required"]),
    ],
)
def test_invalid_gallery_names_are_refused(caller, rg, name, words):
    refused(lambda: services.create_gallery(caller, rg, name), INVALID, "name", *words)
    assert not Gallery.objects.exists()


def test_gallery_name_with_trailing_newline_is_refused(caller, rg):
    refused(lambda: services.create_gallery(caller, rg, "Gallery1\n"), INVALID, "name", "invalid")
    assert not Gallery.objects.exists()


# --- Uniqueness and unique name ---------------------------------------------------------------------


def test_unique_name_is_subscription_guid_and_upper_case_name(caller, rg, subscription):
    g = services.create_gallery(caller, rg, "my.Gallery_1")
    assert g.unique_name == f"{subscription.guid}-MY.GALLERY_1"
    assert g.arm_id == f"{rg.arm_id}/providers/Microsoft.Compute/galleries/my.Gallery_1"


@pytest.mark.parametrize("second", ["Gallery1", "gallery1", "GALLERY1"])
def test_gallery_name_unique_per_subscription_ignoring_case(caller, rg, gallery, second):
    refused(
        lambda: services.create_gallery(caller, rg, second),
        CONFLICT,
        "name",
        f"'{second}'",
        "already exists",
        "Contoso Test",
    )
    assert Gallery.objects.count() == 1


def test_gallery_name_unique_across_resource_groups_of_a_subscription(caller, subscription, gallery):
    other_rg = create_resource_group(caller, subscription, "other", "eastus")
    refused(lambda: services.create_gallery(caller, other_rg, "GALLERY1"), CONFLICT, "name", "already exists")
    assert Gallery.objects.count() == 1


def test_same_gallery_name_allowed_in_another_subscription(caller, tenant, gallery):
    sub2 = create_subscription(Caller.system(), tenant, "Second", owner=caller.principal)
    rg2 = create_resource_group(caller, sub2, "images", "westeurope")
    g2 = services.create_gallery(caller, rg2, "Gallery1")
    assert g2.unique_name == f"{sub2.guid}-GALLERY1"
    assert g2.unique_name != gallery.unique_name


# --- Location, tags, disabled subscription -----------------------------------------------------------


def test_gallery_location_defaults_to_resource_group_and_accepts_both_forms(caller, rg):
    assert services.create_gallery(caller, rg, "g1").location.name == "westeurope"
    assert services.create_gallery(caller, rg, "g2", location="East US").location.name == "eastus"
    assert services.create_gallery(caller, rg, "g3", location="northeurope").location.name == "northeurope"


def test_gallery_unknown_location_is_refused(caller, rg):
    refused(
        lambda: services.create_gallery(caller, rg, "g1", location="atlantis"),
        INVALID,
        "location",
        "atlantis",
    )


def test_gallery_tags_are_validated(caller, rg):
    refused(
        lambda: services.create_gallery(caller, rg, "g1", tags={f"k{i}": "v" for i in range(51)}),
        INVALID,
        "tags",
        "50",
        "51",
    )
    g = services.create_gallery(caller, rg, "g2", tags={"env": "prod"})
    assert g.tags == {"env": "prod"}


def test_disabled_subscription_refuses_gallery_creation(caller, rg, subscription):
    subscription.state = Subscription.State.DISABLED
    subscription.save()
    refused(
        lambda: services.create_gallery(caller, rg, "g1"),
        CONFLICT,
        "subscription",
        "Contoso Test",
        "Disabled",
    )
    assert not Gallery.objects.exists()


# --- Update -----------------------------------------------------------------------------------------


def test_gallery_description_and_tags_change(caller, gallery):
    before = gallery.modified_at
    services.update_gallery(caller, gallery, description="new text", tags={"team": "platform"})
    gallery.refresh_from_db()
    assert gallery.description == "new text"
    assert gallery.tags == {"team": "platform"}
    assert gallery.modified_at >= before


@pytest.mark.parametrize("same", ["westeurope", "West Europe", "WestEurope"])
def test_gallery_resending_same_location_is_accepted(caller, gallery, same):
    services.update_gallery(caller, gallery, location=same, description="x")
    gallery.refresh_from_db()
    assert gallery.description == "x"


def test_gallery_location_change_is_refused_and_nothing_changes(caller, gallery):
    refused(
        lambda: services.update_gallery(caller, gallery, description="changed", location="eastus"),
        IMMUTABLE,
        "location",
        "location cannot change",
        "description and tags",
    )
    gallery.refresh_from_db()
    assert gallery.location.name == "westeurope"
    assert gallery.description == "test gallery"


def test_gallery_name_cannot_change(caller, gallery):
    refused(
        lambda: services.update_gallery(caller, gallery, name="Other"),
        IMMUTABLE,
        "name",
        "'name'",
        "cannot change",
        "description and tags",
    )
    gallery.refresh_from_db()
    assert gallery.name == "Gallery1"


def test_gallery_update_with_bad_tags_is_refused(caller, gallery):
    refused(
        lambda: services.update_gallery(caller, gallery, tags={"a/b": "x"}), INVALID, "tags.a/b", "a/b", "/"
    )
    gallery.refresh_from_db()
    assert gallery.tags == {}


# --- Delete -----------------------------------------------------------------------------------------


def test_gallery_delete_refused_while_definitions_exist(caller, gallery, make_definition):
    d = make_definition()
    refused(
        lambda: services.delete_gallery(caller, gallery),
        CONFLICT,
        "name",
        "'Gallery1'",
        "1 image definition",
        "delete them first",
    )
    assert Gallery.objects.filter(pk=gallery.pk).exists()
    services.delete_definition(caller, d)
    services.delete_gallery(caller, gallery)
    assert not Gallery.objects.filter(pk=gallery.pk).exists()


# --- Limits and usage (F15, single-threaded) ----------------------------------------------------------


def _counter(subscription, region, kind):
    row = UsageCounter.objects.filter(subscription=subscription, region__name=region, kind=kind).first()
    return row.count if row else 0


def test_gallery_limit_per_region(caller, rg, subscription):
    subscription.limit_galleries = 2
    subscription.save()
    services.create_gallery(caller, rg, "g1")
    g2 = services.create_gallery(caller, rg, "g2")
    refused(
        lambda: services.create_gallery(caller, rg, "g3"),
        QUOTA,
        "location",
        "2 galleries",
        "West Europe",
        "limit",
        "Contoso Test",
    )
    assert not Gallery.objects.filter(name="g3").exists()
    assert _counter(subscription, "westeurope", "galleries") == 2
    # Another region has its own count.
    assert services.create_gallery(caller, rg, "g3", location="eastus").location.name == "eastus"
    assert _counter(subscription, "eastus", "galleries") == 1
    # Deleting frees a slot.
    services.delete_gallery(caller, g2)
    assert _counter(subscription, "westeurope", "galleries") == 1
    assert services.create_gallery(caller, rg, "g4").location.name == "westeurope"
    assert _counter(subscription, "westeurope", "galleries") == 2


def test_limit_zero_refuses_first_gallery(caller, rg, subscription):
    subscription.limit_galleries = 0
    subscription.save()
    refused(lambda: services.create_gallery(caller, rg, "g1"), QUOTA, "location", "West Europe")


def test_usage_reports_current_against_limit(caller, rg, subscription, make_definition, make_version):
    subscription.limit_definitions = 7
    subscription.save()
    make_version("1.0.0")  # gallery, definition and version, all in West Europe
    services.create_gallery(caller, rg, "east", location="eastus")
    rows = {r["region"].name: r["counts"] for r in services.usage(subscription)}
    assert set(rows) == {"westeurope", "eastus"}
    assert rows["westeurope"] == {
        "galleries": {"current": 1, "limit": 100},
        "definitions": {"current": 1, "limit": 7},
        "versions": {"current": 1, "limit": 10000},
    }
    assert rows["eastus"]["galleries"] == {"current": 1, "limit": 100}
    assert rows["eastus"]["definitions"] == {"current": 0, "limit": 7}
    assert rows["eastus"]["versions"] == {"current": 0, "limit": 10000}


def test_reconcile_usage_repairs_corrupted_counters(caller, rg, subscription, gallery, make_definition):
    make_definition()
    services.create_gallery(caller, rg, "g2")
    assert services.reconcile_usage() == 0
    UsageCounter.objects.filter(subscription=subscription, kind="galleries").update(count=42)
    UsageCounter.objects.filter(subscription=subscription, kind="definitions").delete()
    assert services.reconcile_usage() == 2
    assert _counter(subscription, "westeurope", "galleries") == 2
    assert _counter(subscription, "westeurope", "definitions") == 1
    assert services.reconcile_usage() == 0


def test_reconcile_usage_zeroes_counter_of_nothing(caller, rg, subscription, gallery):
    UsageCounter.objects.create(subscription=subscription, region=gallery.location, kind="versions", count=5)
    assert services.reconcile_usage() == 1
    assert _counter(subscription, "westeurope", "versions") == 0
