"""Pages for galleries, image definitions, managed images and snapshots (lists, overviews, create /
edit / delete), and the browser VHD upload page (issue 5, F4–F6).

Thin on purpose: a form only collects values and calls the service; every rule lives in
``galleries/services.py``. A refusal (``ServiceError``) re-renders the form with the message next to
the field its ``target`` names (the service's property path mapped to the form's field) and the
error's HTTP status. Everything shown is fetched through the access filter: what the user may not
read answers 404; edit and delete pages answer 403 to someone who may read but not change.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, IntegerField, OuterRef, Prefetch, Subquery
from django.db.models.functions import Lower
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone

from accounts import access
from accounts.activity import Caller
from accounts.models import Resource, ResourceGroup
from accounts.roles import (
    BLOB_TYPE,
    DEFINITION_TYPE,
    GALLERY_TYPE,
    MANAGED_IMAGE_TYPE,
    SNAPSHOT_TYPE,
    VERSION_TYPE,
    Action,
)
from accounts.views import current_directory
from portal.core import inputs
from portal.core.errors import ServiceError

from . import services
from .models import (
    Blob,
    DiskType,
    Gallery,
    GalleryImage,
    GalleryImageVersion,
    HyperVGeneration,
    ManagedImage,
    OsState,
    OsType,
    Region,
    Snapshot,
    TargetRegion,
)

PAGE_SIZE = 50
#: The browser sends VHDs in chunks of this size (never above the server's limit).
UPLOAD_CHUNK_BYTES = 4 * 1024 * 1024
#: Rows offered for data disks on the managed-image form.
DATA_DISK_ROWS = 4
ALL = "form"  # errors not about one field: shown above the form


# --- Small helpers -------------------------------------------------------------------------------------


def _readable(request, model, pk: int, *related):
    """One resource of ``model`` through the access filter; unreadable and missing look the same."""
    qs = model.objects.filter(pk=pk)
    if related:
        qs = qs.select_related(*related)
    obj = access.restrict(qs, request.user).first()
    if obj is None:
        raise Http404(f"No such {model._meta.verbose_name}.")
    return obj


def _require(request, action, resource, resource_type: str | None = None) -> None:
    """Edit / delete / create pages: 403 for someone who may read but not do ``action`` (the services
    check again on POST; this only decides whether to offer the form)."""
    if not access.allowed(request.user, action, resource, resource_type):
        raise PermissionDenied(
            "Your role here does not allow this action. Ask someone with the Owner role to grant you access."
        )


def _in_directory(request, qs):
    """Only the current directory's resources."""
    directory = current_directory(request)
    return qs.filter(tenant=directory) if directory is not None else qs.none()


def _writable_groups(request, resource_type: str):
    """Resource groups of the current directory in which the user may create ``resource_type``."""
    qs = _in_directory(request, ResourceGroup.objects.select_related("location", "subscription"))
    return access.restrict(qs, request.user, Action.WRITE, resource_type).order_by(
        Lower("subscription__display_name"), Lower("name")
    )


def _group_for(request, pk, resource_type: str) -> ResourceGroup | None:
    """The resource group a form names, if the user may at least read ``resource_type`` inside it
    (so a Reader gets the service's 403 and a stranger a 404)."""
    pk = inputs.row_id(pk)
    if pk is None:
        return None
    qs = ResourceGroup.objects.filter(pk=pk).select_related("location", "subscription")
    return access.restrict(qs, request.user, Action.READ, resource_type).first()


def _field_for(err: ServiceError, paths: dict[str, str]) -> str:
    """The form field a service error is about: ``paths`` maps field name → service property path."""
    target = err.target or ""
    for field, prop in paths.items():
        if target == prop:
            return field
    if target == "tags" or target.startswith("tags."):
        return "tags"
    return ALL


class FormError(Exception):
    """The form itself could not read a value (before any rule applies)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def parse_tags(text: str) -> dict:
    """The tags textarea: one ``key=value`` per line; blank lines ignored. Only the shape is checked
    here; the rules on names and values are ``validate_tags``'s."""
    tags: dict[str, str] = {}
    for n, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        if "=" not in line:
            raise FormError(
                "tags", f"Line {n} ('{line.strip()[:40]}') is not key=value; write one tag per line."
            )
        key, value = line.split("=", 1)
        key, value = key.strip(), value.strip()
        if key in tags:
            raise FormError("tags", f"Line {n}: the tag '{key}' is given twice; give each tag once.")
        tags[key] = value
    return tags


def format_tags(tags: dict | None) -> str:
    return "\n".join(f"{k}={v}" for k, v in (tags or {}).items())


def _number(value: str):
    """A whole number when the text is one; otherwise the text itself, for the service to refuse
    with its message. Empty → None (not given)."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        return value


def _eol(value: str, field: str = "end_of_life_date"):
    """The end-of-life date input (YYYY-MM-DD) → the end of that day, UTC; empty → None."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise FormError(field, f"'{value}' is not a date; use YYYY-MM-DD.") from None
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


def _fail(errors: dict, err: ServiceError, paths: dict[str, str]) -> int:
    errors[_field_for(err, paths)] = err.message
    return err.status


def _post_values(request, names) -> dict:
    return {n: request.POST.get(n, "") for n in names}


def _page(request, qs):
    return Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))


def _choices(choices) -> list[str]:
    return [c.value for c in choices]


# --- Lists ---------------------------------------------------------------------------------------------


def _list(request, model, template: str, create_type: str, extra_related=()):
    qs = _in_directory(request, model.objects.all())
    qs = (
        access.restrict(qs, request.user)
        .select_related("location", "resource_group", "subscription", *extra_related)
        .order_by(Lower("name"), "pk")
    )
    q = request.GET.get("q", "").strip()
    if q:
        qs = qs.filter(name__icontains=q)
    return render(
        request,
        template,
        {
            "page": _page(request, qs),
            "q": q,
            "can_create": _writable_groups(request, create_type).exists(),
        },
    )


@login_required
def gallery_list(request):
    return _list(request, Gallery, "galleries/resources/gallery_list.html", GALLERY_TYPE)


@login_required
def image_list(request):
    return _list(
        request, ManagedImage, "galleries/resources/image_list.html", MANAGED_IMAGE_TYPE, ("os_disk",)
    )


@login_required
def snapshot_list(request):
    return _list(request, Snapshot, "galleries/resources/snapshot_list.html", SNAPSHOT_TYPE, ("disk",))


# --- Galleries -----------------------------------------------------------------------------------------

GALLERY_FIELDS = {
    "name": "name",
    "description": "properties.description",
    "location": "location",
    "resourceGroup": "resourceGroup",
}


@login_required
def gallery_detail(request, pk: int):
    gallery = _readable(request, Gallery, pk, "location", "resource_group", "subscription")
    versions = (
        Resource.objects.filter(definition=OuterRef("pk"), type=VERSION_TYPE)
        .order_by()
        .values("definition")
        .annotate(n=Count("pk"))
        .values("n")
    )
    definitions = (
        access.restrict(GalleryImage.objects.filter(gallery=gallery), request.user)
        .annotate(n_versions=Subquery(versions, output_field=IntegerField()))
        .order_by(Lower("name"), "pk")
    )
    return render(
        request,
        "galleries/resources/gallery_detail.html",
        {
            "resource": gallery,
            "gallery": gallery,
            "definitions": list(definitions),
            "now": timezone.now(),
            "can_write": access.allowed(request.user, Action.WRITE, gallery),
            "can_delete": access.allowed(request.user, Action.DELETE, gallery),
            "can_add_definition": access.allowed(request.user, Action.WRITE, gallery, DEFINITION_TYPE),
        },
    )


@login_required
def gallery_create(request):
    groups = list(_writable_groups(request, GALLERY_TYPE))
    regions = list(Region.objects.select_related("cloud"))
    form = {
        "resourceGroup": request.GET.get("resourceGroup", ""),
        "location": "",
        "name": "",
        "description": "",
        "tags": "",
    }
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        form = _post_values(request, form.keys())
        rg = _group_for(request, form["resourceGroup"], GALLERY_TYPE)
        try:
            if rg is None:
                raise ServiceError.not_found(
                    "Choose a resource group in which you may create galleries.", "resourceGroup"
                )
            gallery = services.create_gallery(
                Caller.from_request(request),
                rg,
                form["name"].strip(),
                location=form["location"] or None,
                description=form["description"],
                tags=parse_tags(form["tags"]),
            )
        except FormError as err:
            errors[err.field], status = err.message, 400
        except ServiceError as err:
            status = _fail(errors, err, GALLERY_FIELDS)
        else:
            messages.success(request, f"Created the gallery {gallery.name}.")
            return redirect("gallery-detail", pk=gallery.pk)
    return render(
        request,
        "galleries/resources/gallery_form.html",
        {"form": form, "errors": errors, "groups": groups, "regions": regions},
        status=status,
    )


@login_required
def gallery_edit(request, pk: int):
    gallery = _readable(request, Gallery, pk, "location", "resource_group", "subscription")
    _require(request, Action.WRITE, gallery)
    form = {"description": gallery.description, "tags": format_tags(gallery.tags)}
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        form = _post_values(request, form.keys())
        try:
            changes = {"description": form["description"], "tags": parse_tags(form["tags"])}
            # Read-only here; a forged value goes to the service, which refuses any change.
            for key in ("location", "name"):
                if key in request.POST:
                    changes[key] = request.POST[key]
            services.update_gallery(Caller.from_request(request), gallery, **changes)
        except FormError as err:
            errors[err.field], status = err.message, 400
        except ServiceError as err:
            status = _fail(errors, err, GALLERY_FIELDS)
        else:
            messages.success(request, f"Saved the gallery {gallery.name}.")
            return redirect("gallery-detail", pk=gallery.pk)
    return render(
        request,
        "galleries/resources/gallery_form.html",
        {"resource": gallery, "gallery": gallery, "form": form, "errors": errors, "editing": True},
        status=status,
    )


# --- Image definitions ---------------------------------------------------------------------------------

DEFINITION_FIELDS = {
    "name": "name",
    "identifier": "properties.identifier",
    **{key: prop for key, prop in services.DEFINITION_PATHS.items() if key != "tags"},
}
DEFINITION_TEXT = (
    "name",
    "publisher",
    "offer",
    "sku",
    "os_type",
    "os_state",
    "hyper_v_generation",
    "description",
    "eula",
    "privacy_statement_uri",
    "release_note_uri",
    "end_of_life_date",
    "min_vcpus",
    "max_vcpus",
    "min_memory_gb",
    "max_memory_gb",
    "plan_name",
    "plan_publisher",
    "plan_product",
    "lifecycle_policy",
    "lifecycle_keep_deployed",
    "tags",
)
#: The lifecycle's choice for versions that deployments came from (``lifecycle_keep_deployed``).
KEEP_DEPLOYED_CHOICES = (
    ("true", "Keep them, and the regions their deployments run in"),
    ("false", "Let them go: end of life and trimming apply as to any version"),
)
NUMBERS = ("min_vcpus", "max_vcpus", "min_memory_gb", "max_memory_gb")
#: Shown read-only on the edit page; sent to the service only if a request forges them.
DEFINITION_IMMUTABLE = (
    "publisher",
    "offer",
    "sku",
    "os_type",
    "os_state",
    "hyper_v_generation",
    "eula",
    "privacy_statement_uri",
    "plan_name",
    "plan_publisher",
    "plan_product",
    "location",
)


def _definition_form_context(**extra) -> dict:
    return {
        "os_types": _choices(OsType),
        "os_states": _choices(OsState),
        "generations": _choices(HyperVGeneration),
        "disk_types": _choices(DiskType),
        "policies": GalleryImage.LifecyclePolicy.choices,
        "keep_deployed_choices": KEEP_DEPLOYED_CHOICES,
        **extra,
    }


def _definition_values(form: dict, disallowed: list[str], *, new: bool) -> dict:
    values: dict = {}
    keys = DEFINITION_TEXT if new else sorted(services.DEFINITION_MUTABLE)
    for key in keys:
        if key == "name":
            continue
        raw = form.get(key, "")
        if key == "tags":
            values["tags"] = parse_tags(raw)
        elif key in NUMBERS:
            values[key] = _number(raw)
        elif key == "end_of_life_date":
            values[key] = _eol(raw)
        elif key == "lifecycle_policy":
            values[key] = raw or None
        elif key == "lifecycle_keep_deployed":
            values[key] = {"true": True, "false": False}.get(raw, raw or None)  # else: the service refuses
        else:
            values[key] = raw.strip() if key in ("publisher", "offer", "sku") else raw
    if new:
        values["disallowed_disk_types"] = disallowed
    return values


@login_required
def definition_create(request, pk: int):
    gallery = _readable(request, Gallery, pk, "location")
    _require(request, Action.WRITE, gallery, DEFINITION_TYPE)
    form = {key: "" for key in DEFINITION_TEXT}
    form.update(
        os_type="Linux",
        os_state="Generalized",
        hyper_v_generation="V2",
        lifecycle_policy="None",
        lifecycle_keep_deployed="true",
    )
    disallowed: list[str] = []
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        form = _post_values(request, DEFINITION_TEXT)
        disallowed = request.POST.getlist("disallowed_disk_types")
        try:
            values = _definition_values(form, disallowed, new=True)
            for key in ("plan_name", "plan_publisher", "plan_product"):
                if not values[key]:
                    values.pop(key)
            definition = services.create_definition(
                Caller.from_request(request), gallery, form["name"].strip(), **values
            )
        except FormError as err:
            errors[err.field], status = err.message, 400
        except ServiceError as err:
            status = _fail(errors, err, DEFINITION_FIELDS)
        else:
            messages.success(request, f"Created the image definition {definition.name}.")
            return redirect("definition-detail", pk=definition.pk)
    return render(
        request,
        "galleries/resources/definition_form.html",
        _definition_form_context(
            resource=gallery, gallery=gallery, form=form, disallowed=disallowed, errors=errors
        ),
        status=status,
    )


def _definition_form_from(definition: GalleryImage) -> dict:
    form = {key: getattr(definition, key, "") for key in DEFINITION_TEXT if key not in ("tags",)}
    for key in NUMBERS:
        form[key] = "" if form[key] is None else str(form[key])
    eol = definition.end_of_life_date
    form["end_of_life_date"] = eol.astimezone(UTC).date().isoformat() if eol else ""
    form["tags"] = format_tags(definition.tags)
    form["lifecycle_keep_deployed"] = "true" if definition.lifecycle_keep_deployed else "false"
    return form


@login_required
def definition_edit(request, pk: int):
    definition = _readable(request, GalleryImage, pk, "location", "gallery")
    _require(request, Action.WRITE, definition)
    form = _definition_form_from(definition)
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        posted = _post_values(request, DEFINITION_TEXT)
        form.update({k: posted[k] for k in services.DEFINITION_MUTABLE if k in posted})
        try:
            changes = _definition_values(form, [], new=False)
            current = definition.end_of_life_date
            if form["end_of_life_date"] and current is not None:
                if current.astimezone(UTC).date().isoformat() == form["end_of_life_date"]:
                    changes.pop("end_of_life_date")  # the same day: keep the stored time
            for key in DEFINITION_IMMUTABLE:  # forged: the service refuses any change, naming it
                if key in request.POST:
                    changes[key] = request.POST[key]
            if "disallowed_disk_types" in request.POST:
                changes["disallowed_disk_types"] = request.POST.getlist("disallowed_disk_types")
            services.update_definition(Caller.from_request(request), definition, **changes)
        except FormError as err:
            errors[err.field], status = err.message, 400
        except ServiceError as err:
            status = _fail(errors, err, DEFINITION_FIELDS)
        else:
            messages.success(request, f"Saved the image definition {definition.name}.")
            return redirect("definition-detail", pk=definition.pk)
    return render(
        request,
        "galleries/resources/definition_form.html",
        _definition_form_context(
            resource=definition,
            gallery=definition.gallery,
            definition=definition,
            form=form,
            disallowed=definition.disallowed_disk_types,
            errors=errors,
            editing=True,
        ),
        status=status,
    )


@login_required
def definition_detail(request, pk: int):
    definition = _readable(request, GalleryImage, pk, "location", "gallery")
    versions = list(
        access.restrict(GalleryImageVersion.objects.filter(definition=definition), request.user)
        .select_related("location")
        .prefetch_related(
            Prefetch(
                "target_regions",
                queryset=TargetRegion.objects.select_related("region").order_by("region__display_name"),
            )
        )
        .numeric_order()
    )
    latest = services.latest_by_region(definition)
    for v in versions:
        regions = list(v.target_regions.all())
        v.replication = v.aggregated_state(regions)
        v.regions = regions
        v.latest_in = [t.region for t in regions if latest.get(t.region.name) == v]
    display = {t.region.name: t.region.display_name for v in versions for t in v.regions}
    now = timezone.now()
    return render(
        request,
        "galleries/resources/definition_detail.html",
        {
            "resource": definition,
            "definition": definition,
            "versions": versions,
            "latest": sorted((display.get(name, name), v) for name, v in latest.items()),
            "now": now,
            "can_write": access.allowed(request.user, Action.WRITE, definition),
            "can_delete": access.allowed(request.user, Action.DELETE, definition),
            "can_add_version": access.allowed(request.user, Action.WRITE, definition, VERSION_TYPE),
            "new_version_url": f"/definitions/{definition.pk}/versions/new",
        },
    )


# --- Managed images and snapshots ----------------------------------------------------------------------

IMAGE_FIELDS = {
    "name": "name",
    "os_type": "properties.storageProfile.osDisk.osType",
    "hyper_v_generation": "properties.hyperVGeneration",
    "os_blob": "properties.storageProfile.osDisk.blobUri",
    "resourceGroup": "resourceGroup",
    "data_disks": "properties.storageProfile",
}
DATA_DISK_TARGET = re.compile(r"^properties\.storageProfile\.dataDisks\[(\d+)\]\.(lun|blobUri)$")
SNAPSHOT_FIELDS = {
    "name": "name",
    "os_type": "properties.osType",
    "os_state": "properties.osState",
    "hyper_v_generation": "properties.hyperVGeneration",
    "blob": "properties.creationData.sourceUri",
    "resourceGroup": "resourceGroup",
}


def _available_blobs(request, rg: ResourceGroup | None) -> list[Blob]:
    """The finished VHDs of the chosen resource group, if the user may read blobs there."""
    if rg is None or not access.allowed(request.user, Action.READ, rg, BLOB_TYPE):
        return []
    return list(
        Blob.objects.filter(resource_group=rg, state=Blob.State.AVAILABLE)
        .select_related("region")
        .order_by(Lower("name"))
    )


def _chosen_group(request, groups: list[ResourceGroup], value: str) -> ResourceGroup | None:
    return next((g for g in groups if str(g.pk) == str(value)), None)


@login_required
def image_create(request):
    groups = list(_writable_groups(request, MANAGED_IMAGE_TYPE))
    source = request.POST if request.method == "POST" else request.GET
    form = {"resourceGroup": "", "name": "", "os_type": "Linux", "hyper_v_generation": "V1", "tags": ""}
    form.update({k: source[k] for k in form if k in source})
    form["os_blob"] = source.get("os_blob") or source.get("blob", "")  # ?blob=: from the upload page
    rows = [
        {
            "i": i,
            "lun": source.get(f"data_{i}_lun", ""),
            "blob": source.get(f"data_{i}_blob", ""),
            "lun_id": f"data_{i}_lun",
            "blob_id": f"data_{i}_blob",
        }
        for i in range(DATA_DISK_ROWS)
    ]
    if not form["resourceGroup"] and len(groups) == 1:
        form["resourceGroup"] = str(groups[0].pk)
    chosen = _chosen_group(request, groups, form["resourceGroup"])
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        rg = chosen or _group_for(request, form["resourceGroup"], MANAGED_IMAGE_TYPE)
        used = [r for r in rows if r["lun"].strip() or r["blob"]]
        try:
            if rg is None:
                raise ServiceError.not_found(
                    "Choose a resource group in which you may create managed images.", "resourceGroup"
                )
            if not form["os_blob"]:
                raise FormError("os_blob", "Choose the VHD of the OS disk.")
            for r in used:
                if not r["blob"]:
                    raise FormError(
                        f"data_{r['i']}_blob", "Choose the VHD of this data disk, or clear its LUN."
                    )
            image = services.create_managed_image(
                Caller.from_request(request),
                rg,
                form.get("name", "").strip(),
                os_blob=form["os_blob"],
                os_type=form.get("os_type", ""),
                hyper_v_generation=form.get("hyper_v_generation", ""),
                data_blobs=[(_number(r["lun"]), r["blob"]) for r in used],
                tags=parse_tags(form.get("tags", "")),
            )
        except FormError as err:
            errors[err.field], status = err.message, 400
        except ServiceError as err:
            status = err.status
            match = DATA_DISK_TARGET.match(err.target or "")
            if match:
                row = used[int(match.group(1))]["i"]
                errors[f"data_{row}_{'lun' if match.group(2) == 'lun' else 'blob'}"] = err.message
            else:
                _fail(errors, err, IMAGE_FIELDS)
        else:
            messages.success(request, f"Created the managed image {image.name}.")
            return redirect("image-detail", pk=image.pk)
    for r in rows:
        r["lun_error"] = errors.get(f"data_{r['i']}_lun", "")
        r["blob_error"] = errors.get(f"data_{r['i']}_blob", "")
    return render(
        request,
        "galleries/resources/image_form.html",
        {
            "form": form,
            "rows": rows,
            "errors": errors,
            "groups": groups,
            "chosen": chosen,
            "blobs": _available_blobs(request, chosen),
            "os_types": _choices(OsType),
            "generations": _choices(HyperVGeneration),
        },
        status=status,
    )


@login_required
def snapshot_create(request):
    groups = list(_writable_groups(request, SNAPSHOT_TYPE))
    source = request.POST if request.method == "POST" else request.GET
    form = {
        "resourceGroup": "",
        "name": "",
        "blob": "",
        "os_type": "",
        "os_state": "Generalized",
        "hyper_v_generation": "V1",
        "tags": "",
    }
    form.update({k: source[k] for k in form if k in source})
    if not form["resourceGroup"] and len(groups) == 1:
        form["resourceGroup"] = str(groups[0].pk)
    chosen = _chosen_group(request, groups, form["resourceGroup"])
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        rg = chosen or _group_for(request, form["resourceGroup"], SNAPSHOT_TYPE)
        try:
            if rg is None:
                raise ServiceError.not_found(
                    "Choose a resource group in which you may create snapshots.", "resourceGroup"
                )
            if not form["blob"]:
                raise FormError("blob", "Choose the VHD to take the snapshot of.")
            snap = services.create_snapshot(
                Caller.from_request(request),
                rg,
                form.get("name", "").strip(),
                blob=form["blob"],
                os_type=form.get("os_type", ""),
                os_state=form.get("os_state", ""),
                hyper_v_generation=form.get("hyper_v_generation", ""),
                tags=parse_tags(form.get("tags", "")),
            )
        except FormError as err:
            errors[err.field], status = err.message, 400
        except ServiceError as err:
            status = _fail(errors, err, SNAPSHOT_FIELDS)
        else:
            messages.success(request, f"Created the snapshot {snap.name}.")
            return redirect("snapshot-detail", pk=snap.pk)
    return render(
        request,
        "galleries/resources/snapshot_form.html",
        {
            "form": form,
            "errors": errors,
            "groups": groups,
            "chosen": chosen,
            "blobs": _available_blobs(request, chosen),
            "os_types": _choices(OsType),
            "os_states": _choices(OsState),
            "generations": _choices(HyperVGeneration),
        },
        status=status,
    )


def _used_by(request, disk_ids):
    """The versions (that the user may read) published from these disks: while there are any, the
    source cannot be deleted."""
    qs = GalleryImageVersion.objects.filter(disks__source_disk__in=disk_ids).distinct()
    return access.restrict(qs, request.user).select_related("definition", "gallery").numeric_order()


@login_required
def image_detail(request, pk: int):
    image = _readable(request, ManagedImage, pk, "location", "resource_group", "subscription", "os_disk")
    data_disks = list(image.data_disks.select_related("disk"))
    return render(
        request,
        "galleries/resources/image_detail.html",
        {
            "resource": image,
            "image": image,
            "data_disks": data_disks,
            "used_by": _used_by(request, [image.os_disk_id, *[d.disk_id for d in data_disks]]),
            "can_delete": access.allowed(request.user, Action.DELETE, image),
        },
    )


@login_required
def snapshot_detail(request, pk: int):
    snap = _readable(request, Snapshot, pk, "location", "resource_group", "subscription", "disk")
    return render(
        request,
        "galleries/resources/snapshot_detail.html",
        {
            "resource": snap,
            "snapshot": snap,
            "used_by": _used_by(request, [snap.disk_id]),
            "can_delete": access.allowed(request.user, Action.DELETE, snap),
        },
    )


# --- Delete (with confirmation) ------------------------------------------------------------------------

DELETES = {
    "gallery": (Gallery, services.delete_gallery, "gallery", "galleries"),
    "definition": (GalleryImage, services.delete_definition, "image definition", None),
    "image": (ManagedImage, services.delete_managed_image, "managed image", "images"),
    "snapshot": (Snapshot, services.delete_snapshot, "snapshot", "snapshots"),
}


def _delete(request, pk: int, kind: str):
    model, delete, label, after = DELETES[kind]
    obj = _readable(request, model, pk, "location")
    _require(request, Action.DELETE, obj)
    error = ""
    status = 200
    if request.method == "POST":
        try:
            delete(Caller.from_request(request), obj)
        except ServiceError as err:
            error, status = err.message, err.status
        else:
            messages.success(request, f"Deleted the {label} {obj.name}.")
            if after is None:  # a definition: back to its gallery
                return redirect("gallery-detail", pk=obj.gallery_id)
            return redirect(after)
    return render(
        request,
        "galleries/resources/confirm_delete.html",
        {
            "resource": obj,
            "label": label,
            "error": error,
            "cancel": reverse(f"{kind}-detail", args=[obj.pk]),
        },
        status=status,
    )


@login_required
def gallery_delete(request, pk: int):
    return _delete(request, pk, "gallery")


@login_required
def definition_delete(request, pk: int):
    return _delete(request, pk, "definition")


@login_required
def image_delete(request, pk: int):
    return _delete(request, pk, "image")


@login_required
def snapshot_delete(request, pk: int):
    return _delete(request, pk, "snapshot")


# --- VHD upload page -----------------------------------------------------------------------------------


@login_required
def upload_page(request):
    """The browser upload (F4 scenario 3): ``static/portal/upload.js`` sends the chosen file in
    chunks to the JSON endpoints of ``galleries/views.py`` and resumes from the server's offset."""
    groups = list(_writable_groups(request, BLOB_TYPE))
    chosen = None
    value = request.GET.get("resourceGroup", "")
    if value:
        chosen = _chosen_group(request, groups, value)
        if chosen is None:
            rg = _group_for(request, value, BLOB_TYPE)
            if rg is None:
                raise Http404("No such resource group.")
            _require(request, Action.WRITE, rg, BLOB_TYPE)
    elif len(groups) == 1:
        chosen = groups[0]
    blobs = []
    if chosen is not None:
        blobs = list(
            Blob.objects.filter(resource_group=chosen).select_related("region").order_by("-updated_at")[:50]
        )
    return render(
        request,
        "galleries/resources/upload.html",
        {
            "groups": groups,
            "chosen": chosen,
            "blobs": blobs,
            "chunk_bytes": min(UPLOAD_CHUNK_BYTES, settings.UPLOAD_MAX_CHUNK_BYTES),
            "max_chunk_bytes": settings.UPLOAD_MAX_CHUNK_BYTES,
        },
    )


urlpatterns = [
    path("galleries/", gallery_list, name="galleries"),
    path("galleries/new", gallery_create, name="gallery-create"),
    path("galleries/<int:pk>/", gallery_detail, name="gallery-detail"),
    path("galleries/<int:pk>/edit", gallery_edit, name="gallery-edit"),
    path("galleries/<int:pk>/delete", gallery_delete, name="gallery-delete"),
    path("galleries/<int:pk>/definitions/new", definition_create, name="definition-create"),
    path("definitions/<int:pk>/", definition_detail, name="definition-detail"),
    path("definitions/<int:pk>/edit", definition_edit, name="definition-edit"),
    path("definitions/<int:pk>/delete", definition_delete, name="definition-delete"),
    path("images/", image_list, name="images"),
    path("images/new", image_create, name="image-create"),
    path("images/<int:pk>/", image_detail, name="image-detail"),
    path("images/<int:pk>/delete", image_delete, name="image-delete"),
    path("snapshots/", snapshot_list, name="snapshots"),
    path("snapshots/new", snapshot_create, name="snapshot-create"),
    path("snapshots/<int:pk>/", snapshot_detail, name="snapshot-detail"),
    path("snapshots/<int:pk>/delete", snapshot_delete, name="snapshot-delete"),
    path("uploads/new", upload_page, name="upload-page"),
]
