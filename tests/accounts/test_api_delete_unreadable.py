"""DELETE through the API of a resource the caller may not read (issue 12, item 10).

Azure's specs list 204 "Resource does not exist." among the DELETE answers of a gallery, an image
definition and an image version (GalleryRP.json), and the SDK's poller takes a 204 as "done"; the
portal answers 204 both for what does not exist and for what the caller may not read. That is safe only
if the two answers are the same to the byte — status, every header but Date, body — and the refused one
writes nothing: no deletion, no operation, no activity-log entry (see docs/architecture.md, Access)."""

from __future__ import annotations

import pytest

from accounts import tokens
from accounts.activity import Caller
from accounts.models import ActivityLogEntry, Resource
from accounts.services import create_tenant, create_user
from accounts.sharing import grant_as_system
from galleries import services
from galleries.api.arm_versions import GALLERY_API_VERSIONS, IMAGE_API_VERSIONS, SNAPSHOT_API_VERSIONS
from galleries.models import ArmOperation

PROVIDER = "providers/Microsoft.Compute"


@pytest.fixture
def resources(subscription, rg, gallery, definition, make_version, image, make_blob, caller):
    """Every kind of resource the API deletes, each with the path of a sibling that does not exist."""
    snapshot = services.create_snapshot(caller, rg, "osdisk", blob=make_blob(virtual_mib=1), os_type="Linux")
    version = make_version()
    base = f"/subscriptions/{subscription.guid}/resourceGroups/{rg.name}/{PROVIDER}"
    g = f"{base}/galleries/{gallery.name}"
    d = f"{g}/images/{definition.name}"
    newest = {"gallery": GALLERY_API_VERSIONS[-1], "image": IMAGE_API_VERSIONS[-1]}
    newest["snapshot"] = SNAPSHOT_API_VERSIONS[-1]
    return {
        "gallery": (gallery, g, f"{base}/galleries/Missing", newest["gallery"]),
        "definition": (definition, d, f"{g}/images/missing", newest["gallery"]),
        "version": (version, f"{d}/versions/{version.name}", f"{d}/versions/9.9.9", newest["gallery"]),
        "managed image": (image, f"{base}/images/{image.name}", f"{base}/images/missing", newest["image"]),
        "snapshot": (snapshot, f"{base}/snapshots/osdisk", f"{base}/snapshots/missing", newest["snapshot"]),
    }


def as_bytes(response) -> tuple:
    """Everything a client receives but the Date header."""
    headers = sorted((k.lower(), v) for k, v in response.headers.items() if k.lower() != "date")
    return response.status_code, headers, response.content


def bearer(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {tokens.issue(user, base='http://testserver')['access_token']}"}


@pytest.mark.parametrize("kind", ["gallery", "definition", "version", "managed image", "snapshot"])
def test_deleting_an_unreadable_resource_answers_exactly_like_a_missing_one(client, user, resources, kind):
    obj, path, missing_path, api_version = resources[kind]
    stranger = create_user(user.home_tenant, "nobody@contoso.test", "Nobody-Pass-1")
    foreigner = create_user(create_tenant("Fabrikam", "fabrikam.test"), "eve@fabrikam.test", "Eve-Pass-1")
    unknown_sub = path.replace(str(obj.subscription.guid), "00000000-0000-4000-8000-000000000000")
    before = (ActivityLogEntry.objects.count(), ArmOperation.objects.count(), Resource.objects.count())

    for who in (stranger, foreigner):
        auth = bearer(who)
        unreadable = as_bytes(client.delete(f"{path}?api-version={api_version}", **auth))
        missing = as_bytes(client.delete(f"{missing_path}?api-version={api_version}", **auth))
        elsewhere = as_bytes(client.delete(f"{unknown_sub}?api-version={api_version}", **auth))
        assert unreadable[0] == 204, unreadable
        assert unreadable == missing == elsewhere, (who.username, unreadable, missing, elsewhere)

    # Nothing was written: the resource is there, no operation started, no activity-log entry.
    assert (
        ActivityLogEntry.objects.count(),
        ArmOperation.objects.count(),
        Resource.objects.count(),
    ) == before
    assert Resource.objects.filter(pk=obj.pk).exists()

    # Someone who may read it learns nothing new from a refusal: 403, and it is still not deleted.
    reader = create_user(user.home_tenant, "reader@contoso.test", "Reader-Pass-1")
    grant_as_system(obj.subscription, reader, "reader")
    refused = client.delete(f"{path}?api-version={api_version}", **bearer(reader))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "AuthorizationFailed"
    assert Resource.objects.filter(pk=obj.pk).exists()


def test_the_same_url_answers_the_same_before_and_after_the_deletion(client, user, rg, subscription):
    """One URL, one stranger: while the gallery exists (unreadable to them) and once it is gone, the
    same bytes. The owner gets 202 while it exists, then ARM's 204 for what is gone, which ends the
    SDK's poller."""
    stranger = create_user(user.home_tenant, "nobody@contoso.test", "Nobody-Pass-1")
    g = services.create_gallery(Caller(user), rg, "Gone")
    url = f"/subscriptions/{subscription.guid}/resourceGroups/{rg.name}/{PROVIDER}/galleries/Gone"
    url += f"?api-version={GALLERY_API_VERSIONS[-1]}"
    while_there = as_bytes(client.delete(url, **bearer(stranger)))
    assert Resource.objects.filter(pk=g.pk).exists()
    assert client.delete(url, **bearer(user)).status_code == 202
    assert not Resource.objects.filter(pk=g.pk).exists()
    assert as_bytes(client.delete(url, **bearer(stranger))) == while_there
    gone = client.delete(url, **bearer(user))
    assert gone.status_code == 204 and gone.content == b""
    assert as_bytes(gone) == while_there
