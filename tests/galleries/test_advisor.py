"""The replica advisor (F11): one replica per 20 concurrent VM creations, at least one per concurrent
scale set of up to 600 instances (ceil(n/600) for a larger one), +20 % headroom rounded up, at most 50."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from galleries import advisor, services
from galleries.advisor import (
    MAX_REPLICAS,
    RegionLoad,
    advise,
    load_from_text,
    needed_replicas,
    parse_count,
    parse_scale_sets,
    recommend,
    with_headroom,
)
from galleries.deployments import rules
from portal.core.errors import ServiceError
from tests.conftest import refused


@pytest.mark.parametrize(
    "vms, scale_sets, needed",
    [
        (0, (), 0),
        (1, (), 1),
        (20, (), 1),
        (21, (), 2),
        (120, (), 6),  # the seed's example: 120 concurrent VMs → 6 replicas
        (0, (1,), 1),
        (0, (600,), 1),
        (0, (601,), 2),  # a scale set of more than 600 instances needs ceil(n/600)
        (0, (1000,), 2),
        (0, (300, 300, 300), 3),  # one replica per concurrent scale set, however small
        (0, (600, 1000), 3),
        (40, (600,), 2),  # a replica serves 20 VM creations and one scale set at the same time
        (100, (600, 600), 5),
        (10, (700, 700, 700), 6),
    ],
)
def test_needed_replicas(vms, scale_sets, needed):
    assert needed_replicas(vms, scale_sets) == needed


@pytest.mark.parametrize(
    "needed, recommended",
    [
        (0, 1),
        (1, 2),
        (2, 3),
        (5, 6),
        (6, 8),
        (10, 12),
        (11, 14),
        (40, 48),
        (41, 50),
        (42, 50),
        (50, 50),
        (80, 50),
    ],
)
def test_headroom_is_twenty_percent_rounded_up_at_least_one_and_capped_at_fifty(needed, recommended):
    assert with_headroom(needed) == recommended


def test_the_cap_is_the_services_limit():
    assert MAX_REPLICAS == services.MAX_REPLICAS


def test_the_capacities_are_the_deployments():
    """One source: what the advisor plans for is what a deployment waits on (F10)."""
    assert (advisor.VMS_PER_REPLICA, advisor.SCALE_SET_INSTANCES_PER_REPLICA) == (
        rules.VMS_PER_REPLICA,
        rules.SCALE_SET_INSTANCES_PER_REPLICA,
    )
    assert advisor.MAX_SCALE_SET_INSTANCES == rules.MAX_SCALE_SET_FROM_GALLERY


@pytest.mark.parametrize(
    "current, status, change",
    [
        (None, "new", 0),
        (1, "under", 8),
        (6, "under", 3),
        (7, "below", 2),
        (8, "below", 1),
        (9, "ok", 0),
        (12, "over", -3),
    ],
)
def test_the_advice_compares_with_the_current_count(current, status, change):
    a = recommend(RegionLoad("eastus", concurrent_vms=130), current)  # 130 VMs: 7 needed, 7 + ceil(1.4) = 9
    assert (a.needed, a.recommended) == (7, 9)
    assert (a.status, a.change) == (status, change)
    assert not a.exceeds_limit


def test_a_load_beyond_fifty_replicas_says_so():
    a = recommend(RegionLoad("eastus", concurrent_vms=20 * 60), 50)
    assert a.needed == 60 and a.recommended == 50 and a.exceeds_limit and a.status == "under"


def test_advise_keeps_the_order_and_pairs_current_counts():
    loads = [RegionLoad("westeurope", 45), RegionLoad("eastus", 0, (300,)), RegionLoad("northeurope")]
    out = advise(loads, {"westeurope": 2, "eastus": 2})
    assert [(a.region, a.needed, a.recommended, a.current) for a in out] == [
        ("westeurope", 3, 4, 2),
        ("eastus", 1, 2, 2),
        ("northeurope", 0, 1, None),
    ]
    assert loads[2].empty and not loads[1].empty


# --- Parsing -------------------------------------------------------------------------------------------


def test_parsing_what_a_person_types():
    assert parse_count("", "x") == 0 and parse_count(" 1_000 ", "x") == 1000
    assert parse_scale_sets("300, 800;1000  5", "x") == (300, 800, 1000, 5)
    assert parse_scale_sets("  ", "x") == ()
    load = load_from_text("eastus", "45", "300", "rows[0]")
    assert load == RegionLoad("eastus", 45, (300,))


@pytest.mark.parametrize(
    "vms, sets, target, words",
    [
        ("-1", "", "r.concurrentVMs", "whole number"),
        ("4.5", "", "r.concurrentVMs", "whole number"),
        ("many", "", "r.concurrentVMs", "'many'"),
        ("", "300, x", "r.scaleSets", "'x' is not one"),
        ("", "0", "r.scaleSets", "1 to 1,000 instances"),
        ("", "1001", "r.scaleSets", "1,001 was given"),
    ],
)
def test_bad_input_is_refused_naming_the_field(vms, sets, target, words):
    refused(lambda: load_from_text("eastus", vms, sets, "r"), ServiceError.INVALID_PARAMETER, target, words)


# --- Properties ----------------------------------------------------------------------------------------

vm_counts = st.integers(min_value=0, max_value=5000)
scale_sets = st.lists(st.integers(min_value=1, max_value=1000), max_size=8).map(tuple)


@given(vm_counts, scale_sets)
def test_the_recommendation_covers_the_need_within_the_limit(vms, sets):
    a = recommend(RegionLoad("r", vms, sets))
    assert 1 <= a.recommended <= MAX_REPLICAS
    assert a.recommended >= min(a.needed, MAX_REPLICAS)
    if a.needed and a.needed < MAX_REPLICAS:
        assert a.recommended > a.needed  # headroom: at least one spare replica
    assert a.exceeds_limit == (a.needed > MAX_REPLICAS)
    # The need itself serves the load: every 20 VMs and every 600 instances of each set have a replica.
    assert a.needed * 20 >= vms
    assert a.needed >= sum(math.ceil(n / 600) for n in sets)


@given(
    vm_counts, scale_sets, st.integers(min_value=0, max_value=500), st.integers(min_value=1, max_value=1000)
)
def test_more_load_never_recommends_fewer_replicas(vms, sets, more_vms, extra_set):
    base = recommend(RegionLoad("r", vms, sets))
    assert recommend(RegionLoad("r", vms + more_vms, sets)).recommended >= base.recommended
    assert recommend(RegionLoad("r", vms, sets + (extra_set,))).recommended >= base.recommended
    assert needed_replicas(vms + more_vms, sets + (extra_set,)) >= base.needed


@given(scale_sets, st.integers(min_value=0, max_value=7), st.integers(min_value=1, max_value=1000))
def test_a_larger_scale_set_never_needs_fewer_replicas(sets, index, grow):
    if not sets:
        return
    i = index % len(sets)
    bigger = sets[:i] + (min(1000, sets[i] + grow),) + sets[i + 1 :]
    assert needed_replicas(0, bigger) >= needed_replicas(0, sets)


@given(st.integers(min_value=0, max_value=10_000))
def test_headroom_is_monotonic_and_bounded(n):
    assert with_headroom(n) <= with_headroom(n + 1) <= MAX_REPLICAS
    assert with_headroom(n) >= min(max(n, 1), MAX_REPLICAS)
