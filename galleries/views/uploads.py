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

import re

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseNotModified, JsonResponse
from django.utils.cache import get_conditional_response

from accounts.activity import Caller
from accounts.models import Resource, ResourceGroup
from accounts.roles import BLOB_TYPE, Action
from portal.core import inputs
from portal.core.errors import ServiceError

from .. import panel, services
from ..models import Blob

CONTENT_RANGE = re.compile(r"^bytes ([0-9]{1,19})-([0-9]{1,19})/([0-9]{1,19})$")


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
    the group, publishers); others look missing, as do ids no database row can have."""
    if not 0 <= pk <= inputs.MAX_ID:
        raise ServiceError.not_found(f"The upload {pk} was not found.")
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


def _json_endpoint(*methods: str):
    """One of ``methods``, signed in (session or bearer token), and every refusal — a wrong method, no
    sign-in, any ``ServiceError`` — JSON in the ARM error shape, never an HTML page."""

    def decorate(view):
        def wrapped(request, *args, **kwargs):
            if request.method not in methods:
                response = _error(
                    ServiceError(
                        "MethodNotAllowed",
                        f"{request.method} is not allowed here; use {', '.join(methods)}.",
                    ),
                    status=405,
                )
                response["Allow"] = ", ".join(methods)
                return response
            if not request.user.is_authenticated:
                return _error(ServiceError("AuthenticationFailed", "Sign in first.", None), status=401)
            try:
                return view(request, *args, **kwargs)
            except ServiceError as err:
                return _error(err)

        wrapped.__name__ = view.__name__
        wrapped.__doc__ = view.__doc__
        return wrapped

    return decorate


def _start_fields(request) -> dict:
    """The fields of ``POST /uploads/``: a JSON object (``portal.core.inputs.parse_json``) or a form. Only
    their shape is read here; every rule on their values is the service's."""
    if request.content_type == "application/json":
        raw = inputs.read_body(request, request.META)
        data = inputs.parse_json(raw) if raw.strip() else {}
        if not isinstance(data, dict):
            raise ServiceError.invalid(
                "body",
                'The request body must be a JSON object: {"resourceGroup": "<ARM id>", "name": "disk.vhd", '
                '"size": <bytes>}.',
            )
    else:
        data = request.POST
    fields = {"resourceGroup": "", "name": "", "container": "vhds"}
    for key, default in fields.items():
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise ServiceError.invalid(key, f"'{key}' must be text.")
        fields[key] = value or default
    size = data.get("size")
    if isinstance(size, str):
        size = inputs.whole_number(size, "size", "The upload size (in bytes)", 1, None)
    fields["size"] = size
    return fields


@_json_endpoint("POST")
def upload_start(request):
    fields = _start_fields(request)
    caller = Caller.from_request(request)
    rg = services.get_resource(
        caller, fields["resourceGroup"], ResourceGroup, target="resourceGroup", for_type=BLOB_TYPE
    )
    before = Blob.objects.filter(resource_group=rg, name__iexact=fields["name"]).first()
    blob = services.start_upload(caller, rg, fields["name"], fields["size"], container=fields["container"])
    return JsonResponse(_state(blob), status=200 if before is not None else 201)


@_json_endpoint("GET", "PUT", "DELETE")
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
            "Content-Range",
            "Send each chunk with a header 'Content-Range: bytes START-END/TOTAL' (whole numbers of at most 19 "
            "digits).",
        )
    start, end, total = (int(g) for g in match.groups())
    length = inputs.declared_length(request.META) or 0
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


@_json_endpoint("GET", "PUT", "DELETE", "POST")
def upload_not_found(request, rest: str = ""):
    """Any other path under /uploads/: the uploads' JSON 404, not the portal's page."""
    raise ServiceError.not_found("No such upload: upload ids are whole numbers (/uploads/<id>).")


# --- Version page: live replication progress (F9) -------------------------------------------------


@login_required
def version_replication(request, pk: int):
    """The replication panel, polled by htmx every 2 s while anything is in flight; once every
    region is final the server answers 286, which tells htmx to stop polling. Lean on purpose (see
    ``galleries.panel``). While in flight, the answer carries an ETag and must be revalidated, so a
    browser's next poll sends it back and an unchanged panel costs a 304 with no body."""
    meta = request.META
    # What a browser revalidating sends: the ETag it was given, alone. Anything else is Django's
    # evaluation below (RFC 9110 13.2.2: lists, weak tags, "*", If-Match first), with the same answers.
    revalidating = (
        meta.get("HTTP_IF_NONE_MATCH")
        if request.method in ("GET", "HEAD")
        and "HTTP_IF_MATCH" not in meta
        and "HTTP_IF_UNMODIFIED_SINCE" not in meta
        else None
    )
    shown = panel.load(request.user, pk, revalidating=revalidating)
    if shown is None:
        raise Http404("No such image version.")
    if not shown.in_flight and request.htmx:  # (``request.htmx`` parses every header: asked only when final)
        return HttpResponse(panel.render(request, shown), status=286)
    if revalidating is not None and revalidating == shown.etag:
        response = HttpResponseNotModified()
    else:
        response = get_conditional_response(request, etag=shown.etag) or HttpResponse(
            panel.render(request, shown)
        )
    response.headers["ETag"] = shown.etag
    response.headers["Cache-Control"] = "private, no-cache"
    return response
