"""The built-in roles (F12): each a fixed set of actions, some limited to the gallery resource types.

A role is stored as one custom permission on ``Resource`` (``accounts.role_<key>``); an assignment is a
django-guardian object permission of a user or a group on the resource that is its scope. This module
has no model imports, so the ``Resource`` model can list the permissions it declares.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    READ = "read"
    WRITE = "write"
    DELETE = "delete"
    MANAGE_ACCESS = "manage_access"
    DEPLOY = "deploy"

    @property
    def label(self) -> str:
        return {
            "read": "Read",
            "write": "Write",
            "delete": "Delete",
            "manage_access": "Manage access",
            "deploy": "Deploy from",
        }[self.value]


ALL_ACTIONS = frozenset(Action)

GALLERY_TYPE = "Microsoft.Compute/galleries"
DEFINITION_TYPE = "Microsoft.Compute/galleries/images"
VERSION_TYPE = "Microsoft.Compute/galleries/images/versions"
MANAGED_IMAGE_TYPE = "Microsoft.Compute/images"
SNAPSHOT_TYPE = "Microsoft.Compute/snapshots"
BLOB_TYPE = "Microsoft.Storage/blobs"

#: What the Compute Gallery roles apply to. A role limited to these types grants nothing on a
#: subscription or resource group row itself, but assigned there it covers the galleries inside.
GALLERY_TYPES = frozenset({GALLERY_TYPE, DEFINITION_TYPE, VERSION_TYPE})
#: The artifacts a publisher works with: gallery resources, and the images, snapshots and VHD uploads
#: that versions are made from.
PUBLISHING_TYPES = GALLERY_TYPES | {MANAGED_IMAGE_TYPE, SNAPSHOT_TYPE, BLOB_TYPE}


@dataclass(frozen=True)
class Role:
    key: str
    name: str
    description: str
    actions: frozenset[Action]
    types: frozenset[str] | None = None  # None: every resource type
    #: The Azure built-in role's id (its role definition's ``name``), as Microsoft's list of built-in
    #: roles gives it: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles
    guid: str = ""

    @property
    def codename(self) -> str:
        return f"role_{self.key}"

    def grants(self, action: Action, resource_type: str) -> bool:
        return action in self.actions and (self.types is None or resource_type in self.types)


ROLES: tuple[Role, ...] = (
    Role(
        "owner",
        "Owner",
        "Full access to everything in scope, including granting access to others.",
        ALL_ACTIONS,
        guid="8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    ),
    Role(
        "contributor",
        "Contributor",
        "Create, change, delete and deploy from everything in scope; cannot grant access.",
        frozenset({Action.READ, Action.WRITE, Action.DELETE, Action.DEPLOY}),
        guid="b24988ac-6180-42a0-ab88-20f7382dd24c",
    ),
    Role(
        "reader",
        "Reader",
        "See everything in scope and deploy virtual machines from its images.",
        frozenset({Action.READ, Action.DEPLOY}),
        guid="acdd72a7-3385-48ef-bd42-f606fba81ae7",
    ),
    Role(
        "sharing_admin",
        "Compute Gallery Sharing Admin",
        "Grant and remove access to galleries, image definitions and image versions. Includes read, "
        "because sharing what one cannot see is not possible; no write, delete or deploy.",
        frozenset({Action.READ, Action.MANAGE_ACCESS}),
        GALLERY_TYPES,
        guid="1ef6a3be-d0ac-425d-8c01-acb62866290b",
    ),
    Role(
        "artifacts_publisher",
        "Compute Gallery Artifacts Publisher",
        "Create, change and delete galleries, image definitions, image versions, managed images, "
        "snapshots and VHD uploads; cannot grant access.",
        frozenset({Action.READ, Action.WRITE, Action.DELETE}),
        PUBLISHING_TYPES,
        guid="85a2d0d9-2eba-4c9c-b355-11c2cc0788ab",
    ),
    Role(
        "image_reader",
        "Compute Gallery Image Reader",
        "See galleries, image definitions and image versions, and deploy virtual machines from them.",
        frozenset({Action.READ, Action.DEPLOY}),
        GALLERY_TYPES,
        guid="cf7c76d2-98a3-4358-a134-615aa78bf44d",
    ),
)

ROLE_BY_KEY = {r.key: r for r in ROLES}
ROLE_BY_CODENAME = {r.codename: r for r in ROLES}
ROLE_PERMISSIONS = [(r.codename, r.name) for r in ROLES]


def role(key_or_name: str) -> Role | None:
    """A role by key (``reader``), codename (``role_reader``), name (``Reader``) or Azure's id of the
    built-in role (``acdd72a7-…``), ignoring case."""
    k = (key_or_name or "").strip().lower()
    for r in ROLES:
        if k in (r.key, r.codename, r.name.lower(), r.guid):
            return r
    return None
