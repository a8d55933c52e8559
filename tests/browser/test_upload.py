"""The VHD upload page in the browser: a file in three chunks survives dropped connections — a chunk
whose answer is lost after the server stored it, and a chunk that never reached the server — by asking
the server where the upload stands and resuming from there; the stored blob is the file, byte for byte.
A refused file shows the server's message next to the file input."""

from __future__ import annotations

import hashlib

import pytest
from playwright.sync_api import expect

from accounts.services import create_user
from galleries import vhd
from galleries.models import Blob

from .conftest import allow_console_errors, sign_in

PASSWORD = "Upl-Browser-Pass-1"
CHUNK = 4 * vhd.MIB  # the page's chunk size (galleries/views_resources.py UPLOAD_CHUNK_BYTES)


@pytest.fixture
def user(tenant):
    return create_user(tenant, "upl@contoso.test", PASSWORD, "Uploader")


def test_the_upload_resumes_after_dropped_connections(page, user, rg, tmp_path):
    path = tmp_path / "disk.vhd"
    with path.open("wb") as f:
        vhd.write_fixed_vhd(f, 10 * vhd.MIB, seed=3)  # 10 MiB + footer: three chunks
    data = path.read_bytes()

    dropped = []

    def flaky_network(route):
        request = route.request
        start = request.headers.get("content-range", "").removeprefix("bytes ").split("-")[0]
        if request.method == "PUT" and start == str(CHUNK) and "answer-lost" not in dropped:
            dropped.append("answer-lost")
            route.fetch()  # the server stores the second chunk...
            route.abort("connectionreset")  # ...and its answer never arrives
        elif request.method == "PUT" and start == str(2 * CHUNK) and "request-lost" not in dropped:
            dropped.append("request-lost")
            route.abort("connectionreset")  # the third chunk never reaches the server
        else:
            route.continue_()

    sign_in(page, "upl@contoso.test", PASSWORD)
    allow_console_errors(page, r"net::ERR_CONNECTION_RESET")  # the connections dropped on purpose
    page.route("**/uploads/*", flaky_network)
    probes = []
    page.on("request", lambda r: probes.append(r.url) if r.method == "GET" and "/uploads/" in r.url else None)

    page.goto(f"/uploads/new?resourceGroup={rg.pk}")
    page.get_by_label("VHD file").set_input_files(str(path))
    page.get_by_role("button", name="Upload").click()
    done = page.locator("#upload-done")
    expect(done).to_be_visible(timeout=60_000)
    expect(done).to_contain_text("disk.vhd")
    expect(page.locator("#upload-progress").get_by_role("progressbar")).to_have_attribute(
        "aria-valuenow", "100"
    )
    expect(page.locator("#upload-status")).to_contain_text(hashlib.sha256(data).hexdigest())
    expect(page.locator("#upload-error")).to_be_hidden()
    assert dropped == ["answer-lost", "request-lost"]
    assert len(probes) >= 2  # after each failure the page asked the server where the upload stands

    blob = Blob.objects.get(resource_group=rg, name="disk.vhd")
    assert blob.state == "Available" and blob.size_bytes == len(data)
    assert blob.sha256 == hashlib.sha256(data).hexdigest()


def test_a_refused_file_shows_the_message_next_to_the_file_input(page, user, rg, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"not a disk\n" * 100)
    sign_in(page, "upl@contoso.test", PASSWORD)
    page.goto(f"/uploads/new?resourceGroup={rg.pk}")
    file_input = page.get_by_label("VHD file")
    file_input.set_input_files(str(path))
    allow_console_errors(page, r"status of 400 \(Bad Request\)")  # the refusal below, on purpose
    page.get_by_role("button", name="Upload").click()
    error = page.locator("#upload-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text(".vhd")
    expect(file_input).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".field", has=file_input).locator("#upload-error")).to_be_visible()
    expect(page.locator("#upload-done")).to_be_hidden()
    assert not Blob.objects.filter(resource_group=rg).exists()
