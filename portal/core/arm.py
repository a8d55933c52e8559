"""The ARM-compatible API's shared machinery (F19): every endpoint is an ``ArmView``.

- **Authentication**: the portal's own — ``Authorization: Bearer`` tokens from ``/oauth2/token`` (set by
  ``accounts.middleware.AccessMiddleware``) or the browser session (with CSRF on writes). Anonymous
  requests get 401 with ``WWW-Authenticate: Bearer``.
- **api-version**: required on every request; each view names the versions it accepts. Missing →
  400 ``MissingApiVersionParameter``; unknown → 400 ``NoRegisteredProviderFound`` listing the
  supported ones, as ARM answers.
- **Bodies**: ``ArmJSONParser`` reads them through ``portal.core.inputs.parse_json`` (413 over 4 MB before
  reading, nesting limited, no NUL or lone surrogate in any string, refused by property path); paging
  numbers through ``inputs.whole_number``.
- **Errors**: every refusal is ``{"error": {"code", "message", "target", "details"}}`` — the service
  layer's ``ServiceError`` 1:1, DRF's own exceptions mapped to ARM codes, and an unexpected exception a
  500 ``InternalServerError`` in the same shape (never an HTML page; ``ApiNotFound`` answers unknown
  API paths the same way).
- **Paging**: ``page()`` is keyset paging on the primary key (``$skiptoken`` = the last id of the page),
  so a page never repeats or skips rows when others are inserted meanwhile; ``nextLink`` is absolute
  and carries the ``api-version``.
- **Long-running operations**: see ``galleries.operations``; ``async_headers()`` gives the
  ``Azure-AsyncOperation`` and ``Location`` headers of an operation.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.urls import Resolver404, URLResolver, resolve
from django.urls.resolvers import RoutePattern
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, CSRFCheck
from rest_framework.parsers import BaseParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.core import inputs, limits
from portal.core.errors import ServiceError

log = logging.getLogger(__name__)

API_VERSION = "api-version"


class ArmAuthentication(BaseAuthentication):
    """The principal the portal's middleware found: a bearer token's (no CSRF: a cross-site page cannot
    send the header) or the session's (CSRF enforced on writes, as on the pages)."""

    def authenticate(self, request):
        user = getattr(request._request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if not getattr(request._request, "_dont_enforce_csrf_checks", False):
            check = CSRFCheck(lambda req: None)
            check.process_request(request._request)
            reason = check.process_view(request._request, None, (), {})
            if reason:
                # DRF's CSRFCheck hands back the reason as text (its _reject returns it, not a response).
                raise exceptions.PermissionDenied(
                    f"CSRF check failed ({reason}): a signed-in browser must send the X-CSRFToken header with "
                    "the csrftoken cookie's value; scripts should use a bearer token instead."
                )
        return user, None

    def authenticate_header(self, request):
        return f'Bearer authorization_uri="{request.build_absolute_uri("/oauth2/token")}"'


def error_body(code: str, message: str, target: str | None = None, details: list | None = None) -> dict:
    return {"error": {"code": code, "message": message, "target": target, "details": details or []}}


_DRF_CODES = {
    exceptions.NotAuthenticated: "AuthenticationFailed",
    exceptions.AuthenticationFailed: "AuthenticationFailed",
    exceptions.PermissionDenied: "AuthorizationFailed",
    exceptions.NotFound: "ResourceNotFound",
    exceptions.MethodNotAllowed: "MethodNotAllowed",
    exceptions.ParseError: "InvalidRequestContent",
    exceptions.UnsupportedMediaType: "UnsupportedMediaType",
    exceptions.NotAcceptable: "NotAcceptable",
    exceptions.Throttled: "TooManyRequests",
}


def exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER for the API: everything in the ARM error shape."""
    if isinstance(exc, ServiceError):
        return Response(exc.as_arm(), status=exc.status)
    if isinstance(exc, Http404):
        return Response(error_body("ResourceNotFound", str(exc) or "The resource was not found."), status=404)
    if isinstance(exc, DjangoPermissionDenied):
        return Response(error_body("AuthorizationFailed", str(exc) or "Not allowed."), status=403)
    if isinstance(exc, exceptions.APIException):
        code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "BadRequest")
        detail = exc.detail
        message = detail if isinstance(detail, str) else "; ".join(_flatten(detail))
        response = Response(error_body(code, str(message)), status=exc.status_code)
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            view = context.get("view")
            request = context.get("request")
            if view is not None and request is not None:
                response["WWW-Authenticate"] = view.get_authenticate_header(request) or "Bearer"
            response.status_code = 401
        if getattr(exc, "wait", None):
            response["Retry-After"] = str(int(exc.wait))
        return response
    log.exception("Unexpected error in the API", exc_info=exc)
    return Response(
        error_body("InternalServerError", "The server failed to process the request; it has been logged."),
        status=500,
    )


def _flatten(detail) -> list[str]:
    if isinstance(detail, dict):
        return [f"{k}: {m}" for k, v in detail.items() for m in _flatten(v)]
    if isinstance(detail, list):
        return [m for item in detail for m in _flatten(item)]
    return [str(detail)]


class ArmJSONParser(BaseParser):
    """Request bodies of the API through ``portal.core.inputs.parse_json``: at most 4 MB (413 beyond,
    before parsing — DRF's own JSONParser reads whatever arrives), nesting limited, no NUL or lone
    surrogate in any string (refused naming the property path)."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        meta = request.META if request is not None else {}
        return inputs.parse_json(inputs.read_body(stream, meta))


class ArmJSONCParser(ArmJSONParser):
    """``ArmJSONParser`` that also reads JSONC: a deployment's body as the az CLI sends it. Its
    ``JsonCTemplatePolicy`` (azure-cli's ``command_modules/resource/custom.py``) splices the template file
    verbatim into the body after an unquoted ``template:`` key — "not an ordinary JSON format, but it is a
    JSONC format that service can deserialize" — comments and all; ARM's deserializer reads it."""

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        meta = request.META if request is not None else {}
        return inputs.parse_json(inputs.read_body(stream, meta), jsonc=True)


class ArmView(APIView):
    """Base of every API endpoint: authentication, api-version, ARM errors, JSON only.

    Subclasses set ``api_versions`` (the accepted ``api-version`` values) and implement
    get/put/patch/delete/post as DRF handlers; ``self.api_version`` is the request's."""

    api_versions: tuple[str, ...] = ()
    resource_type: str = ""
    authentication_classes = [ArmAuthentication]
    permission_classes = []  # authentication is required in initial(); access is the service layer's
    parser_classes = [ArmJSONParser]
    renderer_classes = [JSONRenderer]

    def get_exception_handler(self):
        return exception_handler

    def initial(self, request, *args, **kwargs):
        inputs.check_declared_size(request._request.META)  # 413 before reading or authenticating
        super().initial(request, *args, **kwargs)
        if request.user is None or not request.user.is_authenticated:
            raise exceptions.NotAuthenticated(
                "Authentication is required: send 'Authorization: Bearer <token>' with a token from /oauth2/token."
            )
        self.api_version = check_api_version(request, self.api_versions, self.resource_type)


def check_api_version(request, accepted: tuple[str, ...], resource_type: str = "") -> str:
    value = request.query_params.get(API_VERSION)
    if not value:
        raise ServiceError(
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
            API_VERSION,
        )
    if value not in accepted:
        what = f" for type '{resource_type}'" if resource_type else ""
        raise ServiceError(
            "NoRegisteredProviderFound",
            f"No registered resource provider found for API version '{limits.quote(value)}'{what}. The supported "
            f"api-versions are '{', '.join(accepted)}'.",
            API_VERSION,
        )
    return value


def absolute(request, path: str, **query) -> str:
    """An absolute URL on this server with ``api-version`` and ``query``."""
    params = {API_VERSION: request.query_params.get(API_VERSION), **query}
    return (
        request.build_absolute_uri(path) + "?" + urlencode({k: v for k, v in params.items() if v is not None})
    )


def page(request, queryset, render) -> dict:
    """``{"value": [...], "nextLink": ...}`` of ``queryset`` (ordered here by primary key) from the
    ``$skiptoken`` on: stable under concurrent inserts and deletes (a row is never shown twice or
    skipped because another appeared or went). ``$top`` (1–1000) sets the page size."""
    size = settings.ARM_PAGE_SIZE
    top = request.query_params.get("$top")
    if top is not None:
        size = inputs.whole_number(top, "$top", "$top (the page size)", 1, 1000)
    token = request.query_params.get("$skiptoken")
    if token is not None:
        try:
            last = inputs.whole_number(token, "$skiptoken", "$skiptoken", 0, inputs.MAX_ID)
        except ServiceError:
            raise ServiceError.invalid(
                "$skiptoken", "The $skiptoken is not one this server gave out: copy nextLink as it is."
            ) from None
        queryset = queryset.filter(pk__gt=last)
    rows = list(queryset.order_by("pk")[: size + 1])
    body = {"value": [render(r) for r in rows[:size]]}
    if len(rows) > size:
        query = {"$skiptoken": rows[size - 1].pk}
        if top is not None:
            query["$top"] = size
        body["nextLink"] = absolute(request, request.path, **query)
    return body


class ApiNotFound(ArmView):
    """Any other path under /subscriptions/<id>/…: ARM's 404, never the portal's HTML page."""

    def _answer(self, request, *args, **kwargs):
        raise ServiceError(
            "InvalidResourceType",
            f"The path '{request.path}' names no resource type this API serves.",
        )

    def initial(self, request, *args, **kwargs):  # no api-version check: the path is already wrong
        APIView.initial(self, request, *args, **kwargs)

    get = put = patch = delete = post = _answer  # InvalidResourceType answers 404 (portal.core.errors)


#: Literal segments of ARM paths, as the routes spell them. ARM paths are case-insensitive; Django's
#: URL patterns are not, so ``ArmPathMiddleware`` rewrites these segments before resolving.
CANONICAL_SEGMENTS = {
    s.lower(): s
    for s in (
        "subscriptions",
        "resourceGroups",
        "providers",
        "Microsoft.Compute",
        "Microsoft.Resources",
        "Microsoft.Authorization",
        "roleAssignments",
        "roleDefinitions",
        "galleries",
        "images",
        "versions",
        "snapshots",
        "locations",
        "operations",
        "resources",
        "usages",
        "operationresults",
        "register",
        "exportTemplate",
    )
}


#: The first segments of the API's paths (ARM, Microsoft.Authorization, Graph), as the resolver sees them.
API_PREFIXES = ("subscriptions", "providers", "tenants", "graph/")


class StartsWith(RoutePattern):
    """An include's prefix that consumes nothing and lets in only the paths that start with one of
    ``prefixes``: its routes are tried for those paths alone (the API's are tried first, so that a
    long ARM path is not matched against every portal route before its own; the portal's pages skip
    them with one ``startswith``). Written as ``""`` (``str``, ``reverse``, the OpenAPI document)."""

    def __init__(self, *prefixes: str):
        super().__init__("", is_endpoint=False)
        self.prefixes = prefixes

    def match(self, path):
        return (path, (), {}) if path.startswith(self.prefixes) else None


def api_routes(*urlconfs: str) -> list[URLResolver]:
    """``urlconfs`` included behind ``StartsWith(*API_PREFIXES)``."""
    return [URLResolver(StartsWith(*API_PREFIXES), urlconf) for urlconf in urlconfs]


class ArmPathMiddleware:
    """``/SUBSCRIPTIONS/x/ResourceGroups/y/providers/microsoft.compute/...`` resolves like the canonical
    spelling. Only the literal segments' case changes; names are looked up case-insensitively anyway.
    A trailing slash is dropped when the path with it is no route (or only the API's catch-all,
    ``ApiNotFound``): Azure's spec writes some paths with one (resources.json's
    ``Deployments_ListByResourceGroup``: ``…/providers/Microsoft.Resources/deployments/``, which the az
    CLI sends) and ARM answers either spelling; the portal's own pages under ``/subscriptions/<pk>/…/``
    keep theirs. Only paths ending in a slash pay for that lookup."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        head = path[:15].lower()
        if head == "/subscriptions/" or head.startswith("/providers/") or path.lower() == "/subscriptions":
            path = "/".join(CANONICAL_SEGMENTS.get(p.lower(), p) for p in path.split("/"))
            if len(path) > 1 and path.endswith("/") and _api_only(path, request):
                path = path.removesuffix("/")
            request.path_info = path
        return self.get_response(request)


def _api_only(path: str, request) -> bool:
    """Is ``path`` no route but the API's catch-all (``ApiNotFound``)?"""
    try:
        match = resolve(path, getattr(request, "urlconf", None))
    except Resolver404:
        return True
    return getattr(match.func, "view_class", None) is ApiNotFound
