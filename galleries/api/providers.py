"""Tenants, resource providers and compute usages over ARM (F21).

- ``GET /tenants`` (spec ``Microsoft.Resources/stable/2022-12-01/subscriptions.json``, "Tenants - List"):
  the caller's home tenant and every tenant of a subscription it can read.
- ``GET /subscriptions/{s}/providers[/{namespace}]``, ``GET /providers[/{namespace}]`` (tenant level) and
  ``POST /subscriptions/{s}/providers/{namespace}/register`` (spec ``resources.json``, "Providers"): the
  namespaces this portal serves — Microsoft.Compute, Microsoft.Resources, Microsoft.Authorization — with
  their resource types, the api-versions each accepts (``galleries.api.arm_versions``; Microsoft.Authorization's
  from ``accounts.api.authorization``; newest first) and
  locations (the regions' display names; none for global types), always ``Registered``. Registering is
  a no-op that answers the provider, as ARM does for a registered one. An unknown namespace is ARM's
  ``InvalidResourceNamespace`` ("The resource namespace '…' is invalid.").
- ``GET /subscriptions/{s}/providers/Microsoft.Compute/locations/{location}/usages`` (spec
  ``ComputeRP/.../computeRPCommon.json``, "Usage - List"; ``az vm list-usage -l``): the per-region limits
  this portal enforces (``galleries.usage``: galleries, image definitions, image versions).
"""

from __future__ import annotations

from django.db.models import Q
from rest_framework.response import Response

from accounts import access
from accounts.api import authorization
from accounts.models import Resource, Subscription, Tenant
from accounts.roles import Action
from portal.core import limits
from portal.core.arm import page
from portal.core.errors import ServiceError

from ..models import Region, UsageCounter
from ..regions import resolve_region
from . import arm_versions
from .resource_groups import RESOURCES_VERSIONS
from .views import ArmView, subscription_or_404

GALLERY = tuple(arm_versions.GALLERY_API_VERSIONS)
COMPUTE = tuple(arm_versions.IMAGE_API_VERSIONS)
SNAPSHOT = tuple(arm_versions.SNAPSHOT_API_VERSIONS)
RESOURCES = tuple(arm_versions.RESOURCES_API_VERSIONS)

REGIONAL, GLOBAL = True, False

#: namespace → [(resource type, api-versions, regional?)].
PROVIDERS: dict[str, list[tuple[str, tuple[str, ...], bool]]] = {
    "Microsoft.Compute": [
        ("galleries", GALLERY, REGIONAL),
        ("galleries/images", GALLERY, REGIONAL),
        ("galleries/images/versions", GALLERY, REGIONAL),
        ("images", COMPUTE, REGIONAL),
        ("snapshots", SNAPSHOT, REGIONAL),
        ("locations", COMPUTE, GLOBAL),
        ("locations/operations", tuple(sorted(set(GALLERY) | set(COMPUTE) | set(SNAPSHOT))), REGIONAL),
        ("locations/usages", COMPUTE, REGIONAL),
    ],
    "Microsoft.Resources": [
        ("tenants", RESOURCES, GLOBAL),
        ("operationresults", RESOURCES, GLOBAL),
        ("resourceGroups", RESOURCES, REGIONAL),
        ("subscriptions", RESOURCES, GLOBAL),
        ("subscriptions/resourceGroups", RESOURCES, REGIONAL),
        ("subscriptions/resources", RESOURCES, GLOBAL),
        ("subscriptions/providers", RESOURCES, GLOBAL),
        ("providers", RESOURCES, GLOBAL),
        ("resources", RESOURCES, GLOBAL),
    ],
    "Microsoft.Authorization": [
        ("roleAssignments", authorization.ASSIGNMENTS_VERSIONS, GLOBAL),
        ("roleDefinitions", authorization.DEFINITIONS_VERSIONS, GLOBAL),
    ],
}


def _namespace(name: str) -> str:
    for namespace in PROVIDERS:
        if namespace.lower() == name.lower():
            return namespace
    raise ServiceError(
        "InvalidResourceNamespace", f"The resource namespace '{limits.quote(name)}' is invalid.", "namespace"
    )


def provider_body(namespace: str, subscription: Subscription | None) -> dict:
    locations = list(Region.objects.order_by("display_name").values_list("display_name", flat=True))
    body = {
        "id": (f"/subscriptions/{subscription.guid}" if subscription else "") + f"/providers/{namespace}",
        "namespace": namespace,
        "resourceTypes": [
            {
                "resourceType": kind,
                "locations": locations if regional else [],
                "apiVersions": sorted(versions, reverse=True),
            }
            for kind, versions, regional in PROVIDERS[namespace]
        ],
    }
    if subscription is not None:
        body["registrationState"] = "Registered"
        body["registrationPolicy"] = "RegistrationRequired"
    return body


class Providers(ArmView):
    api_versions = RESOURCES_VERSIONS

    def get(self, request, sub=None):
        subscription = subscription_or_404(request.user, sub) if sub else None
        return Response({"value": [provider_body(ns, subscription) for ns in PROVIDERS]})


class ProviderItem(ArmView):
    api_versions = RESOURCES_VERSIONS

    def get(self, request, namespace, sub=None):
        subscription = subscription_or_404(request.user, sub) if sub else None
        return Response(provider_body(_namespace(namespace), subscription))


class ProviderRegister(ArmView):
    """``POST .../providers/{ns}/register``: every namespace here is registered already."""

    api_versions = RESOURCES_VERSIONS

    def post(self, request, sub, namespace):
        """Needs write on the subscription, as ARM's ``*/register/action`` (Contributor and Owner)."""
        subscription = subscription_or_404(request.user, sub)
        namespace = _namespace(namespace)
        if not access.allowed(request.user, Action.WRITE, subscription):
            raise ServiceError.forbidden(
                f"The client '{request.user.username}' does not have authorization to perform action "
                f"'{namespace}/register/action' over scope '/subscriptions/{subscription.guid}'.",
            )
        return Response(provider_body(namespace, subscription))


def tenant_body(tenant: Tenant) -> dict:
    return {
        "id": f"/tenants/{tenant.tenant_id}",
        "tenantId": str(tenant.tenant_id),
        "tenantCategory": "Home",
        "displayName": tenant.name,
        "defaultDomain": tenant.primary_domain,
        "domains": [tenant.primary_domain],
        "tenantType": "AAD",
    }


class Tenants(ArmView):
    api_versions = RESOURCES_VERSIONS

    def get(self, request):
        user = request.user
        inside = (
            Resource.objects.restrict(user).exclude(subscription_id=None).values("subscription__tenant_id")
        )
        readable = access.restrict(Subscription.objects.all(), user).values("tenant_id")
        tenants = Tenant.objects.filter(Q(pk=user.home_tenant_id) | Q(pk__in=inside) | Q(pk__in=readable))
        return Response(page(request, tenants, tenant_body))


#: usage kind → (name.value, name.localizedValue), in the order they are listed.
USAGE_NAMES = {
    UsageCounter.Kind.GALLERIES: ("galleries", "Galleries"),
    UsageCounter.Kind.DEFINITIONS: ("galleryImages", "Gallery Image Definitions"),
    UsageCounter.Kind.VERSIONS: ("galleryImageVersions", "Gallery Image Versions"),
}


class Usages(ArmView):
    """``Usage - List``: ``{"value": [{"unit": "Count", "currentValue", "limit", "name": {…}}]}``."""

    api_versions = COMPUTE

    def get(self, request, sub, location):
        subscription = subscription_or_404(request.user, sub)
        region = resolve_region(location, "location")
        counts = dict(
            UsageCounter.objects.filter(subscription=subscription, region=region).values_list("kind", "count")
        )
        return Response(
            {
                "value": [
                    {
                        "unit": "Count",
                        "currentValue": counts.get(kind, 0),
                        "limit": subscription.limit_for(kind),
                        "name": {"value": value, "localizedValue": text},
                    }
                    for kind, (value, text) in USAGE_NAMES.items()
                ]
            }
        )


def location_body(subscription: Subscription, region: Region) -> dict:
    """``Subscriptions - List Locations`` (Microsoft.Resources, 2022-12-01): what this deployment knows of a
    region — no coordinates or geography groups, which it has not got (left out, not made up)."""
    body = {
        "id": f"/subscriptions/{subscription.guid}/locations/{region.name}",
        "name": region.name,
        "type": "Region",
        "displayName": region.display_name,
        "regionalDisplayName": region.display_name,
        "metadata": {
            "regionType": "Physical",
            "regionCategory": "Recommended" if region.is_source else "Other",
        },
    }
    if region.has_zones:
        body["availabilityZoneMappings"] = [
            {"logicalZone": zone, "physicalZone": f"{region.name}-az{zone}"} for zone in region.zones
        ]
    return body


class Locations(ArmView):
    """``GET /subscriptions/{id}/locations`` (``az account list-locations``): the regions of the catalogue."""

    api_versions = RESOURCES_VERSIONS

    def get(self, request, sub):
        subscription = subscription_or_404(request.user, sub)
        regions = Region.objects.order_by("name")
        return Response({"value": [location_body(subscription, r) for r in regions]})
