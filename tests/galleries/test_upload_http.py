"""The chunked upload over HTTP: start, send with Content-Range, resume after a dropped connection,
refusals in the ARM error shape, and other tenants' uploads answering 404."""

from __future__ import annotations

import hashlib
import io

import pytest

from accounts.activity import Caller
from accounts.services import create_resource_group, create_subscription, create_tenant, create_user
from galleries import vhd
from galleries.models import Blob
from galleries.storage import RegionStore

MIB = vhd.MIB


def vhd_bytes(virtual_mib=2, seed=7) -> bytes:
    buf = io.BytesIO()
    vhd.write_fixed_vhd(buf, virtual_mib * MIB, seed=seed)
    return buf.getvalue()


def put(client, pk, data, start, total=None):
    total = total if total is not None else start + len(data)
    return client.generic(
        "PUT",
        f"/uploads/{pk}",
        data,
        content_type="application/octet-stream",
        HTTP_CONTENT_RANGE=f"bytes {start}-{start + len(data) - 1}/{total}",
    )


def start(client, rg, name="disk.vhd", size=None):
    return client.post(
        "/uploads/", {"resourceGroup": rg.arm_id, "name": name, "size": size}, content_type="application/json"
    )


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def test_anonymous_callers_get_401_in_the_arm_shape(client, db):
    response = client.post("/uploads/", {}, content_type="application/json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AuthenticationFailed"


def test_upload_in_chunks_resume_after_a_dropped_connection_and_complete(signed_in, rg):
    data = vhd_bytes(3)
    r = start(signed_in, rg, size=len(data))
    assert r.status_code == 201
    pk = r.json()["id"]
    assert put(signed_in, pk, data[:MIB], 0, len(data)).json()["offset"] == MIB
    # The connection drops; the client asks where the upload stands and resumes from there.
    r = start(signed_in, rg, size=len(data))
    assert r.status_code == 200 and r.json()["id"] == pk and r.json()["offset"] == MIB
    assert signed_in.get(f"/uploads/{pk}").json()["percent"] == int(MIB * 100 / len(data))
    # A chunk sent from the wrong place is refused with the offset to resume from.
    r = put(signed_in, pk, data[2 * MIB : 3 * MIB], 2 * MIB, len(data))
    assert r.status_code == 409
    assert r.json()["error"]["target"] == "offset" and r.json()["offset"] == MIB
    offset = MIB
    while offset < len(data):
        r = put(signed_in, pk, data[offset : offset + MIB], offset, len(data))
        assert r.status_code == 200, r.json()
        offset = r.json()["offset"]
    body = r.json()
    assert body["state"] == "Available" and body["percent"] == 100
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    blob = Blob.objects.get(pk=pk)
    assert RegionStore(blob.region).path(blob.relative_path).read_bytes() == data


def test_a_chunk_without_a_content_range_is_refused_naming_the_header(signed_in, rg):
    data = vhd_bytes(1)
    pk = start(signed_in, rg, size=len(data)).json()["id"]
    r = signed_in.generic("PUT", f"/uploads/{pk}", data[:100], content_type="application/octet-stream")
    assert r.status_code == 400
    assert r.json()["error"]["target"] == "Content-Range"


def test_a_content_range_that_does_not_match_the_chunk_is_refused(signed_in, rg):
    data = vhd_bytes(1)
    pk = start(signed_in, rg, size=len(data)).json()["id"]
    r = put(signed_in, pk, data[:100], 0, len(data) + 1)
    assert r.status_code == 400 and r.json()["error"]["target"] == "Content-Range"


def test_a_bad_size_is_refused_before_any_byte(signed_in, rg):
    r = start(signed_in, rg, size=MIB)  # no footer: not a whole number of MiB plus 512
    assert r.status_code == 400
    assert r.json()["error"] == {
        "code": "InvalidParameter",
        "target": "size",
        "message": r.json()["error"]["message"],
        "details": [],
    }
    assert "512" in r.json()["error"]["message"]


def test_an_invalid_vhd_is_refused_at_the_end_and_nothing_remains(signed_in, rg):
    data = bytearray(vhd_bytes(1))
    data[-512:-504] = b"notavhd!"
    pk = start(signed_in, rg, size=len(data)).json()["id"]
    r = put(signed_in, pk, bytes(data), 0)
    assert r.status_code == 400
    assert r.json()["error"]["target"] == "file" and "conectix" in r.json()["error"]["message"]
    assert signed_in.get(f"/uploads/{pk}").status_code == 404
    assert not Blob.objects.exists()


def test_discarding_an_upload_removes_it(signed_in, rg, django_capture_on_commit_callbacks):
    data = vhd_bytes(2)
    pk = start(signed_in, rg, size=len(data)).json()["id"]
    put(signed_in, pk, data[:MIB], 0, len(data))
    blob = Blob.objects.get(pk=pk)
    temp = RegionStore(blob.region).path(blob.temp_relative_path)
    assert temp.exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert signed_in.delete(f"/uploads/{pk}").status_code == 204
    assert not temp.exists() and not Blob.objects.exists()


def test_another_tenant_cannot_see_touch_or_upload_into_what_is_not_theirs(client, rg, caller):
    data = vhd_bytes(1)
    from galleries import services

    blob = services.start_upload(caller, rg, "mine.vhd", len(data))
    fabrikam = create_tenant("Fabrikam", "fabrikam.test")
    mallory = create_user(fabrikam, "mallory@fabrikam.test", "Mallory-Pass-1")
    client.force_login(mallory)
    assert client.get(f"/uploads/{blob.pk}").status_code == 404
    assert put(client, blob.pk, data, 0).status_code == 404
    assert client.delete(f"/uploads/{blob.pk}").status_code == 404
    r = start(client, rg, name="intruder.vhd", size=len(data))
    assert r.status_code == 404 and r.json()["error"]["target"] == "resourceGroup"
    blob.refresh_from_db()
    assert blob.bytes_received == 0
    # Their own resource group works.
    own_rg = create_resource_group(
        Caller(mallory),
        create_subscription(Caller.system(), fabrikam, "F", owner=mallory),
        "frg",
        "westeurope",
    )
    assert start(client, own_rg, size=len(data)).status_code == 201
