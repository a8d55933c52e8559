"""The six built-in roles as Azure role definitions (RoleDefinition, 2022-04-01).

Ids, names and descriptions are Azure's own (Microsoft's list of built-in roles,
https://learn.microsoft.com/azure/role-based-access-control/built-in-roles). The permissions are what
the roles do *here* (``accounts.roles``), written as Azure action strings: where ours differ from
Azure's — Reader and Compute Gallery Image Reader also deploy (Azure needs only the image's read for
that), Compute Gallery Sharing Admin grants access through role assignments on gallery resources (Azure's
shares galleries with ``galleries/share/action``), Compute Gallery Artifacts Publisher covers our VHD
uploads (``Microsoft.Storage/blobs``) — the strings say ours.
"""

from __future__ import annotations

from ..roles import Role

PROVIDER = "/providers/Microsoft.Authorization"
DEFINITION_TYPE = "Microsoft.Authorization/roleDefinitions"

#: Azure's descriptions of the built-in roles (the list cited above).
AZURE_DESCRIPTIONS = {
    "owner": "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
    "contributor": "Grants full access to manage all resources, but does not allow you to assign roles in Azure "
    "RBAC, manage assignments in Azure Blueprints, or share image galleries.",
    "reader": "View all resources, but does not allow you to make any changes.",
    "sharing_admin": "This role allows user to share gallery to another subscription/tenant or share it to the "
    "public.",
    "artifacts_publisher": "This is the role for publishing gallery artifacts.",
    "image_reader": "This is the role for reading gallery images.",
}

_GALLERY_READ = [
    "Microsoft.Compute/galleries/read",
    "Microsoft.Compute/galleries/images/read",
    "Microsoft.Compute/galleries/images/versions/read",
]
_ASSIGNMENTS = [
    "Microsoft.Authorization/roleAssignments/read",
    "Microsoft.Authorization/roleAssignments/write",
    "Microsoft.Authorization/roleAssignments/delete",
]

#: (actions, notActions) per role key.
PERMISSIONS = {
    "owner": (["*"], []),
    "contributor": (
        ["*"],
        [
            "Microsoft.Authorization/*/Delete",
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/elevateAccess/Action",
            "Microsoft.Compute/galleries/share/action",
        ],
    ),
    "reader": (["*/read"], []),
    "sharing_admin": ([*_GALLERY_READ, *_ASSIGNMENTS], []),
    "artifacts_publisher": (
        [
            "Microsoft.Compute/galleries/*",
            "Microsoft.Compute/images/*",
            "Microsoft.Compute/snapshots/*",
            "Microsoft.Storage/blobs/*",
            "Microsoft.Authorization/*/read",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
        ],
        [
            "Microsoft.Compute/galleries/share/action",
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/*/Delete",
        ],
    ),
    "image_reader": (list(_GALLERY_READ), []),
}


def definition_id(r: Role, subscription_guid: str | None) -> str:
    """``/subscriptions/{s}/providers/…/roleDefinitions/{guid}`` under a subscription, scope-less at the tenant."""
    head = f"/subscriptions/{subscription_guid}" if subscription_guid else ""
    return f"{head}{PROVIDER}/roleDefinitions/{r.guid}"


def definition_body(r: Role, subscription_guid: str | None) -> dict:
    actions, not_actions = PERMISSIONS[r.key]
    return {
        "id": definition_id(r, subscription_guid),
        "type": DEFINITION_TYPE,
        "name": r.guid,
        "properties": {
            "roleName": r.name,
            "type": "BuiltInRole",
            "description": AZURE_DESCRIPTIONS[r.key],
            "assignableScopes": ["/"],
            "permissions": [
                {"actions": actions, "notActions": not_actions, "dataActions": [], "notDataActions": []}
            ],
            "createdOn": None,
            "updatedOn": None,
            "createdBy": None,
            "updatedBy": None,
        },
    }
