"""The read side of the ARM-compatible API beyond the galleries (F19): managed images and snapshots
(read and delete), resource groups and subscriptions (read), and the generic resource listings that
All Resources (F14) is in the portal.

- ``GET /subscriptions`` and ``/subscriptions/{id}``: the subscriptions in which the caller may read
  the subscription or anything in it (a guest, or an app consented into another tenant, sees that
  tenant's ones too).
- resource groups: ``galleries.api.resource_groups``.
- ``GET /subscriptions/{id}/resources``, ``/subscriptions/{id}/resourceGroups/{rg}/resources`` (ARM's
  "Resources - List") and ``GET /providers/Microsoft.Resources/resources`` — every subscription at
  once, this portal's own path for All Resources. ARM's ``$filter`` grammar (``galleries.api.filters``)
  narrows them; ``$expand=createdTime,changedTime,provisioningState`` adds those.
- managed images and snapshots: GET, DELETE, lists by resource group and subscription.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Q
from rest_framework.response import Response

from accounts import access
from accounts.models import Resource, ResourceGroup, Subscription
from galleries import services
from galleries.models import GalleryImageVersion, ManagedImage, Snapshot
from portal.core import limits
from portal.core.arm import page
from portal.core.errors import ServiceError

from . import arm, arm_versions, filters, operations
from .resource_groups import RESOURCES_VERSIONS, generic_body
from .views import ArmView, resource_group_or_404, subscription_or_404


def _readable_subscriptions(user):
    """Subscriptions the caller may read, or in which it may read anything."""
    inside = Resource.objects.restrict(user).exclude(subscription_id=None).values("subscription_id")
    readable = access.restrict(Subscription.objects.all(), user).values("pk")
    return Subscription.objects.filter(Q(pk__in=inside) | Q(pk__in=readable))


def subscription_body(sub: Subscription) -> dict:
    return {
        "id": f"/subscriptions/{sub.guid}",
        "subscriptionId": str(sub.guid),
        "tenantId": str(sub.tenant.tenant_id),
        "displayName": sub.display_name,
        "state": sub.state,
        "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "spendingLimit": "Off"},
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
    }


class Subscriptions(ArmView):
    api_versions = RESOURCES_VERSIONS
    resource_type = Subscription.ARM_TYPE

    def get(self, request):
        qs = _readable_subscriptions(request.user).select_related("tenant")
        return Response(page(request, qs, subscription_body))


class SubscriptionItem(ArmView):
    api_versions = RESOURCES_VERSIONS
    resource_type = Subscription.ARM_TYPE

    def get(self, request, sub):
        subscription = subscription_or_404(request.user, sub)
        return Response(
            subscription_body(Subscription.objects.select_related("tenant").get(pk=subscription.pk))
        )


#: ``$expand`` of the resource listings (spec: "Resources - List", ``$expand``).
EXPANDABLE = {
    "createdtime": "createdTime",
    "changedtime": "changedTime",
    "provisioningstate": "provisioningState",
}


def expand_of(value: str | None) -> set[str]:
    """``createdTime,changedTime,provisioningState`` (any of them, any case) → the set; other names refused."""
    wanted = set()
    for part in (value or "").split(","):
        key = part.strip().lower()
        if not key:
            continue
        if key not in EXPANDABLE:
            raise ServiceError.invalid(
                "$expand",
                f"'{limits.quote(part.strip())}' cannot be expanded here: use createdTime, changedTime and/or "
                "provisioningState.",
            )
        wanted.add(EXPANDABLE[key])
    return wanted


def expanded_body(r: Resource, expand: set[str], states: dict) -> dict:
    body = generic_body(r)
    if "createdTime" in expand:
        body["createdTime"] = arm.iso(r.created_at)
    if "changedTime" in expand:
        body["changedTime"] = arm.iso(r.modified_at)
    if "provisioningState" in expand:
        body["provisioningState"] = states.get(r.pk, "Succeeded")
    return body


class _Resources(ArmView):
    api_versions = RESOURCES_VERSIONS

    def listing(self, request, qs):
        # The resources *in* the scope, as ARM lists them: never the subscriptions and resource groups
        # themselves (those are listed by their own paths).
        qs = qs.exclude(type__in=(Subscription.ARM_TYPE, ResourceGroup.ARM_TYPE))
        qs = filters.apply(qs, request.query_params.get("$filter"))
        expand = expand_of(request.query_params.get("$expand"))
        body = page(request, qs.select_related("location"), lambda r: r)
        rows = body["value"]
        states = {}
        if "provisioningState" in expand:
            states = dict(
                GalleryImageVersion.objects.filter(pk__in=[r.pk for r in rows]).values_list(
                    "pk", "provisioning_state"
                )
            )
        body["value"] = [expanded_body(r, expand, states) for r in rows]
        return Response(body)


class AllResources(_Resources):
    """Every resource the caller may read, in every subscription and directory it reaches (F14)."""

    def get(self, request):
        return self.listing(request, Resource.objects.restrict(request.user).exclude(subscription_id=None))


class SubscriptionResources(_Resources):
    def get(self, request, sub):
        subscription = subscription_or_404(request.user, sub)
        return self.listing(
            request, Resource.objects.restrict(request.user).filter(subscription_id=subscription.pk)
        )


class ResourceGroupResources(_Resources):
    def get(self, request, sub, rg):
        group = resource_group_or_404(request.user, sub, rg)
        return self.listing(
            request, Resource.objects.restrict(request.user).filter(resource_group_id=group.pk)
        )


# --- Managed images and snapshots -------------------------------------------------------------------


@dataclass(frozen=True)
class DiskSource:
    """What differs between managed images and snapshots: the model, its path segment and api-versions,
    what a row needs loaded, its ARM JSON and its delete service."""

    model: type
    kind: str
    api_versions: tuple[str, ...]
    related: tuple[str, ...]
    prefetch: tuple[str, ...]
    render: Callable
    remove: Callable


IMAGES = DiskSource(
    ManagedImage,
    "images",
    tuple(arm_versions.IMAGE_API_VERSIONS),
    ("location", "os_disk", "created_by", "modified_by"),
    ("data_disks__disk",),
    arm.managed_image,
    services.delete_managed_image,
)
SNAPSHOTS = DiskSource(
    Snapshot,
    "snapshots",
    tuple(arm_versions.SNAPSHOT_API_VERSIONS),
    ("location", "disk", "created_by", "modified_by"),
    (),
    arm.snapshot,
    services.delete_snapshot,
)


class _Source(ArmView):
    """A managed image or a snapshot: GET, DELETE (a long-running operation, done at once)."""

    source: DiskSource

    def queryset(self):
        return self.source.model.objects.select_related(*self.source.related).prefetch_related(
            *self.source.prefetch
        )

    def render(self, obj):
        return self.source.render(obj, self.api_version)

    def arm_id(self, sub, rg, name) -> str:
        return (
            f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/{self.source.kind}/{name}"
        )

    def find(self, sub, rg, name):
        return access.get_readable(
            self.queryset(), self.request.user, arm_key=self.arm_id(sub, rg, name).lower()
        )

    def get(self, request, sub, rg, name):
        obj = self.find(sub, rg, name)
        if obj is None:
            raise ServiceError.not_found(
                f"The Resource '{self.resource_type}/{name}' under resource group '{rg}' was not found."
            )
        return Response(self.render(obj))

    def delete(self, request, sub, rg, name):
        obj = self.find(sub, rg, name)
        if obj is None:
            return Response(status=204)
        op = operations.deleting(request, obj, lambda: self.source.remove(self.caller, obj))
        return Response(status=202, headers=operations.headers(request, op))


class ImageItem(_Source):
    source = IMAGES
    api_versions = IMAGES.api_versions
    resource_type = ManagedImage.ARM_TYPE


class SnapshotItem(_Source):
    source = SNAPSHOTS
    api_versions = SNAPSHOTS.api_versions
    resource_type = Snapshot.ARM_TYPE


class _SourceList(ArmView):
    item = None

    def get(self, request, sub, rg=None):
        view = self.item(request=request)
        view.api_version = self.api_version
        qs = access.restrict(view.queryset(), request.user)
        if rg is None:
            qs = qs.filter(subscription_id=subscription_or_404(request.user, sub).pk)
        else:
            qs = qs.filter(resource_group_id=resource_group_or_404(request.user, sub, rg).pk)
        return Response(page(request, qs, view.render))


class Images(_SourceList):
    api_versions = ImageItem.api_versions
    resource_type = ManagedImage.ARM_TYPE
    item = ImageItem


class Snapshots(_SourceList):
    api_versions = SnapshotItem.api_versions
    resource_type = Snapshot.ARM_TYPE
    item = SnapshotItem
