"""Routes of Microsoft.Authorization (role definitions and assignments at any scope) and of the minimal
Microsoft Graph under ``/graph/v1.0/``. Included from ``portal/urls.py`` with ``galleries.api.urls``, first
and for the API's paths only (``portal.core.arm.api_routes``); the API's catch-all 404s come last. The
literal segments are case-insensitive (``portal.core.arm.ArmPathMiddleware``)."""

from django.urls import path, re_path

from . import authorization as authz
from . import graph

#: A scope: a subscription, or anything below it (a resource group, a gallery, a version, an image …).
SCOPE = r"(?P<scope>subscriptions/[^/]+(?:/[^/]+)*?)"
AUTHZ = "providers/Microsoft\\.Authorization"


def _authz_routes(scope: str, kind: str, listing, item, key: str, name: str, suffix: str = "") -> list:
    """A Microsoft.Authorization collection at ``scope`` and its item by ``key``, named ``{name}s`` and
    ``{name}`` (with ``suffix``)."""
    base = rf"^{scope}{AUTHZ}/{kind}"
    return [
        re_path(rf"{base}$", listing.as_view(), name=f"{name}s{suffix}"),
        re_path(rf"{base}/(?P<{key}>[^/]+)$", item.as_view(), name=f"{name}{suffix}"),
    ]


def _graph_routes(kind: str, listing, item, name: str) -> list:
    """A Graph collection and its item by ``key``, named ``graph-{name}s`` and ``graph-{name}``."""
    return [
        path(f"graph/v1.0/{kind}", listing.as_view(), name=f"graph-{name}s"),
        path(f"graph/v1.0/{kind}/<str:key>", item.as_view(), name=f"graph-{name}"),
    ]


DEFINITIONS = (
    "roleDefinitions",
    authz.RoleDefinitions,
    authz.RoleDefinitionItem,
    "role_id",
    "arm-role-definition",
)

urlpatterns = [
    *_authz_routes("", *DEFINITIONS, suffix="-tenant"),
    *_authz_routes(f"{SCOPE}/", *DEFINITIONS),
    *_authz_routes(
        f"{SCOPE}/",
        "roleAssignments",
        authz.RoleAssignments,
        authz.RoleAssignmentItem,
        "name",
        "arm-role-assignment",
    ),
    # Microsoft Graph (no api-version; its own error shape).
    *_graph_routes("users", graph.Users, graph.UserItem, "user"),
    *_graph_routes(
        "servicePrincipals", graph.ServicePrincipals, graph.ServicePrincipalItem, "service-principal"
    ),
    *_graph_routes("groups", graph.Groups, graph.GroupItem, "group"),
    path("graph/v1.0/me", graph.Me.as_view(), name="graph-me"),
    path(
        "graph/v1.0/directoryObjects/getByIds", graph.DirectoryObjectsByIds.as_view(), name="graph-get-by-ids"
    ),
    path(
        "graph/v1.0/directoryObjects/<str:key>",
        graph.DirectoryObjectItem.as_view(),
        name="graph-directory-object",
    ),
]
