"""The Azure CLI 2.91.0 against the portal over HTTPS, step by step (issue 14): the cloud is registered
from the portal's /metadata/endpoints and made active."""

from __future__ import annotations


def test_az_cloud_register_set_and_show(az, https_portal):
    base = https_portal.url
    az("cloud", "register", "-n", "Portal", "--endpoint-resource-manager", base + "/")
    az("cloud", "set", "-n", "Portal")
    cloud = az("cloud", "show")
    assert cloud["name"] == "Portal" and cloud["isActive"] is True
    endpoints = cloud["endpoints"]
    assert endpoints["activeDirectory"] == base
    assert endpoints["activeDirectoryResourceId"] == base + "/"
    assert endpoints["management"] == base + "/"
    assert endpoints["resourceManager"] == base + "/"
    assert endpoints["microsoftGraphResourceId"] == base + "/graph/"
    assert endpoints["portal"] == base
    # Nothing the portal does not have is claimed (the CLI leaves those unset).
    assert endpoints.get("gallery") is None and endpoints.get("activeDirectoryGraphResourceId") is None
    assert not {k: v for k, v in cloud["suffixes"].items() if v}
    assert [c["name"] for c in az("cloud", "list") if c["isActive"]] == ["Portal"]
