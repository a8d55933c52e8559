"""The ARM-compatible endpoints of galleries, image definitions and image versions (F19).

Thin: each handler finds the resource through the access filter (``access.get_readable`` for one,
``access.restrict`` for lists), moves the body into the service layer's arguments (``galleries.api.arm``),
calls the service and renders the result; every rule, write-access check and activity-log entry is
the service layer's. What the caller may not read answers 404 exactly like what does not exist.
"""

from __future__ import annotations

from django.db import connection
from django.db.models import OuterRef, Prefetch
from rest_framework.response import Response

from accounts import access
from accounts.activity import ActivityLogEntry, Caller
from accounts.models import Resource, ResourceGroup, Subscription
from accounts.roles import Action
from portal.core import arm as core_arm
from portal.core.arm import page
from portal.core.errors import ServiceError
from portal.core.prepared import Prepared, json_rows, run_together, split_json_columns

from .. import services
from ..models import ArmOperation, Gallery, GalleryImage, GalleryImageVersion, TargetRegion, VersionDisk
from . import arm, arm_versions, operations

VERSIONS = tuple(arm_versions.GALLERY_API_VERSIONS) + tuple(
    getattr(arm_versions, "GALLERY_PREVIEW_API_VERSIONS", ())
)
PROVIDER = "providers/Microsoft.Compute"


class ArmView(core_arm.ArmView):
    """The kernel's ARM view with the caller of the activity log: who asked, through the API."""

    @property
    def caller(self) -> Caller:
        return Caller.from_request(self.request._request, source=ActivityLogEntry.Source.API)


def subscription_or_404(user, guid: str) -> Subscription:
    """The subscription, if the caller may read it or anything in it."""
    sub = Subscription.objects.filter(guid__iexact=guid).first()
    if sub is not None and (
        access.allowed(user, Action.READ, sub)
        or Resource.objects.restrict(user).filter(subscription_id=sub.pk).exists()
    ):
        return sub
    raise ServiceError("SubscriptionNotFound", f"The subscription '{guid}' could not be found.")


def resource_group_or_404(user, guid: str, name: str) -> ResourceGroup:
    sub = subscription_or_404(user, guid)
    rg = ResourceGroup.objects.filter(
        arm_key=f"/subscriptions/{sub.guid}/resourcegroups/{name}".lower()
    ).first()
    if rg is not None and (
        access.allowed(user, Action.READ, rg)
        or Resource.objects.restrict(user).filter(resource_group_id=rg.pk).exists()
    ):
        return rg
    raise ServiceError("ResourceGroupNotFound", f"Resource group '{name}' could not be found.")


def _readable(queryset, user, arm_id: str):
    """One resource by id if the caller may read it: the check reads only the assignments on its
    chain (``access.get_readable``), so it costs the same for any number of assignments."""
    return access.get_readable(queryset, user, arm_key=arm_id.lower())


def _not_found(arm_type: str, name: str, rg: str) -> ServiceError:
    return ServiceError.not_found(
        f"The Resource '{arm_type}/{name}' under resource group '{rg}' was not found."
    )


def _galleries():
    return Gallery.objects.select_related("location", "created_by", "modified_by")


def _definitions():
    return GalleryImage.objects.select_related("location", "created_by", "modified_by")


def _versions():
    return GalleryImageVersion.objects.select_related("location", "created_by", "modified_by")


def _versions_with_rows():
    """For lists: each version's regions and disks prefetched (two queries for the whole page)."""
    return _versions().prefetch_related(
        Prefetch("target_regions", queryset=TargetRegion.objects.select_related("region").order_by("pk")),
        Prefetch("disks", queryset=VersionDisk.objects.order_by("pk")),
    )


#: GET of one version: the row, its regions and its disks, all by the version's id, in one round trip —
#: on PostgreSQL in one statement (its JSON is only ints, strings and booleans: nothing is lost).
#: The row ends with the grants stamp (``access.stamp_column``): grants this process keeps on the
#: version's chain are used while it reads the same, and the chain's assignments are not read.
_VERSION_WITH_PARTS = Prepared(
    lambda arm_key: GalleryImageVersion.objects.filter(arm_key=arm_key)
    .annotate(grants_stamp=access.stamp_column())
    .values_list(
        *arm.VERSION_COLUMNS,
        "grants_stamp",
        json_rows(
            TargetRegion.objects.filter(version_id=OuterRef("pk")), "version_id", arm.REGION_COLUMNS, "pk"
        ),
        json_rows(
            VersionDisk.objects.filter(version_id=OuterRef("pk")), "version_id", arm.DISK_COLUMNS, "pk"
        ),
    )
)
_VERSION_BY_ID = Prepared(
    lambda arm_key: GalleryImageVersion.objects.filter(arm_key=arm_key)
    .annotate(grants_stamp=access.stamp_column())
    .values_list(*arm.VERSION_COLUMNS, "grants_stamp")
)
#: A version's ARM key → the scope ids of its chain, remembered by this process (ancestors never change)
#: so that grants kept on the chain can be used without reading its assignments; only a prediction —
#: compared with the row read (an ARM key deleted and created again names another row).
_CHAINS: dict[str, frozenset] = {}
_CHAINS_MAX = 20_000
_REGIONS_BY_ID = Prepared(
    lambda arm_key: TargetRegion.objects.filter(version__arm_key=arm_key)
    .order_by("pk")
    .values_list(*arm.REGION_COLUMNS)
)
_DISKS_BY_ID = Prepared(
    lambda arm_key: VersionDisk.objects.filter(version__arm_key=arm_key)
    .order_by("pk")
    .values_list(*arm.DISK_COLUMNS)
)


def _accepted(request, op_kind: str, resource, status: int, body: dict) -> Response:
    op = operations.start(request, op_kind, resource)
    return Response(body, status=status, headers=operations.headers(request, op))


class _Item(ArmView):
    """GET / PUT / PATCH / DELETE of one resource; subclasses give the model and the service calls."""

    api_versions = VERSIONS

    def arm_id(self, **kw) -> str:
        raise NotImplementedError

    def find(self, **kw):
        raise NotImplementedError

    def render(self, obj) -> dict:
        raise NotImplementedError

    def get(self, request, **kw):
        obj = self.find(**kw)
        if obj is None:
            raise _not_found(self.resource_type, self.leaf(kw), kw["rg"])
        return Response(self.render(obj))

    def put(self, request, **kw):
        obj, created = self.apply(request.data, **kw)
        kind = ArmOperation.Kind.CREATE if created else ArmOperation.Kind.UPDATE
        return _accepted(request, kind, obj, 201 if created else 200, self.render(self.reload(obj, **kw)))

    def apply(self, data, **kw) -> tuple:
        """A PUT's work, without the HTTP: parse the body, create or update through the service layer.
        Answers ``(resource, created)``. Template deployments call it too (``galleries.api.deployments``)."""
        obj = self.find(**kw)
        changes = self.parse(data, partial=False)
        if obj is None:
            return self.create(changes, **kw), True
        changes.setdefault("tags", {})  # PUT replaces the tags
        return self.update(obj, changes), False

    def patch(self, request, **kw):
        obj = self.find(**kw)
        if obj is None:
            raise _not_found(self.resource_type, self.leaf(kw), kw["rg"])
        changes = self.parse(request.data, partial=True)
        updated = self.update(obj, changes)
        return _accepted(
            request, ArmOperation.Kind.UPDATE, updated, 200, self.render(self.reload(updated, **kw))
        )

    def delete(self, request, **kw):
        obj = self.find(**kw)
        if obj is None:
            return Response(status=204)  # ARM: deleting what is not there is not an error
        op = operations.deleting(request, obj, lambda: self.remove(obj))
        return Response(status=202, headers=operations.headers(request, op))

    def reload(self, obj, **kw):
        return self.find(**kw) or obj

    def leaf(self, kw) -> str:
        return kw[self.leaf_key]


class GalleryItem(_Item):
    resource_type = Gallery.ARM_TYPE
    leaf_key = "gallery"

    def arm_id(self, sub, rg, gallery) -> str:
        return f"/subscriptions/{sub}/resourceGroups/{rg}/{PROVIDER}/galleries/{gallery}"

    def find(self, **kw):
        return _readable(_galleries(), self.request.user, self.arm_id(**kw))

    def render(self, obj):
        return arm.gallery(obj, self.api_version)

    def parse(self, data, partial):
        return arm.gallery_in(data, partial)

    def create(self, changes, sub, rg, gallery):
        group = services.get_resource(
            self.caller,
            f"/subscriptions/{sub}/resourceGroups/{rg}",
            ResourceGroup,
            for_type=Gallery.ARM_TYPE,
        )
        return services.create_gallery(self.caller, group, gallery, **changes)

    def update(self, obj, changes):
        changes.setdefault("description", obj.description)
        return services.update_gallery(self.caller, obj, **changes)

    def remove(self, obj):
        services.delete_gallery(self.caller, obj)


class DefinitionItem(_Item):
    resource_type = GalleryImage.ARM_TYPE
    leaf_key = "image"

    def arm_id(self, sub, rg, gallery, image) -> str:
        return f"/subscriptions/{sub}/resourceGroups/{rg}/{PROVIDER}/galleries/{gallery}/images/{image}"

    def find(self, **kw):
        return _readable(_definitions(), self.request.user, self.arm_id(**kw))

    def render(self, obj):
        return arm.definition(obj, self.api_version)

    def parse(self, data, partial):
        return arm.definition_in(data, partial)

    def create(self, changes, sub, rg, gallery, image):
        parent = services.get_resource(
            self.caller,
            f"/subscriptions/{sub}/resourceGroups/{rg}/{PROVIDER}/galleries/{gallery}",
            Gallery,
            for_type=GalleryImage.ARM_TYPE,
        )
        required = {k: changes.pop(k, None) for k in ("publisher", "offer", "sku", "os_type", "os_state")}
        return services.create_definition(self.caller, parent, image, **required, **changes)

    def update(self, obj, changes):
        return services.update_definition(self.caller, obj, **changes)

    def remove(self, obj):
        services.delete_definition(self.caller, obj)


class VersionItem(_Item):
    resource_type = GalleryImageVersion.ARM_TYPE
    leaf_key = "version"

    def arm_id(self, sub, rg, gallery, image, version) -> str:
        return (
            f"/subscriptions/{sub}/resourceGroups/{rg}/{PROVIDER}/galleries/{gallery}/images/{image}"
            f"/versions/{version}"
        )

    def find(self, **kw):
        return _readable(_versions(), self.request.user, self.arm_id(**kw))

    def get(self, request, **kw):
        """The API's most requested read, so it is lean: the version's row (with the grants stamp),
        regions and disks and — unless this process keeps the caller's grants on the version's chain
        under that stamp — the caller's assignments on the chain, read together as prepared queries (on
        PostgreSQL one or two statements in one round trip), then ``access.allowed`` on the row, then
        the shape — no model objects."""
        key = {"arm_key": self.arm_id(**kw).lower()}
        user = request.user
        predicted = _CHAINS.get(key["arm_key"])
        kept = access.kept(user, predicted) if predicted is not None else None
        chain = [] if kept is not None else (access.chain_reads_by_key(user, key["arm_key"]) or [])
        if connection.vendor == "postgresql":
            found, *chain_rows = run_together([(_VERSION_WITH_PARTS, key), *chain])
            rows, (regions, disks) = split_json_columns(found, 2)
        else:
            rows, regions, disks, *chain_rows = run_together(
                [(_VERSION_BY_ID, key), (_REGIONS_BY_ID, key), (_DISKS_BY_ID, key), *chain]
            )
        version = arm.VersionRow(*rows[0][:-1]) if rows else None
        if version is not None:
            scope_ids = frozenset(v for v in access.chain_of(version).values() if v)
            if scope_ids != predicted:
                if len(_CHAINS) >= _CHAINS_MAX:
                    _CHAINS.clear()
                _CHAINS[key["arm_key"]] = scope_ids
            access.take_chain_reads(user, version, chain_rows, stamp=rows[0][-1], kept=kept)
        if version is None or not access.allowed(user, Action.READ, version):
            raise _not_found(self.resource_type, kw["version"], kw["rg"])
        expand = (request.query_params.get("$expand") or "").lower()
        return Response(
            arm.version(
                version,
                self.api_version,
                arm.region_rows(regions),
                disks,
                replication=expand == "replicationstatus",
            )
        )

    def render(self, obj):
        expand = (self.request.query_params.get("$expand") or "").lower()
        key = {"arm_key": obj.arm_key}
        regions, disks = run_together([(_REGIONS_BY_ID, key), (_DISKS_BY_ID, key)])
        return arm.version(
            obj, self.api_version, arm.region_rows(regions), disks, replication=expand == "replicationstatus"
        )

    def parse(self, data, partial):
        return arm.version_in(data, partial)

    def create(self, changes, sub, rg, gallery, image, version):
        parent = services.get_resource(
            self.caller,
            f"/subscriptions/{sub}/resourceGroups/{rg}/{PROVIDER}/galleries/{gallery}/images/{image}",
            GalleryImage,
            for_type=GalleryImageVersion.ARM_TYPE,
        )
        location = changes.pop("location", None)
        source = changes.pop("source", None)
        return services.create_version(
            self.caller, parent, version, location=location, source=source, **changes
        )

    def update(self, obj, changes):
        return services.update_version(self.caller, obj, **changes)

    def remove(self, obj):
        services.delete_version(self.caller, obj)


class _Collection(ArmView):
    api_versions = VERSIONS

    def get(self, request, **kw):
        return Response(page(request, self.queryset(**kw), self.render))


class SubscriptionGalleries(_Collection):
    resource_type = Gallery.ARM_TYPE

    def queryset(self, sub):
        subscription = subscription_or_404(self.request.user, sub)
        return access.restrict(_galleries(), self.request.user).filter(subscription_id=subscription.pk)

    def render(self, obj):
        return arm.gallery(obj, self.api_version)


class ResourceGroupGalleries(SubscriptionGalleries):
    def queryset(self, sub, rg):
        group = resource_group_or_404(self.request.user, sub, rg)
        return access.restrict(_galleries(), self.request.user).filter(resource_group_id=group.pk)


class GalleryDefinitions(_Collection):
    resource_type = GalleryImage.ARM_TYPE

    def queryset(self, sub, rg, gallery):
        parent = GalleryItem(request=self.request).find(sub=sub, rg=rg, gallery=gallery)
        if parent is None:
            raise _not_found(Gallery.ARM_TYPE, gallery, rg)
        return access.restrict(_definitions(), self.request.user).filter(parent_id=parent.pk)

    def render(self, obj):
        return arm.definition(obj, self.api_version)


class DefinitionVersions(_Collection):
    resource_type = GalleryImageVersion.ARM_TYPE

    def queryset(self, sub, rg, gallery, image):
        view = DefinitionItem(request=self.request)
        parent = view.find(sub=sub, rg=rg, gallery=gallery, image=image)
        if parent is None:
            raise _not_found(GalleryImage.ARM_TYPE, image, rg)
        return access.restrict(_versions_with_rows(), self.request.user).filter(parent_id=parent.pk)

    def render(self, obj):
        disks = [(d.lun, d.size_bytes, d.source_arm_id, d.host_caching) for d in obj.disks.all()]
        return arm.version(obj, self.api_version, arm.region_rows(obj.target_regions.all()), disks)


class OperationStatus(ArmView):
    """Operations of galleries, images and snapshots: polled with the api-version of the request that
    started them, so any of the three families' versions is accepted."""

    api_versions = tuple(
        sorted(set(VERSIONS) | set(arm_versions.IMAGE_API_VERSIONS) | set(arm_versions.SNAPSHOT_API_VERSIONS))
    )

    def get(self, request, sub, location, operation):
        op = operations.refresh(operations.find(request, sub, location, operation))
        if (request.query_params.get("monitor") or "").lower() == "true":
            return operations.result(request, op)
        return Response(operations.body(op))
