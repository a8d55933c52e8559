"""The upload endpoints under the bad-input corpus of issue 12: every malformed start, chunk, header or
path is a 4xx in JSON (the ARM error shape) naming the field and the rule — never a 500, never an
HTML page from a JSON endpoint. Run on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from galleries.models import Blob


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def json_error(response, status: int, code: str | None = None, target=None) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    error = response.json()["error"]
    assert set(error) >= {"code", "message", "target", "details"}, error
    if code is not None:
        assert error["code"] == code, error
    if target is not None:
        assert error["target"] == target, error
    return error


def post_json(client, raw: str):
    return client.post("/uploads/", raw, content_type="application/json")


@pytest.mark.parametrize(
    "size",
    ["²", "٣", "9" * 5000, "-1"],  # "²".isdigit() is true; ٣ is a decimal digit, but not 0-9
    ids=["superscript-two", "arabic-indic-three", "5000-digits", "negative"],
)
def test_a_size_that_is_not_a_whole_number_of_bytes_is_refused(signed_in, rg, size):
    body = json.dumps({"resourceGroup": rg.arm_id, "name": "disk.vhd", "size": size})
    json_error(post_json(signed_in, body), 400, "InvalidParameter", "size")
    form = signed_in.post("/uploads/", {"resourceGroup": rg.arm_id, "name": "disk.vhd", "size": size})
    json_error(form, 400, "InvalidParameter", "size")


@pytest.mark.parametrize("name", [123, 1.5, True, ["disk.vhd"], {"a": "disk.vhd"}])
def test_a_name_that_is_not_text_is_refused(signed_in, rg, name):
    body = json.dumps({"resourceGroup": rg.arm_id, "name": name, "size": 2 * 1024 * 1024 + 512})
    json_error(post_json(signed_in, body), 400, "InvalidParameter", "name")


@pytest.mark.parametrize(
    "raw",
    ["[]", '"x"', "null", "1", "true", "[" * 2000 + "]" * 2000, "{not json"],
    ids=["list", "string", "null", "number", "true", "nested-2000", "not-json"],
)
def test_a_body_that_is_not_a_json_object_is_refused(signed_in, rg, raw):
    error = json_error(post_json(signed_in, raw), 400)
    assert error["code"] in ("InvalidParameter", "InvalidRequestContent"), error


def test_resource_group_and_container_must_be_text(signed_in, rg):
    body = {"resourceGroup": [rg.arm_id], "name": "disk.vhd", "size": 2 * 1024 * 1024 + 512}
    json_error(post_json(signed_in, json.dumps(body)), 400, "InvalidParameter", "resourceGroup")
    body = {"resourceGroup": rg.arm_id, "name": "disk.vhd", "size": 2 * 1024 * 1024 + 512, "container": 7}
    json_error(post_json(signed_in, json.dumps(body)), 400, "InvalidParameter", "container")


def test_a_nul_in_an_upload_name_is_refused_in_json_and_in_a_form(signed_in, rg):
    body = json.dumps({"resourceGroup": rg.arm_id, "name": "disk\u0000.vhd", "size": 2 * 1024 * 1024 + 512})
    json_error(post_json(signed_in, body), 400, "InvalidParameter", "name")
    form = signed_in.post(
        "/uploads/",
        f"resourceGroup={rg.arm_id}&name=disk%00.vhd&size=2097664",
        content_type="application/x-www-form-urlencoded",
    )
    json_error(form, 400, "InvalidParameter", "name")
    assert not Blob.objects.exists()


@pytest.fixture
def upload(signed_in, rg):
    size = 2 * 1024 * 1024 + 512
    r = post_json(signed_in, json.dumps({"resourceGroup": rg.arm_id, "name": "disk.vhd", "size": size}))
    assert r.status_code == 201, r.content
    return r.json()["id"], size


def test_a_content_range_with_a_5000_digit_total_is_refused(signed_in, upload):
    pk, size = upload
    r = signed_in.generic(
        "PUT",
        f"/uploads/{pk}",
        b"x" * 10,
        content_type="application/octet-stream",
        HTTP_CONTENT_RANGE=f"bytes 0-9/{'9' * 5000}",
    )
    json_error(r, 400, "InvalidParameter", "Content-Range")


@pytest.mark.parametrize(
    "length", ["abc", "²", "-5", "9" * 5000], ids=["abc", "superscript", "negative", "5000-digits"]
)
def test_a_malformed_content_length_is_refused(signed_in, upload, length):
    pk, size = upload
    r = signed_in.generic(
        "PUT",
        f"/uploads/{pk}",
        b"x" * 10,
        content_type="application/octet-stream",
        HTTP_CONTENT_RANGE=f"bytes 0-9/{size}",
        CONTENT_LENGTH=length,
    )
    json_error(r, 400, "InvalidParameter", "Content-Length")


def test_wrong_methods_paths_and_ids_answer_json(signed_in, upload):
    pk, _ = upload
    r = signed_in.patch(f"/uploads/{pk}", b"", content_type="application/json")
    json_error(r, 405, "MethodNotAllowed")
    assert "PUT" in r["Allow"]
    json_error(signed_in.get("/uploads/"), 405, "MethodNotAllowed")
    json_error(signed_in.get("/uploads/not-a-number"), 404, "ResourceNotFound")
    json_error(signed_in.get(f"/uploads/{10**30}"), 404, "ResourceNotFound")
    json_error(signed_in.get("/uploads/%00"), 400, "InvalidParameter", "path")


def test_a_signed_in_browser_without_the_csrf_token_gets_a_json_403(user, rg):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    body = json.dumps({"resourceGroup": rg.arm_id, "name": "disk.vhd", "size": 2 * 1024 * 1024 + 512})
    error = json_error(
        browser.post("/uploads/", body, content_type="application/json"), 403, "AuthorizationFailed"
    )
    assert "CSRF" in error["message"]
