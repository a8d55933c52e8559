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
"""

from __future__ import annotations

import json
import zlib

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from werkzeug.test import Client

from accounts import tokens
from galleries import arm_versions
from galleries.api_schema import EXAMPLE

MAX_EXAMPLES = 30
NEWEST = max(arm_versions.GALLERY_API_VERSIONS)


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
    token = tokens.issue(user)["access_token"]
    # A long-running operation of this user, for the operation-status endpoint.
    response = client.patch(
        f"{gallery.arm_id}?api-version={NEWEST}",
        {"tags": {"set-by": "test"}},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
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
        # past the source lookup and into the rules.
        if isinstance(body, dict) and _bucket(json.dumps(body, sort_keys=True, default=str), 2):
            _point_sources_at(body, image.arm_id)
        return body

    return schema


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
    token = tokens.issue(user)["access_token"]
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
