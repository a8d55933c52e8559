"""F16 cost: storage = Σ replicas × size × price per region, egress = one copy into each non-source
region, prices from the configurable table, estimates validated exactly like create_version, and
monthly totals per definition / gallery / subscription in a constant number of queries.

Expected amounts are written out by hand (exact Decimals), never recomputed with the code under test.
"""

from __future__ import annotations

import json
import runpy
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test.utils import CaptureQueriesContext

from galleries import costs, services
from galleries.models import Replica, TargetRegion
from galleries.services import TargetRegionSpec as TR
from portal.core.errors import ServiceError

BASE_SETTINGS = Path(__file__).resolve().parents[2] / "portal" / "settings" / "base.py"
GIB = 2**30
MIB = 2**20
PP = "properties.publishingProfile"
TRS = f"{PP}.targetRegions"

# The fixtures' disks are fixed VHDs: virtual size + a 512-byte footer.
OS_DISK = 2 * MIB + 512  # make_blob() default, 2 MiB
DATA_DISK = 1 * MIB + 512  # data blobs of make_image(data_luns=...), 1 MiB
# (3 MiB + 1024 B) / 2**30 = 3/1024 + 1/2**20 = 0.0029296875 + 0.00000095367431640625
G_OS_DATA = Decimal("0.00293064117431640625")
# (2 MiB + 512 B) / 2**30 = 2/1024 + 1/2**21 = 0.001953125 + 0.000000476837158203125
G_OS = Decimal("0.001953601837158203125")

DEFAULT_PRICES = {
    "currency": "USD",
    "storage_per_gib_month": {"Standard_LRS": "0.05", "Standard_ZRS": "0.0625", "Premium_LRS": "0.15"},
    "region_overrides": {},
    "egress_per_gib": "0.087",
}


@pytest.fixture(autouse=True)
def _default_prices(settings):
    """Tests state their prices; a deployment's COST_PRICE_TABLE_FILE must not change them."""
    settings.COST_PRICES = json.loads(json.dumps(DEFAULT_PRICES))


def line(estimate, region):
    (found,) = [x for x in estimate.lines if x.region == region]
    return found


@pytest.fixture
def three_region_version(make_image, make_version):
    """OS disk + data disk; West Europe (source) ×2 LRS, North Europe ×1 LRS, Germany West Central ×3 ZRS."""
    return make_version(
        "1.0.0",
        source=make_image("withdata", data_luns=(0,)),
        target_regions=[
            TR("westeurope", regional_replica_count=2),
            TR("northeurope", regional_replica_count=1),
            TR("germanywestcentral", regional_replica_count=3, storage_account_type="Standard_ZRS"),
        ],
    )


# --- The price table -------------------------------------------------------------------------------


def test_settings_default_table_is_the_documented_one(monkeypatch):
    monkeypatch.delenv("COST_PRICE_TABLE_FILE", raising=False)
    ns = runpy.run_path(str(BASE_SETTINGS))
    assert ns["COST_PRICES"] == DEFAULT_PRICES


def test_price_per_gib_month_defaults_and_region_override(settings):
    settings.COST_PRICES["region_overrides"] = {"North Europe": {"Standard_LRS": "0.07"}}
    assert costs.price_per_gib_month("westeurope", "Standard_LRS") == Decimal("0.05")
    assert costs.price_per_gib_month("westeurope", "Standard_ZRS") == Decimal("0.0625")
    assert costs.price_per_gib_month("westeurope", "Premium_LRS") == Decimal("0.15")
    # The override is keyed by region (name or display name, case/space-insensitive) and type.
    assert costs.price_per_gib_month("northeurope", "Standard_LRS") == Decimal("0.07")
    assert costs.price_per_gib_month("North Europe", "standard_lrs") == Decimal("0.07")
    # A type the override does not name keeps the default price.
    assert costs.price_per_gib_month("northeurope", "Premium_LRS") == Decimal("0.15")


def test_region_override_used_in_estimates(settings, three_region_version):
    settings.COST_PRICES["region_overrides"] = {"northeurope": {"Standard_LRS": "0.07"}}
    est = costs.version_cost(three_region_version)
    assert line(est, "northeurope").price_per_gib_month == Decimal("0.07")
    assert line(est, "northeurope").monthly == Decimal("0.0002051448822021484375")  # 1 × G × 0.07
    assert line(est, "westeurope").price_per_gib_month == Decimal("0.05")
    assert line(est, "germanywestcentral").price_per_gib_month == Decimal("0.0625")
    # G × (2 × 0.05 + 1 × 0.07 + 3 × 0.0625) = G × 0.3575
    assert est.monthly_storage_exact == Decimal("0.001047704219818115234375")


def test_table_from_a_json_file(settings, monkeypatch, tmp_path, three_region_version):
    path = tmp_path / "prices.json"
    path.write_text(
        json.dumps(
            {
                "currency": "EUR",
                "storage_per_gib_month": {"Standard_LRS": 0.04, "Standard_ZRS": 0.0625, "Premium_LRS": "0.2"},
                "region_overrides": {"germanywestcentral": {"Standard_ZRS": 0.1}},
            }
        )
    )
    monkeypatch.setenv("COST_PRICE_TABLE_FILE", str(path))
    ns = runpy.run_path(str(BASE_SETTINGS))  # the real settings block reads the file
    table = ns["COST_PRICES"]
    assert table["currency"] == "EUR"
    assert table["egress_per_gib"] == "0.087"  # not in the file: the default stays
    settings.COST_PRICES = table

    est = costs.version_cost(three_region_version)
    assert est.currency == "EUR"
    assert line(est, "westeurope").price_per_gib_month == Decimal("0.04")  # a JSON float, kept exact
    assert line(est, "germanywestcentral").price_per_gib_month == Decimal("0.1")
    # G × (2 × 0.04 + 1 × 0.04 + 3 × 0.1) = G × 0.42
    assert est.monthly_storage_exact == Decimal("0.001230869293212890625")
    # Two non-source regions × G × 0.087
    assert est.egress_exact == Decimal("0.0005099315643310546875")


def test_missing_or_bad_prices_are_a_configuration_error(settings):
    settings.COST_PRICES = {**DEFAULT_PRICES, "storage_per_gib_month": {"Standard_LRS": "0.05"}}
    with pytest.raises(ImproperlyConfigured, match="Premium_LRS"):
        costs.price_per_gib_month("westeurope", "Premium_LRS")
    settings.COST_PRICES = {**DEFAULT_PRICES, "egress_per_gib": "-1"}
    with pytest.raises(ImproperlyConfigured, match="egress_per_gib"):
        costs.estimate("westeurope", GIB, [("westeurope", 1, "Standard_LRS")])
    settings.COST_PRICES = {**DEFAULT_PRICES, "egress_per_gib": "cheap"}
    with pytest.raises(ImproperlyConfigured, match="egress_per_gib"):
        costs.estimate("westeurope", GIB, [("westeurope", 1, "Standard_LRS")])


# --- Storage and egress ----------------------------------------------------------------------------


def test_seed_example_two_images_in_three_regions_are_six_managed_disks(
    caller, gallery, definition, make_definition, image, make_version
):
    """Seed, Billing: "if you have 2 images and both are replicated to 3 regions, then you will be
    charged for 6 managed disks based on their size"."""
    regions = ["westeurope", "northeurope", "eastus"]
    make_version("1.0.0", target_regions=regions)
    make_version("1.0.0", target_regions=regions, definition_=make_definition("other"))

    total = costs.subscription_cost(gallery.subscription).total
    assert total.versions == 2
    assert total.copies == 6
    assert total.managed_disks == 6
    # 6 disks × G_OS × 0.05 = 0.3 × 0.001953601837158203125
    assert total.monthly_storage_exact == Decimal("0.0005860805511474609375")


def test_storage_is_replicas_times_size_times_price_per_region(three_region_version):
    est = costs.version_cost(three_region_version)
    assert est.size_bytes == OS_DISK + DATA_DISK
    assert est.gib == G_OS_DATA
    assert est.disk_count == 2
    assert est.copies == 6
    assert est.managed_disks == 12
    assert [(x.region, x.replicas, x.storage_account_type) for x in est.lines] == [
        ("westeurope", 2, "Standard_LRS"),  # the source region first, then by name
        ("germanywestcentral", 3, "Standard_ZRS"),
        ("northeurope", 1, "Standard_LRS"),
    ]
    assert line(est, "westeurope").monthly == Decimal("0.000293064117431640625")  # 2 × G × 0.05
    assert line(est, "northeurope").monthly == Decimal("0.0001465320587158203125")  # 1 × G × 0.05
    assert line(est, "germanywestcentral").monthly == Decimal("0.000549495220184326171875")  # 3 × G × 0.0625
    assert est.monthly_storage_exact == Decimal("0.000989091396331787109375")  # G × 0.3375
    assert est.monthly_storage == Decimal("0.00")  # rounded only at the edge
    assert est.currency == "USD"
    assert "free" in est.note.lower()


def test_egress_once_per_non_source_region_whatever_the_replica_count(three_region_version):
    est = costs.version_cost(three_region_version)
    assert est.source_region == "westeurope"
    src = line(est, "westeurope")
    assert src.is_source and src.egress_gib == 0 and src.egress == 0  # 2 replicas, no egress
    for region in ("northeurope", "germanywestcentral"):  # 1 and 3 replicas: one copy each
        assert line(est, region).egress_gib == G_OS_DATA
        assert line(est, region).egress == Decimal("0.00025496578216552734375")  # G × 0.087
    assert est.egress_exact == Decimal("0.0005099315643310546875")


def test_plain_estimate_rounds_totals_to_cents():
    est = costs.estimate(
        "westeurope",
        10 * GIB,
        [("westeurope", 2, "Standard_LRS"), ("eastus", 1, "Premium_LRS"), ("northeurope", 4, "Standard_ZRS")],
    )
    # 2×10×0.05 + 10×0.15 + 4×10×0.0625 = 1 + 1.5 + 2.5
    assert est.monthly_storage == Decimal("5.00")
    assert est.one_time_egress == Decimal("1.74")  # 2 regions × 10 GiB × 0.087
    assert [x.egress for x in est.lines] == [Decimal(0), Decimal("0.870"), Decimal("0.870")]


def test_lines_stay_exact_and_only_the_total_is_rounded(settings):
    settings.COST_PRICES["storage_per_gib_month"]["Standard_LRS"] = "0.004"
    est = costs.estimate(
        "westeurope", GIB, [(r, 1, "Standard_LRS") for r in ("westeurope", "eastus", "westus")]
    )
    assert [x.monthly for x in est.lines] == [Decimal("0.004")] * 3
    # Rounding each line first would give 0.00; the exact sum 0.012 rounds to 0.01.
    assert est.monthly_storage == Decimal("0.01")
    assert costs.money(Decimal("0.005")) == Decimal("0.01")  # half up
    assert costs.money(Decimal("0.0049999")) == Decimal("0.00")


def test_removing_regions_are_excluded(caller, make_version):
    version = make_version(target_regions=["westeurope", TR("northeurope", regional_replica_count=4)])
    ne = version.target_regions.get(region__name="northeurope")
    # A worker already copied into North Europe, so removing the region keeps the row (removing=True)
    # until that region's worker deletes the replica.
    Replica.objects.create(target_region=ne, disk=version.disks.get(), index=0, path="x.vhd")
    services.update_version(caller, version, target_regions=["westeurope"])
    assert TargetRegion.objects.get(pk=ne.pk).removing

    est = costs.version_cost(version)
    assert [x.region for x in est.lines] == ["westeurope"]
    assert est.monthly_storage_exact == Decimal("0.00009768009185791015625")  # 1 × G_OS × 0.05
    assert est.egress_exact == 0
    total = costs.monthly_totals(type(version).objects.filter(pk=version.pk)).total
    assert total.monthly_storage_exact == est.monthly_storage_exact
    assert total.copies == 1


# --- Estimates before a change ---------------------------------------------------------------------


def test_estimate_for_specs_accepts_names_and_display_names(subscription):
    by_name = costs.estimate_for_specs(
        subscription,
        "westeurope",
        OS_DISK + DATA_DISK,
        [
            "westeurope",
            TR("northeurope", regional_replica_count=1),
            TR("germanywestcentral", 3, "Standard_ZRS"),
        ],
        replica_count=2,
    )
    by_display = costs.estimate_for_specs(
        subscription,
        "West Europe",
        OS_DISK + DATA_DISK,
        [
            "West Europe",
            TR("North Europe", regional_replica_count=1),
            TR("Germany West Central", 3, "standard_zrs"),
        ],
        replica_count=2,
        disk_count=2,
    )
    assert by_name.lines == by_display.lines
    assert [(x.region, x.replicas) for x in by_name.lines] == [
        ("westeurope", 2),  # the common replica count
        ("germanywestcentral", 3),
        ("northeurope", 1),
    ]
    assert by_name.monthly_storage_exact == Decimal("0.000989091396331787109375")  # as the real version
    assert by_name.egress_exact == Decimal("0.0005099315643310546875")
    assert by_display.managed_disks == 12
    # No targets: the source region only, as create_version.
    alone = costs.estimate_for_specs(subscription, "westeurope", OS_DISK, None)
    assert [(x.region, x.replicas, x.storage_account_type) for x in alone.lines] == [
        ("westeurope", 1, "Standard_LRS")
    ]


def test_estimate_for_specs_matches_the_created_version(subscription, make_version, image):
    specs = [TR("westeurope", 2), TR("eastus", storage_account_type="Premium_LRS"), "France Central"]
    before = costs.estimate_for_specs(subscription, "westeurope", OS_DISK, specs, replica_count=3)
    version = make_version(target_regions=specs, replica_count=3)
    after = costs.version_cost(version)
    assert before.lines == after.lines
    assert before.monthly_storage_exact == after.monthly_storage_exact
    assert before.egress_exact == after.egress_exact


REFUSALS = [
    pytest.param({"target_regions": ["westeurope", "West Europe"]}, f"{TRS}[1].name", id="duplicate"),
    pytest.param({"target_regions": ["westeurope", "atlantis"]}, f"{TRS}[1].name", id="unknown"),
    pytest.param({"target_regions": ["northeurope"]}, TRS, id="source-not-a-target"),
    pytest.param({"target_regions": []}, TRS, id="no-targets"),
    pytest.param({"target_regions": ["westeurope", "chinanorth"]}, f"{TRS}[1].name", id="other-cloud"),
    pytest.param({"target_regions": ["westeurope", "australiacentral"]}, f"{TRS}[1].name", id="restricted"),
    pytest.param(
        {"target_regions": ["westeurope", TR("ukwest", storage_account_type="Standard_ZRS")]},
        f"{TRS}[1].storageAccountType",
        id="zrs-without-zones",
    ),
    pytest.param(
        {"target_regions": [TR("westeurope", regional_replica_count=51)]},
        f"{TRS}[0].regionalReplicaCount",
        id="regional-count",
    ),
    pytest.param({"replica_count": 0}, f"{PP}.replicaCount", id="common-count"),
    pytest.param({"storage_account_type": "Ultra_LRS"}, f"{PP}.storageAccountType", id="storage-type"),
    pytest.param({"location": "nowhere"}, "location", id="location"),
]


@pytest.mark.parametrize("kwargs, target", REFUSALS)
def test_estimate_for_specs_refuses_what_create_version_refuses(subscription, make_version, kwargs, target):
    with pytest.raises(ServiceError) as created:
        make_version(**kwargs)
    with pytest.raises(ServiceError) as estimated:
        costs.estimate_for_specs(
            subscription,
            kwargs.get("location", "westeurope"),
            OS_DISK,
            kwargs.get("target_regions"),
            replica_count=kwargs.get("replica_count", 1),
            storage_account_type=kwargs.get("storage_account_type", "Standard_LRS"),
        )
    assert created.value.code == ServiceError.INVALID_PARAMETER
    assert created.value.target == target
    assert (estimated.value.code, estimated.value.target, estimated.value.message) == (
        created.value.code,
        created.value.target,
        created.value.message,
    )


def test_estimate_for_version_change_matches_the_update(caller, make_version):
    version = make_version(
        target_regions=[TR("westeurope", storage_account_type="Standard_ZRS"), "northeurope"]
    )
    specs = ["westeurope", TR("northeurope", 2), TR("francecentral", storage_account_type="Premium_LRS")]
    before = costs.estimate_for_version_change(version, specs)
    # West Europe keeps its ZRS (not the version's default LRS), as update_version keeps it.
    assert line(before, "westeurope").storage_account_type == "Standard_ZRS"
    # Only the new region is copied into from the source: North Europe already has its first copy.
    assert line(before, "northeurope").egress == 0
    assert line(before, "francecentral").egress_gib == G_OS
    assert before.egress_exact == Decimal("0.000169963359832763671875")  # G_OS × 0.087

    services.update_version(caller, version, target_regions=specs)
    after = costs.version_cost(version)
    assert [(x.region, x.replicas, x.storage_account_type, x.monthly) for x in after.lines] == [
        (x.region, x.replicas, x.storage_account_type, x.monthly) for x in before.lines
    ]
    # G_OS × (0.0625 + 2 × 0.05 + 0.15) = G_OS × 0.3125
    assert (
        after.monthly_storage_exact == before.monthly_storage_exact == Decimal("0.0006105005741119384765625")
    )


def test_estimate_for_version_change_without_regions_keeps_them(caller, make_version):
    version = make_version(target_regions=["westeurope", TR("northeurope", 2)])
    before = costs.estimate_for_version_change(version, None, replica_count=3)
    services.update_version(caller, version, replica_count=3)
    after = costs.version_cost(version)
    assert [(x.region, x.replicas) for x in before.lines] == [("westeurope", 1), ("northeurope", 2)]
    assert before.monthly_storage_exact == after.monthly_storage_exact
    assert before.egress_exact == 0  # nothing new to copy


def test_estimate_for_version_change_refuses_like_update(caller, make_version):
    version = make_version(target_regions=["westeurope", "northeurope"])
    specs = ["westeurope", "northeurope", "westeurope"]
    with pytest.raises(ServiceError) as estimated:
        costs.estimate_for_version_change(version, specs)
    with pytest.raises(ServiceError) as updated:
        services.update_version(caller, version, target_regions=specs)
    assert (estimated.value.code, estimated.value.target) == (updated.value.code, updated.value.target)
    assert estimated.value.target == f"{TRS}[2].name"


# --- Monthly totals --------------------------------------------------------------------------------


@pytest.fixture
def estate(caller, rg, gallery, definition, make_definition, make_version, make_image):
    """Gallery1: myImage1 with 1.0.0 and 1.0.10, def2 with 2.0.0, def3 with none; Gallery2: one version."""
    v100 = make_version("1.0.0", target_regions=["westeurope", TR("eastus", 2)])
    v1010 = make_version(
        "1.0.10",
        source=make_image("withdata", data_luns=(0, 1)),
        target_regions=[TR("westeurope", storage_account_type="Premium_LRS"), "northeurope"],
    )
    def2 = make_definition("def2")
    v200 = make_version("2.0.0", definition_=def2, target_regions=[TR("westeurope", 3)])
    def3 = make_definition("def3")
    gallery2 = services.create_gallery(caller, rg, "Gallery2")
    other_def = services.create_definition(
        caller,
        gallery2,
        "otherDef",
        os_type="Linux",
        os_state="Generalized",
        publisher="P",
        offer="O",
        sku="S",
    )
    v300 = make_version("3.0.0", definition_=other_def, target_regions=["westeurope", "westus"])
    return {
        "gallery": gallery,
        "gallery2": gallery2,
        "definitions": [definition, def2, def3, other_def],
        "versions": [v100, v1010, v200, v300],
    }


def test_totals_per_definition_gallery_and_subscription_add_up(estate):
    v100, v1010, v200, v300 = estate["versions"]
    definition, def2, def3, other_def = estate["definitions"]
    each = {v.pk: costs.version_cost(v) for v in estate["versions"]}

    by_def = costs.definition_cost(definition)
    assert [c.resource.name for c in by_def.children] == ["1.0.10", "1.0.0"]  # numeric, newest first
    assert by_def.total.monthly_storage_exact == (
        each[v100.pk].monthly_storage_exact + each[v1010.pk].monthly_storage_exact
    )
    assert by_def.total.egress_exact == each[v100.pk].egress_exact + each[v1010.pk].egress_exact
    assert by_def.total.versions == 2
    assert by_def.children[0].estimate == each[v1010.pk]

    by_gallery = costs.gallery_cost(estate["gallery"])
    assert [c.resource.name for c in by_gallery.children] == ["def2", "def3", "myImage1"]
    per_def = {c.resource.name: c.total for c in by_gallery.children}
    assert per_def["myImage1"] == by_def.total
    assert per_def["def2"].monthly_storage_exact == each[v200.pk].monthly_storage_exact
    assert per_def["def3"].monthly_storage_exact == 0 and per_def["def3"].versions == 0
    assert by_gallery.total.monthly_storage_exact == sum(t.monthly_storage_exact for t in per_def.values())
    assert by_gallery.total.versions == 3

    by_sub = costs.subscription_cost(estate["gallery"].subscription)
    assert [c.resource.name for c in by_sub.children] == ["Gallery1", "Gallery2"]
    assert by_sub.children[0].total == by_gallery.total
    assert by_sub.children[1].total.monthly_storage_exact == each[v300.pk].monthly_storage_exact
    assert by_sub.total.monthly_storage_exact == sum(e.monthly_storage_exact for e in each.values())
    assert by_sub.total.egress_exact == sum(e.egress_exact for e in each.values())
    assert by_sub.total.copies == 3 + 2 + 3 + 2
    assert by_sub.total.managed_disks == 3 + 2 * 3 + 3 + 2


def test_totals_hand_computed(estate):
    # G3 = (2 MiB + 512 B + 2 × (1 MiB + 512 B)) / 2**30 = 4/1024 + 1536/2**30 = 0.003907680511474609375
    # 1.0.0:  G_OS × (1×0.05 + 2×0.05) = G_OS × 0.15
    # 1.0.10: G3 × (0.15 + 0.05)       = G3 × 0.2    = 0.000781536102294921875
    # 2.0.0:  G_OS × 3 × 0.05          = G_OS × 0.15
    # 3.0.0:  G_OS × (0.05 + 0.05)     = G_OS × 0.1
    # Σ G_OS terms: G_OS × 0.4 = 0.00078144073486328125
    total = costs.subscription_cost(estate["gallery"].subscription).total
    assert total.monthly_storage_exact == Decimal("0.001562976837158203125")
    assert total.monthly_storage == Decimal("0.00")
    # Egress once into: eastus (1.0.0, G_OS), northeurope (1.0.10, G3), westus (3.0.0, G_OS); × 0.087
    # (2 × G_OS + G3) × 0.087 = 0.007814884185791015625 × 0.087
    assert total.egress_exact == Decimal("0.000679894924163818359375")


def _queries(fn) -> int:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


def test_totals_query_count_does_not_grow_with_versions(
    caller, gallery, definition, make_version, django_assert_max_num_queries
):
    def measure():
        return {
            "definition": _queries(lambda: costs.definition_cost(definition)),
            "gallery": _queries(lambda: costs.gallery_cost(gallery)),
            "subscription": _queries(lambda: costs.subscription_cost(gallery.subscription)),
        }

    targets = [
        "westeurope",
        TR("northeurope", 2),
        TR("germanywestcentral", storage_account_type="Standard_ZRS"),
    ]
    for i in range(2):
        make_version(f"1.0.{i}", target_regions=targets)
    with_two = measure()
    for i in range(2, 10):
        make_version(f"1.0.{i}", target_regions=targets)
    with_ten = measure()
    assert with_ten == with_two == {"definition": 3, "gallery": 4, "subscription": 4}
    with django_assert_max_num_queries(4):
        breakdown = costs.subscription_cost(gallery.subscription)
    assert breakdown.total.versions == 10
    assert breakdown.total.copies == 10 * 4
