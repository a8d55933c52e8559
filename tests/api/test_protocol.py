"""The API's protocol, through the Django test client with a bearer token: api-version rules,
authentication, ARM errors for every refusal (never HTML), case-insensitive paths, paging that
neither repeats nor skips under concurrent inserts, long-running operation status, and 404 for what
the caller may not read."""

from __future__ import annotations

from accounts import tokens
from accounts.services import create_tenant, create_user
from galleries import services
from galleries.api import arm_versions

NEWEST = max(arm_versions.GALLERY_API_VERSIONS)
OLDEST = min(arm_versions.GALLERY_API_VERSIONS)


def base(subscription, rg="images") -> str:
    return f"/subscriptions/{subscription.guid}/resourceGroups/{rg}/providers/Microsoft.Compute/galleries"


def arm_error(response, status: int, code: str, target=None):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code, error
    assert set(error) == {"code", "message", "target", "details"}
    assert error["message"]
    if target is not None:
        assert error["target"] == target
    return error


def test_api_version_is_required_and_must_be_published(client, bearer, subscription, rg):
    url = base(subscription)
    arm_error(client.get(url, **bearer), 400, "MissingApiVersionParameter", "api-version")
    error = arm_error(client.get(url + "?api-version=2015-01-01", **bearer), 400, "NoRegisteredProviderFound")
    assert NEWEST in error["message"] and OLDEST in error["message"]
    for version in arm_versions.GALLERY_API_VERSIONS:
        assert client.get(f"{url}?api-version={version}", **bearer).status_code == 200, version


def test_anonymous_callers_get_401_with_a_bearer_challenge(client, subscription, rg):
    r = client.get(base(subscription) + f"?api-version={NEWEST}")
    arm_error(r, 401, "AuthenticationFailed")
    assert r["WWW-Authenticate"].startswith("Bearer")
    r = client.get(base(subscription) + f"?api-version={NEWEST}", HTTP_AUTHORIZATION="Bearer not-a-token")
    assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_unknown_paths_and_bad_bodies_answer_arm_errors_never_html(client, bearer, subscription, rg):
    arm_error(
        client.get(f"/subscriptions/{subscription.guid}/nothing/here?api-version={NEWEST}", **bearer),
        404,
        "InvalidResourceType",
    )
    url = f"{base(subscription)}/g1?api-version={NEWEST}"
    arm_error(
        client.put(url, "{not json", content_type="application/json", **bearer), 400, "InvalidRequestContent"
    )
    arm_error(client.put(url, "[]", content_type="application/json", **bearer), 400, "InvalidParameter")
    arm_error(
        client.put(
            url,
            {"location": "westeurope", "properties": {"colour": "red"}},
            content_type="application/json",
            **bearer,
        ),
        400,
        "InvalidParameter",
        "properties.colour",
    )
    arm_error(
        client.put(url, {"location": "Atlantis"}, content_type="application/json", **bearer),
        400,
        "InvalidParameter",
        "location",
    )
    arm_error(client.post(url, {}, content_type="application/json", **bearer), 405, "MethodNotAllowed")


def test_paths_are_case_insensitive_and_regions_take_both_spellings(client, bearer, subscription, rg):
    url = f"/SUBSCRIPTIONS/{subscription.guid}/resourcegroups/IMAGES/providers/microsoft.compute/GALLERIES/g1?api-version={NEWEST}"
    r = client.put(url, {"location": "West Europe"}, content_type="application/json", **bearer)
    assert r.status_code == 201, r.content
    assert r.json()["location"] == "westeurope"
    again = client.get(f"{base(subscription)}/G1?api-version={NEWEST}", **bearer)
    assert again.status_code == 200 and again.json()["name"] == "g1"


def test_put_answers_201_then_200_with_an_operation_that_reports_its_status(client, bearer, subscription, rg):
    url = f"{base(subscription)}/g1?api-version={NEWEST}"
    created = client.put(
        url,
        {"location": "westeurope", "properties": {"description": "one"}},
        content_type="application/json",
        **bearer,
    )
    assert created.status_code == 201
    body = created.json()
    assert body["properties"]["provisioningState"] == "Succeeded"
    assert (
        body["id"].endswith("/providers/Microsoft.Compute/galleries/g1")
        and body["type"] == "Microsoft.Compute/galleries"
    )
    operation = created["Azure-AsyncOperation"]
    assert operation.startswith("http://testserver/subscriptions/") and f"api-version={NEWEST}" in operation
    status = client.get(operation.removeprefix("http://testserver"), **bearer).json()
    assert status["status"] == "Succeeded" and "error" not in status
    replaced = client.put(
        url,
        {"location": "westeurope", "properties": {"description": "two"}},
        content_type="application/json",
        **bearer,
    )
    assert replaced.status_code == 200 and replaced.json()["properties"]["description"] == "two"
    patched = client.patch(url, {"tags": {"team": "platform"}}, content_type="application/json", **bearer)
    assert patched.status_code == 200 and patched.json()["tags"] == {"team": "platform"}
    deleted = client.delete(url, **bearer)
    assert deleted.status_code == 202 and deleted["Azure-AsyncOperation"]
    assert (
        client.get(deleted["Azure-AsyncOperation"].removeprefix("http://testserver"), **bearer).json()[
            "status"
        ]
        == "Succeeded"
    )
    assert client.delete(url, **bearer).status_code == 204


def test_someone_elses_operation_is_not_found(client, bearer, user, subscription, rg):
    created = client.put(
        f"{base(subscription)}/g1?api-version={NEWEST}",
        {"location": "westeurope"},
        content_type="application/json",
        **bearer,
    )
    other = create_user(user.home_tenant, "bob@contoso.test", "Bob-Pass-1")
    theirs = {"HTTP_AUTHORIZATION": f"Bearer {tokens.issue(other, base='http://testserver')['access_token']}"}
    arm_error(
        client.get(created["Azure-AsyncOperation"].removeprefix("http://testserver"), **theirs),
        404,
        "ResourceNotFound",
    )


def test_paging_neither_repeats_nor_skips_while_others_insert(
    client, bearer, caller, subscription, rg, settings
):
    settings.ARM_PAGE_SIZE = 3
    for i in range(7):
        services.create_gallery(caller, rg, f"g{i}")
    url = f"{base(subscription)}?api-version={NEWEST}"
    seen = []
    first = True
    while url:
        r = client.get(url.removeprefix("http://testserver"), **bearer)
        assert r.status_code == 200
        body = r.json()
        seen += [g["name"] for g in body["value"]]
        url = body.get("nextLink")
        if url:
            assert url.startswith("http://testserver/") and f"api-version={NEWEST}" in url
        if first:  # a gallery created between the pages is listed once, at the end
            services.create_gallery(caller, rg, "late")
            first = False
    assert len(seen) == len(set(seen)) == 8 and seen[-1] == "late"


def test_another_tenants_caller_gets_404_for_everything(client, subscription, rg, caller):
    services.create_gallery(caller, rg, "g1")
    stranger = create_user(create_tenant("Fabrikam", "fabrikam.test"), "eve@fabrikam.test", "Eve-Pass-1")
    theirs = {
        "HTTP_AUTHORIZATION": f"Bearer {tokens.issue(stranger, base='http://testserver')['access_token']}"
    }
    arm_error(client.get(f"{base(subscription)}/g1?api-version={NEWEST}", **theirs), 404, "ResourceNotFound")
    arm_error(client.get(f"{base(subscription)}?api-version={NEWEST}", **theirs), 404, "SubscriptionNotFound")
    arm_error(
        client.get(
            f"/subscriptions/{subscription.guid}/providers/Microsoft.Compute/galleries?api-version={NEWEST}",
            **theirs,
        ),
        404,
        "SubscriptionNotFound",
    )
    r = client.put(
        f"{base(subscription)}/g2?api-version={NEWEST}",
        {"location": "westeurope"},
        content_type="application/json",
        **theirs,
    )
    arm_error(r, 404, "ResourceNotFound")


def test_properties_a_version_does_not_know_are_not_returned(client, bearer, caller, subscription, rg):
    services.create_gallery(caller, rg, "g1")
    gallery = services.get_resource(caller, f"{rg.arm_id}/providers/Microsoft.Compute/galleries/g1")
    services.create_definition(
        caller, gallery, "ubuntu", publisher="P", offer="O", sku="S", os_type="Linux", os_state="Generalized"
    )
    url = f"{base(subscription)}/g1/images/ubuntu"
    newest = client.get(f"{url}?api-version={NEWEST}", **bearer).json()
    oldest = client.get(f"{url}?api-version={OLDEST}", **bearer).json()
    assert newest["properties"]["hyperVGeneration"] == "V1"
    if arm_versions.SINCE.get("properties.hyperVGeneration", OLDEST) > OLDEST:
        assert "hyperVGeneration" not in oldest["properties"]
    if arm_versions.SINCE.get("systemData", OLDEST) > OLDEST:
        assert "systemData" in newest and "systemData" not in oldest


def test_ended_operations_are_forgotten_after_the_retention(client, bearer, subscription, rg, settings):
    from datetime import timedelta

    from django.utils import timezone

    from galleries.models import ArmOperation
    from galleries.tasks import purge_operations

    settings.ARM_OPERATION_DAYS = 7
    created = client.put(
        f"{base(subscription)}/g1?api-version={NEWEST}",
        {"location": "westeurope"},
        content_type="application/json",
        **bearer,
    )
    url = created["Azure-AsyncOperation"].removeprefix("http://testserver")
    assert client.get(url, **bearer).json()["status"] == "Succeeded"  # ended now
    running = ArmOperation.objects.create(
        kind="create", resource_type="x", arm_id="/x", subscription=subscription, location="westeurope"
    )
    assert purge_operations() == 0
    ArmOperation.objects.update(ended_at=timezone.now() - timedelta(days=8))
    running.refresh_from_db()
    assert purge_operations() == 1  # the ended one; the one still in progress stays
    assert client.get(url, **bearer).status_code == 404
    assert ArmOperation.objects.filter(pk=running.pk).exists()


def test_a_version_read_with_get_can_be_put_back_unchanged(
    client, bearer, caller, subscription, rg, make_image, gallery, definition
):
    """The SDK's "get, change, begin_create_or_update" round trip: a version with a data disk comes back
    from GET with read-only disk images (lun, size, caching, no source) and its source; PUT of that
    body is an update that changes nothing."""
    source = make_image("withdata", data_luns=(0,))
    v = services.create_version(caller, definition, "1.0.0", location="westeurope", source=source)
    url = f"{base(subscription)}/{gallery.name}/images/{definition.name}/versions/1.0.0?api-version={NEWEST}"
    body = client.get(url, **bearer).json()
    assert body["properties"]["storageProfile"]["dataDiskImages"][0]["lun"] == 0
    again = client.put(url, body, content_type="application/json", **bearer)
    assert again.status_code == 200, again.content
    assert again.json()["properties"]["storageProfile"] == body["properties"]["storageProfile"]
    v.refresh_from_db()
    assert v.provisioning_state in ("Creating", "Succeeded")  # nothing to re-replicate


def test_two_different_sources_are_refused_by_name(
    client, bearer, subscription, rg, image, gallery, definition
):
    url = f"{base(subscription)}/{gallery.name}/images/{definition.name}/versions/1.0.0?api-version={NEWEST}"
    body = {
        "location": "westeurope",
        "properties": {
            "storageProfile": {
                "source": {"id": image.arm_id},
                "osDiskImage": {"source": {"id": image.arm_id + "x"}},
            }
        },
    }
    arm_error(
        client.put(url, body, content_type="application/json", **bearer),
        400,
        "InvalidParameter",
        "properties.storageProfile.osDiskImage.source.id",
    )
    body["properties"]["storageProfile"]["osDiskImage"]["source"]["id"] = image.arm_id.upper()
    assert client.put(url, body, content_type="application/json", **bearer).status_code == 201


def test_a_refused_deletion_is_in_the_activity_log_and_leaves_no_operation(
    client, user, caller, subscription, rg
):
    from accounts import sharing
    from accounts.models import ActivityLogEntry
    from galleries.models import ArmOperation

    gallery = services.create_gallery(caller, rg, "g1")
    bob = create_user(user.home_tenant, "bob@contoso.test", "Bob-Pass-1")
    sharing.assign_role(caller, gallery, bob, "reader")
    theirs = {"HTTP_AUTHORIZATION": f"Bearer {tokens.issue(bob, base='http://testserver')['access_token']}"}
    arm_error(
        client.delete(f"{base(subscription)}/g1?api-version={NEWEST}", **theirs), 403, "AuthorizationFailed"
    )
    entry = ActivityLogEntry.objects.filter(principal=bob).latest("timestamp")
    assert entry.operation == "Microsoft.Compute/galleries/delete" and entry.status == "Failed"
    assert not ArmOperation.objects.exists()


def test_missing_required_properties_are_refused_by_the_services_with_their_path(
    client, bearer, subscription, rg, gallery, definition
):
    images = f"{base(subscription)}/{gallery.name}/images"
    arm_error(
        client.put(
            f"{images}/d2?api-version={NEWEST}",
            {"location": "westeurope", "properties": {"osType": "Linux"}},
            content_type="application/json",
            **bearer,
        ),
        400,
        "InvalidParameter",
        "properties.identifier.publisher",
    )
    arm_error(
        client.put(
            f"{images}/{definition.name}/versions/1.0.0?api-version={NEWEST}",
            {"location": "westeurope"},
            content_type="application/json",
            **bearer,
        ),
        400,
        "InvalidParameter",
        "properties.storageProfile.source.id",
    )
