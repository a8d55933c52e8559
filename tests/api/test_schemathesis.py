"""Property-based tests of the ARM-compatible API from its own OpenAPI description (schemathesis).

Schemathesis reads /api/openapi.json from the app and sends generated requests to every operation —
the schema's examples, its boundary and negative cases (missing or unknown api-version, wrong types,
unknown properties, odd names, other methods) and random ones — in-process through Django's WSGI
handler, inside the test's database transaction, as the Owner of a subscription whose resource group
"images" holds a gallery, a definition, a version and the managed image it was published from. Every
response must be:

- never a server error (``not_a_server_error``);
- when it is a refusal (4xx or 5xx), JSON with exactly the ARM error shape
  ``{"error": {"code", "message", "target", "details"}}`` (``arm_error_shape``).

Responses are not otherwise held to the schema here (tests/api/test_openapi.py checks the document).
The run is bounded and deterministic: at most ``MAX_EXAMPLES`` random cases per operation and
derandomized generation, so CI sends the same requests every time.

The bad-input corpus of issue 12 is permanent here too, on both databases (the file runs in both
passes of .ci/run):

- schemathesis' own cases get corpus values mixed in (``CORPUS``: NUL characters, lone surrogates,
  "²", a 5,000-digit number, impossible dates, text over every limit) in a share of string
  properties and of ``$top``/``$skiptoken``;
- ``test_every_operation_survives_the_corpus`` sends every operation of the description bodies no
  schema would produce — JSON of any shape, nesting 1,000 deep, non-JSON bytes, more than 4 MB —
  and corpus values in its path and query;
- ``test_the_upload_endpoints_survive_the_corpus`` does the same to ``POST /uploads/`` and
  ``PUT/GET/DELETE /uploads/<id>`` (bodies, Content-Range, Content-Length, ids), whose every refusal
  must be JSON.

Each must answer below 500, every refusal JSON in the ARM error shape.
"""

from __future__ import annotations

import json
import zlib
from urllib.parse import quote

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from werkzeug.test import Client

from accounts import tokens
from galleries.api import arm_versions
from galleries.api.schema import EXAMPLE

MAX_EXAMPLES = 30
NEWEST = max(arm_versions.GALLERY_API_VERSIONS)
#: The host schemathesis' in-process WSGI calls carry (werkzeug's test client): the tokens' issuer and audience.
WSGI_BASE = "http://localhost"

#: The bad-input corpus of issue 12: each of these once made some endpoint answer 500.
CORPUS = [
    "\x00",
    "a\x00b",
    "\ud800",  # a lone surrogate (JSON "\ud800")
    "²",
    "٣",
    "9" * 5000,
    "99999999999999999999",
    "-1",
    "9999-12-31T99:99:99Z",
    "2030-02-30T00:00:00Z",
    "9999-12-31T23:59:59-05:00",
    "x" * 5000,  # over a description
    "https://example.com/" + "u" * 3000,  # over a URI
    "' OR 1=1 --",
    "../../etc/passwd",
    "%00",
    "",
]
#: What a URL can carry (a lone surrogate cannot be percent-encoded as UTF-8).
QUERY_CORPUS = [value for value in CORPUS if value != "\ud800"]


class InProcessWSGI:
    """Django's WSGI handler, run inside the test's transaction. Like Django's test client it keeps the
    database connection across requests: ``close_old_connections`` at the end of a request would
    otherwise close it, and with it the test's transaction."""

    def __init__(self):
        self.handler = WSGIHandler()

    def __call__(self, environ, start_response):
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            response = self.handler(environ, start_response)
            body = b"".join(response)
            response.close()
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)
        return [body]


@schemathesis.check
def arm_error_shape(ctx, response, case):
    """A refusal is JSON with exactly ``{"error": {"code", "message", "target", "details"}}``."""
    if response.status_code < 400:
        return True
    content_type = (response.headers.get("content-type") or [""])[0]
    assert content_type.startswith("application/json"), (
        f"{response.status_code} answered with Content-Type {content_type!r}, not application/json"
    )
    body = json.loads(response.content)
    assert isinstance(body, dict) and set(body) == {"error"}, f"not an ARM error body: {body!r}"
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"code", "message", "target", "details"}, (
        f"the error object is {error!r}"
    )
    assert isinstance(error["code"], str) and error["code"], f"no error code: {error!r}"
    assert isinstance(error["message"], str) and error["message"], f"no message: {error!r}"
    assert error["target"] is None or isinstance(error["target"], str), f"target: {error!r}"
    assert isinstance(error["details"], list), f"details: {error!r}"
    return True


def _bucket(value, buckets: int) -> int:
    """A stable pick among ``buckets`` for ``value`` (crc32, not hash(): the run must not depend on
    PYTHONHASHSEED)."""
    return zlib.crc32(repr(value).encode()) % buckets


@pytest.fixture
def arm_api(db, client, user, subscription, rg, gallery, definition, image, make_version):
    """The schema, loaded from the app, aimed at real resources with the Owner's token."""
    version = make_version(EXAMPLE["version"])
    names = (rg.name, gallery.name, definition.name, version.name, image.name)
    assert names == tuple(EXAMPLE[k] for k in ("rg", "gallery", "image", "version", "name")), (
        "the schema's examples name the resources of tests/conftest.py"
    )
    token = tokens.issue(user, base=WSGI_BASE)["access_token"]
    # A long-running operation of this user, for the operation-status endpoint.
    response = client.patch(
        f"{gallery.arm_id}?api-version={NEWEST}",
        {"tags": {"set-by": "test"}},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_HOST="localhost",  # the host the schemathesis calls carry, for which the token is
    )
    assert response.status_code == 200, response.content
    operation = response["Azure-AsyncOperation"].split("?")[0].rsplit("/", 1)[1]

    config = SchemathesisConfig.from_dict(
        {
            "headers": {"Authorization": f"Bearer {token}"},
            "parameters": {
                "path.sub": str(subscription.guid),
                "path.rg": rg.name,
                "path.location": EXAMPLE["location"],
                "path.operation": operation,
            },
            "generation": {"with-security-parameters": False},
        }
    )
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", InProcessWSGI(), config=config)
    existing = {
        "gallery": gallery.name,
        "image": definition.name,
        "version": version.name,
        "name": image.name,
    }

    @schema.hook
    def map_path_parameters(context, path_parameters):
        # Generated names alone would reach only 404s below the gallery level: a quarter of the cases
        # keep them, a quarter name a new resource under existing parents (creation), half name
        # existing resources throughout. The choice is a stable hash of the case, so the run is
        # deterministic.
        if not path_parameters:
            return path_parameters
        choice = _bucket(sorted(path_parameters.items()), 4)
        if choice == 0:
            return path_parameters
        names = [k for k in path_parameters if k in existing]
        keep = names[-1:] if choice == 1 else []
        return {k: v if k in keep or k not in existing else existing[k] for k, v in path_parameters.items()}

    @schema.hook
    def map_body(context, body):
        # Half the version bodies name the real managed image as their source, so that creation gets
        # past the source lookup and into the rules; a third of all bodies carry a corpus value.
        key = json.dumps(body, sort_keys=True, default=str)
        if isinstance(body, dict) and _bucket(key, 2):
            _point_sources_at(body, image.arm_id)
        if _bucket(key + "corpus", 3) == 0:
            body = _with_corpus_value(body, _bucket(key, 1 << 16))
        return body

    @schema.hook
    def map_query(context, query):
        # A quarter of the queries page with a corpus value.
        if query is not None and _bucket(sorted(query.items()), 4) == 0:
            pick = _bucket(sorted(query.items()), len(QUERY_CORPUS) * 2)
            query = {**query, ("$top", "$skiptoken")[pick % 2]: QUERY_CORPUS[pick // 2]}
        return query

    return schema


def _string_leaves(value, path=()):
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _string_leaves(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _string_leaves(item, (*path, i))


def _with_corpus_value(body, pick: int):
    """``body`` with one of its strings (chosen by ``pick``) replaced by a corpus value."""
    leaves = list(_string_leaves(body))
    if not leaves:
        return body
    path = leaves[pick % len(leaves)]
    value = CORPUS[pick % len(CORPUS)]
    if not path:
        return value
    here = body
    for step in path[:-1]:
        here = here[step]
    here[path[-1]] = value
    return body


def _point_sources_at(value, arm_id: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("source", "managedImage") and isinstance(item, dict) and "id" in item:
                item["id"] = arm_id
            _point_sources_at(item, arm_id)
    elif isinstance(value, list):
        for item in value:
            _point_sources_at(item, arm_id)


schema = schemathesis.pytest.from_fixture("arm_api")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],  # generation speed depends on the machine, not the API
)
def test_no_server_errors_and_every_refusal_in_the_arm_shape(case):
    response = case.call()
    case.validate_response(response, checks=[not_a_server_error, arm_error_shape])


def test_the_shape_check_refuses_a_refusal_that_is_not_arm_shaped(db, user):
    """``arm_error_shape`` bites: the portal's own 404 page (HTML) fails it, an API 404 passes."""
    app = Client(InProcessWSGI())
    token = tokens.issue(user, base=WSGI_BASE)["access_token"]
    page = app.get("/no-such-page/")
    assert page.status_code == 404
    with pytest.raises(AssertionError, match="not application/json"):
        arm_error_shape(None, schemathesis.Response.from_any(page), None)
    api = app.get(
        f"/subscriptions/{EXAMPLE['sub']}/resourceGroups/images?api-version=2025-04-01",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert api.status_code == 404
    assert arm_error_shape(None, schemathesis.Response.from_any(api), None)


# --- The corpus, beyond what a schema generates ---------------------------------------------------------


def _refusal_in_shape(response, *, arm: bool = True) -> None:
    """Below 500; a refusal is JSON, in the ARM error shape."""
    assert response.status_code < 500, (response.status_code, response.content[:300])
    if response.status_code < 400:
        return
    content_type = response.get("Content-Type", "")
    assert content_type.startswith("application/json"), (response.status_code, content_type)
    error = json.loads(response.content)["error"]
    assert {"code", "message", "target", "details"} <= set(error), error
    assert isinstance(error["code"], str) and error["code"] and isinstance(error["message"], str)


_KEYS = st.sampled_from(
    [
        "location",
        "tags",
        "properties",
        "description",
        "eula",
        "identifier",
        "publisher",
        "osType",
        "endOfLifeDate",
        "publishingProfile",
        "targetRegions",
        "name",
        "regionalReplicaCount",
        "storageProfile",
        "source",
        "id",
        "safetyProfile",
        "size",
        "resourceGroup",
        "\x00",
        "",
        "$ref",
    ]
) | st.text(max_size=8)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(CORPUS)
    | st.text(max_size=12)
)
JSON_VALUES = st.recursive(
    _SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_KEYS, children, max_size=4),
    max_leaves=12,
)
#: Bodies no schema would send.
RAW_BODIES = st.sampled_from(
    [
        b"",
        b"null",
        b"[]",
        b'"x"',
        b"{not json",
        b"\xff\xfe\x00",
        b"[" * 1000 + b"]" * 1000,
        b'{"location": "westeurope", "tags": ' + b"[" * 1000 + b"]" * 1000 + b"}",
        b'{"location": "westeurope", "properties": {"description": "' + b"d" * (5 * 1024 * 1024) + b'"}}',
        b'{"location": "westeurope", "properties": {"description": "\\u0000"}}',
        b'{"location": "westeurope", "properties": {"description": "\\ud800"}}',
    ]
) | JSON_VALUES.map(lambda v: json.dumps(v).encode())
#: ARM-shaped bodies with one property (of the ones these endpoints read) set to anything.
PROPERTY_PATHS = [
    ("location",),
    ("tags",),
    ("tags", "team"),
    ("properties",),
    ("properties", "description"),
    ("properties", "eula"),
    ("properties", "privacyStatementUri"),
    ("properties", "osType"),
    ("properties", "endOfLifeDate"),
    ("properties", "identifier", "publisher"),
    ("properties", "recommended", "vCPUs", "min"),
    ("properties", "disallowed", "diskTypes"),
    ("properties", "purchasePlan", "name"),
    ("properties", "publishingProfile", "targetRegions"),
    ("properties", "publishingProfile", "replicaCount"),
    ("properties", "publishingProfile", "endOfLifeDate"),
    ("properties", "storageProfile", "source", "id"),
    ("properties", "storageProfile", "dataDiskImages"),
    ("properties", "safetyProfile", "blockDeletionBeforeEndOfLife"),
]


def _q(value: str, safe: str = "") -> str:
    """Percent-encoded, lone surrogates included (as their UTF-8-like bytes: not valid UTF-8)."""
    return quote(value.encode("utf-8", "surrogatepass"), safe=safe)


def _arm_body(path, value) -> bytes:
    body: dict = {"location": "westeurope"}
    here = body
    for step in path[:-1]:
        here = here.setdefault(step, {}) if isinstance(here.get(step, {}), dict) else {}
    here[path[-1]] = value
    return json.dumps(body).encode()


ARM_BODIES = st.builds(_arm_body, st.sampled_from(PROPERTY_PATHS), JSON_VALUES)


@pytest.fixture
def api_operations(client, user, subscription, rg, gallery, definition, image, make_version):
    """Every operation of /api/openapi.json with the newest api-version it accepts, aimed at real
    resources; the Owner's token."""
    version = make_version(EXAMPLE["version"])
    names = {
        "sub": str(subscription.guid),
        "rg": rg.name,
        "gallery": gallery.name,
        "image": definition.name,
        "version": version.name,
        "name": image.name,
        "location": "westeurope",
        "operation": EXAMPLE["operation"],
        "namespace": EXAMPLE["namespace"],
        "deployment": EXAMPLE["deployment"],
        "deployment_operation": EXAMPLE["deployment_operation"],
    }
    description = client.get("/api/openapi.json").json()
    operations = []
    for path, methods in description["paths"].items():
        for method, operation in methods.items():
            versions = next(
                p["schema"]["enum"] for p in operation["parameters"] if p["name"] == "api-version"
            )
            operations.append((method.upper(), path, max(versions)))
    token = tokens.issue(user, base="http://testserver")["access_token"]
    return sorted(operations), names, {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
@given(data=st.data())
def test_every_operation_survives_the_corpus(api_operations, data):
    from django.test import Client

    operations, names, bearer = api_operations
    method, path, api_version = data.draw(st.sampled_from(operations), "operation")
    for name in [part[1:-1] for part in path.split("/") if part.startswith("{")]:
        value = data.draw(st.sampled_from([names[name]] * 3 + CORPUS), name)
        path = path.replace("{" + name + "}", _q(value))
    query = {"api-version": api_version}
    extra = data.draw(
        st.dictionaries(
            st.sampled_from(["$top", "$skiptoken", "$filter", "$expand", "q"]),
            st.sampled_from(CORPUS) | st.text(max_size=8),
            max_size=2,
        ),
        "query",
    )
    query.update(extra)
    body = data.draw(ARM_BODIES | RAW_BODIES, "body") if method in ("PUT", "PATCH") else b""
    client = Client(raise_request_exception=False)
    url = path + "?" + "&".join(f"{_q(k, safe='$')}={_q(v)}" for k, v in query.items())
    response = client.generic(method, url, body, content_type="application/json", **bearer)
    _refusal_in_shape(response)


@pytest.fixture
def an_upload(client, user, rg):
    client.force_login(user)
    size = 2 * 1024 * 1024 + 512
    r = client.post(
        "/uploads/",
        {"resourceGroup": rg.arm_id, "name": "fuzz.vhd", "size": size},
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    return client, rg, r.json()["id"], size


_NUMBERS = st.sampled_from(["0", "1", "9", "-1", "²", "٣", "9" * 25, "9" * 5000, "abc", ""]) | st.integers(
    min_value=0, max_value=2**64
).map(str)


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
@given(data=st.data())
def test_the_upload_endpoints_survive_the_corpus(an_upload, data):
    client, rg, pk, size = an_upload
    action = data.draw(st.sampled_from(["start", "start-form", "chunk", "other"]), "action")
    if action == "start":
        fields = data.draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "resourceGroup": st.just(rg.arm_id) | JSON_VALUES,
                    "name": st.just("disk.vhd") | JSON_VALUES,
                    "size": st.just(size) | JSON_VALUES | _NUMBERS,
                    "container": JSON_VALUES,
                },
            ),
            "fields",
        )
        raw = data.draw(st.just(json.dumps(fields).encode()) | RAW_BODIES, "body")
        response = client.generic("POST", "/uploads/", raw, content_type="application/json")
    elif action == "start-form":
        form = data.draw(st.dictionaries(_KEYS, st.sampled_from(CORPUS) | st.text(max_size=8), max_size=4))
        response = client.post(
            "/uploads/",
            "&".join(f"{_q(k)}={_q(v)}" for k, v in form.items()),
            content_type="application/x-www-form-urlencoded",
        )
    elif action == "chunk":
        start, end, total = (data.draw(_NUMBERS, n) for n in ("start", "end", "total"))
        content_range = data.draw(
            st.just(f"bytes {start}-{end}/{total}") | st.sampled_from(CORPUS) | st.text(max_size=20), "range"
        )
        headers = {"HTTP_CONTENT_RANGE": content_range}
        if data.draw(st.booleans(), "declare a length"):
            headers["CONTENT_LENGTH"] = data.draw(_NUMBERS, "length")
        chunk = data.draw(st.binary(max_size=64), "chunk")
        response = client.generic(
            "PUT", f"/uploads/{pk}", chunk, content_type="application/octet-stream", **headers
        )
    else:
        method = data.draw(st.sampled_from(["GET", "DELETE", "PATCH", "POST", "PUT"]), "method")
        where = data.draw(st.sampled_from([str(pk), str(2**70), "x", "%00", "1/2", ""]) | _NUMBERS, "id")
        response = client.generic(method, f"/uploads/{_q(where, safe='%/')}")
    _refusal_in_shape(response)
