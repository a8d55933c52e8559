"""Export a resource group as an ARM template (F20, issue 15): ``ResourceGroups_ExportTemplate`` of
Microsoft.Resources (spec ``specification/resources/resource-manager/Microsoft.Resources/stable/2025-04-01/
resources.json``: ``POST /subscriptions/{s}/resourcegroups/{rg}/exportTemplate``, body
``ExportTemplateRequest`` — ``resources``: ``["*"]`` or resource ids, ``options``: a comma-separated
list of ``IncludeParameterDefaultValue``, ``IncludeComments``, ``SkipResourceNameParameterization``,
``SkipAllParameterization``, ``outputFormat``: ``Json`` or ``Bicep``; answers 200
``ResourceGroupExportResult`` — ``{"template", "error"}`` — or 202, a long-running operation with
``final-state-via: location``).

One function, two edges: ``export_group`` builds the result from what the caller may read (the one
access filter, ``access.restrict``); the API (``ExportTemplate``) and the portal's "Export template" page
and its download (``portal.resource_views``) both call it.

The template is what Azure's export writes (docs/api.md, "Export a resource group", gives the sources):
the 2019-04-01 deploymentTemplate schema; a ``<type>_<name>_name`` parameter (type's last segment,
characters other than letters, digits, ``_`` and ``.`` as ``_``) per top-level resource; child names as
``[concat(parameters('galleries_g_name'), '/def')]``; references to resources in the template as
``resourceId()`` expressions with a ``dependsOn`` (parents too), to anything else as a
``<type>_<name>_externalid`` parameter; properties as the API's GET renders them at the newest
api-version, read-only ones left out. Types the API does not serve (virtual machines, scale sets) are
left out and named in ``error`` (``ExportTemplateCompletedWithErrors``), as Azure does for a type it
cannot export.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.core import signing
from django.db.models import Prefetch
from rest_framework.response import Response

from accounts import access
from accounts.models import Resource, ResourceGroup
from portal.core import arm as core_arm
from portal.core import limits
from portal.core.errors import ServiceError

from ..models import (
    Gallery,
    GalleryImage,
    GalleryImageVersion,
    ManagedImage,
    Snapshot,
    TargetRegion,
    VersionDisk,
)
from . import arm, arm_versions
from .resource_groups import RESOURCES_VERSIONS, OperationResults
from .views import ArmView, resource_group_or_404

SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"

#: The options of ``ExportTemplateRequest.options`` (any case) → their spelling.
OPTIONS = {
    name.lower(): name
    for name in (
        "IncludeParameterDefaultValue",
        "IncludeComments",
        "SkipResourceNameParameterization",
        "SkipAllParameterization",
    )
}
#: Api-versions before this one answer 200 with the result; from it on Azure answers 202 and the
#: result is at the ``Location`` (the az CLI: "Exporting a resource group as a template is async since
#: API version 2019-08-01", ``azure/cli/command_modules/resource/custom.py``, export_group_as_template).
ASYNC_SINCE = "2019-08-01"
#: How long the result URL of an export answers (the export is made when it is read).
RESULT_MAX_AGE = 3600
_SALT = "galleries.api.export"

#: The exported api-version of each type: the newest the API accepts.
API_VERSION = {
    Gallery.ARM_TYPE: max(arm_versions.GALLERY_API_VERSIONS),
    GalleryImage.ARM_TYPE: max(arm_versions.GALLERY_API_VERSIONS),
    GalleryImageVersion.ARM_TYPE: max(arm_versions.GALLERY_API_VERSIONS),
    ManagedImage.ARM_TYPE: max(arm_versions.IMAGE_API_VERSIONS),
    Snapshot.ARM_TYPE: max(arm_versions.SNAPSHOT_API_VERSIONS),
}

#: Read-only properties (``readOnly`` in the GalleryRP, ComputeRP and DiskRP specs) left out of the
#: template: a path into ``properties``, ``[]`` for each element of a list.
READ_ONLY = {
    Gallery.ARM_TYPE: ("provisioningState", "identifier.uniqueName", "sharingStatus"),
    GalleryImage.ARM_TYPE: ("provisioningState",),
    GalleryImageVersion.ARM_TYPE: (
        "provisioningState",
        "replicationStatus",
        "publishingProfile.publishedDate",
        "storageProfile.osDiskImage.sizeInGB",
        "storageProfile.dataDiskImages[].sizeInGB",
        "safetyProfile.reportedForPolicyViolation",
        "safetyProfile.policyViolations",
    ),
    ManagedImage.ARM_TYPE: ("provisioningState",),
    Snapshot.ARM_TYPE: ("provisioningState", "timeCreated", "diskSizeBytes", "uniqueId", "diskState"),
}

_NOT_NAME_CHARACTER = re.compile(r"[^A-Za-z0-9_.]")
_ID = re.compile(r"^/subscriptions/[^/]+/resourcegroups/[^/]+/providers/[^/]+/.+", re.IGNORECASE)


# --- The request -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Request:
    """What to export: ``resources`` None for every resource (``["*"]``), else the ids asked for;
    ``options`` the canonical option names."""

    resources: tuple[str, ...] | None = None
    options: frozenset[str] = frozenset()

    def has(self, option: str) -> bool:
        return option in self.options


def parse_options(value) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, str):
        raise ServiceError.invalid("options", "'options' must be text: a comma-separated list of options.")
    out = set()
    for part in value.split(","):
        name = part.strip()
        if not name:
            continue
        if name.lower() not in OPTIONS:
            raise ServiceError.invalid(
                "options",
                f"'{limits.quote(name)}' is not an export option: use {', '.join(OPTIONS.values())} "
                "(comma-separated).",
            )
        out.add(OPTIONS[name.lower()])
    return frozenset(out)


def parse_request(data) -> Request:
    """``ExportTemplateRequest``: every key read or refused by name (``outputFormat`` only ``Json``)."""
    body = arm.Body(data)
    resources = body.get("resources", list)
    if resources is None:
        raise ServiceError.invalid(
            "resources", "'resources' is required: [\"*\"] for every resource, or the resource ids to export."
        )
    options = parse_options(body.get("options"))
    output = body.get("outputFormat", str)
    if output is not None and output.lower() != "json":
        raise ServiceError.invalid(
            "outputFormat",
            f"'outputFormat' can only be 'Json' here: '{limits.quote(output)}' (Bicep) is not implemented.",
        )
    body.refuse_unknown()
    if resources == ["*"]:
        return Request(None, options)
    if not resources:
        raise ServiceError.invalid(
            "resources", "'resources' is empty: give [\"*\"] or the resource ids to export."
        )
    ids = []
    for i, value in enumerate(resources):
        if not isinstance(value, str) or not _ID.match(value):
            raise ServiceError.invalid(
                f"resources[{i}]",
                f"'resources[{i}]' must be a resource id (/subscriptions/…/resourceGroups/…/providers/…), or the "
                'list must be ["*"].',
            )
        ids.append(value)
    return Request(tuple(ids), options)


# --- Reading what may be exported ------------------------------------------------------------------------


def _readable(user, group: ResourceGroup):
    return (
        Resource.objects.restrict(user)
        .filter(resource_group_id=group.pk)
        .exclude(type=ResourceGroup.ARM_TYPE)
    )


def select(user, group: ResourceGroup, request: Request) -> set[int] | None:
    """The primary keys to export (None: all), checked: an id that is not a resource of the group the
    caller may read is refused by its index, with the message a missing one gets."""
    if request.resources is None:
        return None
    keys = {rid.lower(): i for i, rid in enumerate(request.resources)}
    found = dict(_readable(user, group).filter(arm_key__in=list(keys)).values_list("arm_key", "pk"))
    for key, i in keys.items():
        if key not in found:
            raise ServiceError.invalid(
                f"resources[{i}]",
                f"The resource '{limits.quote(request.resources[i])}' was not found in resource group "
                f"'{group.name}'.",
            )
    return set(found.values())


def _rendered(user, group: ResourceGroup, wanted: set[int] | None) -> tuple[list[tuple], set[str]]:
    """(resource, its GET shape) of every exported resource, and the other types found in the group."""

    def scoped(qs):
        qs = access.restrict(qs, user).filter(resource_group_id=group.pk)
        return qs if wanted is None else qs.filter(pk__in=wanted)

    related = ("location", "created_by", "modified_by")
    out = []
    for g in scoped(Gallery.objects.select_related(*related)):
        out.append((g, arm.gallery(g, API_VERSION[Gallery.ARM_TYPE])))
    for d in scoped(GalleryImage.objects.select_related(*related)):
        out.append((d, arm.definition(d, API_VERSION[GalleryImage.ARM_TYPE])))
    versions = GalleryImageVersion.objects.select_related(*related).prefetch_related(
        Prefetch("target_regions", queryset=TargetRegion.objects.select_related("region").order_by("pk")),
        Prefetch("disks", queryset=VersionDisk.objects.order_by("pk")),
    )
    for v in scoped(versions):
        disks = [(d.lun, d.size_bytes, d.source_arm_id, d.host_caching) for d in v.disks.all()]
        shape = arm.version(v, API_VERSION[v.ARM_TYPE], arm.region_rows(v.target_regions.all()), disks)
        out.append((v, shape))
    images = ManagedImage.objects.select_related(*related, "os_disk").prefetch_related("data_disks__disk")
    for image in scoped(images):
        out.append((image, arm.managed_image(image, API_VERSION[ManagedImage.ARM_TYPE])))
    for s in scoped(Snapshot.objects.select_related(*related, "disk")):
        out.append((s, arm.snapshot(s, API_VERSION[Snapshot.ARM_TYPE])))
    others = _readable(user, group).exclude(type__in=list(API_VERSION))
    if wanted is not None:
        others = others.filter(pk__in=wanted)
    return out, set(others.values_list("type", flat=True).distinct())


# --- The template ----------------------------------------------------------------------------------------


def _drop(properties: dict, path: str) -> None:
    head, _, rest = path.partition(".")
    many = head.endswith("[]")
    key = head[:-2] if many else head
    if key not in properties:
        return
    if not rest:
        del properties[key]
        return
    for item in properties[key] if many else [properties[key]]:
        if isinstance(item, dict):
            _drop(item, rest)


def _segments(arm_id: str) -> tuple[str, list[str]]:
    """``/subscriptions/s/resourceGroups/g/providers/NS/t1/n1/t2/n2`` → (``NS/t1/t2``, [n1, n2])."""
    parts = arm_id.strip("/").split("/")
    at = next(i for i, p in enumerate(parts) if p.lower() == "providers")
    namespace, rest = parts[at + 1], parts[at + 2 :]
    return namespace + "".join(f"/{t}" for t in rest[0::2]), rest[1::2]


def parameter_name(arm_type: str, name: str, suffix: str) -> str:
    """``galleries``, ``Contoso-Gallery``, ``name`` → ``galleries_Contoso_Gallery_name``."""
    return f"{arm_type.rsplit('/', 1)[-1]}_{_NOT_NAME_CHARACTER.sub('_', name)}_{suffix}"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass
class _Template:
    request: Request
    parameters: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)  # parameter → the value it stands for

    def parameter(self, base: str, value: str) -> str:
        """A parameter standing for ``value``; the same value, the same parameter."""
        name, n = base, 1
        while name in self.values and self.values[name] != value:
            name, n = f"{base}{n}", n + 1
        if name not in self.values:
            self.values[name] = value
            entry = {"defaultValue": value} if self.request.has("IncludeParameterDefaultValue") else {}
            self.parameters[name] = {**entry, "type": "String"}
        return name

    def names(self, arm_type: str, names: list[str]) -> list[str]:
        """The name segments of a resource as expressions' arguments: the top-level name as its
        parameter, unless names are not parameterized; the child names quoted."""
        skip = self.request.has("SkipResourceNameParameterization") or self.request.has(
            "SkipAllParameterization"
        )
        top_type = arm_type.split("/")[0] + "/" + arm_type.split("/")[1]
        if skip:
            first = _quote(names[0])
        else:
            first = (
                f"parameters({_quote(self.parameter(parameter_name(top_type, names[0], 'name'), names[0]))})"
            )
        return [first, *(_quote(n) for n in names[1:])]

    def name(self, arm_type: str, names: list[str]) -> str:
        if self.request.has("SkipResourceNameParameterization") or self.request.has(
            "SkipAllParameterization"
        ):
            return "/".join(names)
        args = self.names(arm_type, names)
        if len(args) == 1:
            return f"[{args[0]}]"
        return f"[concat({args[0]}, {_quote('/' + '/'.join(names[1:]))})]"

    def resource_id(self, arm_id: str) -> str:
        arm_type, names = _segments(arm_id)
        return f"[resourceId({_quote(arm_type)}, {', '.join(self.names(arm_type, names))})]"

    def external(self, arm_id: str) -> str:
        """A reference to something not in the template: a parameter, unless nothing is parameterized."""
        if self.request.has("SkipAllParameterization"):
            return arm_id
        arm_type, names = _segments(arm_id)
        return f"[parameters({_quote(self.parameter(parameter_name(arm_type, names[-1], 'externalid'), arm_id))})]"


def _references(value, template: _Template, exported: dict[str, str], depends: list[str]):
    """Replace each ``id`` naming a resource: in the template → its ``resourceId()`` (and a
    ``dependsOn``), elsewhere → an external-id parameter."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "id" and isinstance(item, str) and _ID.match(item):
                if item.lower() in exported:
                    expression = template.resource_id(exported[item.lower()])
                    if expression not in depends:
                        depends.append(expression)
                    out[key] = expression
                else:
                    out[key] = template.external(item)
            else:
                out[key] = _references(item, template, exported, depends)
        return out
    if isinstance(value, list):
        return [_references(item, template, exported, depends) for item in value]
    return value


def _order(pair) -> tuple:
    resource = pair[0]
    return (resource.type.count("/"), resource.type.lower(), resource.arm_key)


def build(rendered: list[tuple], request: Request) -> dict:
    """The template of ``rendered`` ((resource, GET shape) pairs)."""
    template = _Template(request)
    exported = {resource.arm_key: resource.arm_id for resource, _ in rendered}
    resources = []
    for resource, shape in sorted(rendered, key=_order):
        arm_type = resource.type  # the type as the API spells it
        name = template.name(arm_type, _segments(resource.arm_id)[1])
        depends: list[str] = []
        # The parents in the template, nearest first (Azure lists every ancestor it exports).
        parts = resource.arm_id.split("/")
        for cut in range(len(parts) - 2, 0, -2):
            parent = "/".join(parts[:cut])
            if parent.lower() in exported:
                depends.append(template.resource_id(exported[parent.lower()]))
        properties = shape.get("properties") or {}
        for path in READ_ONLY.get(resource.type, ()):
            _drop(properties, path)
        properties = _references(arm._prune(properties), template, exported, depends)
        entry = {}
        if request.has("IncludeComments"):
            entry["comments"] = f"Generalized from resource: '{resource.arm_id}'."
        entry.update({"type": arm_type, "apiVersion": API_VERSION[resource.type], "name": name})
        if shape.get("location"):
            entry["location"] = shape["location"]
        if depends:
            entry["dependsOn"] = depends
        if shape.get("tags"):
            entry["tags"] = shape["tags"]
        if shape.get("sku"):
            entry["sku"] = shape["sku"]
        entry["properties"] = properties
        resources.append(entry)
    return {
        "$schema": SCHEMA,
        "contentVersion": "1.0.0.0",
        "parameters": template.parameters,
        "variables": {},
        "resources": resources,
    }


def _error(types: set[str]) -> dict | None:
    """Azure's answer for types it could not export (the export still succeeds, with the rest)."""
    if not types:
        return None
    return {
        "code": "ExportTemplateCompletedWithErrors",
        "message": "Export template operation completed with errors. Some resources were not exported. Please "
        "see details for more information.",
        "details": [
            {
                "code": "ExportTemplateProviderError",
                "target": t,
                "message": f"Could not get resources of the type '{t}'. Resources of this type will not be exported.",
            }
            for t in sorted(types)
        ],
    }


def export_group(user, group: ResourceGroup, request: Request) -> dict:
    """``ResourceGroupExportResult`` of ``group`` as ``user`` may read it: ``{"template"[, "error"]}``."""
    wanted = select(user, group, request)
    rendered, others = _rendered(user, group, wanted)
    result = {"template": build(rendered, request)}
    error = _error(others)
    if error:
        result["error"] = error
    return result


# --- The API -------------------------------------------------------------------------------------------


def _token(user, group: ResourceGroup, request: Request) -> str:
    payload = {
        "g": group.pk,
        "p": user.pk,
        "r": list(request.resources) if request.resources is not None else None,
        "o": sorted(request.options),
    }
    return signing.dumps(payload, salt=_SALT, compress=True)


class ExportTemplate(ArmView):
    """``POST …/resourcegroups/{rg}/exportTemplate``: 404 ``ResourceGroupNotFound`` when the caller may
    read neither the group nor anything in it; bad input 400 naming the field; then, from api-version
    2019-08-01, 202 with ``Location: /subscriptions/{s}/operationresults/{id}`` (where Azure puts it) and
    ``Retry-After``, before it 200 with the result."""

    api_versions = RESOURCES_VERSIONS
    resource_type = ResourceGroup.ARM_TYPE

    def post(self, request, sub, rg):
        group = resource_group_or_404(request.user, sub, rg)
        wanted = parse_request(request.data)
        if self.api_version < ASYNC_SINCE:
            return Response(export_group(request.user, group, wanted))
        select(request.user, group, wanted)  # refuse a bad id now, not at the result URL
        location = core_arm.absolute(
            request,
            f"/subscriptions/{group.subscription.guid}/operationresults/{_token(request.user, group, wanted)}",
        )
        return Response(status=202, headers={"Location": location, "Retry-After": "0"})


class ExportOperationResults(OperationResults):
    """``/subscriptions/{s}/operationresults/{id}``: an export's result (200 with
    ``ResourceGroupExportResult``, made now, through the access filter as the caller reads now), or
    what ``OperationResults`` answers for a resource group's deletion. Only the principal that asked
    may read it; anyone else, an expired or altered id, gets the 404 of an unknown operation."""

    def get(self, request, sub, operation):
        try:
            payload = signing.loads(operation, salt=_SALT, max_age=RESULT_MAX_AGE)
        except signing.BadSignature:
            return super().get(request, sub, operation)
        group = ResourceGroup.objects.filter(pk=payload["g"], subscription__guid__iexact=sub).first()
        if group is None or payload["p"] != request.user.pk:
            raise ServiceError.not_found(f"The operation '{limits.quote(operation)}' was not found.")
        group = resource_group_or_404(request.user, sub, group.name)
        resources = tuple(payload["r"]) if payload["r"] is not None else None
        return Response(export_group(request.user, group, Request(resources, frozenset(payload["o"]))))
