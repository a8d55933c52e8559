"""Page forms and links with numbers no row can have ("²" is a digit to ``str.isdigit()`` and not to
``int()``; 5,000 digits overflow; a negative id): each answers 4xx or re-renders with the field named,
never a 500 (issue 12, item 4 — the page half of the corpus)."""

from __future__ import annotations

import pytest

from galleries.services import TargetRegionSpec as T

WEIRD = ["²", "٣", "9" * 5000, "-1", "0", " ", "1e3"]
IDS = ["superscript-two", "arabic-three", "5000-digits", "negative", "zero", "blank", "exponent"]


@pytest.fixture
def owner_client(client, user, subscription):
    client.force_login(user)
    return client


@pytest.mark.parametrize("value", WEIRD, ids=IDS)
def test_deploy_source_and_resource_group(owner_client, make_version, rg, value):
    v = make_version(target_regions=[T("westeurope")])
    assert owner_client.get("/deployments/new", {"source": value}).status_code == 404
    r = owner_client.post(
        f"/deployments/new?source={v.pk}",
        {
            "source": str(v.pk),
            "name": "vm1",
            "kind": "scaleset",
            "resource_group": value,
            "instance_count": value,
        },
    )
    assert r.status_code < 500, r.status_code
    r = owner_client.post(
        f"/deployments/new?source={v.pk}",
        {
            "source": str(v.pk),
            "name": "vm1",
            "kind": "scaleset",
            "resource_group": str(rg.pk),
            "instance_count": value,
        },
    )
    assert r.status_code < 500, r.status_code


@pytest.mark.parametrize("value", WEIRD, ids=IDS)
def test_gallery_form_resource_group(owner_client, value):
    r = owner_client.post("/galleries/new", {"resource_group": value, "name": "G9", "description": ""})
    assert r.status_code < 500


@pytest.mark.parametrize("value", WEIRD, ids=IDS)
def test_advisor_counts(owner_client, make_version, value):
    v = make_version(target_regions=[T("westeurope")])
    r = owner_client.post(
        f"/versions/{v.pk}/advisor", {"vms-westeurope": value, "scalesets-westeurope": value}
    )
    assert r.status_code < 500
    assert owner_client.get(f"/versions/{v.pk}/advisor", {"vms-westeurope": value}).status_code < 500


@pytest.mark.parametrize("value", WEIRD, ids=IDS)
def test_version_editor_operations(owner_client, definition, value):
    r = owner_client.post(f"/definitions/{definition.pk}/versions/new", {"op": f"remove-{value}"})
    assert r.status_code < 500
    r = owner_client.post(f"/definitions/{definition.pk}/versions/new", {"op": f"remove-disk-{value}"})
    assert r.status_code < 500


@pytest.mark.parametrize("value", WEIRD, ids=IDS)
def test_removing_an_assignment_by_a_weird_id(owner_client, gallery, value):
    r = owner_client.post(f"/resources/{gallery.pk}/access/remove", {"assignment": f"u:{value}"})
    assert r.status_code < 500
