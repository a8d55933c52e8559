"""The OpenAPI description of the ARM-compatible API (F19), attached to the views of
``galleries.api.views`` and ``galleries.api.resources`` (every route of ``galleries/api/urls.py``) without
changing them: ``extend_schema_view`` on each view class, the JSON Schemas of the ARM shapes
(``galleries.api.schema_components``) as components, and the two drf-spectacular hooks named in
``portal/settings/spectacular.py`` (which is also what imports this module whenever a schema is generated).

What it says is what the code does: the ``api-version`` list is ``galleries.api.views.VERSIONS``, names
follow the patterns of ``galleries.services``, every refusal is ``CloudError``
(``portal.core.arm.error_body``), and PUT/PATCH/DELETE answer with the ``Azure-AsyncOperation``/``Location``
headers of ``galleries.api.operations.headers``. One schema per resource covers every api-version; the
descriptions name the properties that only some versions have (``galleries.api.arm_versions.SINCE``).
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiRequest,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)

from accounts.services import RESOURCE_GROUP_NAME
from portal.core.arm import API_VERSION, ApiNotFound

from .. import services
from . import export, schema_deployments
from . import providers as prov
from . import resource_groups as groups
from . import resources as res
from . import views as api
from .schema_components import EXAMPLE, SCHEMAS, ref

# --- Parameters -----------------------------------------------------------------------------------------


_NAME = {"type": "string", "minLength": 1, "maxLength": services.MAX_NAME}
#: Path parameter → (schema, description); the postprocessing hook puts them on every operation.
PATH_PARAMETERS: dict[str, tuple[dict, str]] = {
    "sub": ({"type": "string", "format": "uuid"}, "The subscription id."),
    "rg": (
        {"type": "string", "minLength": 1, "maxLength": 90, "pattern": RESOURCE_GROUP_NAME.pattern},
        "The resource group's name (case-insensitive).",
    ),
    "gallery": (
        {**_NAME, "pattern": services.GALLERY_NAME.pattern},
        "The gallery's name: letters, digits, periods and underscores; it starts and ends with a letter "
        "or digit.",
    ),
    "image": (
        {**_NAME, "pattern": services.CHILD_NAME.pattern},
        "The image definition's name: " + services.CHILD_NAME_RULE,
    ),
    "version": (
        {"type": "string", "pattern": services.VERSION_NAME.pattern},
        "The image version's name: Major.Minor.Patch, three whole numbers.",
    ),
    "location": ({"type": "string", "minLength": 1}, "The region of the operation."),
    "operation": ({"type": "string", "format": "uuid"}, "The operation's id."),
    "name": ({**_NAME}, "The managed image's or snapshot's name."),
    "namespace": (
        {"type": "string", "enum": ["Microsoft.Compute", "Microsoft.Resources", "Microsoft.Authorization"]},
        "The resource provider's namespace (case-insensitive).",
    ),
}


def api_version_parameter(view) -> OpenApiParameter:
    """``api-version``: required, one of what ``view`` accepts (``ArmView.api_versions``)."""
    versions = list(view.api_versions)
    return OpenApiParameter(
        API_VERSION,
        str,
        OpenApiParameter.QUERY,
        required=True,
        enum=versions,
        description=(
            "The api-version: the request and response bodies take the shape of that version. Missing: "
            "400 MissingApiVersionParameter; not one of these: 400 NoRegisteredProviderFound."
        ),
        examples=[OpenApiExample("newest", value=max(versions))],
    )


PAGING = [
    OpenApiParameter(
        "$top",
        {"type": "integer", "minimum": 1, "maximum": 1000},
        OpenApiParameter.QUERY,
        description="The page size (default 100).",
    ),
    OpenApiParameter(
        "$skiptoken",
        str,
        OpenApiParameter.QUERY,
        description="Where the page starts: copy it from nextLink, never make one up.",
    ),
]
EXPAND = OpenApiParameter(
    "$expand",
    str,
    OpenApiParameter.QUERY,
    enum=["ReplicationStatus"],
    description="ReplicationStatus adds properties.replicationStatus (case-insensitive; other values "
    "are ignored).",
)
TYPE_FILTER = OpenApiParameter(
    "$filter",
    str,
    OpenApiParameter.QUERY,
    description="ARM's filter (galleries.api.filters): resourceGroup, resourceType, location, name with eq "
    "or ne; tagName eq [and tagValue eq]; substringof('x', name|resourceGroup); startswith(tagName, 'x'); "
    "joined with and/or and parentheses, case-insensitive. Anything else: 400 InvalidFilterInQueryString.",
    examples=[OpenApiExample("galleries", value="resourceType eq 'Microsoft.Compute/galleries'")],
)
RESOURCES_EXPAND = OpenApiParameter(
    "$expand",
    str,
    OpenApiParameter.QUERY,
    description="Comma-separated: createdTime, changedTime, provisioningState. Others: 400 InvalidParameter.",
    examples=[OpenApiExample("all", value="createdTime,changedTime,provisioningState")],
)
TAG_FILTER = OpenApiParameter(
    "$filter",
    str,
    OpenApiParameter.QUERY,
    description="tagName eq 'x' [and tagValue eq 'y'] (startswith(tagName, 'x') too); anything else: "
    "400 InvalidFilterInQueryString.",
    examples=[OpenApiExample("by tag", value="tagName eq 'env' and tagValue eq 'prod'")],
)
_ASYNC = "the status resource of the long-running operation (GET it until status is no longer InProgress)"


def _async_headers(*codes: int, location: bool = False) -> list[OpenApiParameter]:
    """``Location`` only on a DELETE's 202, as Azure's Compute provider sends (galleries.api.operations)."""
    uri = {"type": "string", "format": "uri"}
    headers = [
        ("Azure-AsyncOperation", dict(uri), f"URL of {_ASYNC}."),
        ("Retry-After", int, "Seconds to wait before asking (0: ask at once)."),
    ]
    if location:
        headers.append(
            (
                "Location",
                dict(uri),
                "The operation's result URL (?monitor=true): 202 while it runs, then 204 (or its error).",
            )
        )
    return [
        OpenApiParameter(name, kind, OpenApiParameter.HEADER, description=text, response=list(codes))
        for name, kind, text in headers
    ]


# --- Responses ------------------------------------------------------------------------------------------

_ERROR_TEXT = {
    400: "The request is invalid: a missing or unknown api-version (MissingApiVersionParameter, "
    "NoRegisteredProviderFound), a body that is not JSON (InvalidRequestContent) or that breaks a rule "
    "(InvalidParameter, with the property in target).",
    401: "No credentials (AuthenticationFailed) or an invalid or expired token "
    "(InvalidAuthenticationToken); WWW-Authenticate names the token endpoint.",
    403: "The caller may read the resource but not do this (AuthorizationFailed).",
    404: "The subscription, resource group or resource does not exist or the caller may not read it "
    "(SubscriptionNotFound, ResourceGroupNotFound, ResourceNotFound).",
    405: "The method is not one this path serves (MethodNotAllowed).",
    409: "The change conflicts with the resource's state, another resource or a quota (Conflict, "
    "PropertyChangeNotAllowed, QuotaExceeded).",
}
READ_ERRORS = (400, 401, 404)
WRITE_ERRORS = (400, 401, 403, 404, 409)


def _errors(*codes: int) -> dict:
    out = {code: OpenApiResponse(response=ref("CloudError"), description=_ERROR_TEXT[code]) for code in codes}
    out["default"] = OpenApiResponse(
        response=ref("CloudError"),
        description=f"Any other refusal in the same shape: {_ERROR_TEXT[405]} 415 for a body that is not "
        "application/json, 500 for an unexpected failure.",
    )
    return out


def _get(view, resource: str, what: str, operation_id: str, tag: str, extra=()) -> extend_schema:
    return extend_schema(
        operation_id=operation_id,
        summary=f"Get {what}",
        tags=[tag],
        parameters=[api_version_parameter(view), *extra],
        responses={
            200: OpenApiResponse(response=ref(resource), description=f"The {what}."),
            **_errors(*READ_ERRORS),
        },
    )


def _put(view, resource: str, what: str, operation_id: str, tag: str, example: dict) -> extend_schema:
    return extend_schema(
        operation_id=operation_id,
        summary=f"Create or replace {what}",
        description=(
            f"Creates the {what} (201) or replaces its writable properties (200; tags left out are "
            "removed). Read-only properties in the body are ignored; a property the API does not know is "
            "refused (400 InvalidParameter, naming it in target)."
        ),
        tags=[tag],
        parameters=[api_version_parameter(view), *_async_headers(200, 201)],
        request={
            "application/json": OpenApiRequest(
                ref(resource), examples=[OpenApiExample(f"{resource} body", value=example, request_only=True)]
            )
        },
        responses={
            200: OpenApiResponse(response=ref(resource), description=f"The {what} was updated."),
            201: OpenApiResponse(response=ref(resource), description=f"The {what} was created."),
            **_errors(*WRITE_ERRORS),
        },
    )


def _patch(view, resource: str, what: str, operation_id: str, tag: str) -> extend_schema:
    return extend_schema(
        operation_id=operation_id,
        summary=f"Update {what}",
        description=f"Changes the properties the body gives; the rest of the {what} stays as it is.",
        tags=[tag],
        parameters=[api_version_parameter(view), *_async_headers(200)],
        request={"application/json": ref(f"{resource}Update")},
        responses={
            200: OpenApiResponse(response=ref(resource), description=f"The {what} was updated."),
            **_errors(*WRITE_ERRORS),
        },
    )


def _delete(view, what: str, operation_id: str, tag: str, extra: str = "") -> extend_schema:
    return extend_schema(
        operation_id=operation_id,
        summary=f"Delete {what}",
        description=f"Deletes the {what}.{extra}",
        tags=[tag],
        parameters=[api_version_parameter(view), *_async_headers(202, location=True)],
        responses={
            202: OpenApiResponse(description="Accepted: follow Azure-AsyncOperation until it Succeeded."),
            204: OpenApiResponse(description=f"There was no such {what} (not an error)."),
            **_errors(*WRITE_ERRORS),
        },
    )


def _list(view, resource: str, what: str, operation_id: str, tag: str, extra=()) -> extend_schema:
    return extend_schema(
        operation_id=operation_id,
        summary=f"List {what}",
        description=f"The {what} the caller may read, a page at a time (follow nextLink).",
        tags=[tag],
        parameters=[api_version_parameter(view), *PAGING, *extra],
        responses={
            200: OpenApiResponse(response=ref(f"{resource}List"), description=f"A page of {what}."),
            **_errors(*READ_ERRORS),
        },
    )


# --- The views of galleries.api.views -------------------------------------------------------------------

_GALLERY_EXAMPLE = {
    "location": "westeurope",
    "tags": {"department": "finance"},
    "properties": {"description": "Images of the finance department"},
}
_DEFINITION_EXAMPLE = {
    "location": "westeurope",
    "properties": {
        "osType": "Linux",
        "osState": "Generalized",
        "identifier": {"publisher": "Contoso", "offer": "Finance", "sku": "Backend"},
    },
}
_VERSION_EXAMPLE = {
    "location": "westeurope",
    "properties": {
        "publishingProfile": {
            "targetRegions": [{"name": "West Europe", "regionalReplicaCount": 1}],
            "replicaCount": 1,
        },
        "storageProfile": {
            "source": {
                "id": f"/subscriptions/{EXAMPLE['sub']}/resourceGroups/{EXAMPLE['rg']}"
                f"/providers/Microsoft.Compute/images/{EXAMPLE['name']}"
            }
        },
    },
}

G, D, V = "Galleries", "GalleryImages", "GalleryImageVersions"
_v = api.GalleryItem
extend_schema_view(
    get=_list(_v, "Gallery", "galleries in the subscription", "Galleries_List", G),
)(api.SubscriptionGalleries)
extend_schema_view(
    get=_list(_v, "Gallery", "galleries in the resource group", "Galleries_ListByResourceGroup", G),
)(api.ResourceGroupGalleries)


def _item(item, resource: str, what: str, tag: str, example: dict, delete: str, get_extra=()) -> None:
    """An item's GET, PUT, PATCH and DELETE, with ARM's operation ids ``<tag>_Get``,
    ``<tag>_CreateOrUpdate``, ``<tag>_Update`` and ``<tag>_Delete`` (``delete``: what DELETE needs)."""
    extend_schema_view(
        get=_get(_v, resource, what, f"{tag}_Get", tag, get_extra),
        put=_put(_v, resource, what, f"{tag}_CreateOrUpdate", tag, example),
        patch=_patch(_v, resource, what, f"{tag}_Update", tag),
        delete=_delete(_v, what, f"{tag}_Delete", tag, delete),
    )(item)


_item(api.GalleryItem, "Gallery", "gallery", G, _GALLERY_EXAMPLE, " It must have no image definitions (409).")
extend_schema_view(
    get=_list(_v, "GalleryImage", "image definitions in the gallery", "GalleryImages_ListByGallery", D),
)(api.GalleryDefinitions)
_item(
    api.DefinitionItem,
    "GalleryImage",
    "image definition",
    D,
    _DEFINITION_EXAMPLE,
    " It must have no image versions (409).",
)
extend_schema_view(
    get=_list(
        _v,
        "GalleryImageVersion",
        "image versions of the definition",
        "GalleryImageVersions_ListByGalleryImage",
        V,
    ),
)(api.DefinitionVersions)
_item(
    api.VersionItem,
    "GalleryImageVersion",
    "image version",
    V,
    _VERSION_EXAMPLE,
    " Its replicas are removed from every region first; the operation succeeds once they are gone.",
    [EXPAND],
)
extend_schema_view(
    get=extend_schema(
        operation_id="AsyncOperations_Get",
        summary="Get the status of a long-running operation",
        description="The URL of Azure-AsyncOperation of a PUT, PATCH or DELETE; with ?monitor=true (a DELETE's "
        "Location) the operation's result: 202 while it runs, then 204, or its error. Only the "
        "principal that started the operation may read it; anyone else gets 404.",
        tags=["AsyncOperations"],
        parameters=[api_version_parameter(api.OperationStatus)],
        responses={
            200: OpenApiResponse(response=ref("OperationStatus"), description="The operation's status."),
            **_errors(*READ_ERRORS),
        },
    ),
)(api.OperationStatus)

# --- The views of galleries.api.resources ------------------------------------------------------------

_SOURCE_DELETE = " Refused (409) while an image version was published from it."


def _item_and_list(item, listing, resource: str, what: str, plural: str, tag: str, delete: str | None = None):
    """The item's GET (and DELETE, when ``delete`` says what it refuses) and the list's GET of one
    resource type, with ARM's operation ids ``<tag>_Get``, ``<tag>_Delete``, ``<tag>_List``."""
    methods = {"get": _get(item, resource, what, f"{tag}_Get", tag)}
    if delete is not None:
        methods["delete"] = _delete(item, what, f"{tag}_Delete", tag, delete)
    extend_schema_view(**methods)(item)
    # One view may serve a subscription's and a resource group's list: ``finish`` names each path's.
    extend_schema_view(get=_list(listing, resource, plural, f"{tag}_List", tag))(listing)


_item_and_list(
    res.ImageItem, res.Images, "Image", "managed image", "managed images", "Images", _SOURCE_DELETE
)
_item_and_list(
    res.SnapshotItem, res.Snapshots, "Snapshot", "snapshot", "snapshots", "Snapshots", _SOURCE_DELETE
)
_item_and_list(
    res.SubscriptionItem, res.Subscriptions, "Subscription", "subscription", "subscriptions", "Subscriptions"
)
for _view, _what, _operation_id in (
    (res.AllResources, "resources of every subscription the caller reaches", "Resources_ListAll"),
    (res.SubscriptionResources, "resources in the subscription", "Resources_List"),
    (res.ResourceGroupResources, "resources in the resource group", "Resources_ListByResourceGroup"),
):
    extend_schema_view(
        get=_list(
            _view, "GenericResource", _what, _operation_id, "Resources", [TYPE_FILTER, RESOURCES_EXPAND]
        )
    )(_view)

# --- Microsoft.Resources: resource groups, tenants, providers; compute usages --------------------------------

_RG = "ResourceGroups"
_g = groups.ResourceGroupItem
_RG_LOCATION = {
    "Location": (
        {"type": "string", "format": "uri"},
        "The deletion's result URL (/subscriptions/{sub}/operationresults/{id}): 202 while it runs, 200 when done.",
    ),
}
extend_schema_view(
    get=_list(
        groups.ResourceGroups, "ResourceGroup", "resource groups", "ResourceGroups_List", _RG, [TAG_FILTER]
    )
)(groups.ResourceGroups)
extend_schema_view(
    get=_get(_g, "ResourceGroup", "resource group", "ResourceGroups_Get", _RG),
    put=extend_schema(
        operation_id="ResourceGroups_CreateOrUpdate",
        summary="Create or update a resource group",
        description="201 created (write on the subscription needed), 200 updated (tags replaced). location is "
        "required (400 LocationRequired) and cannot change (409 InvalidResourceGroupLocation).",
        tags=[_RG],
        parameters=[api_version_parameter(_g)],
        request={"application/json": ref("ResourceGroupCreate")},
        responses={
            200: OpenApiResponse(response=ref("ResourceGroup"), description="Updated."),
            201: OpenApiResponse(response=ref("ResourceGroup"), description="Created."),
            **_errors(*WRITE_ERRORS),
        },
    ),
    patch=extend_schema(
        operation_id="ResourceGroups_Update",
        summary="Update a resource group's tags",
        tags=[_RG],
        parameters=[api_version_parameter(_g)],
        request={"application/json": ref("ResourceGroupPatchable")},
        responses={
            200: OpenApiResponse(response=ref("ResourceGroup"), description="Updated."),
            **_errors(*WRITE_ERRORS),
        },
    ),
    delete=extend_schema(
        operation_id="ResourceGroups_Delete",
        summary="Delete a resource group and everything in it",
        description="A long-running operation (delete on the group needed): deployments, image versions (their "
        "replicas removed by the region workers first), definitions, galleries, managed images, snapshots and "
        "uploads, then the group. Follow Location.",
        tags=[_RG],
        parameters=[
            api_version_parameter(_g),
            *[
                OpenApiParameter(n, t, OpenApiParameter.HEADER, description=d, response=[202])
                for n, (t, d) in {**_RG_LOCATION, "Retry-After": (int, "Seconds to wait (0).")}.items()
            ],
        ],
        responses={202: OpenApiResponse(description="Accepted: follow Location."), **_errors(*WRITE_ERRORS)},
    ),
)(_g)
extend_schema_view(
    get=extend_schema(
        operation_id="ResourceGroupOperationResults_Get",
        summary="The result of a resource group's deletion or export",
        description="A deletion: 202 (with Location and Retry-After) while it runs, 200 once the group is gone, "
        "or the error that stopped it. An export (the Location of exportTemplate): 200 with the "
        "ResourceGroupExportResult. Only the principal that started it may read it.",
        tags=[_RG],
        parameters=[api_version_parameter(export.ExportOperationResults)],
        responses={
            200: OpenApiResponse(
                response=ref("ResourceGroupExportResult"),
                description="Done (a deletion's answer has no body).",
            ),
            202: OpenApiResponse(description="Still running."),
            **_errors(*READ_ERRORS),
        },
    )
)(export.ExportOperationResults)
extend_schema_view(
    post=extend_schema(
        operation_id="ResourceGroups_ExportTemplate",
        summary="Capture a resource group as a template",
        description="The galleries, image definitions, image versions, managed images and snapshots of the group "
        "the caller may read, as an ARM template. From api-version 2019-08-01: 202 with Location (the result, "
        "200 ResourceGroupExportResult); before: 200 with the result. Types the API does not serve are named "
        "in error (ExportTemplateCompletedWithErrors).",
        tags=[_RG],
        parameters=[
            api_version_parameter(export.ExportTemplate),
            *[
                OpenApiParameter(n, t, OpenApiParameter.HEADER, description=d, response=[202])
                for n, (t, d) in {
                    "Location": (
                        {"type": "string", "format": "uri"},
                        "The export's result URL (/subscriptions/{sub}/operationresults/{id}).",
                    ),
                    "Retry-After": (int, "Seconds to wait (0)."),
                }.items()
            ],
        ],
        request={"application/json": ref("ExportTemplateRequest")},
        responses={
            200: OpenApiResponse(response=ref("ResourceGroupExportResult"), description="The export."),
            202: OpenApiResponse(description="Accepted: follow Location."),
            **_errors(*READ_ERRORS),
        },
    )
)(export.ExportTemplate)


def _simple(view, operation_id: str, summary: str, tag: str, component: str, method: str = "get"):
    return extend_schema_view(
        **{
            method: extend_schema(
                operation_id=operation_id,
                summary=summary,
                tags=[tag],
                parameters=[api_version_parameter(view)],
                request=None,
                responses={
                    200: OpenApiResponse(response=ref(component), description=summary),
                    **_errors(*READ_ERRORS),
                },
            )
        }
    )(view)


extend_schema_view(
    get=_list(prov.Tenants, "Tenant", "tenants of the caller", "Tenants_List", "Subscriptions")
)(prov.Tenants)
_simple(
    prov.ProviderRegister,
    "Providers_Register",
    "Register a provider (always registered)",
    "Providers",
    "Provider",
    "post",
)
_simple(
    prov.Locations,
    "Subscriptions_ListLocations",
    "The regions of the catalogue",
    "Subscriptions",
    "LocationList",
)
schema_deployments.describe(_errors, api_version_parameter, PAGING)
PATH_PARAMETERS.update(schema_deployments.PATH_PARAMETERS)
_simple(prov.Usages, "Usage_List", "The gallery limits in a region and their use", "Usages", "UsageList")

extend_schema(exclude=True)(ApiNotFound)

#: Operations whose view serves two paths: (path, method) → operationId and summary.
_RENAMED = {
    (f"/subscriptions/{{sub}}{scope}/providers/Microsoft.Compute/{kind}", "get"): (
        f"{tag}_{suffix}",
        f"List {plural} in the {where}",
    )
    for kind, tag, plural in (("images", "Images", "managed images"), ("snapshots", "Snapshots", "snapshots"))
    for scope, suffix, where in (
        ("/resourceGroups/{rg}", "ListByResourceGroup", "resource group"),
        ("", "List", "subscription"),
    )
}


_simple(prov.Providers, "Providers_List", "List resource providers", "Providers", "ProviderList")
_simple(prov.ProviderItem, "Providers_Get", "Get a resource provider", "Providers", "Provider")
_RENAMED.update(
    {
        ("/providers", "get"): ("Providers_ListAtTenantScope", "List resource providers (tenant level)"),
        ("/providers/{namespace}", "get"): (
            "Providers_GetAtTenantScope",
            "Get a resource provider (tenant level)",
        ),
    }
)


class ArmBearerScheme(OpenApiAuthenticationExtension):
    """``portal.core.arm.ArmAuthentication`` as OpenAPI sees it: a bearer token from /oauth2/token."""

    target_class = "portal.core.arm.ArmAuthentication"
    name = "bearer"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An access token from POST /oauth2/token (client credentials of a service "
            "principal, or a user's password grant). A signed-in browser session works as well "
            "(Swagger UI sends its CSRF token on writes).",
        }


# --- Hooks (named in SPECTACULAR_SETTINGS) --------------------------------------------------------------


def is_arm_path(path: str) -> bool:
    return path in ("/subscriptions", "/providers", "/tenants") or path.startswith(
        ("/subscriptions/", "/providers/")
    )


def arm_endpoints_only(endpoints, **kwargs):
    """PREPROCESSING_HOOKS: only the ARM paths (/subscriptions..., /providers/...), never the portal's
    pages nor the catch-all 404 routes."""
    return [
        (path, regex, method, callback)
        for path, regex, method, callback in endpoints
        if is_arm_path(path) and getattr(callback, "cls", None) is not ApiNotFound
    ]


def finish(result, generator, request, public):
    """POSTPROCESSING_HOOKS: add the ARM schemas, describe the path parameters, name the operations of
    views that serve two paths, and mark the body of every PUT required (drf-spectacular leaves a raw
    schema's body optional)."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(SCHEMAS)
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if (path, method) in _RENAMED:
                operation["operationId"], operation["summary"] = _RENAMED[path, method]
            if method == "put" and "requestBody" in operation:
                operation["requestBody"]["required"] = True
            described = []
            for name in _path_names(path):
                schema, description = PATH_PARAMETERS[name]
                described.append(
                    {
                        "in": "path",
                        "name": name,
                        "required": True,
                        "description": description,
                        "schema": schema,
                        "examples": {name: {"value": EXAMPLE[name]}},
                    }
                )
            params = [p for p in operation.get("parameters", []) if p.get("in") != "path"]
            operation["parameters"] = described + params
    return result


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]
