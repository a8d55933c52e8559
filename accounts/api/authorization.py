"""Microsoft.Authorization over ARM (issue 14): role definitions (the six built-in roles of
``accounts.roles``) and role assignments at every scope an access page has.

Paths, bodies, status codes and error codes follow Azure's REST API, spec
``specification/authorization/resource-manager/Microsoft.Authorization`` (roleAssignments 2022-04-01,
roleDefinitions 2022-04-01; the az CLI's SDK asks for role definitions with 2022-05-01-preview, whose
shape is the same). Every change goes through ``accounts.sharing`` (the access page's service): the same
rules, the same activity log. A scope the caller may not read answers 404; a readable one where it may
not manage access, 403 ``AuthorizationFailed``.
"""

from __future__ import annotations

import re
import uuid

from django.db.models import Q
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from portal.core.arm import ArmView
from portal.core.errors import ServiceError

from .. import access, sharing
from ..activity import ActivityLogEntry, Caller
from ..models import GroupRoleAssignment, Resource, Subscription, UserRoleAssignment
from ..roles import ROLE_BY_CODENAME, ROLES, Action, Role, role
from .definitions import definition_body

ASSIGNMENTS_VERSIONS = ("2022-04-01",)
DEFINITIONS_VERSIONS = ("2022-04-01", "2022-05-01-preview")
PROVIDER = "/providers/Microsoft.Authorization"
ASSIGNMENT_TYPE = "Microsoft.Authorization/roleAssignments"
PRINCIPAL_TYPES = ("User", "ServicePrincipal", "Group")
#: Properties a role assignment's body may carry (2022-04-01); those we do not implement must be absent or null.
UNSUPPORTED = ("condition", "conditionVersion", "delegatedManagedIdentityResourceId")
ROLE_DEFINITION_ID = re.compile(
    r"^(?:/subscriptions/[^/]+)?/providers/Microsoft\.Authorization/roleDefinitions/([^/]+)$", re.IGNORECASE
)
_QUOTED_GUID = r"'([^']*)'"
FILTERS = {
    "atScope()": re.compile(r"^atScope\(\)$", re.IGNORECASE),
    "principalId": re.compile(rf"^principalId\s+eq\s+{_QUOTED_GUID}$", re.IGNORECASE),
    "assignedTo": re.compile(rf"^assignedTo\({_QUOTED_GUID}\)$", re.IGNORECASE),
}


class AuthorizationView(ArmView):
    @property
    def caller(self) -> Caller:
        return Caller.from_request(self.request._request, source=ActivityLogEntry.Source.API)


def _guid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value).strip())
    except (ValueError, AttributeError):
        return None


def _scope(user, path: str, *, listing: bool = False) -> tuple[Resource, bool]:
    """The resource named by ``path`` (``subscriptions/…``), and whether the caller may read it. A scope it
    may not read answers 404 — except, for a list, a container (subscription, resource group, gallery,
    definition) with something readable inside, as the galleries' API treats them (the az CLI lists at
    the subscription by default): then only what lies below is shown."""
    arm_id = "/" + path.strip("/")
    found = Resource.objects.select_related("tenant").filter(arm_key=arm_id.lower()).first()
    if found is not None and access.allowed(user, Action.READ, found):
        return found, True
    column = access.SCOPE_COLUMN.get(found.type) if found is not None else None
    if listing and column and Resource.objects.restrict(user).filter(**{column: found.pk}).exists():
        return found, False
    if arm_id.count("/") == 2:
        raise ServiceError("SubscriptionNotFound", f"The subscription '{arm_id[15:]}' could not be found.")
    raise ServiceError.not_found(f"The scope '{arm_id}' was not found.")


# --- Role definitions ----------------------------------------------------------------------------------


def _definitions_filter(text: str | None) -> list[Role]:
    if not text:
        return list(ROLES)
    m = re.fullmatch(r"\s*(roleName|type)\s+eq\s+'((?:[^']|'')*)'\s*", text, re.IGNORECASE)
    if m is None:
        raise ServiceError(
            "InvalidQueryParameterValue",
            "The $filter is not supported: use roleName eq '<name>' or type eq 'BuiltInRole'.",
            "$filter",
        )
    value = m.group(2).replace("''", "'")
    if m.group(1).lower() == "type":
        return list(ROLES) if value.lower() == "builtinrole" else []
    return [r for r in ROLES if r.name.lower() == value.lower()]


class RoleDefinitions(AuthorizationView):
    """GET ``{scope}/providers/Microsoft.Authorization/roleDefinitions`` (``$filter=roleName eq '…'``)."""

    api_versions = DEFINITIONS_VERSIONS

    def get(self, request, scope: str = ""):
        sub = self._subscription(request, scope)
        roles = _definitions_filter(request.query_params.get("$filter"))
        return Response({"value": [definition_body(r, sub) for r in roles]})

    def _subscription(self, request, scope: str) -> str | None:
        if not scope:
            return None
        resource, _ = _scope(request.user, scope, listing=True)
        return subscription_guid(resource)


class RoleDefinitionItem(RoleDefinitions):
    """GET ``{scope}/providers/Microsoft.Authorization/roleDefinitions/{id}`` (also the definition's full id)."""

    def get(self, request, role_id: str, scope: str = ""):
        sub = self._subscription(request, scope)
        r = role(role_id) if _guid(role_id) else None
        if r is None:
            raise ServiceError(
                "RoleDefinitionDoesNotExist",
                f"The specified role definition with ID '{role_id[:80]}' does not exist.",
            )
        return Response(definition_body(r, sub))


def subscription_guid(resource: Resource) -> str:
    if resource.type == Subscription.ARM_TYPE:
        return str(Subscription.objects.values_list("guid", flat=True).get(pk=resource.pk))
    return str(Subscription.objects.values_list("guid", flat=True).get(pk=resource.subscription_id))


# --- Role assignments ----------------------------------------------------------------------------------


def _user_rows():
    return UserRoleAssignment.objects.select_related(
        "user", "permission", "granted_by", "content_object__as_subscription", "content_object__subscription"
    )


def _group_rows():
    return GroupRoleAssignment.objects.select_related(
        "group__directory_group",
        "permission",
        "granted_by",
        "content_object__as_subscription",
        "content_object__subscription",
    )


def render(a) -> dict:
    """A role assignment as Azure shows it (RoleAssignment, 2022-04-01)."""
    scope = a.content_object
    sub = scope.as_subscription if scope.type == Subscription.ARM_TYPE else scope.subscription
    r = ROLE_BY_CODENAME[a.permission.codename]
    if isinstance(a, GroupRoleAssignment):
        principal_id, principal_type = a.group.directory_group.object_id, "Group"
    else:
        principal_id, principal_type = a.user.object_id, a.user.kind
    by = str(a.granted_by.object_id) if a.granted_by else None
    when = a.granted_at.isoformat().replace("+00:00", "Z")
    return {
        "properties": {
            "roleDefinitionId": f"/subscriptions/{sub.guid}{PROVIDER}/roleDefinitions/{r.guid}",
            "principalId": str(principal_id),
            "principalType": principal_type,
            "scope": scope.arm_id,
            "condition": None,
            "conditionVersion": None,
            "createdOn": when,
            "updatedOn": when,
            "createdBy": by,
            "updatedBy": by,
            "delegatedManagedIdentityResourceId": None,
            "description": None,
        },
        "id": f"{scope.arm_id}{PROVIDER}/roleAssignments/{a.name}",
        "type": ASSIGNMENT_TYPE,
        "name": str(a.name),
    }


def _find(scope: Resource, name: uuid.UUID):
    return (
        _user_rows().filter(name=name, content_object_id=scope.pk).first()
        or _group_rows().filter(name=name, content_object_id=scope.pk).first()
    )


def _name_or_400(name: str) -> uuid.UUID:
    guid = _guid(name)
    if guid is None or len(name.strip()) != 36:
        raise ServiceError(
            "InvalidRoleAssignmentId",
            f"The role assignment ID '{name[:80]}' is not valid. The role assignment ID must be a GUID.",
            "roleAssignmentName",
        )
    return guid


def _parse_filter(text: str | None) -> tuple[bool, str | None, uuid.UUID | None]:
    """``$filter`` → (at scope only, ``principalId`` or ``assignedTo``, the principal's object id)."""
    at_scope, kind, oid = False, None, None
    for term in re.split(r"\s+and\s+", (text or "").strip(), flags=re.IGNORECASE) if text else []:
        matched = next(
            ((k, rx.match(term.strip())) for k, rx in FILTERS.items() if rx.match(term.strip())), None
        )
        if matched is None or (matched[0] != "atScope()" and kind is not None):
            raise ServiceError(
                "InvalidQueryParameterValue",
                "The $filter is not supported: use atScope(), principalId eq '<object id>' or "
                "assignedTo('<object id>'), optionally atScope() and one of the others.",
                "$filter",
            )
        k, m = matched
        if k == "atScope()":
            at_scope = True
            continue
        kind, oid = k, _guid(m.group(1))
        if oid is None:
            raise ServiceError(
                "InvalidPrincipalId", f"The principal ID '{m.group(1)[:80]}' is not a valid GUID.", "$filter"
            )
    return at_scope, kind, oid


def assignments_at(user, scope: Resource, readable: bool, *, at_scope: bool, kind, oid) -> list[dict]:
    """The assignments the list shows: at ``scope`` and above it (inherited), and unless ``at_scope``
    below it — the ones below only where the caller may read their scope."""
    where = (
        Q(pk__in=[])
        if not readable
        else Q(content_object_id__in=[v for v in access.chain_of(scope).values() if v])
    )
    column = access.SCOPE_COLUMN.get(scope.type)
    if not at_scope and column:
        below = Resource.objects.restrict(user).filter(**{column: scope.pk}).values("pk")
        where |= Q(content_object_id__in=below)
    users, groups = _user_rows().filter(where), _group_rows().filter(where)
    if kind == "principalId":
        users = users.filter(user__object_id=oid)
        groups = groups.filter(group__directory_group__object_id=oid)
    elif kind == "assignedTo":
        users = users.filter(user__object_id=oid)
        groups = groups.filter(
            Q(group__user__object_id=oid) | Q(group__directory_group__object_id=oid)
        ).distinct()
    rows = [
        a
        for a in [*users.order_by("pk"), *groups.order_by("pk")]
        if a.permission.codename in ROLE_BY_CODENAME
    ]
    return [render(a) for a in rows]


class RoleAssignments(AuthorizationView):
    """GET ``{scope}/providers/Microsoft.Authorization/roleAssignments`` with ``$filter`` ``atScope()``,
    ``principalId eq '{id}'``, ``assignedTo('{id}')``; at a subscription without a filter, Azure's
    list-for-subscription (everything at, above and below it that the caller may read)."""

    api_versions = ASSIGNMENTS_VERSIONS

    def get(self, request, scope: str):
        at_scope, kind, oid = _parse_filter(request.query_params.get("$filter"))
        resource, readable = _scope(request.user, scope, listing=True)
        return Response(
            {"value": assignments_at(request.user, resource, readable, at_scope=at_scope, kind=kind, oid=oid)}
        )


class RoleAssignmentItem(AuthorizationView):
    """PUT / GET / DELETE ``{scope}/providers/Microsoft.Authorization/roleAssignments/{name}`` (also by
    the assignment's full id, which is the same path)."""

    api_versions = ASSIGNMENTS_VERSIONS

    def get(self, request, scope: str, name: str):
        guid = _name_or_400(name)
        resource, _ = _scope(request.user, scope)
        a = _find(resource, guid)
        if a is None:
            raise ServiceError("RoleAssignmentNotFound", f"The role assignment '{guid}' is not found.")
        return Response(render(a))

    def put(self, request, scope: str, name: str):
        guid = _name_or_400(name)
        resource, _ = _scope(request.user, scope)
        r, principal_id, principal_type = _create_parameters(request.data)
        existing = _user_rows().filter(name=guid).first() or _group_rows().filter(name=guid).first()
        if existing is not None:
            body = render(existing)
            access.require(request.user, Action.MANAGE_ACCESS, resource, operation=sharing.ASSIGN_OP)
            same = (
                existing.content_object_id == resource.pk
                and body["properties"]["principalId"] == str(principal_id)
                and existing.permission.codename == r.codename
            )
            if not same:
                raise ServiceError(
                    "RoleAssignmentUpdateNotPermitted",
                    "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
                )
            return Response(body, status=200)
        try:
            sharing.assign_role(
                self.caller, resource, principal_id, r.key, name=guid, principal_type=principal_type
            )
        except ServiceError as err:
            if err.code == ServiceError.CONFLICT:
                raise ServiceError("RoleAssignmentExists", "The role assignment already exists.") from None
            raise
        return Response(render(_find(resource, guid)), status=201)

    def delete(self, request, scope: str, name: str):
        guid = _name_or_400(name)
        resource, _ = _scope(request.user, scope)
        a = _find(resource, guid)
        if a is None:
            access.require(request.user, Action.MANAGE_ACCESS, resource, operation=sharing.REMOVE_OP)
            return Response(status=204)
        body = render(a)
        sharing.remove_assignment(self.caller, resource, str(guid))
        return Response(body, status=200)


def _create_parameters(data) -> tuple[Role, uuid.UUID, str | None]:
    """RoleAssignmentCreateParameters: ``properties.roleDefinitionId`` and ``principalId`` required,
    ``principalType`` optional; what we do not implement (conditions, a delegated identity) refused."""
    if not isinstance(data, dict) or not isinstance(data.get("properties"), dict):
        raise ServiceError.invalid("properties", "The body must be a JSON object with a 'properties' object.")
    extra = sorted(set(data) - {"properties", "id", "name", "type"})
    if extra:
        raise ServiceError.invalid(extra[0], f"The property '{extra[0]}' is not part of a role assignment.")
    props = data["properties"]
    known = {"roleDefinitionId", "principalId", "principalType", "description", *UNSUPPORTED}
    known |= {
        "scope",
        "createdOn",
        "updatedOn",
        "createdBy",
        "updatedBy",
    }  # read-only: sent back by some clients
    extra = sorted(set(props) - known)
    if extra:
        raise ServiceError.invalid(
            f"properties.{extra[0]}",
            f"The property 'properties.{extra[0]}' is not part of a role assignment.",
        )
    for key in (*UNSUPPORTED, "description"):
        if props.get(key) not in (None, ""):
            raise ServiceError.invalid(
                f"properties.{key}",
                f"'properties.{key}' is not supported by this server: role assignments here carry no "
                "conditions, delegated identities or descriptions. Leave it out.",
            )
    definition = props.get("roleDefinitionId")
    if not isinstance(definition, str) or not definition:
        raise ServiceError.invalid("properties.roleDefinitionId", "properties.roleDefinitionId is required.")
    m = ROLE_DEFINITION_ID.match(definition.strip())
    r = role(m.group(1)) if m and _guid(m.group(1)) else None
    if r is None:
        raise ServiceError(
            "RoleDefinitionDoesNotExist",
            f"The specified role definition with ID '{definition[:200]}' does not exist.",
            "properties.roleDefinitionId",
        )
    principal_id = _guid(props.get("principalId")) if isinstance(props.get("principalId"), str) else None
    if principal_id is None:
        raise ServiceError(
            "InvalidPrincipalId",
            "properties.principalId must be the object id (a GUID) of a user, service principal or group.",
            "properties.principalId",
        )
    principal_type = props.get("principalType")
    if principal_type is not None and principal_type not in PRINCIPAL_TYPES:
        raise ServiceError.invalid(
            "properties.principalType",
            f"properties.principalType must be one of {', '.join(PRINCIPAL_TYPES)}; '{str(principal_type)[:40]}' "
            "is not supported here.",
        )
    return r, principal_id, principal_type


# Not (yet) in /api/openapi.json, which describes the galleries' API (``galleries.api.schema``).
for _view in (RoleDefinitions, RoleDefinitionItem, RoleAssignments, RoleAssignmentItem):
    extend_schema(exclude=True)(_view)
