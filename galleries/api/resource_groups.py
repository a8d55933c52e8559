"""Microsoft.Resources resource groups over ARM (F21), as the spec's "Resource Groups" operations
(``specification/resources/resource-manager/Microsoft.Resources/stable/2025-04-01/resources.json``):

- ``GET /subscriptions/{s}/resourcegroups`` (``$filter=tagName eq 'x' [and tagValue eq 'y']``, ``$top``);
- ``PUT .../resourcegroups/{rg}``: 201 created, 200 updated (``location`` required and unchangeable —
  409 ``InvalidResourceGroupLocation`` as ARM; ``tags`` replaced). Creating needs write on the
  subscription (``accounts.administration.create_resource_group``, the day-one page's service);
- ``PATCH``: the tags; ``HEAD``: 204 when it exists, 404 when not (``az group exists``);
- ``DELETE``: 202 with ``Location: /subscriptions/{s}/operationresults/{id}`` (no Azure-AsyncOperation,
  as ARM answers), which answers 202 while the group's resources are deleted and 200 once the group is
  gone (``galleries.resource_groups``: each type's own service, in dependency order). Needs delete on
  the group.
"""

from __future__ import annotations

from django.db.models import Q
from rest_framework.response import Response

from accounts import access, administration
from accounts.models import Resource, ResourceGroup
from portal.core.arm import page
from portal.core.errors import ServiceError

from .. import resource_groups as groups
from ..models import ArmOperation
from ..regions import resolve_region
from . import arm_versions, filters, operations
from .views import ArmView, resource_group_or_404, subscription_or_404

RESOURCES_VERSIONS = tuple(arm_versions.RESOURCES_API_VERSIONS) + tuple(
    arm_versions.RESOURCES_PREVIEW_API_VERSIONS
)
#: Read-only properties of a resource group a client may send back (ignored, as ARM does).
READ_ONLY = {"id", "name", "type"}


def generic_body(r: Resource) -> dict:
    return {
        "id": r.arm_id,
        "name": r.name,
        "type": r.type,
        "location": r.location.name if r.location_id else None,
        "tags": r.tags or {},
    }


def resource_group_body(rg: ResourceGroup, deleting: bool = False) -> dict:
    return {**generic_body(rg), "properties": {"provisioningState": "Deleting" if deleting else "Succeeded"}}


def _deleting(rg: ResourceGroup) -> bool:
    return ArmOperation.objects.filter(
        resource_id=rg.pk,
        resource_type=ResourceGroup.ARM_TYPE,
        kind=ArmOperation.Kind.DELETE,
        status=ArmOperation.Status.IN_PROGRESS,
    ).exists()


def _body(data, allowed: set[str]) -> dict:
    if not isinstance(data, dict):
        raise ServiceError.invalid("body", "The request body must be a JSON object.")
    for key, value in data.items():
        if key in READ_ONLY:
            continue
        if key == "managedBy" and value is None:
            continue
        if key == "properties":
            if not isinstance(value, dict) or set(value) - {"provisioningState"}:
                raise ServiceError.invalid(
                    "properties",
                    "A resource group has no writable properties (provisioningState is read-only).",
                )
            continue
        if key not in allowed:
            raise ServiceError.invalid(
                key,
                f"The property '{key}' is not supported on a resource group here ({', '.join(sorted(allowed))}).",
            )
    return data


class ResourceGroups(ArmView):
    api_versions = RESOURCES_VERSIONS
    resource_type = ResourceGroup.ARM_TYPE

    def get(self, request, sub):
        subscription = subscription_or_404(request.user, sub)
        inside = (
            Resource.objects.restrict(request.user)
            .exclude(resource_group_id=None)
            .values("resource_group_id")
        )
        readable = access.restrict(ResourceGroup.objects.all(), request.user).values("pk")
        qs = ResourceGroup.objects.filter(
            Q(pk__in=inside) | Q(pk__in=readable), subscription_id=subscription.pk
        )
        qs = filters.apply(qs, request.query_params.get("$filter"), filters.GROUP_FIELDS)
        return Response(page(request, qs.select_related("location"), resource_group_body))


class ResourceGroupItem(ArmView):
    api_versions = RESOURCES_VERSIONS
    resource_type = ResourceGroup.ARM_TYPE

    def _find(self, sub, rg) -> ResourceGroup | None:
        try:
            group = resource_group_or_404(self.request.user, sub, rg)
        except ServiceError as exc:
            if exc.code == "SubscriptionNotFound":
                raise
            return None
        return ResourceGroup.objects.select_related("location").get(pk=group.pk)

    @staticmethod
    def _missing(rg: str) -> ServiceError:
        return ServiceError("ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")

    def get(self, request, sub, rg):
        group = self._find(sub, rg)
        if group is None:
            raise self._missing(rg)
        return Response(resource_group_body(group, _deleting(group)))

    def head(self, request, sub, rg):
        """``Resource Groups - Check Existence``: 204 or 404, no body."""
        try:
            found = self._find(sub, rg) is not None
        except ServiceError:
            found = False
        return Response(status=204 if found else 404)

    def put(self, request, sub, rg):
        data = _body(request.data, {"location", "tags"})
        if not data.get("location"):
            raise ServiceError(
                "LocationRequired", "The location property is required for this definition.", "location"
            )
        group = self._find(sub, rg)
        if group is None:
            subscription = subscription_or_404(request.user, sub)
            created = administration.create_resource_group(
                self.caller, subscription, rg, data["location"], tags=data.get("tags")
            )
            return Response(
                resource_group_body(ResourceGroup.objects.select_related("location").get(pk=created.pk)), 201
            )
        region = resolve_region(data["location"], "location")
        if region.pk != group.location_id:
            raise ServiceError(
                "InvalidResourceGroupLocation",
                f"Invalid resource group location '{data['location']}'. The Resource group already exists in "
                f"location '{group.location.name}'.",
                "location",
            )
        groups.update_tags(self.caller, group, data.get("tags") or {})
        return Response(resource_group_body(group))

    def patch(self, request, sub, rg):
        data = _body(request.data, {"tags"})
        group = self._find(sub, rg)
        if group is None:
            raise self._missing(rg)
        # Even a PATCH that changes nothing is a write (checked and logged by the service).
        groups.update_tags(self.caller, group, (data["tags"] or {}) if "tags" in data else group.tags)
        return Response(resource_group_body(group))

    def delete(self, request, sub, rg):
        group = self._find(sub, rg)
        if group is None:
            raise self._missing(rg)
        op = operations.deleting(request, group, lambda: groups.start_deletion(self.caller, group))
        operations.refresh(op)  # as far as it goes at once
        return Response(
            status=202, headers={"Location": operations.result_url(request, op), "Retry-After": "0"}
        )


class OperationResults(ArmView):
    """``/subscriptions/{s}/operationresults/{id}``: the ``Location`` of a resource group's deletion,
    202 while it runs, 200 once done, or the error that stopped it."""

    api_versions = RESOURCES_VERSIONS

    def get(self, request, sub, operation):
        op = operations.refresh(operations.find_result(request, sub, operation))
        return operations.result(request, op, operations.result_url(request, op))
