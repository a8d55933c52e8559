"""Granting and removing role assignments (F12), and who may be given one (F13).

A principal can be given a role at a scope of tenant T only if it belongs there: its home tenant is T,
it is a guest of T (an accepted invitation), or it is a service principal in T (the app's home, or
created by T's administrator's consent). Cross-tenant principals also need T's partner list to let
their tenant in and their tenant's list to let them out. A group must be one of T's groups.
"""

from __future__ import annotations

import uuid

from django.contrib.auth.models import Permission

from portal.core import inputs
from portal.core.errors import ServiceError

from . import access
from . import directory as directories
from .activity import Caller, change
from .models import (
    DirectoryGroup,
    GroupRoleAssignment,
    GuestInvitation,
    Resource,
    ServicePrincipal,
    Tenant,
    User,
    UserRoleAssignment,
)
from .roles import VERSION_TYPE, Action, Role, role

ASSIGN_OP = "Microsoft.Authorization/roleAssignments/write"
REMOVE_OP = "Microsoft.Authorization/roleAssignments/delete"

VERSION_SCOPE_WARNING = (
    "Access was granted on a single image version. Sharing at the gallery (or the image definition) is "
    "recommended: new versions are then shared automatically, and there are fewer assignments to keep track of."
)


def _permission(r: Role) -> Permission:
    return Permission.objects.get(content_type__app_label="accounts", codename=r.codename)


def eligibility_error(principal: User, tenant_id: int) -> str | None:
    """Why ``principal`` cannot be given access in tenant ``tenant_id``, or None when it can."""
    if principal.kind == User.Kind.SERVICE_PRINCIPAL:
        sp = ServicePrincipal.objects.select_related("app__home_tenant").filter(user=principal).first()
        if sp is None or sp.tenant_id != tenant_id:
            return (
                f"The service principal '{principal}' does not belong to this tenant. An app from another tenant "
                "gets a service principal here only when this tenant's administrator consents to it."
            )
        if not access.partner_open(sp.app.home_tenant_id, tenant_id):
            return (
                f"The app's home tenant '{sp.app.home_tenant.name}' is not an allowed partner (inbound here and "
                "outbound there); a tenant administrator must add it to the partner list first."
            )
        return None
    if principal.home_tenant_id == tenant_id:
        return None
    if not GuestInvitation.objects.filter(
        user=principal, tenant_id=tenant_id, state=GuestInvitation.State.ACCEPTED
    ).exists():
        return (
            f"'{principal.username}' is a user of another tenant and not a guest here. Invite them as a guest "
            "(Directory → Guest invitations); once they accept, they can be given access."
        )
    if not access.partner_open(principal.home_tenant_id, tenant_id):
        return (
            f"The guest's home tenant '{principal.home_tenant.name}' is not an allowed partner (inbound here and "
            "outbound there); a tenant administrator must add it to the partner list first."
        )
    return None


#: ``assign_role``'s default: names typed for an assignee are looked up in the scope's own directory.
SCOPE_DIRECTORY = object()


def assign_role(
    caller: Caller,
    scope: Resource,
    assignee: User | DirectoryGroup | str | uuid.UUID,
    role_key: str,
    *,
    directory: Tenant | None | object = SCOPE_DIRECTORY,
    name: uuid.UUID | None = None,
    principal_type: str | None = None,
) -> str:
    """Give ``assignee`` (a principal, a group, the text typed for one, or its object id as a
    ``uuid.UUID``) the role at ``scope``; returns a message (with the warning for a version scope).
    ``name``: the assignment's GUID (the API's ``roleAssignments/<name>``), a new one by default.

    Typed text and object ids are looked up (``directory.find_principal`` /
    ``directory.principal_by_object_id``, after the manage-access check, so only someone who may grant
    here can look anyone up) in ``directory``: the caller's current directory for a page, the scope's
    own tenant by default (the service callers: set-up, tests and the API). ``principal_type`` (the
    API's ``principalType``: ``User``, ``ServicePrincipal`` or ``Group``) must match the assignee's."""
    r = role(role_key)
    guid = name or uuid.uuid4()
    with change(caller, ASSIGN_OP, scope=scope, arm_id=scope.arm_id, action=Action.MANAGE_ACCESS) as ch:
        if isinstance(assignee, str | uuid.UUID):
            where = scope.tenant if directory is SCOPE_DIRECTORY else directory
            if isinstance(assignee, uuid.UUID):
                assignee = directories.principal_by_object_id(where, assignee)
            else:
                assignee = directories.find_principal(where, assignee)
        name = assignee.display_name if isinstance(assignee, DirectoryGroup) else assignee.username
        kind = "Group" if isinstance(assignee, DirectoryGroup) else assignee.kind
        if principal_type is not None and principal_type != kind:
            raise ServiceError(
                "UnmatchedPrincipalType",
                f"The PrincipalId '{name}' has type '{kind}', which is different from specified PrincipalType "
                f"'{principal_type}'.",
                "principalType",
            )
        if r is None:
            raise ServiceError.invalid("role", f"There is no role named '{role_key}'.")
        if r not in access.roles_for_scope(scope):
            raise ServiceError.invalid(
                "role", f"The role '{r.name}' grants nothing on a {scope.type}; choose another role."
            )
        perm = _permission(r)
        content = Resource.objects.get(pk=scope.pk)
        if isinstance(assignee, DirectoryGroup):
            if assignee.tenant_id != scope.tenant_id:
                raise ServiceError.invalid(
                    "principal",
                    f"The group '{name}' belongs to another tenant; only this tenant's groups can be used.",
                )
            exists = GroupRoleAssignment.objects.filter(
                group=assignee.group, permission=perm, content_object=content
            )
            if exists.exists():
                raise ServiceError.conflict(
                    f"The group '{name}' already has the role '{r.name}' here.", "role"
                )
            GroupRoleAssignment.objects.create(
                group=assignee.group,
                permission=perm,
                content_object=content,
                granted_by=caller.principal,
                name=guid,
            )
        else:
            why = eligibility_error(assignee, scope.tenant_id)
            if why:
                raise ServiceError.invalid("principal", why)
            if UserRoleAssignment.objects.filter(
                user=assignee, permission=perm, content_object=content
            ).exists():
                raise ServiceError.conflict(f"'{name}' already has the role '{r.name}' here.", "role")
            UserRoleAssignment.objects.create(
                user=assignee,
                permission=perm,
                content_object=content,
                granted_by=caller.principal,
                name=guid,
            )
        ch.message = f"Granted '{r.name}' to {name}."
        ch.details = {"role": r.name, "principal": name, "scope": scope.arm_id}
        ch.conflict_message = f"'{name}' already has the role '{r.name}' here."
    access.forget(caller.principal)
    if scope.type == VERSION_TYPE:
        return f"{ch.message} {VERSION_SCOPE_WARNING}"
    return ch.message


def remove_assignment(caller: Caller, scope: Resource, assignment_id: str) -> str:
    """Remove a direct assignment at ``scope``: ``u:<pk>`` or ``g:<pk>`` as the access page lists it,
    or the assignment's GUID name (the API's ``roleAssignments/<name>``)."""
    kind, _, pk = (assignment_id or "").partition(":")
    model = {"u": UserRoleAssignment, "g": GroupRoleAssignment}.get(kind)
    guid = None if model else _guid(assignment_id)
    with change(caller, REMOVE_OP, scope=scope, arm_id=scope.arm_id, action=Action.MANAGE_ACCESS) as ch:
        a = None
        if model and inputs.row_id(pk) is not None:
            a = (
                model.objects.filter(pk=inputs.row_id(pk), content_object_id=scope.pk)
                .select_related("permission")
                .first()
            )
        elif guid is not None:
            a = (
                UserRoleAssignment.objects.filter(name=guid, content_object_id=scope.pk)
                .select_related("permission")
                .first()
                or GroupRoleAssignment.objects.filter(name=guid, content_object_id=scope.pk)
                .select_related("permission")
                .first()
            )
        if a is None:
            raise ServiceError.not_found(
                "That role assignment is not at this scope (it may be inherited: remove it where it was made).",
                "assignment",
            )
        who = a.user.username if isinstance(a, UserRoleAssignment) else a.group.directory_group.display_name
        r = role(a.permission.codename)
        a.delete()
        ch.message = f"Removed '{r.name if r else a.permission.codename}' from {who}."
        ch.details = {"role": r.name if r else a.permission.codename, "principal": who, "scope": scope.arm_id}
    access.forget(caller.principal)
    return ch.message


def _guid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(text).strip())
    except (ValueError, AttributeError):
        return None


def grant_as_system(scope: Resource, assignee: User | DirectoryGroup, role_key: str) -> None:
    """Set-up (demo, a new subscription's owner): grant without a caller's manage-access check."""
    assign_role(Caller.system(), scope, assignee, role_key)
