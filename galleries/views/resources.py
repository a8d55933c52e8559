"""Pages for galleries, image definitions, managed images and snapshots (lists, overviews, create /
edit / delete, bulk delete and tag), and the browser VHD upload page (issue 5, F4–F6; issue 13).

Each type is a table (``galleries/tables.py``), a filterset (``galleries/filtersets.py``), a form
(``galleries/forms.py``) and a few lines of view on the generic bases (``portal.core.generic``): they
fetch through the access filter once (unreadable → 404, readable but not allowed → 403), call the
service, and place a ``ServiceError`` on the field its ``target`` names.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.db.models.functions import Lower
from django.http import Http404
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django_tables2 import RequestConfig

from accounts import access
from accounts.models import Resource
from accounts.roles import (
    BLOB_TYPE,
    DEFINITION_TYPE,
    GALLERY_TYPE,
    MANAGED_IMAGE_TYPE,
    SNAPSHOT_TYPE,
    VERSION_TYPE,
    Action,
)
from portal.core import generic
from portal.core.errors import ServiceError
from portal.core.queries import per_row

from .. import filtersets, forms, services, tables
from ..frame import FRAME_RELATED, command, row
from ..models import (
    Blob,
    Gallery,
    GalleryImage,
    GalleryImageVersion,
    ManagedImage,
    Region,
    Snapshot,
    TargetRegion,
)
from .base import (
    GalleriesView,
    ResourceBulkDelete,
    ResourceDelete,
    ResourceEdit,
    create_crumbs,
    forged,
    group_for,
    in_directory,
    writable_groups,
)

#: The browser sends VHDs in chunks of this size (never above the server's limit).
UPLOAD_CHUNK_BYTES = 4 * 1024 * 1024


def _group_or_refuse(request, form, resource_type: str, what: str):
    rg = group_for(request, form.cleaned_data["resourceGroup"], resource_type)
    if rg is None:
        raise ServiceError.not_found(
            f"Choose a resource group in which you may create {what}.", "resourceGroup"
        )
    return rg


def _chosen_group(request, groups, value):
    return next((g for g in groups if str(g.pk) == str(value)), None)


def _available_blobs(request, rg) -> list[Blob]:
    """The finished VHDs of the chosen resource group, if the user may read blobs there."""
    if rg is None or not access.allowed(request.user, Action.READ, rg, BLOB_TYPE):
        return []
    return list(
        Blob.objects.filter(resource_group=rg, state=Blob.State.AVAILABLE)
        .select_related("region")
        .order_by(Lower("name"))
    )


def _used_by(request, disk_ids):
    """The versions (that the user may read) published from these disks: while there are any, the
    source cannot be deleted."""
    qs = GalleryImageVersion.objects.filter(disks__source_disk__in=disk_ids).distinct()
    return access.restrict(qs, request.user).select_related("definition", "gallery").numeric_order()


# --- Lists ---------------------------------------------------------------------------------------------


class ResourceList(GalleriesView, generic.ObjectListView):
    create_type = ""
    create_url_name = ""
    bulk_delete_url_name = ""
    bulk_tag_url_name = ""

    def get_queryset(self, request):
        return in_directory(request, self.queryset.all()).select_related(
            "location", "resource_group", "subscription"
        )

    def get_bulk_actions(self, request):
        actions = []
        if self.bulk_tag_url_name:
            actions.append(
                {"label": "Tag", "url": reverse(self.bulk_tag_url_name), "css": "secondary", "id": "bulk-tag"}
            )
        if self.bulk_delete_url_name:
            actions.append(
                {
                    "label": "Delete",
                    "url": reverse(self.bulk_delete_url_name),
                    "css": "danger",
                    "id": "bulk-delete",
                }
            )
        return actions

    def get_extra_context(self, request, obj):
        can_create = writable_groups(request, self.create_type).exists()
        return {
            "can_create": can_create,
            "create_url": reverse(self.create_url_name),
            "commands": self.list_commands(can_create)
            + [command("Refresh", request.get_full_path(), "refresh", "secondary")],
        }

    def list_commands(self, can_create: bool) -> list[dict]:
        return [command("+ Create", reverse(self.create_url_name), "create")] if can_create else []


class GalleryList(ResourceList):
    queryset = Gallery.objects.all()
    table = tables.GalleryTable
    filterset = filtersets.GalleryFilterSet
    title = "Azure compute galleries"
    create_type = GALLERY_TYPE
    create_url_name = "gallery-create"
    bulk_delete_url_name = "gallery-bulk-delete"
    bulk_tag_url_name = "gallery-bulk-tag"
    template_name = "galleries/resources/gallery_list.html"


class ManagedImageList(ResourceList):
    queryset = ManagedImage.objects.select_related("os_disk")
    table = tables.ManagedImageTable
    filterset = filtersets.ManagedImageFilterSet
    title = "Managed images"
    create_type = MANAGED_IMAGE_TYPE
    create_url_name = "image-create"
    bulk_delete_url_name = "image-bulk-delete"
    template_name = "galleries/resources/image_list.html"

    def list_commands(self, can_create):
        upload = (
            [command("Upload a VHD", reverse("upload-page"), "upload", "secondary")] if can_create else []
        )
        return super().list_commands(can_create) + upload


class SnapshotList(ResourceList):
    queryset = Snapshot.objects.select_related("disk")
    table = tables.SnapshotTable
    filterset = filtersets.SnapshotFilterSet
    title = "Snapshots"
    create_type = SNAPSHOT_TYPE
    create_url_name = "snapshot-create"
    bulk_delete_url_name = "snapshot-bulk-delete"
    template_name = "galleries/resources/snapshot_list.html"


# --- Bulk actions --------------------------------------------------------------------------------------


class GalleryBulkDelete(ResourceBulkDelete):
    queryset = Gallery.objects.all()
    label_plural = "galleries"
    return_url_name = "galleries"
    delete_with = staticmethod(services.delete_gallery)


class GalleryBulkTag(GalleriesView, generic.BulkTagView):
    queryset = Gallery.objects.all()
    label_plural = "galleries"
    return_url_name = "galleries"

    def update(self, caller, obj, tags):
        services.update_gallery(caller, obj, tags=tags)


class DefinitionBulkDelete(ResourceBulkDelete):
    queryset = GalleryImage.objects.select_related("gallery")
    label_plural = "image definitions"
    return_url_name = "galleries"
    delete_with = staticmethod(services.delete_definition)


class DefinitionBulkTag(GalleriesView, generic.BulkTagView):
    queryset = GalleryImage.objects.select_related("gallery")
    label_plural = "image definitions"
    return_url_name = "galleries"

    def update(self, caller, obj, tags):
        services.update_definition(caller, obj, tags=tags)


class ManagedImageBulkDelete(ResourceBulkDelete):
    queryset = ManagedImage.objects.all()
    label_plural = "managed images"
    return_url_name = "images"
    delete_with = staticmethod(services.delete_managed_image)


class SnapshotBulkDelete(ResourceBulkDelete):
    queryset = Snapshot.objects.all()
    label_plural = "snapshots"
    return_url_name = "snapshots"
    delete_with = staticmethod(services.delete_snapshot)


# --- Galleries -----------------------------------------------------------------------------------------

GALLERY_FIELDS = {
    "name": "name",
    "description": "properties.description",
    "location": "location",
    "resourceGroup": "resourceGroup",
}


class GalleryView(GalleriesView, generic.ObjectView):
    queryset = Gallery.objects.select_related(*FRAME_RELATED)
    template_name = "galleries/resources/gallery_detail.html"
    edit_url_name = "gallery-edit"
    delete_url_name = "gallery-delete"

    def commands(self, request, gallery):
        out = []
        if self.allowed(request.user, Action.WRITE, gallery, DEFINITION_TYPE):
            out.append(
                command(
                    "+ Add image definition",
                    reverse("definition-create", args=[gallery.pk]),
                    "add-definition",
                )
            )
        # the page is the shell's (portal.resource_views.GalleryExport): the group's export page, for this gallery
        out.append(
            command("Export template", reverse("gallery-export", args=[gallery.pk]), "export-template")
        )
        return out

    def essentials(self, gallery):
        return [
            row("Unique name", gallery.unique_name, copy=True, key="ess-unique-name"),
            row("Description", gallery.description or "—"),
        ]

    def get_extra_context(self, request, gallery):
        versions = Resource.objects.filter(type=VERSION_TYPE)
        definitions = access.restrict(GalleryImage.objects.filter(gallery=gallery), request.user).annotate(
            n_versions=per_row(versions, "definition")
        )
        table = tables.DefinitionTable(definitions, request=request)
        RequestConfig(request, paginate={"per_page": generic.PER_PAGE}).configure(table)
        return {
            "gallery": gallery,
            "definitions": table,
            "definition_bulk_actions": [
                {"label": "Tag", "url": reverse("definition-bulk-tag"), "css": "secondary", "id": "bulk-tag"},
                {
                    "label": "Delete",
                    "url": reverse("definition-bulk-delete"),
                    "css": "danger",
                    "id": "bulk-delete",
                },
            ],
            "has_definitions": bool(table.rows),
            "can_add_definition": self.allowed(request.user, Action.WRITE, gallery, DEFINITION_TYPE),
        }


class GalleryCreate(ResourceEdit):
    form_class = forms.GalleryForm
    field_paths = GALLERY_FIELDS
    template_name = "galleries/resources/gallery_form.html"
    verb = "Created"
    label = "gallery"

    def get_initial(self, request):
        return {"resourceGroup": request.GET.get("resourceGroup", "")}

    def get_form_kwargs(self, request):
        self.groups = list(writable_groups(request, GALLERY_TYPE))
        return {"groups": self.groups, "regions": Region.objects.select_related("cloud")}

    def get_extra_context(self, request, obj):
        return {
            "groups": self.groups,
            "breadcrumbs": create_crumbs("Galleries", "galleries", "Create a gallery"),
        }

    def save(self, request, form):
        data = form.cleaned_data
        return services.create_gallery(
            self.caller(request),
            _group_or_refuse(request, form, GALLERY_TYPE, "galleries"),
            data["name"].strip(),
            location=data["location"] or None,
            description=data["description"],
            tags=data["tags"],
        )


class GalleryEdit(ResourceEdit):
    crumb = "Edit"
    queryset = Gallery.objects.select_related(*FRAME_RELATED)
    form_class = forms.GalleryEditForm
    field_paths = GALLERY_FIELDS
    template_name = "galleries/resources/gallery_form.html"
    label = "gallery"

    def get_initial(self, request):
        return {"description": self.object.description, "tags": self.object.tags}

    def get_extra_context(self, request, gallery):
        return {"gallery": gallery}

    def save(self, request, form):
        changes = {"description": form.cleaned_data["description"], "tags": form.cleaned_data["tags"]}
        changes.update(forged(request, ("location", "name")))
        return services.update_gallery(self.caller(request), self.object, **changes)


class GalleryDelete(ResourceDelete):
    queryset = Gallery.objects.select_related(*FRAME_RELATED)
    label = "gallery"
    delete_with = staticmethod(services.delete_gallery)
    after = "galleries"


# --- Image definitions ---------------------------------------------------------------------------------

DEFINITION_FIELDS = {
    "name": "name",
    "identifier": "properties.identifier",
    **{key: prop for key, prop in services.DEFINITION_PATHS.items() if key != "tags"},
}
#: Shown read-only on the edit page; sent to the service only if a request forges them.
DEFINITION_IMMUTABLE = (
    *forms.DEFINITION_IDENTITY,
    "eula",
    "privacy_statement_uri",
    "plan_name",
    "plan_publisher",
    "plan_product",
    "features",
    "location",
)
DEFINITION_RELATED = (*FRAME_RELATED, "gallery")


class DefinitionView(GalleriesView, generic.ObjectView):
    queryset = GalleryImage.objects.select_related(*DEFINITION_RELATED)
    template_name = "galleries/resources/definition_detail.html"
    edit_url_name = "definition-edit"
    delete_url_name = "definition-delete"

    def commands(self, request, definition):
        commands = []
        if self.allowed(request.user, Action.WRITE, definition, VERSION_TYPE):
            url = reverse("version-create", args=[definition.pk])
            commands.append(command("+ Create version", url, "create-version"))
        commands.append(
            command(
                "Deploy latest",
                f"{reverse('deployment-create')}?source={definition.pk}",
                "deploy",
                "secondary",
            )
        )
        return commands

    def get_extra_context(self, request, definition):
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
        return {
            "definition": definition,
            "versions": versions,
            "latest": sorted((display.get(name, name), v) for name, v in latest.items()),
            "now": timezone.now(),
            "can_add_version": self.allowed(request.user, Action.WRITE, definition, VERSION_TYPE),
            "new_version_url": reverse("version-create", args=[definition.pk]),
        }


class DefinitionCreate(ResourceEdit):
    """A definition *in* a gallery: the page's object is the gallery (write of definitions in it)."""

    crumb = "Add an image definition"
    queryset = Gallery.objects.select_related(*FRAME_RELATED)
    action_type = DEFINITION_TYPE
    form_class = forms.DefinitionForm
    field_paths = {"security_type": "properties.features[0]", **DEFINITION_FIELDS}
    template_name = "galleries/resources/definition_form.html"
    verb = "Created"
    label = "image definition"

    def get_extra_context(self, request, gallery):
        return {"gallery": gallery, "editing": False}

    def save(self, request, form):
        values = dict(form.cleaned_data)
        name = values.pop("name").strip()
        for key in ("publisher", "offer", "sku"):
            values[key] = values[key].strip()
        for key in ("plan_name", "plan_publisher", "plan_product"):
            if not values[key]:
                values.pop(key)
        return services.create_definition(self.caller(request), self.object, name, **values)


class DefinitionEdit(ResourceEdit):
    crumb = "Edit"
    queryset = GalleryImage.objects.select_related(*DEFINITION_RELATED)
    form_class = forms.DefinitionEditForm
    field_paths = DEFINITION_FIELDS
    template_name = "galleries/resources/definition_form.html"
    label = "image definition"

    def get_initial(self, request):
        d = self.object
        initial = {name: getattr(d, name) for name in forms.DefinitionEditForm.base_fields}
        initial["lifecycle_keep_deployed"] = "true" if d.lifecycle_keep_deployed else "false"
        return initial

    def get_extra_context(self, request, definition):
        return {"definition": definition, "gallery": definition.gallery}

    def save(self, request, form):
        definition = self.object
        # What was sent changes; what was not is kept (as an ARM PATCH).
        changes = {k: v for k, v in form.cleaned_data.items() if k in request.POST}
        if "end_of_life_date" in changes:
            changes["end_of_life_date"] = services.end_of_life_kept(
                definition.end_of_life_date, changes["end_of_life_date"]
            )
        changes.update(forged(request, DEFINITION_IMMUTABLE))
        if "disallowed_disk_types" in request.POST:
            changes["disallowed_disk_types"] = request.POST.getlist("disallowed_disk_types")
        return services.update_definition(self.caller(request), definition, **changes)


class DefinitionDelete(ResourceDelete):
    queryset = GalleryImage.objects.select_related(*DEFINITION_RELATED)
    label = "image definition"
    delete_with = staticmethod(services.delete_definition)
    after = ""

    def success_url(self, obj):
        return reverse("gallery-detail", args=[obj.gallery_id])


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


class DiskSourceCreate(ResourceEdit):
    """Managed images and snapshots: the resource group chosen first (its VHDs fill the form)."""

    create_type = ""
    verb = "Created"
    crumbs = ("", "", "")

    def get_form_kwargs(self, request):
        self.groups = list(writable_groups(request, self.create_type))
        source = request.POST if request.method == "POST" else request.GET
        value = source.get("resourceGroup", "")
        if not value and len(self.groups) == 1:
            value = str(self.groups[0].pk)
        self.chosen = _chosen_group(request, self.groups, value)
        self.chosen_value = value
        return {"groups": self.groups, "blobs": _available_blobs(request, self.chosen)}

    def get_initial(self, request):
        initial = {k: v for k, v in request.GET.items()}
        initial["resourceGroup"] = self.chosen_value
        return initial

    def make_form(self, request, data=None):
        kwargs = self.get_form_kwargs(request)
        form = self.form_class(data, initial=self.get_initial(request), **kwargs)
        self.form_id = form_id = self.template_name.rsplit("/", 1)[-1].replace("_form.html", "-form")
        form.fields["resourceGroup"].widget.attrs.update(
            {
                "hx-get": request.path,
                "hx-target": f"#{form_id}",
                "hx-select": f"#{form_id}",
                "hx-swap": "outerHTML",
            }
        )
        self.blobs_available = len(kwargs["blobs"]) > 0
        return form

    def get_extra_context(self, request, obj):
        return {
            "groups": self.groups,
            "chosen": self.chosen,
            "blobs_available": self.blobs_available,
            "breadcrumbs": create_crumbs(*self.crumbs),
            "heading": self.crumbs[2],
            "plural": f"{self.label}s",
            "cancel_url": reverse(self.crumbs[1]),
            "form_id": self.form_id,
        }


class ManagedImageCreate(DiskSourceCreate):
    form_class = forms.ManagedImageForm
    field_paths = IMAGE_FIELDS
    template_name = "galleries/resources/image_form.html"
    create_type = MANAGED_IMAGE_TYPE
    label = "managed image"
    crumbs = ("Managed images", "images", "Create a managed image")

    def get_initial(self, request):
        initial = super().get_initial(request)
        initial.setdefault("os_blob", request.GET.get("blob", ""))  # ?blob=: from the upload page
        return initial

    def save(self, request, form):
        data = form.cleaned_data
        rg = self.chosen or _group_or_refuse(request, form, MANAGED_IMAGE_TYPE, "managed images")
        self.used = data["used_rows"]
        data_blobs = [
            (forms.number_or_text(data[f"data_{i}_lun"]), data[f"data_{i}_blob"]) for i in self.used
        ]
        return services.create_managed_image(
            self.caller(request),
            rg,
            data["name"].strip(),
            os_blob=data["os_blob"],
            os_type=data["os_type"],
            hyper_v_generation=data["hyper_v_generation"],
            data_blobs=data_blobs,
            tags=data["tags"],
        )

    def error_field(self, err):
        match = DATA_DISK_TARGET.match(err.target or "")
        if match:  # about the n-th data disk sent: the form row it came from
            i = self.used[int(match.group(1))]
            return f"data_{i}_{'lun' if match.group(2) == 'lun' else 'blob'}"
        return super().error_field(err)


class SnapshotCreate(DiskSourceCreate):
    form_class = forms.SnapshotForm
    field_paths = SNAPSHOT_FIELDS
    template_name = "galleries/resources/snapshot_form.html"
    create_type = SNAPSHOT_TYPE
    label = "snapshot"
    crumbs = ("Snapshots", "snapshots", "Create a snapshot")

    def save(self, request, form):
        data = form.cleaned_data
        rg = self.chosen or _group_or_refuse(request, form, SNAPSHOT_TYPE, "snapshots")
        return services.create_snapshot(
            self.caller(request),
            rg,
            data["name"].strip(),
            blob=data["blob"],
            os_type=data["os_type"],
            os_state=data["os_state"],
            hyper_v_generation=data["hyper_v_generation"],
            tags=data["tags"],
        )


class ManagedImageView(GalleriesView, generic.ObjectView):
    queryset = ManagedImage.objects.select_related(*FRAME_RELATED, "os_disk")
    template_name = "galleries/resources/image_detail.html"
    delete_url_name = "image-delete"

    def commands(self, request, image):
        return [command("Create VM", f"{reverse('deployment-create')}?source={image.pk}", "deploy")]

    def essentials(self, image):
        return [
            row("OS", f"{image.os_type} · {image.os_state}", key="os"),
            row("Hyper-V generation", image.hyper_v_generation),
        ]

    def get_extra_context(self, request, image):
        data_disks = list(image.data_disks.select_related("disk"))
        return {
            "image": image,
            "data_disks": data_disks,
            "used_by": _used_by(request, [image.os_disk_id, *[d.disk_id for d in data_disks]]),
        }


class SnapshotView(GalleriesView, generic.ObjectView):
    queryset = Snapshot.objects.select_related(*FRAME_RELATED, "disk")
    template_name = "galleries/resources/snapshot_detail.html"
    delete_url_name = "snapshot-delete"

    def essentials(self, snap):
        return [
            row("Disk", f"OS disk ({snap.os_type})" if snap.os_type else "Data disk", key="disk-kind"),
            row("OS state", snap.os_state),
            row("Hyper-V generation", snap.hyper_v_generation),
        ]

    def get_extra_context(self, request, snap):
        return {"snapshot": snap, "used_by": _used_by(request, [snap.disk_id])}


class ManagedImageDelete(ResourceDelete):
    queryset = ManagedImage.objects.select_related(*FRAME_RELATED)
    label = "managed image"
    delete_with = staticmethod(services.delete_managed_image)
    after = "images"


class SnapshotDelete(ResourceDelete):
    queryset = Snapshot.objects.select_related(*FRAME_RELATED)
    label = "snapshot"
    delete_with = staticmethod(services.delete_snapshot)
    after = "snapshots"


# --- VHD upload page -----------------------------------------------------------------------------------


@login_required
def upload_page(request):
    """The browser upload (F4 scenario 3): ``static/portal/upload.js`` sends the chosen file in
    chunks to the JSON endpoints of ``galleries/views/uploads.py`` and resumes from the server's offset."""
    groups = list(writable_groups(request, BLOB_TYPE))
    chosen = None
    value = request.GET.get("resourceGroup", "")
    if value:
        chosen = _chosen_group(request, groups, value)
        if chosen is None:
            rg = group_for(request, value, BLOB_TYPE)
            if rg is None:
                raise Http404("No such resource group.")
            if not access.allowed(request.user, Action.WRITE, rg, BLOB_TYPE):
                raise PermissionDenied(generic.FORBIDDEN)
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


def _views(*pairs):
    return [path(route, view.as_view(), name=name) for route, view, name in pairs]


urlpatterns = _views(
    ("galleries/", GalleryList, "galleries"),
    ("galleries/new", GalleryCreate, "gallery-create"),
    ("galleries/bulk-delete", GalleryBulkDelete, "gallery-bulk-delete"),
    ("galleries/bulk-tag", GalleryBulkTag, "gallery-bulk-tag"),
    ("galleries/<int:pk>/", GalleryView, "gallery-detail"),
    ("galleries/<int:pk>/edit", GalleryEdit, "gallery-edit"),
    ("galleries/<int:pk>/delete", GalleryDelete, "gallery-delete"),
    ("galleries/<int:pk>/definitions/new", DefinitionCreate, "definition-create"),
    ("definitions/bulk-delete", DefinitionBulkDelete, "definition-bulk-delete"),
    ("definitions/bulk-tag", DefinitionBulkTag, "definition-bulk-tag"),
    ("definitions/<int:pk>/", DefinitionView, "definition-detail"),
    ("definitions/<int:pk>/edit", DefinitionEdit, "definition-edit"),
    ("definitions/<int:pk>/delete", DefinitionDelete, "definition-delete"),
    ("images/", ManagedImageList, "images"),
    ("images/new", ManagedImageCreate, "image-create"),
    ("images/bulk-delete", ManagedImageBulkDelete, "image-bulk-delete"),
    ("images/<int:pk>/", ManagedImageView, "image-detail"),
    ("images/<int:pk>/delete", ManagedImageDelete, "image-delete"),
    ("snapshots/", SnapshotList, "snapshots"),
    ("snapshots/new", SnapshotCreate, "snapshot-create"),
    ("snapshots/bulk-delete", SnapshotBulkDelete, "snapshot-bulk-delete"),
    ("snapshots/<int:pk>/", SnapshotView, "snapshot-detail"),
    ("snapshots/<int:pk>/delete", SnapshotDelete, "snapshot-delete"),
) + [path("uploads/new", upload_page, name="upload-page")]
