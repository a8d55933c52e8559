"""/metadata/endpoints: the shapes the Azure CLI (azure/cli/core/cloud.py ``_arm_to_cli_mapper``), the
ARM_CLOUD_METADATA_URL list and Azure Stack's clients read, built on the public base."""

from __future__ import annotations

import json
import ssl
import urllib.request

import pytest

BASE = "http://testserver"


def _get(client, version=None, **extra):
    query = {} if version is None else {"api-version": version}
    return client.get("/metadata/endpoints", query, **extra)


def test_2022_09_01_is_one_cloud_with_the_portal_as_login_arm_and_graph(client, db):
    r = _get(client, "2022-09-01")
    assert r.status_code == 200 and r["Content-Type"] == "application/json"
    assert r.json() == {
        "name": "Portal",
        "portal": BASE,
        "resourceManager": BASE + "/",
        "authentication": {
            "loginEndpoint": BASE,
            "audiences": [BASE + "/"],
            "tenant": "common",
            "identityProvider": "AAD",
        },
        "microsoftGraphResourceId": BASE + "/graph/",
        "graph": BASE + "/graph/",
        "suffixes": {},
    }


@pytest.mark.parametrize("version", ["2019-05-01", "2020-06-01"])
def test_the_older_arm_versions_list_the_clouds(client, db, version):
    body = _get(client, version).json()
    assert isinstance(body, list) and [c["name"] for c in body] == ["Portal"]
    assert body[0] == _get(client, "2022-09-01").json()


@pytest.mark.parametrize("version", ["1.0", "2015-01-01"])
def test_azure_stack_shape(client, db, version):
    assert _get(client, version).json() == {
        "graphEndpoint": BASE + "/graph/",
        "portalEndpoint": BASE + "/",
        "authentication": {"loginEndpoint": BASE + "/", "audiences": [BASE + "/"]},
    }


def test_a_missing_or_unknown_api_version_is_a_json_400_naming_it(client, db):
    r = _get(client)
    assert r.status_code == 400 and r.json()["error"]["code"] == "MissingApiVersionParameter"
    assert r.json()["error"]["target"] == "api-version"
    r = _get(client, "2099-01-01")
    err = r.json()["error"]
    assert (
        r.status_code == 400
        and err["code"] == "InvalidApiVersionParameter"
        and err["target"] == "api-version"
    )
    assert "2099-01-01" in err["message"] and "2022-09-01" in err["message"]


def test_only_get(client, db):
    r = client.post("/metadata/endpoints?api-version=2022-09-01")
    assert r.status_code == 405 and r["Allow"] == "GET, HEAD"
    assert r.json()["error"]["code"] == "MethodNotAllowed"


def test_public_url_wins_over_the_request(client, db, settings):
    settings.PUBLIC_URL = "https://sig.example.com/"
    body = _get(client, "2022-09-01").json()
    assert body["authentication"]["audiences"] == ["https://sig.example.com/"]
    assert body["authentication"]["loginEndpoint"] == "https://sig.example.com"
    assert body["microsoftGraphResourceId"] == "https://sig.example.com/graph/"


def test_behind_a_proxy_the_forwarded_scheme_counts_and_only_then(client, db, settings):
    """BEHIND_PROXY=1 is SECURE_PROXY_SSL_HEADER: the proxy's X-Forwarded-Proto and the Host it passes on."""
    proxied = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_HOST": "localhost"}
    assert _get(client, "2022-09-01", **proxied).json()["portal"] == "http://localhost"
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    body = _get(client, "2022-09-01", **proxied).json()
    assert body["portal"] == "https://localhost" and body["resourceManager"] == "https://localhost/"


def test_over_https_with_the_double_slash_the_cli_sends(https_portal):
    """``az cloud register --endpoint-resource-manager https://localhost:<port>/`` asks
    ``https://localhost:<port>//metadata/endpoints?api-version=2022-09-01``."""
    url, ca = https_portal
    context = ssl.create_default_context(cafile=ca)
    with urllib.request.urlopen(f"{url}//metadata/endpoints?api-version=2022-09-01", context=context) as r:
        body = json.loads(r.read())
    assert body["resourceManager"] == url + "/" and body["authentication"]["audiences"] == [url + "/"]
