"""Tags (at most 50; key 1–512 characters without < > % & \\ ? /; value at most 256) and the activity
log (F17) of gallery, definition and version writes: every success is recorded, every refusal is
recorded as Failed with its code and message, and a refused write leaves nothing half written."""

from __future__ import annotations

import pytest

from accounts.activity import Caller
from accounts.models import ActivityLogEntry
from accounts.services import MAX_TAG_KEY, MAX_TAG_VALUE, MAX_TAGS, validate_tags
from galleries import services
from galleries.models import (
    Gallery,
    GalleryImage,
    GalleryImageVersion,
    TargetRegion,
    UsageCounter,
    VersionDisk,
)
from portal.core.errors import ServiceError

INVALID = ServiceError.INVALID_PARAMETER

GALLERY_OP = "Microsoft.Compute/galleries"
DEFINITION_OP = "Microsoft.Compute/galleries/images"
VERSION_OP = "Microsoft.Compute/galleries/images/versions"


def refused(fn, code, target, *words):
    with pytest.raises(ServiceError) as info:
        fn()
    err = info.value
    assert err.code == code, repr(err)
    if target is not None:
        assert err.target == target, repr(err)
    for word in words:
        assert str(word).lower() in err.message.lower(), (word, err.message)
    return err


def last_entry():
    return ActivityLogEntry.objects.order_by("-id").first()


# --- validate_tags ----------------------------------------------------------------------------------


def test_constants_match_the_spec():
    assert (MAX_TAGS, MAX_TAG_KEY, MAX_TAG_VALUE) == (50, 512, 256)


@pytest.mark.parametrize("tags", [None, {}])
def test_no_tags(tags):
    assert validate_tags(tags) == {}


def test_exactly_50_tags_accepted_51_refused():
    fifty = {f"key{i}": f"value{i}" for i in range(50)}
    assert validate_tags(fifty) == fifty
    refused(lambda: validate_tags({**fifty, "one-more": "x"}), INVALID, "tags", "at most 50", "51 were given")


def test_tag_key_length_boundary():
    key = "k" * 512
    assert validate_tags({key: "v"}) == {key: "v"}
    err = refused(lambda: validate_tags({"k" * 513: "v"}), INVALID, None, "513 characters", "limit is 512")
    assert err.target.startswith("tags.")


def test_tag_value_length_boundary():
    assert validate_tags({"k": "v" * 256}) == {"k": "v" * 256}
    refused(
        lambda: validate_tags({"env": "v" * 257}),
        INVALID,
        "tags.env",
        "'env'",
        "257 characters",
        "limit is 256",
    )


@pytest.mark.parametrize("char", list("<>%&\\?/"))
def test_forbidden_tag_key_characters(char):
    key = f"a{char}b"
    refused(lambda: validate_tags({key: "v"}), INVALID, f"tags.{key}", f"'{key}'", f"contains {char}")


def test_forbidden_characters_are_allowed_in_values():
    assert validate_tags({"url": "https://x.test/a?b=1&c=<2>%"}) == {"url": "https://x.test/a?b=1&c=<2>%"}


def test_allowed_tag_key_characters():
    tags = {"cost-center": "1", "Team Name": "2", "a.b_c:d": "3", "Ünïcode": "4", "x=y": "5"}
    assert validate_tags(tags) == tags


@pytest.mark.parametrize("key", ["", "   "])
def test_empty_tag_key_refused(key):
    refused(lambda: validate_tags({key: "v"}), INVALID, "tags", "cannot be empty")


def test_tag_keys_are_unique_ignoring_case():
    refused(
        lambda: validate_tags({"Env": "a", "env": "b"}), INVALID, "tags.env", "'env'", "twice", "ignore case"
    )


@pytest.mark.parametrize("tags", [["env", "prod"], "env=prod", 5])
def test_tags_must_be_an_object(tags):
    refused(lambda: validate_tags(tags), INVALID, "tags", "object of name/value pairs")


@pytest.mark.parametrize("value", [5, ["a"], {"a": 1}, True])
def test_tag_value_must_be_a_string(value):
    refused(lambda: validate_tags({"env": value}), INVALID, "tags.env", "'env'", "must be a string")


def test_non_string_tag_key_is_named_clearly():
    err = refused(lambda: validate_tags({5: "v"}), INVALID, None, "5", "string")
    assert "empty" not in err.message


def test_none_value_becomes_empty_string():
    assert validate_tags({"env": None, "x": ""}) == {"env": "", "x": ""}


def test_custom_target_prefix():
    refused(lambda: validate_tags({"a/b": "v"}, target="properties.tags"), INVALID, "properties.tags.a/b")


@pytest.mark.parametrize("what", ["gallery", "definition", "version"])
def test_bad_tags_refuse_every_resource_and_leave_nothing(
    caller, rg, gallery, definition, make_version, what
):
    bad = {"k<": "v"}
    before = (Gallery.objects.count(), GalleryImage.objects.count())
    create = {
        "gallery": lambda: services.create_gallery(caller, rg, "g2", tags=bad),
        "definition": lambda: services.create_definition(
            caller,
            gallery,
            "d2",
            publisher="p",
            offer="o",
            sku="s",
            os_type="Linux",
            os_state="Generalized",
            tags=bad,
        ),
        "version": lambda: make_version("1.0.0", tags=bad),
    }[what]
    refused(create, INVALID, "tags.k<", "'k<'")
    assert (Gallery.objects.count(), GalleryImage.objects.count()) == before
    assert not GalleryImageVersion.objects.exists()
    assert last_entry().status == "Failed"


def test_tags_stored_on_every_resource(caller, rg, gallery, make_definition, make_version):
    tags = {"env": "prod", "owner": "alice"}
    assert services.create_gallery(caller, rg, "g2", tags=tags).tags == tags
    d = make_definition("d2", tags=tags)
    assert GalleryImage.objects.get(pk=d.pk).tags == tags
    v = make_version("1.0.0", definition_=d, tags=tags)
    assert GalleryImageVersion.objects.get(pk=v.pk).tags == tags
    services.update_version(caller, v, tags={"env": "test"})
    assert GalleryImageVersion.objects.get(pk=v.pk).tags == {"env": "test"}


# --- Activity log: successes -------------------------------------------------------------------------


def assert_entry(entry, *, operation, arm_id, subscription, user, status="Succeeded", source="portal"):
    assert entry is not None
    assert entry.status == status
    assert entry.operation == operation
    assert entry.resource_arm_id == arm_id
    assert entry.subscription_id == subscription.guid
    assert entry.tenant_id == subscription.tenant_id
    assert entry.principal_id == user.pk
    assert entry.principal_name == user.username
    assert entry.source == source
    assert entry.client_ip == "127.0.0.1"
    if status == "Succeeded":
        assert entry.error_code == ""


def test_gallery_writes_are_logged(caller, rg, user, subscription):
    g = services.create_gallery(caller, rg, "G1")
    e = last_entry()
    assert_entry(e, operation=f"{GALLERY_OP}/write", arm_id=g.arm_id, subscription=subscription, user=user)
    assert e.resource_id == g.pk
    services.update_gallery(caller, g, description="d")
    assert_entry(
        last_entry(), operation=f"{GALLERY_OP}/write", arm_id=g.arm_id, subscription=subscription, user=user
    )
    arm_id = g.arm_id
    services.delete_gallery(caller, g)
    e = last_entry()
    assert_entry(e, operation=f"{GALLERY_OP}/delete", arm_id=arm_id, subscription=subscription, user=user)
    assert e.resource_id is None
    assert ActivityLogEntry.objects.filter(resource_arm_id=arm_id).count() == 3


def test_definition_writes_are_logged(caller, user, subscription, make_definition):
    d = make_definition("img")
    e = last_entry()
    assert_entry(e, operation=f"{DEFINITION_OP}/write", arm_id=d.arm_id, subscription=subscription, user=user)
    assert e.resource_id == d.pk
    services.update_definition(caller, d, description="x")
    assert_entry(
        last_entry(),
        operation=f"{DEFINITION_OP}/write",
        arm_id=d.arm_id,
        subscription=subscription,
        user=user,
    )
    arm_id = d.arm_id
    services.delete_definition(caller, d)
    assert_entry(
        last_entry(), operation=f"{DEFINITION_OP}/delete", arm_id=arm_id, subscription=subscription, user=user
    )


def test_version_writes_are_logged(caller, user, subscription, make_version):
    v = make_version("1.0.0")
    e = last_entry()
    assert_entry(e, operation=f"{VERSION_OP}/write", arm_id=v.arm_id, subscription=subscription, user=user)
    assert e.resource_id == v.pk
    services.update_version(caller, v, target_regions=["westeurope", "eastus"])
    e = last_entry()
    assert_entry(e, operation=f"{VERSION_OP}/write", arm_id=v.arm_id, subscription=subscription, user=user)
    assert e.details["targetRegions"]["added"] == ["eastus"]
    arm_id = v.arm_id
    services.delete_version(caller, v)
    assert_entry(
        last_entry(), operation=f"{VERSION_OP}/delete", arm_id=arm_id, subscription=subscription, user=user
    )


def test_api_source_is_recorded(user, rg, subscription):
    api = Caller(principal=user, source="api", client_ip="127.0.0.1")
    g = services.create_gallery(api, rg, "ViaApi")
    assert_entry(
        last_entry(),
        operation=f"{GALLERY_OP}/write",
        arm_id=g.arm_id,
        subscription=subscription,
        user=user,
        source="api",
    )


# --- Activity log: refusals leave nothing half written -----------------------------------------------------


def assert_failed(err, *, operation, arm_id, subscription, user):
    e = last_entry()
    assert_entry(e, operation=operation, arm_id=arm_id, subscription=subscription, user=user, status="Failed")
    assert e.error_code == err.code
    assert e.message == err.message
    return e


def counters(subscription):
    return dict(
        ((r, k), c)
        for r, k, c in UsageCounter.objects.filter(subscription=subscription).values_list(
            "region__name", "kind", "count"
        )
    )


def test_refused_gallery_creation(caller, rg, user, subscription):
    before = counters(subscription)
    err = refused(lambda: services.create_gallery(caller, rg, "bad-name"), INVALID, "name")
    e = assert_failed(
        err,
        operation=f"{GALLERY_OP}/write",
        arm_id=f"{rg.arm_id}/providers/Microsoft.Compute/galleries/bad-name",
        subscription=subscription,
        user=user,
    )
    assert e.resource_id is None
    assert not Gallery.objects.exists()
    assert counters(subscription) == before


def test_refused_gallery_over_quota_leaves_counter(caller, rg, user, subscription):
    subscription.limit_galleries = 1
    subscription.save()
    services.create_gallery(caller, rg, "g1")
    before = counters(subscription)
    err = refused(lambda: services.create_gallery(caller, rg, "g2"), ServiceError.QUOTA_EXCEEDED, "location")
    assert_failed(
        err,
        operation=f"{GALLERY_OP}/write",
        arm_id=f"{rg.arm_id}/providers/Microsoft.Compute/galleries/g2",
        subscription=subscription,
        user=user,
    )
    assert list(Gallery.objects.values_list("name", flat=True)) == ["g1"]
    assert counters(subscription) == before == {("westeurope", "galleries"): 1}


def test_refused_definition_after_reservation_rolls_back_counter(caller, gallery, user, subscription):
    """min > max is checked after the limit slot is taken: the slot must be given back."""
    before = counters(subscription)
    err = refused(
        lambda: services.create_definition(
            caller,
            gallery,
            "img",
            publisher="p",
            offer="o",
            sku="s",
            os_type="Linux",
            os_state="Generalized",
            min_vcpus=8,
            max_vcpus=2,
        ),
        INVALID,
        "properties.recommended.vCPUs.min",
    )
    e = assert_failed(
        err,
        operation=f"{DEFINITION_OP}/write",
        arm_id=f"{gallery.arm_id}/images/img",
        subscription=subscription,
        user=user,
    )
    assert e.resource_id is None
    assert not GalleryImage.objects.exists()
    assert counters(subscription) == before


def test_refused_version_creation_leaves_nothing(
    caller, definition, make_version, make_image, user, subscription
):
    make_version("1.0.0")
    before = counters(subscription)
    rows = (GalleryImageVersion.objects.count(), VersionDisk.objects.count(), TargetRegion.objects.count())
    win = make_image("win", os_type="Windows", data_luns=(0, 1))
    err = refused(
        lambda: make_version("1.0.1", source=win, target_regions=["westeurope", "eastus"]),
        INVALID,
        "properties.storageProfile.source.id",
    )
    e = assert_failed(
        err,
        operation=f"{VERSION_OP}/write",
        arm_id=f"{definition.arm_id}/versions/1.0.1",
        subscription=subscription,
        user=user,
    )
    assert e.resource_id is None
    assert (
        GalleryImageVersion.objects.count(),
        VersionDisk.objects.count(),
        TargetRegion.objects.count(),
    ) == rows
    assert counters(subscription) == before


def test_refused_version_over_quota_leaves_nothing(caller, definition, make_version, user, subscription):
    subscription.limit_versions = 1
    subscription.save()
    make_version("1.0.0")
    before = counters(subscription)
    err = refused(
        lambda: make_version("1.0.1", target_regions=["westeurope", "eastus"]),
        ServiceError.QUOTA_EXCEEDED,
        "location",
    )
    assert_failed(
        err,
        operation=f"{VERSION_OP}/write",
        arm_id=f"{definition.arm_id}/versions/1.0.1",
        subscription=subscription,
        user=user,
    )
    assert list(GalleryImageVersion.objects.values_list("name", flat=True)) == ["1.0.0"]
    assert VersionDisk.objects.count() == 1
    assert TargetRegion.objects.count() == 1
    assert counters(subscription) == before


def test_refused_update_is_logged_against_the_resource_and_changes_nothing(
    caller, gallery, user, subscription
):
    err = refused(
        lambda: services.update_gallery(caller, gallery, description="new", location="eastus"),
        ServiceError.PROPERTY_CHANGE_NOT_ALLOWED,
        "location",
    )
    e = assert_failed(
        err, operation=f"{GALLERY_OP}/write", arm_id=gallery.arm_id, subscription=subscription, user=user
    )
    assert e.resource_id == gallery.pk
    assert Gallery.objects.get(pk=gallery.pk).description == "test gallery"


def test_refused_delete_is_logged_and_keeps_the_resource(caller, gallery, definition, user, subscription):
    err = refused(lambda: services.delete_gallery(caller, gallery), ServiceError.CONFLICT, "name")
    e = assert_failed(
        err, operation=f"{GALLERY_OP}/delete", arm_id=gallery.arm_id, subscription=subscription, user=user
    )
    assert e.resource_id == gallery.pk
    assert Gallery.objects.filter(pk=gallery.pk).exists()
    assert counters(subscription)[("westeurope", "galleries")] == 1


def test_refused_version_update_is_logged(caller, make_version, user, subscription):
    v = make_version("1.0.0")
    err = refused(
        lambda: services.update_version(caller, v, target_regions=["eastus"]),
        INVALID,
        "properties.publishingProfile.targetRegions",
    )
    e = assert_failed(
        err, operation=f"{VERSION_OP}/write", arm_id=v.arm_id, subscription=subscription, user=user
    )
    assert e.resource_id == v.pk
    assert list(TargetRegion.objects.filter(version=v).values_list("region__name", flat=True)) == [
        "westeurope"
    ]


# A refused update must not leave the refused values in the caller's instance either: otherwise the
# next, valid update through the same instance saves them (or is refused for them).


def _refuse_then_update_gallery(caller, gallery, make_definition, make_version):
    with pytest.raises(ServiceError):
        services.update_gallery(caller, gallery, description="refused", location="eastus")
    services.update_gallery(caller, gallery, tags={"a": "b"})
    return Gallery.objects.get(pk=gallery.pk).description == "test gallery"


def _refuse_then_update_definition(caller, gallery, make_definition, make_version):
    d = make_definition(min_vcpus=2, max_vcpus=4)
    with pytest.raises(ServiceError):
        services.update_definition(caller, d, min_vcpus=8)
    services.update_definition(caller, d, description="valid")  # refused today: min 8 > max 4 in memory
    d = GalleryImage.objects.get(pk=d.pk)
    return (d.min_vcpus, d.description) == (2, "valid")


def _refuse_then_update_version(caller, gallery, make_definition, make_version):
    v = make_version("1.0.0")
    with pytest.raises(ServiceError):
        services.update_version(caller, v, replica_count=5, target_regions=["eastus"])
    services.update_version(caller, v, exclude_from_latest=True)
    return GalleryImageVersion.objects.get(pk=v.pk).replica_count == 1


@pytest.mark.parametrize(
    "scenario",
    [_refuse_then_update_gallery, _refuse_then_update_definition, _refuse_then_update_version],
    ids=["gallery", "definition", "version"],
)
def test_refused_update_leaves_no_trace_in_the_instance(
    caller, gallery, make_definition, make_version, scenario
):
    assert scenario(caller, gallery, make_definition, make_version)
