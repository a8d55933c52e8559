"""Routes of Microsoft.Authorization (role definitions and assignments at any scope) and of the minimal
Microsoft Graph under ``/graph/v1.0/``. Included from ``portal/urls.py`` before ``galleries.api.urls``,
whose catch-alls would answer these paths with 404. The literal segments are case-insensitive
(``portal.core.arm.ArmPathMiddleware``)."""

from django.urls import path, re_path

from . import authorization as authz
from . import graph

#: A scope: a subscription, or anything below it (a resource group, a gallery, a version, an image …).
SCOPE = r"(?P<scope>subscriptions/[^/]+(?:/[^/]+)*?)"
AUTHZ = "providers/Microsoft\\.Authorization"

urlpatterns = [
    re_path(
        rf"^{AUTHZ}/roleDefinitions$", authz.RoleDefinitions.as_view(), name="arm-role-definitions-tenant"
    ),
    re_path(
        rf"^{AUTHZ}/roleDefinitions/(?P<role_id>[^/]+)$",
        authz.RoleDefinitionItem.as_view(),
        name="arm-role-definition-tenant",
    ),
    re_path(
        rf"^{SCOPE}/{AUTHZ}/roleDefinitions$", authz.RoleDefinitions.as_view(), name="arm-role-definitions"
    ),
    re_path(
        rf"^{SCOPE}/{AUTHZ}/roleDefinitions/(?P<role_id>[^/]+)$",
        authz.RoleDefinitionItem.as_view(),
        name="arm-role-definition",
    ),
    re_path(
        rf"^{SCOPE}/{AUTHZ}/roleAssignments$", authz.RoleAssignments.as_view(), name="arm-role-assignments"
    ),
    re_path(
        rf"^{SCOPE}/{AUTHZ}/roleAssignments/(?P<name>[^/]+)$",
        authz.RoleAssignmentItem.as_view(),
        name="arm-role-assignment",
    ),
    # Microsoft Graph (no api-version; its own error shape).
    path("graph/v1.0/users", graph.Users.as_view(), name="graph-users"),
    path("graph/v1.0/users/<str:key>", graph.UserItem.as_view(), name="graph-user"),
    path("graph/v1.0/servicePrincipals", graph.ServicePrincipals.as_view(), name="graph-service-principals"),
    path(
        "graph/v1.0/servicePrincipals/<str:key>",
        graph.ServicePrincipalItem.as_view(),
        name="graph-service-principal",
    ),
    path("graph/v1.0/groups", graph.Groups.as_view(), name="graph-groups"),
    path("graph/v1.0/groups/<str:key>", graph.GroupItem.as_view(), name="graph-group"),
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
