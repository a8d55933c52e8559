"""A minimal Microsoft Graph v1.0 under ``/graph/v1.0/`` (issue 14): what the az CLI 2.91.0 asks to resolve
``--assignee`` and to name the principals of role assignments
(``azure/cli/command_modules/role/custom.py``: ``_resolve_object_id_and_type``, ``_get_object_stubs``,
``_resolve_service_principal``; URLs in ``_msgrpah/_graph_client.py``).

- ``GET /users``, ``/servicePrincipals``, ``/groups`` with ``$filter`` (``eq`` on userPrincipalName, mail,
  displayName, appId, id, mailNickname; ``startswith(displayName,'…')``;
  ``servicePrincipalNames/any(c:c eq '…')``; terms joined by ``and``);
- ``GET /users/{id or userPrincipalName}``, ``/servicePrincipals/{id}``, ``/groups/{id}``,
  ``/directoryObjects/{id}``, ``/me``;
- ``POST /directoryObjects/getByIds`` (``{"ids": [...], "types": [...]}``).

Only the caller's directory is visible (its home tenant: its users, its accepted guests, the service
principals present in it, its groups — ``accounts.directory``'s rule); anything else is
``Request_ResourceNotFound``, exactly like an id nobody has. Errors in Graph's shape:
``{"error": {"code", "message", "innerError"}}``. Graph has no api-version parameter.
"""

from __future__ import annotations

import re
import uuid

from django.db.models import Q
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.core import inputs
from portal.core.arm import ArmView, exception_handler

from ..models import DirectoryGroup, GuestInvitation, ServicePrincipal, Tenant, User

USER_TYPE = "#microsoft.graph.user"
SP_TYPE = "#microsoft.graph.servicePrincipal"
GROUP_TYPE = "#microsoft.graph.group"
GRAPH_CODES = {
    400: "Request_BadRequest",
    401: "InvalidAuthenticationToken",
    403: "Authorization_RequestDenied",
    404: "Request_ResourceNotFound",
    405: "Request_BadRequest",
    413: "Request_BadRequest",
}
MAX_IDS = 1000  # directoryObjects/getByIds: "You can specify up to 1000 IDs."


class GraphError(exceptions.APIException):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status_code, self.graph_code = status, code


def not_found(what: str) -> GraphError:
    return GraphError(
        404,
        "Request_ResourceNotFound",
        f"Resource '{what[:80]}' does not exist or one of its queried reference-property objects are not present.",
    )


def unsupported(message: str) -> GraphError:
    return GraphError(400, "Request_UnsupportedQuery", message)


def graph_exception_handler(exc, context):
    """ARM's handler (every exception becomes a response), then the body in Graph's error shape."""
    response = exception_handler(exc, context)
    arm = (response.data or {}).get("error", {}) if isinstance(response.data, dict) else {}
    code = getattr(exc, "graph_code", None) or GRAPH_CODES.get(
        response.status_code, arm.get("code", "UnknownError")
    )
    response.data = {
        "error": {
            "code": code,
            "message": arm.get("message", ""),
            "innerError": {
                "date": timezone.now().strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": str(uuid.uuid4()),
            },
        }
    }
    return response


class GraphView(ArmView):
    """Bearer or session authentication as every API view (``accounts.middleware``), no api-version."""

    def get_exception_handler(self):
        return graph_exception_handler

    def initial(self, request, *args, **kwargs):
        inputs.check_declared_size(request._request.META)
        APIView.initial(self, request, *args, **kwargs)
        if request.user is None or not request.user.is_authenticated:
            raise exceptions.NotAuthenticated("Access token is empty.")
        unknown = sorted(set(request.query_params) - self.query_params)
        if unknown:
            raise unsupported(f"The query parameter '{unknown[0][:40]}' is not supported.")

    query_params = frozenset()

    @property
    def tenant(self) -> Tenant | None:
        return self.request.user.home_tenant

    def context(self, what: str) -> str:
        return self.request.build_absolute_uri(f"/graph/v1.0/$metadata#{what}")


# --- The three kinds of directory object -------------------------------------------------------------


def users_of(tenant: Tenant | None):
    if tenant is None:
        return User.objects.none()
    guests = GuestInvitation.objects.filter(tenant=tenant, state=GuestInvitation.State.ACCEPTED).values(
        "user_id"
    )
    return User.objects.filter(
        Q(home_tenant=tenant) | Q(pk__in=guests), kind=User.Kind.PERSON, is_active=True, is_staff=False
    )


def service_principals_of(tenant: Tenant | None):
    if tenant is None:
        return ServicePrincipal.objects.none()
    return ServicePrincipal.objects.filter(tenant=tenant, user__is_active=True).select_related(
        "user", "app__home_tenant"
    )


def groups_of(tenant: Tenant | None):
    if tenant is None:
        return DirectoryGroup.objects.none()
    return DirectoryGroup.objects.filter(tenant=tenant)


def user_json(u: User) -> dict:
    return {
        "id": str(u.object_id),
        "businessPhones": [],
        "displayName": u.display_name or u.username,
        "givenName": u.first_name or None,
        "jobTitle": None,
        "mail": u.email or None,
        "mobilePhone": None,
        "officeLocation": None,
        "preferredLanguage": None,
        "surname": u.last_name or None,
        "userPrincipalName": u.username,
    }


def sp_json(sp: ServicePrincipal) -> dict:
    return {
        "id": str(sp.user.object_id),
        "accountEnabled": True,
        "appDisplayName": sp.app.display_name,
        "appId": str(sp.app.client_id),
        "appOwnerOrganizationId": str(sp.app.home_tenant.tenant_id),
        "displayName": sp.user.display_name or sp.app.display_name,
        "servicePrincipalNames": [str(sp.app.client_id)],
        "servicePrincipalType": "Application",
    }


def group_json(g: DirectoryGroup) -> dict:
    return {
        "id": str(g.object_id),
        "description": g.description or None,
        "displayName": g.display_name,
        "groupTypes": [],
        "mail": None,
        "mailEnabled": False,
        "mailNickname": re.sub(r"[^A-Za-z0-9]", "", g.display_name) or "group",
        "securityEnabled": True,
    }


# --- $filter ------------------------------------------------------------------------------------------

_VALUE = r"'((?:[^']|'')*)'"
_TERMS = [
    ("eq", re.compile(rf"(\w+)\s+eq\s+{_VALUE}", re.IGNORECASE)),
    ("startswith", re.compile(rf"startswith\(\s*(\w+)\s*,\s*{_VALUE}\s*\)", re.IGNORECASE)),
    (
        "any",
        re.compile(rf"(servicePrincipalNames)/any\(\s*(\w+)\s*:\s*\2\s+eq\s+{_VALUE}\s*\)", re.IGNORECASE),
    ),
]
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)


def parse_filter(text: str) -> list[tuple[str, str, str]]:
    """``$filter`` → [(operator, property, value)]; anything else is ``Request_UnsupportedQuery``."""
    out, pos, text = [], 0, text.strip()
    while True:
        for op, rx in _TERMS:
            m = rx.match(text, pos)
            if m:
                out.append((op, m.group(1), m.group(m.lastindex).replace("''", "'")))
                pos = m.end()
                break
        else:
            raise unsupported(f"Unsupported or invalid query filter clause specified at position {pos}.")
        if pos == len(text):
            return out
        m = _AND.match(text, pos)
        if m is None:
            raise unsupported(f"Unsupported or invalid query filter clause specified at position {pos}.")
        pos = m.end()


def _uuid(text: str):
    try:
        return uuid.UUID(str(text).strip())
    except (ValueError, AttributeError):
        return None


def _id_q(field: str, value: str) -> Q:
    oid = _uuid(value)
    return Q(**{field: oid}) if oid else Q(pk__in=[])


#: For each kind: (operator, property) → the Django condition.
FILTERS = {
    "users": {
        ("eq", "userprincipalname"): lambda v: Q(username__iexact=v),
        ("eq", "mail"): lambda v: Q(email__iexact=v),
        ("eq", "displayname"): lambda v: Q(display_name__iexact=v),
        ("eq", "id"): lambda v: _id_q("object_id", v),
        ("startswith", "displayname"): lambda v: Q(display_name__istartswith=v),
        ("startswith", "userprincipalname"): lambda v: Q(username__istartswith=v),
    },
    "servicePrincipals": {
        ("any", "serviceprincipalnames"): lambda v: _id_q("app__client_id", v),
        ("eq", "appid"): lambda v: _id_q("app__client_id", v),
        ("eq", "displayname"): lambda v: Q(user__display_name__iexact=v),
        ("eq", "id"): lambda v: _id_q("user__object_id", v),
        ("startswith", "displayname"): lambda v: Q(user__display_name__istartswith=v),
    },
    "groups": {
        ("eq", "displayname"): lambda v: Q(display_name__iexact=v),
        ("eq", "id"): lambda v: _id_q("object_id", v),
        ("startswith", "displayname"): lambda v: Q(display_name__istartswith=v),
    },
}


#: For each kind: (its objects in a tenant, their JSON).
KINDS = {
    "users": (users_of, user_json),
    "servicePrincipals": (service_principals_of, sp_json),
    "groups": (groups_of, group_json),
}


class Collection(GraphView):
    kind = ""
    query_params = frozenset({"$filter"})

    def rows(self):
        return KINDS[self.kind][0](self.tenant)

    def get(self, request):
        rows = self.rows()
        text = request.query_params.get("$filter")
        if text is not None:
            for op, prop, value in parse_filter(text):
                build = FILTERS[self.kind].get((op, prop.lower()))
                if build is None:
                    raise unsupported(
                        f"Unsupported query: '{op}' on the property '{prop[:40]}' of {self.kind}."
                    )
                rows = rows.filter(build(value))
        render = KINDS[self.kind][1]
        return Response(
            {"@odata.context": self.context(self.kind), "value": [render(r) for r in rows.order_by("pk")]}
        )


class Users(Collection):
    kind = "users"


class ServicePrincipals(Collection):
    kind = "servicePrincipals"


class Groups(Collection):
    kind = "groups"


class Item(GraphView):
    """One object of ``kind`` by its id (``id_field``), 404 ``Request_ResourceNotFound`` if the tenant has none."""

    kind = ""
    id_field = "object_id"

    def where(self, key: str) -> Q:
        return _id_q(self.id_field, key)

    def get(self, request, key: str):
        rows, render = KINDS[self.kind]
        found = rows(self.tenant).filter(self.where(key)).first()
        if found is None:
            raise not_found(key)
        return Response({"@odata.context": self.context(f"{self.kind}/$entity"), **render(found)})


class UserItem(Item):
    """A user by object id or user principal name (also as ``('name')``)."""

    kind = "users"

    def where(self, key: str) -> Q:
        oid = _uuid(key)
        return Q(object_id=oid) if oid else Q(username__iexact=key)

    def get(self, request, key: str):
        return super().get(request, key[2:-2] if key.startswith("('") and key.endswith("')") else key)


class ServicePrincipalItem(Item):
    kind = "servicePrincipals"
    id_field = "user__object_id"


class GroupItem(Item):
    kind = "groups"


class Me(GraphView):
    """``az ad signed-in-user show``: the caller, a person (an app has no signed-in user)."""

    def get(self, request):
        u = request.user
        if u.kind != User.Kind.PERSON:
            raise GraphError(
                400,
                "BadRequest",
                "/me request is only valid with delegated authentication flow.",
            )
        return Response({"@odata.context": self.context("users/$entity"), **user_json(u)})


def objects_by_ids(tenant: Tenant | None, ids: list[uuid.UUID], types: set[str]) -> list[dict]:
    """The directory objects among ``ids`` that ``tenant`` sees, each with its ``@odata.type``."""
    out: list[dict] = []
    if "user" in types:
        out += [
            {"@odata.type": USER_TYPE, **user_json(u)} for u in users_of(tenant).filter(object_id__in=ids)
        ]
    if "serviceprincipal" in types:
        out += [
            {"@odata.type": SP_TYPE, **sp_json(s)}
            for s in service_principals_of(tenant).filter(user__object_id__in=ids)
        ]
    if "group" in types:
        out += [
            {"@odata.type": GROUP_TYPE, **group_json(g)} for g in groups_of(tenant).filter(object_id__in=ids)
        ]
    order = {str(i): n for n, i in enumerate(ids)}
    return sorted(out, key=lambda o: order.get(o["id"], 0))


KNOWN_TYPES = {
    "user",
    "group",
    "serviceprincipal",
    "directoryobjectpartnerreference",
    "device",
    "application",
}


class DirectoryObjectsByIds(GraphView):
    """``POST /directoryObjects/getByIds``: ``ids`` (up to 1000 object ids), optional ``types``."""

    def post(self, request):
        body = request.data
        if not isinstance(body, dict) or not isinstance(body.get("ids"), list):
            raise GraphError(
                400, "Request_BadRequest", "The request body must be an object with an 'ids' array."
            )
        extra = sorted(set(body) - {"ids", "types"})
        if extra:
            raise GraphError(400, "Request_BadRequest", f"The property '{extra[0][:40]}' is not supported.")
        raw = body["ids"]
        if len(raw) > MAX_IDS:
            raise GraphError(400, "Request_BadRequest", f"At most {MAX_IDS} ids may be requested at once.")
        ids = []
        for value in raw:
            oid = _uuid(value) if isinstance(value, str) else None
            if oid is None:
                raise GraphError(400, "Request_BadRequest", f"Invalid object identifier '{str(value)[:80]}'.")
            ids.append(oid)
        types = body.get("types") or ["user", "group", "servicePrincipal"]
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            raise GraphError(400, "Request_BadRequest", "'types' must be an array of type names.")
        wanted = {t.lower().removeprefix("microsoft.graph.") for t in types}
        unknown = sorted(wanted - KNOWN_TYPES)
        if unknown:
            raise GraphError(
                400, "Request_BadRequest", f"The type '{unknown[0][:40]}' is not a directory object type."
            )
        return Response(
            {
                "@odata.context": self.context("directoryObjects"),
                "value": objects_by_ids(self.tenant, ids, wanted),
            }
        )


class DirectoryObjectItem(GraphView):
    def get(self, request, key: str):
        oid = _uuid(key)
        found = objects_by_ids(self.tenant, [oid], {"user", "serviceprincipal", "group"}) if oid else []
        if not found:
            raise not_found(key)
        return Response({"@odata.context": self.context("directoryObjects/$entity"), **found[0]})
