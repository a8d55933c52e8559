"""The API's OpenAPI description and its documentation pages (F19): /api/openapi.json is a valid
OpenAPI 3 document that lists every ARM route of galleries/api_urls.py with its api-versions, ARM
errors, long-running-operation headers and paging parameters, and none of the portal's pages;
/api/docs/ (Swagger UI) and /api/redoc/ (ReDoc) load only this server's own static files."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import jsonschema
import pytest
import schemathesis
import yaml
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver
from schemathesis.core.result import Err
from schemathesis.specs.openapi.definitions import OPENAPI_30

from galleries.api import urls as api_urls
from portal.core.arm import ApiNotFound

METHODS = ("get", "put", "patch", "delete", "post")


@pytest.fixture
def document(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    return response.json()


def openapi_path(route: str) -> str:
    """Django's ``subscriptions/<str:sub>/...`` → OpenAPI's ``/subscriptions/{sub}/...``."""
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def arm_routes() -> dict[str, set[str]]:
    """Every route of galleries/api_urls.py but the catch-all 404s → the methods its view serves."""
    routes = {}
    for pattern in api_urls.urlpatterns:
        view = pattern.callback.cls
        if view is ApiNotFound:
            continue
        routes[openapi_path(str(pattern.pattern))] = {m for m in METHODS if hasattr(view, m)}
    return routes


def all_routes(resolver=None, prefix="") -> list[tuple[str, object]]:
    """Every route of the site (portal/urls.py and what it includes) with its callback."""
    out = []
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            out += all_routes(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            out.append((prefix + str(entry.pattern), entry.callback))
    return out


def test_the_schema_is_a_valid_openapi_3_document(client, document):
    assert document["openapi"].startswith("3.0")
    jsonschema.Draft4Validator(OPENAPI_30).validate(document)  # the OpenAPI 3.0 meta-schema
    # Every operation resolves (references, parameters, bodies) as a client generator would read it.
    loaded = schemathesis.openapi.from_dict(document)
    operations = list(loaded.get_all_operations())
    failures = [op.err() for op in operations if isinstance(op, Err)]
    assert not failures, failures
    assert len(operations) == sum(len(methods) for methods in arm_routes().values())
    # The same document as YAML.
    as_yaml = client.get("/api/openapi.yaml")
    assert as_yaml.status_code == 200
    assert yaml.safe_load(as_yaml.content) == document


def test_generation_describes_every_view_without_a_warning(tmp_path):
    """drf-spectacular's own check: a view it cannot describe (no schema for a body, an unknown
    authentication, a path parameter it cannot type) is a warning, and a warning fails."""
    out = tmp_path / "openapi.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert yaml.safe_load(out.read_text())["paths"]


def test_the_schema_lists_every_arm_route_and_none_of_the_portals_pages(document):
    paths = document["paths"]
    described = {path: set(operations) for path, operations in paths.items()}
    assert described == arm_routes()
    ids = [op["operationId"] for ops in paths.values() for op in ops.values()]
    assert len(ids) == len(set(ids)), "operationIds are unique"
    assert {"Galleries_CreateOrUpdate", "GalleryImageVersions_Get", "AsyncOperations_Get"} <= set(ids)
    # No page of the portal (nor the documentation itself) is in it.
    pages = {
        openapi_path(route)
        for route, callback in all_routes()
        if getattr(callback, "cls", None) is None
        or not route.startswith(("subscriptions", "providers", "tenants"))
    }
    assert pages, "the portal has pages"
    assert not pages & set(paths)
    assert all(
        p in ("/subscriptions", "/providers", "/tenants") or p.startswith(("/subscriptions/", "/providers/"))
        for p in paths
    )


#: Lists ARM answers whole (providers: "Providers - List"; compute usages are one page per region).
UNPAGED = {
    "/providers",
    "/subscriptions/{sub}/providers",
    "/subscriptions/{sub}/locations",  # LocationListResult: value only, as ARM
    "/subscriptions/{sub}/providers/Microsoft.Compute/locations/{location}/usages",
    # one operation per resource of one deployment, all at once (no nextLink)
    "/subscriptions/{sub}/resourceGroups/{rg}/deployments/{deployment}/operations",
    "/subscriptions/{sub}/providers/Microsoft.Resources/deployments/{deployment}/operations",
}


def _resolve(document, schema: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_every_operation_documents_api_version_bearer_auth_and_arm_errors(document):
    views = {openapi_path(str(p.pattern)): p.callback.cls for p in api_urls.urlpatterns}
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["bearer"]["description"],
    }
    error = document["components"]["schemas"]["ErrorDetail"]
    assert set(error["required"]) == {"code", "message", "target", "details"}
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            where = f"{method.upper()} {path}"
            assert op["security"] == [{"bearer": []}], where
            params = {(p["in"], p["name"]): p for p in op["parameters"]}
            version = params["query", "api-version"]
            assert version["required"], where
            assert version["schema"]["enum"] == sorted(views[path].api_versions), where
            assert {name for (where_, name) in params if where_ == "path"} == set(
                re.findall(r"{(\w+)}", path)
            )
            responses = op["responses"]
            errors = [code for code in responses if code == "default" or code.startswith(("4", "5"))]
            assert {"400", "401", "404", "default"} <= set(errors), where
            for code in errors:
                schema = responses[code]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/CloudError"}, (where, code)
            if method in ("put", "patch", "delete"):
                assert {"403", "409"} <= set(responses), where
                accepted = {"put": ("200", "201"), "patch": ("200",), "delete": ("202",)}[method]
                expected = {"Azure-AsyncOperation", "Retry-After"} | (
                    {"Location"} if method == "delete" else set()
                )
                if path.endswith("/resourceGroups/{rg}"):
                    # Microsoft.Resources: PUT and PATCH answer at once; DELETE with Location only.
                    accepted = {"put": (), "patch": (), "delete": ("202",)}[method]
                    expected = {"Location", "Retry-After"}
                    for code in ("200", "201"):
                        assert "headers" not in responses.get(code, {}), (where, code)
                if "/Microsoft.Resources/deployments/" in path:
                    # The plan runs within the PUT (galleries.api.deployments); DELETE removes the record.
                    accepted = {"put": ("200", "201"), "delete": ()}[method]
                    expected = {"Azure-AsyncOperation"}
                for code in accepted:
                    assert set(responses[code]["headers"]) == expected, (where, code)
            if method == "put":
                assert op["requestBody"]["required"], where
                body = _resolve(document, op["requestBody"]["content"]["application/json"]["schema"])
                envelope = {"id", "name", "type", "location", "tags", "properties", "systemData"}
                if path.endswith("/resourceGroups/{rg}"):  # ARM's ResourceGroup: managedBy, no systemData
                    envelope = envelope - {"systemData"} | {"managedBy"}
                if "/Microsoft.Resources/deployments/" in path:  # Deployment: properties (and a location
                    # at subscription scope, where ARM requires one)
                    envelope = {"properties"} if "/resourceGroups/" in path else {"properties", "location"}
                assert set(body["properties"]) == envelope, where
                assert body["additionalProperties"] is False, where
            if method == "get" and "content" in responses.get("200", {}):
                body = _resolve(document, responses["200"]["content"]["application/json"]["schema"])
                if "value" in body["properties"] and path not in UNPAGED:  # a list: paging
                    assert {("query", "$top"), ("query", "$skiptoken")} <= set(params), where
                    assert "nextLink" in body["properties"], where
    version_get = document["paths"][
        "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/galleries/{gallery}"
        "/images/{image}/versions/{version}"
    ]["get"]
    expand = next(p for p in version_get["parameters"] if p["name"] == "$expand")
    assert expand["schema"]["enum"] == ["ReplicationStatus"]
    status = document["components"]["schemas"]["OperationStatus"]
    assert set(status["properties"]["status"]["enum"]) == {"InProgress", "Succeeded", "Failed", "Canceled"}


class _Assets(HTMLParser):
    """The URLs a page loads: src and href of script, link, img and iframe elements."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "link", "img", "iframe"):
            self.urls += [value for name, value in attrs if name in ("src", "href") and value]


@pytest.mark.parametrize(
    "page, assets",
    [
        (
            "/api/docs/",
            {
                "swagger-ui-dist/swagger-ui-bundle.js",
                "swagger-ui-dist/swagger-ui-standalone-preset.js",
                "swagger-ui-dist/swagger-ui.css",
                "swagger-ui-dist/favicon-32x32.png",
            },
        ),
        ("/api/redoc/", {"redoc/bundles/redoc.standalone.js", "swagger-ui-dist/favicon-32x32.png"}),
    ],
)
def test_the_documentation_pages_load_only_local_static_files(client, page, assets):
    response = client.get(page)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    parser = _Assets()
    parser.feed(html)
    assert parser.urls
    for url in parser.urls:
        assert not re.match(r"^(?:[a-z]+:)?//", url, re.I), f"{page} loads {url} from elsewhere"
        assert url.startswith("/" + settings.STATIC_URL.lstrip("/")), url
        assert finders.find(url.split("?")[0].removeprefix("/" + settings.STATIC_URL.lstrip("/"))), url
    assert {u.rsplit("drf_spectacular_sidecar/", 1)[-1] for u in parser.urls} >= assets
    assert not re.search(r"https?://", html), f"{page} names an outside URL"
    assert "/api/openapi.json" in html  # the schema it shows is this server's
    # And the browser may load nothing from elsewhere (ReDoc's bundle would fetch a logo from a CDN).
    policy = dict(
        d.strip().split(" ", 1) for d in response["Content-Security-Policy"].split(";") if d.strip()
    )
    assert policy["default-src"] == "'self'"
    for directive in ("script-src", "style-src", "img-src", "connect-src", "font-src", "worker-src"):
        assert not re.search(r"https?:|\*", policy[directive]), (directive, policy[directive])
