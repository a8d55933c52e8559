"""Routes of the ARM-compatible API (F19). Paths as Azure spells them; ``portal.core.arm.ArmPathMiddleware``
makes the literal segments case-insensitive. No trailing slashes (APPEND_SLASH never applies: every
path under a subscription id resolves, the unknown ones to ``ApiNotFound``)."""

from django.urls import path, re_path

from portal.core.arm import ApiNotFound

from . import deployments as deploy
from . import export
from . import providers as prov
from . import resource_groups as groups
from . import resources as res
from . import views as api

SUB = "subscriptions/<str:sub>"
RG = f"{SUB}/resourceGroups/<str:rg>"
COMPUTE = "providers/Microsoft.Compute"
GALLERY = f"{RG}/{COMPUTE}/galleries/<str:gallery>"
IMAGE = f"{GALLERY}/images/<str:image>"
LOCATION = f"{SUB}/{COMPUTE}/locations/<str:location>"


def _disk_source_routes(kind: str, item, listing, name: str) -> list:
    """A managed image's or snapshot's routes: the item, then the lists of a resource group and of a
    subscription."""
    return [
        path(f"{RG}/{COMPUTE}/{kind}/<str:name>", item.as_view(), name=f"arm-{name}"),
        path(f"{RG}/{COMPUTE}/{kind}", listing.as_view(), name=f"arm-{name}s-rg"),
        path(f"{SUB}/{COMPUTE}/{kind}", listing.as_view(), name=f"arm-{name}s-sub"),
    ]


def _provider_routes(prefix: str, suffix: str) -> list:
    """The resource providers and one by namespace, of a subscription (``prefix`` ``{SUB}/``) or the tenant."""
    return [
        path(f"{prefix}providers", prov.Providers.as_view(), name=f"arm-providers{suffix}"),
        path(f"{prefix}providers/<str:namespace>", prov.ProviderItem.as_view(), name=f"arm-provider{suffix}"),
    ]


def _deployment_routes(scope: str, suffix: str) -> list:
    """``Microsoft.Resources/deployments`` of a resource group (``scope`` ``RG``) or a subscription."""
    deployments = f"{scope}/providers/Microsoft.Resources/deployments"
    deployment = f"{deployments}/<str:deployment>"
    # DeploymentOperations_ListByResourceGroup has no providers/Microsoft.Resources segment; the
    # subscription-scope list has it (resources.json, as the SDK sends them).
    operations = (
        f"{RG}/deployments/<str:deployment>/operations" if scope == RG else f"{deployment}/operations"
    )

    def view(cls):
        return (cls if scope == RG else deploy.AT_SUBSCRIPTION[cls]).as_view()

    return [
        path(deployments, view(deploy.DeploymentList), name=f"arm-deployments{suffix}"),
        path(deployment, view(deploy.DeploymentItem), name=f"arm-deployment{suffix}"),
        path(
            f"{deployment}/validate",
            view(deploy.DeploymentValidate),
            name=f"arm-deployment-validate{suffix}",
        ),
        path(f"{deployment}/cancel", view(deploy.DeploymentCancel), name=f"arm-deployment-cancel{suffix}"),
        path(f"{deployment}/whatIf", view(deploy.DeploymentWhatIf), name=f"arm-deployment-whatif{suffix}"),
        path(
            f"{deployment}/whatIfResults/<str:operation>",
            view(deploy.DeploymentWhatIfResult),
            name=f"arm-deployment-whatif-result{suffix}",
        ),
        path(
            f"{deployment}/exportTemplate",
            view(deploy.DeploymentExportTemplate),
            name=f"arm-deployment-export{suffix}",
        ),
        path(
            f"{deployment}/operationStatuses/<str:operation>",
            view(deploy.DeploymentOperationStatus),
            name=f"arm-deployment-operation-status{suffix}",
        ),
        path(operations, view(deploy.DeploymentOperations), name=f"arm-deployment-operations{suffix}"),
        path(
            f"{operations}/<str:deployment_operation>",
            view(deploy.DeploymentOperationItem),
            name=f"arm-deployment-operation{suffix}",
        ),
    ]


urlpatterns = [
    path(f"{SUB}/{COMPUTE}/galleries", api.SubscriptionGalleries.as_view(), name="arm-galleries-sub"),
    path(f"{RG}/{COMPUTE}/galleries", api.ResourceGroupGalleries.as_view(), name="arm-galleries-rg"),
    path(GALLERY, api.GalleryItem.as_view(), name="arm-gallery"),
    path(f"{GALLERY}/images", api.GalleryDefinitions.as_view(), name="arm-definitions"),
    path(IMAGE, api.DefinitionItem.as_view(), name="arm-definition"),
    path(f"{IMAGE}/versions", api.DefinitionVersions.as_view(), name="arm-versions"),
    path(f"{IMAGE}/versions/<str:version>", api.VersionItem.as_view(), name="arm-version"),
    path(f"{LOCATION}/operations/<str:operation>", api.OperationStatus.as_view(), name="arm-operation"),
    # Managed images and snapshots.
    *_disk_source_routes("images", res.ImageItem, res.Images, "image"),
    *_disk_source_routes("snapshots", res.SnapshotItem, res.Snapshots, "snapshot"),
    # Subscriptions, resource groups, resources (Microsoft.Resources).
    path("subscriptions", res.Subscriptions.as_view(), name="arm-subscriptions"),
    path(SUB, res.SubscriptionItem.as_view(), name="arm-subscription"),
    path(f"{SUB}/resourceGroups", groups.ResourceGroups.as_view(), name="arm-resource-groups"),
    path(RG, groups.ResourceGroupItem.as_view(), name="arm-resource-group"),
    *_deployment_routes(RG, ""),
    *_deployment_routes(SUB, "-sub"),
    path(f"{RG}/exportTemplate", export.ExportTemplate.as_view(), name="arm-resource-group-export"),
    path(
        f"{SUB}/operationresults/<str:operation>",
        export.ExportOperationResults.as_view(),
        name="arm-operation-result",
    ),
    path("tenants", prov.Tenants.as_view(), name="arm-tenants"),
    path(f"{SUB}/locations", prov.Locations.as_view(), name="arm-locations"),
    *_provider_routes(f"{SUB}/", "-sub"),
    path(
        f"{SUB}/providers/<str:namespace>/register",
        prov.ProviderRegister.as_view(),
        name="arm-provider-register",
    ),
    *_provider_routes("", ""),
    path(f"{LOCATION}/usages", prov.Usages.as_view(), name="arm-usages"),
    path(f"{SUB}/resources", res.SubscriptionResources.as_view(), name="arm-resources-sub"),
    path(f"{RG}/resources", res.ResourceGroupResources.as_view(), name="arm-resources-rg"),
    path("providers/Microsoft.Resources/resources", res.AllResources.as_view(), name="arm-resources"),
]

#: Included last (``portal/urls.py``), after the portal's pages, some of which live under /subscriptions/.
fallbacks = [
    re_path(
        r"^subscriptions/[0-9A-Fa-f]{8}-[0-9A-Fa-f-]{27}(?:/.*)?$",
        ApiNotFound.as_view(),
        name="arm-not-found",
    ),
    # Any other path under /subscriptions/ the pages do not serve (a subscription id that is not a
    # GUID, a %2F in a name): the API's 404 too, never the portal's HTML page.
    re_path(r"^subscriptions/.*$", ApiNotFound.as_view()),
    re_path(r"^providers/.*$", ApiNotFound.as_view(), name="arm-provider-not-found"),
]
