"""F6 image-definition rules and the definition limit of F15: every rule is broken once and the
refusal's ARM code, property path and wording are checked; boundaries and success paths too."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conftest import refused
from django.utils import timezone

from accounts.models import Subscription
from accounts.services import create_resource_group
from galleries import services
from galleries.models import GalleryImage, UsageCounter
from portal.core.errors import ServiceError

INVALID = ServiceError.INVALID_PARAMETER
IMMUTABLE = ServiceError.PROPERTY_CHANGE_NOT_ALLOWED
CONFLICT = ServiceError.CONFLICT
QUOTA = ServiceError.QUOTA_EXCEEDED

ID = "properties.identifier"
VCPU_MIN, VCPU_MAX = "properties.recommended.vCPUs.min", "properties.recommended.vCPUs.max"
MEM_MIN, MEM_MAX = "properties.recommended.memory.min", "properties.recommended.memory.max"
DISK_TYPES = "properties.disallowed.diskTypes"


def future(days=365):
    return timezone.now() + timedelta(days=days)


@pytest.fixture
def create(caller, gallery):
    """create(name, **props): a definition with a valid default identifier."""

    def make(name="img", **props):
        props.setdefault("publisher", "Contoso")
        props.setdefault("offer", "Finance")
        props.setdefault("sku", "Backend")
        props.setdefault("os_type", "Linux")
        props.setdefault("os_state", "Generalized")
        return services.create_definition(caller, gallery, name, **props)

    return make


# --- Name ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["a", "9", "myImage1", "a_", "A-b.c_d", "1abc", "a..b", "a" * 80, "x-" * 39 + "yz"]
)
def test_valid_definition_names_are_accepted(create, name):
    d = create(name)
    assert d.name == name
    assert d.hidden is True


@pytest.mark.parametrize(
    "name, words",
    [
        ("_image", ["'_image'", "start with a letter or digit"]),
        ("-image", ["'-image'", "start with a letter or digit"]),
        (".image", ["'.image'", "start with a letter or digit"]),
        ("image.", ["'image.'", "not end with a period or hyphen"]),
        ("image-", ["'image-'", "not end with a period or hyphen"]),
        ("my image", ["'my image'", "letters, digits, hyphens, underscores and periods"]),
        ("my/image", ["'my/image'"]),
        ("my+image", ["'my+image'"]),
        ("a" * 81, ["81 characters", "limit is 80"]),
        ("", ["required"]),
    ],
)
def test_invalid_definition_names_are_refused(create, name, words):
    refused(lambda: create(name), INVALID, "name", *words)
    assert not GalleryImage.objects.exists()


def test_definition_name_with_trailing_newline_is_refused(create):
    refused(lambda: create("myImage\n"), INVALID, "name", "invalid")


def test_definition_name_unique_in_gallery_ignoring_case(create):
    create("myImage1", sku="A")
    refused(lambda: create("MYIMAGE1", sku="B"), CONFLICT, "name", "'MYIMAGE1'", "'Gallery1'", "already")
    assert GalleryImage.objects.count() == 1


# --- Identifier -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, limit",
    [("publisher", 128), ("offer", 64), ("sku", 64)],
)
def test_identifier_length_boundaries(create, key, limit):
    d = create("ok", **{key: "a" * limit})
    assert getattr(d, key) == "a" * limit
    refused(
        lambda: create("too-long", **{key: "b" * (limit + 1)}),
        INVALID,
        f"{ID}.{key}",
        key,
        f"{limit + 1} characters",
        f"limit is {limit}",
    )


@pytest.mark.parametrize("key", ["publisher", "offer", "sku"])
@pytest.mark.parametrize("value", ["Con toso", "Contoso!", "Con/toso", "Contosö"])
def test_identifier_charset(create, key, value):
    refused(lambda: create(**{key: value}), INVALID, f"{ID}.{key}", f"'{value}'", "letters, digits")


@pytest.mark.parametrize("key", ["publisher", "offer", "sku"])
def test_identifier_parts_are_required(create, key):
    refused(lambda: create(**{key: ""}), INVALID, f"{ID}.{key}", key, "required")


def test_identifier_accepts_letters_digits_and_punctuation(create):
    d = create(publisher="Contoso.Ltd_2-x", offer="Fin_ance.1", sku="22-04-LTS")
    assert (d.publisher, d.offer, d.sku) == ("Contoso.Ltd_2-x", "Fin_ance.1", "22-04-LTS")


def test_identifier_with_trailing_newline_is_refused(create):
    refused(lambda: create(publisher="Contoso\n"), INVALID, f"{ID}.publisher", "invalid")


def test_seed_identifiers_coexist_and_triple_is_unique_ignoring_case(create):
    create("myImage1", publisher="Contoso", offer="Finance", sku="Backend")
    create("myImage2", publisher="Contoso", offer="Finance", sku="Frontend")
    create("myImage3", publisher="Testing", offer="Finance", sku="Frontend")
    assert GalleryImage.objects.count() == 3
    refused(
        lambda: create("myImage4", publisher="contoso", offer="FINANCE", sku="backend"),
        CONFLICT,
        ID,
        "'myImage1'",
        "'Contoso'",
        "'Finance'",
        "'Backend'",
        "own combination",
    )
    refused(
        lambda: create("myImage5", publisher="TESTING", offer="finance", sku="FrontEnd"),
        CONFLICT,
        ID,
        "myImage3",
    )
    assert GalleryImage.objects.count() == 3


def test_same_identifier_allowed_in_another_gallery(caller, rg, create):
    create("myImage1")
    other = services.create_gallery(caller, rg, "Gallery2")
    d = services.create_definition(
        caller,
        other,
        "myImage1",
        publisher="Contoso",
        offer="Finance",
        sku="Backend",
        os_type="Linux",
        os_state="Generalized",
    )
    assert d.gallery_id == other.pk


# --- Choices --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "props, target, words",
    [
        ({"os_type": "Solaris"}, "properties.osType", ["'Solaris'", "OS type", "Windows", "Linux"]),
        ({"os_type": ""}, "properties.osType", ["OS type", "Windows", "Linux"]),
        ({"os_state": "Sleeping"}, "properties.osState", ["'Sleeping'", "Generalized", "Specialized"]),
        ({"hyper_v_generation": "V3"}, "properties.hyperVGeneration", ["'V3'", "V1", "V2"]),
    ],
)
def test_invalid_choices_are_refused(create, props, target, words):
    refused(lambda: create(**props), INVALID, target, *words)


def test_choices_are_normalized(create):
    d = create(os_type="windows", os_state="SPECIALIZED", hyper_v_generation="v2")
    assert (d.os_type, d.os_state, d.hyper_v_generation) == ("Windows", "Specialized", "V2")
    assert create("img2", sku="x").hyper_v_generation == "V1"


# --- Recommended vCPUs / memory ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "props, target, words",
    [
        ({"min_vcpus": 4, "max_vcpus": 2}, VCPU_MIN, ["vCPUs", "(4)", "(2)", "greater than the maximum"]),
        (
            {"min_memory_gb": 16, "max_memory_gb": 8},
            MEM_MIN,
            ["memory", "(16)", "(8)", "greater than the maximum"],
        ),
        ({"min_vcpus": 0}, VCPU_MIN, ["vCPUs", "at least 1", "0"]),
        ({"max_memory_gb": -1}, MEM_MAX, ["memory", "at least 1", "-1"]),
        ({"max_vcpus": "two"}, VCPU_MAX, ["whole number", "'two'"]),
        ({"min_memory_gb": 1.5}, MEM_MIN, ["whole number", "1.5"]),
    ],
)
def test_recommended_ranges_on_create(create, props, target, words):
    refused(lambda: create(**props), INVALID, target, *words)
    assert not GalleryImage.objects.exists()


def test_recommended_min_equal_max_is_accepted(create):
    d = create(min_vcpus=2, max_vcpus=2, min_memory_gb=4, max_memory_gb=4)
    assert (d.min_vcpus, d.max_vcpus, d.min_memory_gb, d.max_memory_gb) == (2, 2, 4, 4)


def test_recommended_min_above_max_on_update(caller, create):
    d = create(min_vcpus=2, max_vcpus=4, min_memory_gb=4, max_memory_gb=8)
    refused(lambda: services.update_definition(caller, d, min_vcpus=8), INVALID, VCPU_MIN, "(8)", "(4)")
    d = GalleryImage.objects.get(pk=d.pk)
    err = refused(
        lambda: services.update_definition(caller, d, max_memory_gb=2),
        INVALID,
        MEM_MIN,
        "(4)",
        "(2)",
        "memory",
    )
    assert "greater than the maximum" in err.message
    d = GalleryImage.objects.get(pk=d.pk)
    assert (d.min_vcpus, d.max_vcpus, d.min_memory_gb, d.max_memory_gb) == (2, 4, 4, 8)


# --- End of life, URIs, disk types, purchase plan -----------------------------------------------------


def test_end_of_life_must_be_in_the_future(create):
    refused(
        lambda: create(end_of_life_date=timezone.now() - timedelta(days=1)),
        INVALID,
        "properties.endOfLifeDate",
        "past",
        "future",
    )
    eol = future()
    assert create(end_of_life_date=eol).end_of_life_date == eol


@pytest.mark.parametrize(
    "key, target, what",
    [
        ("privacy_statement_uri", "properties.privacyStatementUri", "privacy statement URI"),
        ("release_note_uri", "properties.releaseNoteUri", "release notes URI"),
    ],
)
@pytest.mark.parametrize(
    "bad", ["ftp://contoso.com/x", "javascript:alert(1)", "not a uri", "file:///etc/passwd"]
)
def test_uris_must_be_http_or_https(create, key, target, what, bad):
    refused(lambda: create(**{key: bad}), INVALID, target, what, f"'{bad}'", "http(s)")


def test_http_and_https_uris_are_accepted(create):
    d = create(
        privacy_statement_uri="https://contoso.com/privacy", release_note_uri="http://contoso.com/notes"
    )
    assert d.privacy_statement_uri == "https://contoso.com/privacy"
    assert d.release_note_uri == "http://contoso.com/notes"


@pytest.mark.parametrize(
    "types, words",
    [
        (["Floppy_LRS"], ["'Floppy_LRS'", "disk type", "Premium_LRS"]),
        (["Premium_LRS", "premium_lrs"], ["twice"]),
        (["Standard_LRS", "UltraSSD_LRS", "Standard_LRS"], ["twice"]),
        ("Premium_LRS", ["must be a list"]),
    ],
)
def test_disallowed_disk_types_must_be_known_and_unique(create, types, words):
    refused(lambda: create(disallowed_disk_types=types), INVALID, DISK_TYPES, *words)


def test_disallowed_disk_types_are_normalized(create):
    d = create(disallowed_disk_types=["premium_lrs", "UltraSSD_LRS"])
    assert d.disallowed_disk_types == ["Premium_LRS", "UltraSSD_LRS"]


@pytest.mark.parametrize(
    "plan, missing",
    [
        ({"plan_name": "p"}, "publisher"),
        ({"plan_name": "p", "plan_publisher": "pub"}, "product"),
        ({"plan_product": "prod"}, "name"),
        ({"plan_publisher": "pub", "plan_product": "prod"}, "name"),
    ],
)
def test_purchase_plan_is_all_or_nothing(create, plan, missing):
    refused(
        lambda: create(**plan),
        INVALID,
        f"properties.purchasePlan.{missing}",
        "name, publisher and product together",
    )


def test_full_purchase_plan_is_accepted(create):
    d = create(plan_name="p", plan_publisher="pub", plan_product="prod")
    assert (d.plan_name, d.plan_publisher, d.plan_product) == ("p", "pub", "prod")


def test_null_optional_properties_are_accepted(create):
    d = create(
        privacy_statement_uri=None,
        release_note_uri=None,
        disallowed_disk_types=None,
        min_vcpus=None,
        end_of_life_date=None,
        tags=None,
    )
    assert (d.privacy_statement_uri, d.release_note_uri, d.disallowed_disk_types, d.min_vcpus, d.tags) == (
        "",
        "",
        [],
        None,
        {},
    )


@pytest.mark.parametrize("key", ["eula", "description", "plan_name"])
def test_null_text_properties_are_accepted_as_empty(create, key):
    d = create(**{key: None})
    assert getattr(GalleryImage.objects.get(pk=d.pk), key) == ""


def test_unknown_property_is_refused(create):
    refused(lambda: create(colour="blue"), INVALID, "colour", "'colour'", "not a property")


def test_disabled_subscription_refuses_definition(create, subscription):
    subscription.state = Subscription.State.DISABLED
    subscription.save()
    refused(lambda: create(), CONFLICT, "subscription", "Disabled")
    assert not GalleryImage.objects.exists()


# --- Update -----------------------------------------------------------------------------------------


def test_mutable_properties_change(caller, create):
    d = create(min_vcpus=1, max_vcpus=2)
    eol = future(30)
    services.update_definition(
        caller,
        d,
        min_vcpus=2,
        max_vcpus=16,
        min_memory_gb=4,
        max_memory_gb=64,
        description="now with docs",
        end_of_life_date=eol,
        release_note_uri="https://contoso.com/notes",
        tags={"tier": "gold"},
    )
    d = GalleryImage.objects.get(pk=d.pk)
    assert (d.min_vcpus, d.max_vcpus, d.min_memory_gb, d.max_memory_gb) == (2, 16, 4, 64)
    assert d.description == "now with docs"
    assert d.end_of_life_date == eol
    assert d.release_note_uri == "https://contoso.com/notes"
    assert d.tags == {"tier": "gold"}


@pytest.mark.parametrize(
    "key, value, target",
    [
        ("publisher", "Fabrikam", "properties.identifier.publisher"),
        ("offer", "Sales", "properties.identifier.offer"),
        ("sku", "Frontend", "properties.identifier.sku"),
        ("os_type", "Windows", "properties.osType"),
        ("os_state", "Specialized", "properties.osState"),
        ("hyper_v_generation", "V2", "properties.hyperVGeneration"),
        ("eula", "new terms", "properties.eula"),
        ("privacy_statement_uri", "https://contoso.com/other", "properties.privacyStatementUri"),
        ("disallowed_disk_types", ["Premium_LRS"], DISK_TYPES),
        ("plan_name", "other", "properties.purchasePlan.name"),
        ("location", "eastus", "location"),
    ],
)
def test_immutable_properties_are_refused_naming_the_path(caller, create, key, value, target):
    d = create(eula="terms", privacy_statement_uri="https://contoso.com/privacy")
    refused(
        lambda: services.update_definition(caller, d, description="changed", **{key: value}),
        IMMUTABLE,
        target,
        f"'{target}'",
        "cannot change after creation",
        "description",
    )
    d = GalleryImage.objects.get(pk=d.pk)
    assert d.description == ""
    assert (d.publisher, d.offer, d.sku, d.os_type, d.eula) == (
        "Contoso",
        "Finance",
        "Backend",
        "Linux",
        "terms",
    )


def test_resending_the_same_immutable_values_is_accepted(caller, create):
    eol = future()
    d = create(
        eula="terms",
        privacy_statement_uri="https://contoso.com/privacy",
        end_of_life_date=eol,
        disallowed_disk_types=["Premium_LRS"],
    )
    services.update_definition(
        caller,
        d,
        publisher="Contoso",
        offer="finance",
        sku="Backend",
        os_type="linux",
        os_state="Generalized",
        hyper_v_generation="V1",
        eula="terms",
        privacy_statement_uri="https://contoso.com/privacy",
        disallowed_disk_types=["Premium_LRS"],
        location="West Europe",
        end_of_life_date=eol,
        description="ok",
    )
    assert GalleryImage.objects.get(pk=d.pk).description == "ok"


def test_resending_disallowed_disk_types_as_first_sent_is_accepted(caller, create):
    d = create(disallowed_disk_types=["premium_lrs", "ultrassd_lrs"])
    services.update_definition(
        caller, d, disallowed_disk_types=["premium_lrs", "ultrassd_lrs"], description="ok"
    )
    assert GalleryImage.objects.get(pk=d.pk).description == "ok"


@pytest.mark.parametrize("key", ["eula", "privacy_statement_uri", "disallowed_disk_types", "plan_name"])
def test_resending_null_for_an_unset_property_is_accepted(caller, create, key):
    d = create()
    services.update_definition(caller, d, description="ok", **{key: None})
    assert GalleryImage.objects.get(pk=d.pk).description == "ok"


@pytest.mark.parametrize(
    "changes, target, words",
    [
        ({"end_of_life_date": timezone.now() - timedelta(days=2)}, "properties.endOfLifeDate", ["past"]),
        ({"release_note_uri": "ftp://x.test/notes"}, "properties.releaseNoteUri", ["'ftp://x.test/notes'"]),
        ({"min_vcpus": 0}, VCPU_MIN, ["at least 1"]),
        ({"tags": {"a<b": "x"}}, "tags.a<b", ["'a<b'", "<"]),
        ({"colour": "blue"}, "colour", ["not a property"]),
    ],
)
def test_invalid_updates_are_refused(caller, create, changes, target, words):
    d = create()
    refused(lambda: services.update_definition(caller, d, **changes), INVALID, target, *words)


# --- Delete -----------------------------------------------------------------------------------------


def test_definition_delete_refused_while_versions_exist(caller, definition, make_version):
    v = make_version("1.0.0")
    refused(
        lambda: services.delete_definition(caller, definition),
        CONFLICT,
        "name",
        "'myImage1'",
        "1 version",
        "delete them first",
    )
    assert GalleryImage.objects.filter(pk=definition.pk).exists()
    services.delete_version(caller, v)
    services.delete_definition(caller, definition)
    assert not GalleryImage.objects.filter(pk=definition.pk).exists()


# --- Limit (F15, single-threaded) ---------------------------------------------------------------------


def _count(subscription, region):
    row = UsageCounter.objects.filter(
        subscription=subscription, region__name=region, kind="definitions"
    ).first()
    return row.count if row else 0


def test_definition_limit_per_region(caller, subscription, gallery, make_definition):
    subscription.limit_definitions = 2
    subscription.save()
    make_definition()
    second = make_definition()
    refused(
        lambda: make_definition("third"),
        QUOTA,
        "location",
        "2 image definitions",
        "West Europe",
        "limit",
    )
    assert not GalleryImage.objects.filter(name="third").exists()
    assert _count(subscription, "westeurope") == 2
    assert make_definition("east", location="eastus").location.name == "eastus"
    assert _count(subscription, "eastus") == 1
    services.delete_definition(caller, second)
    assert _count(subscription, "westeurope") == 1
    make_definition("third")
    assert _count(subscription, "westeurope") == 2


def test_definition_limit_counts_across_galleries_of_the_subscription(
    caller, subscription, rg, make_definition
):
    subscription.limit_definitions = 1
    subscription.save()
    make_definition()
    rg2 = create_resource_group(caller, subscription, "second", "westeurope")
    g2 = services.create_gallery(caller, rg2, "Gallery2")
    refused(
        lambda: services.create_definition(
            caller, g2, "x", publisher="a", offer="b", sku="c", os_type="Linux", os_state="Generalized"
        ),
        QUOTA,
        "location",
        "1 image definition in",
    )


# --- Features: the SecurityType feature (issue 14; the other features are F23) ------------------------

FEATURES = "properties.features"
GEN = "properties.hyperVGeneration"
TLS = [{"name": "SecurityType", "value": "TrustedLaunchSupported"}]


@pytest.mark.parametrize("value", ["TrustedLaunchSupported", "TrustedLaunch", "trustedlaunch"])
def test_security_type_feature_is_stored_in_azures_spelling(create, value):
    d = create(hyper_v_generation="V2", features=[{"name": "securityType", "value": value}])
    expected = "TrustedLaunch" if value.lower() == "trustedlaunch" else value
    assert d.features == [{"name": "SecurityType", "value": expected}]
    assert GalleryImage.objects.get(pk=d.pk).security_type == expected


def test_a_definition_without_features_is_standard(create):
    d = create(features=None)
    assert d.features == [] and d.security_type == "Standard"


@pytest.mark.parametrize("value", ["TrustedLaunchSupported", "TrustedLaunch"])
def test_trusted_launch_needs_generation_v2(create, value):
    features = [{"name": "SecurityType", "value": value}]
    refused(lambda: create(hyper_v_generation="V1", features=features), INVALID, GEN, value, "V2", "V1")
    refused(lambda: create(features=features), INVALID, GEN, "V2")  # the default generation is V1
    assert not GalleryImage.objects.exists()


@pytest.mark.parametrize(
    "features, target, words",
    [
        (
            [{"name": "SecurityType", "value": "ConfidentialVM"}],
            f"{FEATURES}[0]",
            ["not supported yet", "F23"],
        ),
        (
            [{"name": "SecurityType", "value": "TrustedLaunchAndConfidentialVmSupported"}],
            f"{FEATURES}[0]",
            ["TrustedLaunchAndConfidentialVmSupported", "not supported yet"],
        ),
        ([{"name": "SecurityType", "value": "confidentialvmsupported"}], f"{FEATURES}[0]", ["not supported"]),
        ([{"name": "SecurityType", "value": "Standard"}], f"{FEATURES}[0]", ["no SecurityType feature"]),
        ([{"name": "SecurityType", "value": "Bogus"}], f"{FEATURES}[0]", ["'Bogus'", "TrustedLaunch"]),
        (
            [*TLS, {"name": "IsAcceleratedNetworkSupported", "value": "True"}],
            f"{FEATURES}[1]",
            ["IsAcceleratedNetworkSupported", "not supported yet", "F23"],
        ),
        ([{"name": "DiskControllerTypes", "value": "SCSI, NVMe"}], f"{FEATURES}[0]", ["DiskControllerTypes"]),
        ([{"name": "IsHibernateSupported", "value": "True"}], f"{FEATURES}[0]", ["not supported yet"]),
        ([{"name": "Made-up", "value": "x"}], f"{FEATURES}[0]", ["'Made-up'", "not supported yet"]),
        ([*TLS, {"name": "SecurityType", "value": "TrustedLaunch"}], f"{FEATURES}[1]", ["listed twice"]),
        ([{"name": "SecurityType"}], f"{FEATURES}[0]", ["a name and a value"]),
        ([{"value": "TrustedLaunch"}], f"{FEATURES}[0]", ["a name and a value"]),
        ([{"name": "SecurityType", "value": 1}], f"{FEATURES}[0]", ["text"]),
        (["SecurityType=TrustedLaunch"], f"{FEATURES}[0]", ["an object"]),
        ({"SecurityType": "TrustedLaunch"}, FEATURES, ["a list"]),
        (
            [{**TLS[0], "startsAtVersion": "1.0.0"}],
            f"{FEATURES}[0].startsAtVersion",
            ["not supported yet", "every version"],
        ),
        ([{**TLS[0], "colour": "blue"}], f"{FEATURES}[0].colour", ["not a property of an image feature"]),
    ],
)
def test_features_the_portal_does_not_implement_are_refused_by_index(create, features, target, words):
    refused(lambda: create(hyper_v_generation="V2", features=features), INVALID, target, *words)
    assert not GalleryImage.objects.exists()


def test_null_starts_at_version_asks_for_nothing(create):
    d = create(hyper_v_generation="V2", features=[{**TLS[0], "startsAtVersion": None}])
    assert d.features == TLS


def test_features_cannot_change_after_creation(caller, create):
    d = create(hyper_v_generation="V2", features=TLS)
    plain = create("plain", sku="Plain")
    for target_def, new in (
        (d, [{"name": "SecurityType", "value": "TrustedLaunch"}]),
        (d, []),
        (plain, TLS),
    ):
        refused(
            lambda d_=target_def, new_=new: services.update_definition(caller, d_, features=new_),
            IMMUTABLE,
            FEATURES,
            "allowUpdateImage",
        )
    assert GalleryImage.objects.get(pk=d.pk).features == TLS
    assert GalleryImage.objects.get(pk=plain.pk).features == []


def test_resending_the_same_features_is_accepted(caller, create):
    d = create(hyper_v_generation="V2", features=TLS)
    services.update_definition(
        caller, d, features=[{"name": "securitytype", "value": "trustedlaunchsupported"}], description="x"
    )
    d.refresh_from_db()
    assert d.features == TLS and d.description == "x"
    services.update_definition(caller, d, features=None)  # not given: nothing to change
    assert GalleryImage.objects.get(pk=d.pk).features == TLS
