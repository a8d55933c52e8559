"""The lean replication panel (galleries.panel) reads plain rows instead of models: what it shows must
be what the models' and services' rules say for the same rows — in flight, percent, aggregated state,
the definition's latest per region — and the version is only found for a principal who may read it."""

from __future__ import annotations

from accounts.services import create_tenant, create_user
from galleries import panel, services
from galleries.models import GalleryImageVersion, TargetRegion
from galleries.services import TargetRegionSpec as T

REGIONS = ["westeurope", "eastus", "northeurope", "westus", "eastus2", "uksouth"]


def test_the_panel_agrees_with_the_model_rules_for_every_state(user, make_version):
    old = make_version("1.0.0", target_regions=[T(r) for r in REGIONS])
    TargetRegion.objects.filter(version=old).update(state="Completed", done_revision=0, revision=0)
    new = make_version("1.1.0", target_regions=[T(r) for r in REGIONS])
    rows = {t.region.name: t for t in TargetRegion.objects.filter(version=new).select_related("region")}
    updates = {
        "westeurope": dict(state="Completed", revision=1, done_revision=1, bytes_done=10, bytes_total=10),
        "eastus": dict(state="Replicating", revision=1, done_revision=0, bytes_done=3, bytes_total=8),
        "northeurope": dict(state="Failed", attempts=5, last_error="copy did not verify", bytes_total=8),
        "westus": dict(state="Completed", revision=2, done_revision=1, bytes_done=8, bytes_total=8),
        "eastus2": dict(state="Completed", removing=True, bytes_done=8, bytes_total=8),
        "uksouth": dict(state="Completed", exclude_from_latest=True, bytes_done=8, bytes_total=8),
    }
    for name, values in updates.items():
        TargetRegion.objects.filter(pk=rows[name].pk).update(**values)

    shown = panel.load(user, new.pk).context()
    models = {t.region_id: t for t in TargetRegion.objects.filter(version=new)}
    latest = {t.region_id: v for v in [old, new] for t in TargetRegion.objects.filter(version=v)}
    latest_by_name = services.latest_by_region(new.definition)
    region_names = dict(TargetRegion.objects.filter(version=new).values_list("region_id", "region__name"))
    for row in shown["regions"]:
        model = models[row.region_id]
        assert (row.state, row.in_flight, row.percent, row.removing) == (
            model.state,
            model.in_flight,
            model.percent,
            model.removing,
        ), region_names[row.region_id]
        expected = latest_by_name.get(region_names[row.region_id])
        assert (row.latest[0] if row.latest else None) == (expected.pk if expected else None)
    assert len(shown["regions"]) == len(REGIONS) and set(latest) == set(models)
    version = GalleryImageVersion.objects.get(pk=new.pk)
    assert shown["aggregated"] == version.aggregated_state() == "Failed"
    assert shown["in_flight"] == any(t.in_flight for t in models.values()) is True
    assert shown["any_failed"] is True
    # The newest completed version is latest where it completed, the older one elsewhere.
    by_name = {region_names[r.region_id]: r.latest[1] if r.latest else None for r in shown["regions"]}
    assert by_name["westeurope"] == "1.1.0" and by_name["eastus"] == "1.0.0" and by_name["uksouth"] == "1.0.0"


def test_the_rows_come_in_display_name_order(user, make_version):
    v = make_version(target_regions=[T(r) for r in REGIONS])
    shown = panel.load(user, v.pk).context()
    names = [r.display_name for r in shown["regions"]]
    assert names == sorted(names)


def test_only_a_reader_finds_the_version(user, make_version):
    v = make_version()
    stranger = create_user(create_tenant("Fabrikam", "fabrikam.test"), "eve@fabrikam.test", "Eve-Pass-1")
    colleague = create_user(user.home_tenant, "carol@contoso.test", "Carol-Pass-1")  # same tenant, no role
    assert panel.load(user, v.pk).version.pk == v.pk
    assert panel.load(stranger, v.pk) is None
    assert panel.load(colleague, v.pk) is None
    assert panel.load(user, 10**9) is None  # missing looks the same


def test_a_remembered_chain_that_does_not_match_the_row_is_read_again(user, make_version):
    """The process remembers each version's chain to read its assignments in the same round trip; a
    wrong memory (an id reused after a restore, say) must never decide access."""
    mine = make_version("1.0.0")
    panel.load(user, mine.pk)
    stranger = create_user(create_tenant("Fabrikam", "fabrikam.test"), "eve@fabrikam.test", "Eve-Pass-1")
    assert panel.load(stranger, mine.pk) is None
    # Make the process believe that the version's chain is one the stranger can read: its own.
    from accounts.activity import Caller
    from accounts.services import create_subscription

    theirs = create_subscription(Caller.system(), stranger.home_tenant, "Theirs", owner=stranger)
    panel._CHAINS[mine.pk] = (mine.definition_id, frozenset({theirs.pk}))
    stranger._access_memo = {}  # as in a request (AccessMiddleware)
    assert panel.load(stranger, mine.pk) is None
    assert panel._CHAINS[mine.pk] == panel._chain(panel.PanelVersion(*panel._VERSION.rows(pk=mine.pk)[0]))
    assert panel.load(user, mine.pk).version.pk == mine.pk
