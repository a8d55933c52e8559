"""Chunked, resumable VHD upload over HTTP (F4 scenario 3). Thin: every rule is in the services.

    POST   /uploads/             {"resourceGroup": "<ARM id>", "name": "disk.vhd", "size": N}
                                  → 201 (new) or 200 (resuming the unfinished upload of that name/size)
    GET    /uploads/<id>          → where the upload stands
    PUT    /uploads/<id>          body = the chunk, header Content-Range: bytes START-END/TOTAL
                                  → 200; 409 with the offset to resume from when START is not it
    DELETE /uploads/<id>          → 204, the upload and its bytes are removed

A dropped connection is resumed by GET (or POST again) and sending from ``offset``.
"""

from __future__ import annotations

import json
import re

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.cache import get_conditional_response, patch_cache_control
from django.views.decorators.http import require_http_methods

from accounts import access
from accounts.activity import Caller
from accounts.models import Resource, ResourceGroup
from accounts.roles import BLOB_TYPE, Action
from portal.errors import ServiceError

from . import panel, services
from .models import Blob, GalleryImageVersion, Region

CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


def _error(err: ServiceError, status: int | None = None, **extra) -> JsonResponse:
    body = err.as_arm()
    body.update(extra)
    return JsonResponse(body, status=status or err.status)


def _state(blob: Blob) -> dict:
    return {
        "id": blob.pk,
        "name": blob.name,
        "container": blob.container,
        "resourceGroup": blob.resource_group.arm_id,
        "uri": blob.uri,
        "state": blob.state,
        "size": blob.size_bytes,
        "offset": blob.bytes_received,
        "percent": int(blob.bytes_received * 100 / blob.size_bytes) if blob.size_bytes else 0,
        "sha256": blob.sha256 or None,
    }


def _visible_blob(request, pk: int) -> Blob:
    """Blobs are found through the resource groups in which the principal may read blobs (readers of
    the group, publishers); others look missing."""
    blob = (
        Blob.objects.filter(
            pk=pk,
            resource_group__in=Resource.objects.restrict(request.user, Action.READ, BLOB_TYPE).values("pk"),
        )
        .select_related("resource_group", "region__cloud")
        .first()
    )
    if blob is None:
        raise ServiceError.not_found(f"The upload {pk} was not found.")
    return blob


def _authenticated(view):
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return _error(ServiceError("AuthenticationFailed", "Sign in first.", None), status=401)
        try:
            return view(request, *args, **kwargs)
        except ServiceError as err:
            return _error(err)

    wrapped.__name__ = view.__name__
    return wrapped


@require_http_methods(["POST"])
@_authenticated
def upload_start(request):
    try:
        data = (
            json.loads(request.body or b"{}") if request.content_type == "application/json" else request.POST
        )
    except ValueError:
        raise ServiceError.invalid("body", "The request body is not valid JSON.") from None
    rg_id = data.get("resourceGroup") or ""
    rg = services.get_resource(
        Caller.from_request(request), rg_id, ResourceGroup, target="resourceGroup", for_type=BLOB_TYPE
    )
    size = data.get("size")
    if isinstance(size, str) and size.isdigit():
        size = int(size)
    before = Blob.objects.filter(resource_group=rg, name__iexact=data.get("name") or "").first()
    blob = services.start_upload(
        Caller.from_request(request),
        rg,
        data.get("name") or "",
        size,
        container=data.get("container") or "vhds",
    )
    return JsonResponse(_state(blob), status=200 if before is not None else 201)


@require_http_methods(["GET", "PUT", "DELETE"])
@_authenticated
def upload_detail(request, pk: int):
    blob = _visible_blob(request, pk)
    caller = Caller.from_request(request)
    if request.method == "GET":
        return JsonResponse(_state(blob))
    if request.method == "DELETE":
        services.discard_upload(caller, blob, reason="Discarded by the user.")
        return HttpResponse(status=204)
    match = CONTENT_RANGE.match(request.headers.get("Content-Range", ""))
    if not match:
        raise ServiceError.invalid(
            "Content-Range", "Send each chunk with a header 'Content-Range: bytes START-END/TOTAL'."
        )
    start, end, total = (int(g) for g in match.groups())
    length = int(request.headers.get("Content-Length") or 0)
    if length > settings.UPLOAD_MAX_CHUNK_BYTES:
        raise ServiceError.invalid(
            "chunk",
            f"The chunk is {length:,} bytes; chunks can be at most {settings.UPLOAD_MAX_CHUNK_BYTES:,} bytes.",
        )
    chunk = request.read(length)  # the stream, not request.body: chunks may exceed Django's form-size limit
    if total != blob.size_bytes or end - start + 1 != len(chunk):
        raise ServiceError.invalid(
            "Content-Range",
            f"The Content-Range 'bytes {start}-{end}/{total}' does not match the chunk ({len(chunk):,} bytes) and "
            f"the upload's size ({blob.size_bytes:,} bytes).",
        )
    try:
        blob = services.upload_chunk(caller, blob, start, chunk)
    except ServiceError as err:
        if err.code == ServiceError.CONFLICT and err.target == "offset":
            blob.refresh_from_db()
            return _error(err, offset=blob.bytes_received)
        raise
    return JsonResponse(_state(blob))


# --- Version page: live replication progress (F9) -------------------------------------------------


def _visible_version(request, pk: int):
    version = access.get_readable(
        GalleryImageVersion.objects.select_related("location", "definition", "gallery"), request.user, pk=pk
    )
    if version is None:
        raise Http404("No such image version.")
    return version


def _with_permissions(request, context: dict) -> dict:
    # No query: the grants are memoized on the request's user.
    context["can_write"] = access.allowed(request.user, Action.WRITE, context["version"])
    context["can_delete"] = access.allowed(request.user, Action.DELETE, context["version"])
    return context


@login_required
def version_detail(request, pk: int):
    from . import costs
    from .views_versions import end_of_life

    version = _visible_version(request, pk)
    context = _with_permissions(request, {"version": version})
    panel.remember(version)  # its chain is known: the panel reads everything in one trip
    replication = panel.load(request.user, pk)  # the check needs no query: same chain, memoized
    if replication is None:  # deleted in between
        raise Http404("No such image version.")
    context["replication_panel"] = panel.render(request, replication)
    context["disks"] = list(version.disks.all())
    context["resource"] = version
    context["end_of_life"] = end_of_life(version)
    context["cost"] = costs.version_cost(version)  # two queries, whatever the number of regions
    return render(request, "galleries/version_detail.html", context)


@login_required
def version_replication(request, pk: int):
    """The replication panel, polled by htmx every 2 s while anything is in flight; once every
    region is final the server answers 286, which tells htmx to stop polling. Lean on purpose (see
    ``galleries.panel``). While in flight, the answer carries an ETag and must be revalidated, so a
    browser's next poll sends it back and an unchanged panel costs a 304 with no body."""
    context = panel.load(request.user, pk)
    if context is None:
        raise Http404("No such image version.")
    if request.htmx and not context["in_flight"]:
        return HttpResponse(panel.render(request, context), status=286)
    not_modified = get_conditional_response(request, etag=context["etag"])
    response = not_modified or HttpResponse(panel.render(request, context))
    response.headers["ETag"] = context["etag"]
    patch_cache_control(response, private=True, no_cache=True)
    return response


@login_required
@require_http_methods(["POST"])
def version_retry(request, pk: int):
    version = _visible_version(request, pk)
    try:
        names = services.retry_failed_regions(Caller.from_request(request), version)
        shown = dict(Region.objects.filter(name__in=names).values_list("name", "display_name"))
        messages.success(request, f"Retrying {', '.join(shown.get(n, n) for n in names)}.")
    except ServiceError as err:
        if err.code == ServiceError.AUTHORIZATION_FAILED:
            raise PermissionDenied(err.message) from None
        messages.error(request, err.message)
    return redirect("version-detail", pk=pk)
