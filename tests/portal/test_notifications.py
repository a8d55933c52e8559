"""The notifications panel (issue 13): long-running work the user may see, in progress and recent, with
a count; the htmx panel polls while anything is in progress and answers 286 (stop polling) when
nothing is; every row goes through the access filter."""

from __future__ import annotations

import io
import re

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.activity import Caller
from accounts.services import create_tenant, create_user
from accounts.sharing import grant_as_system
from galleries import services, vhd
from galleries.models import TargetRegion
from galleries.models_api import ArmOperation

HTMX = {"HTTP_HX_REQUEST": "true"}


def finish_replication(version):
    """What the worker does when every region is done (tested in tests/galleries)."""
    TargetRegion.objects.filter(version=version).update(
        state=TargetRegion.State.COMPLETED, done_revision=F("revision"), updated_at=timezone.now()
    )


def panel(client):
    return client.get("/notifications/", **HTMX)


def count_badge(response) -> str:
    m = re.search(
        r'<span id="notif-count" class="notif-count" hx-swap-oob="true"( hidden)?>(\d*)',
        response.content.decode(),
    )
    assert m, response.content[:500]
    return "" if m.group(1) else m.group(2)


def operation(version, principal):
    """An ARM long-running operation on ``version`` started by ``principal`` (what the API records)."""
    return ArmOperation.objects.create(
        kind="update",
        resource_type=version.type,
        resource_id=version.pk,
        arm_id=version.arm_id,
        subscription_id=version.subscription_id,
        location="westeurope",
        principal=principal,
    )


def start_upload(caller, rg, name: str, seed: int):
    buf = io.BytesIO()
    vhd.write_fixed_vhd(buf, vhd.MIB, seed=seed)
    return services.start_upload(caller, rg, name, len(buf.getvalue()))


@pytest.fixture
def stranger(tenant):
    return create_user(tenant, "nobody@contoso.test", "Nobody-Pass-1", "Nobody")


@pytest.fixture
def foreigner(db):
    return create_user(create_tenant("Fabrikam", "fabrikam.test"), "eve@fabrikam.test", "Eve-Pass-1", "Eve")


def test_a_replication_in_progress_polls_and_is_counted_then_stops_when_done(client, user, make_version):
    version = make_version("1.0.0", target_regions=["westeurope", "northeurope"])
    client.force_login(user)
    response = panel(client)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Gallery1/myImage1/1.0.0" in html and f'href="/versions/{version.pk}/"' in html
    assert "In progress" in html and "2 regions" in html
    assert 'hx-trigger="every 3s, notif-refresh from:body"' in html  # polls again
    assert count_badge(response) == "1"

    finish_replication(version)
    response = panel(client)
    html = response.content.decode()
    assert response.status_code == 286  # htmx stops polling
    assert 'hx-trigger="notif-refresh from:body"' in html and "every 3s" not in html
    assert "Gallery1/myImage1/1.0.0" in html and "Completed" in html  # recent: still listed
    assert count_badge(response) == ""


def test_the_page_lists_the_same_rows_in_the_frame(client, user, make_version):
    make_version("1.0.0")
    client.force_login(user)
    response = client.get("/notifications/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Notifications</h1>" in html and "Gallery1/myImage1/1.0.0" in html


def test_nothing_at_all_answers_286_and_says_so(client, user):
    client.force_login(user)
    response = panel(client)
    assert response.status_code == 286
    assert "Nothing in progress" in response.content.decode()


def test_what_the_user_may_not_read_never_appears(
    client, user, caller, rg, make_version, stranger, foreigner
):
    version = make_version("1.0.0")
    start_upload(caller, rg, "pending.vhd", 7)
    operation(version, user)
    client.force_login(user)
    html = panel(client).content.decode()
    assert "pending.vhd" in html and html.count("Gallery1/myImage1/1.0.0") == 2  # replication + API

    for who in (stranger, foreigner):
        client.force_login(who)
        response = panel(client)
        html = response.content.decode()
        assert response.status_code == 286
        assert "1.0.0" not in html and "pending.vhd" not in html and "Gallery1" not in html


def test_a_reader_sees_replications_but_not_others_uploads_or_operations(
    client, user, caller, rg, make_version, stranger
):
    version = make_version("1.0.0")
    start_upload(caller, rg, "alices.vhd", 8)
    operation(version, user)
    grant_as_system(rg, stranger, "reader")
    client.force_login(stranger)
    html = panel(client).content.decode()
    assert html.count("Gallery1/myImage1/1.0.0") == 1  # its replication is news to a reader too...
    assert "Replication" in html and "Operation" not in html  # ... but the API call is alice's
    assert "alices.vhd" not in html  # an upload is its uploader's


def test_an_operation_on_a_resource_no_longer_readable_disappears(client, user, tenant, make_version):
    """An operation the user started stays hidden once its resource is out of reach."""
    version = make_version("1.0.0")
    other = create_user(tenant, "carol@contoso.test", "Carol-Pass-1", "Carol")
    operation(version, other)  # started by carol, who cannot read the version
    client.force_login(other)
    html = panel(client).content.decode()
    assert "Gallery1" not in html


def test_a_stalled_upload_is_paused_not_in_progress(client, user, caller, rg):
    blob = start_upload(caller, rg, "stalled.vhd", 9)
    type(blob).objects.filter(pk=blob.pk).update(updated_at=timezone.now() - timezone.timedelta(minutes=10))
    client.force_login(user)
    response = panel(client)
    assert response.status_code == 286  # nothing moves: no polling for a closed upload page
    assert "stalled.vhd" in response.content.decode() and "Paused" in response.content.decode()


def test_a_deployment_being_created_is_in_progress(client, user, make_version, rg):
    from galleries import deployments

    version = make_version("1.0.0")
    finish_replication(version)
    d = deployments.create_deployment(
        Caller(principal=user),
        version,
        rg,
        "web1",
        location="westeurope",
        os_profile=deployments.OsProfile("web1", "azureuser", "Sturdy-Pass-2026!", ""),
    )
    client.force_login(user)
    response = panel(client)
    html = response.content.decode()
    assert f'href="/deployments/{d.pk}/"' in html and "web1" in html
    assert d.state == "Creating"  # no worker runs in this test
    assert response.status_code == 200 and count_badge(response) == "1"


def test_anonymous_is_asked_to_sign_in(client, db):
    for extra in ({}, HTMX):
        response = client.get("/notifications/", **extra)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_the_frame_loads_the_panel(client, user):
    client.force_login(user)
    html = client.get("/").content.decode()
    assert 'id="notif-panel" hx-get="/notifications/" hx-trigger="load, notif-refresh from:body"' in html


def test_the_panel_costs_the_same_queries_for_one_or_many_rows(client, user, caller, rg, make_version):
    make_version("1.0.0")
    client.force_login(user)
    panel(client)  # warm-up (session, content types)
    with CaptureQueriesContext(connection) as one:
        panel(client)
    for n in range(1, 6):
        make_version(f"1.0.{n}")
        start_upload(caller, rg, f"more{n}.vhd", 20 + n)
    with CaptureQueriesContext(connection) as many:
        html = panel(client).content.decode()
    assert html.count("Gallery1/myImage1/1.0.") == 6 and "more5.vhd" in html
    assert len(many) == len(one), [q["sql"] for q in many.captured_queries]
