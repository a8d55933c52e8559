def test_fixtures_build_a_version(make_version):
    v = make_version("1.0.0", target_regions=["westeurope", "eastus"])
    assert v.version_name == "1.0.0"
    assert sorted(v.target_regions.values_list("region__name", flat=True)) == ["eastus", "westeurope"]
