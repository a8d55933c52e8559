"""Per-request access state: the grants memo (computed at most once per request, never kept longer)
and bearer-token sign-in for API clients.

``Authorization: Bearer <token>`` makes the token's principal ``request.user`` for that request (the
session, if any, is ignored) — on the API's paths only: the ARM paths (every ``portal.core.arm.ArmView``), the
upload endpoints and the OpenAPI document. Anywhere else (the pages, ``/admin/``) a bearer request answers
401 before any view runs, so a token never acts in the admin and its CSRF exemption never reaches a form.
A token that is invalid, expired or whose principal or credentials changed answers 401 in the ARM error
shape as well (``accounts.tokens``). The token's audience must be the API's: the resource manager
(``{public_base}/``) on the ARM paths, Microsoft Graph (``{public_base}/graph/``) under ``/graph/``."""

from __future__ import annotations

import re

from django.http import JsonResponse
from django.urls import Resolver404, get_resolver

from portal.core.arm import ArmView
from portal.core.urls import public_base

from . import tokens

#: Endpoints that are not ``ArmView``s but are the API's too.
BEARER_URL_NAMES = frozenset({"upload-start", "upload-detail", "api-schema", "api-schema-yaml"})
NOT_HERE = (
    "Bearer tokens are accepted by the API only (the ARM paths, /uploads/ and /api/openapi.json), not by the "
    "portal's pages or /admin/: sign in with the browser there."
)


def _constant(user):
    async def auser():
        return user

    return auser


def takes_bearer_tokens(request) -> bool:
    """Whether the request's path is one of the API's: its view is an ``ArmView`` or named in
    ``BEARER_URL_NAMES``. Unknown paths are not.

    The ARM paths that clients send most are known by their head without resolving the URL (the
    handler resolves it once more anyway): ``/subscriptions``, ``/providers``, ``/tenants``,
    ``/subscriptions/<a GUID>…`` and ``/providers/Microsoft.…``. No page takes such a path (a page
    under ``/subscriptions/`` has an integer id there; the sign-in endpoints under ``/<tenant>/`` have
    ``.well-known``, ``discovery``, ``oauth2`` or ``v2.0`` after it) and the API's catch-alls answer
    every other one, so these answers are the resolver's (``tests/accounts/test_bearer_paths.py``
    compares them path by path). Every other path is resolved."""
    if getattr(request, "urlconf", None) is None:
        path = request.path_info
        if "\n" in path:  # the catch-alls' ``.*$`` stop at a line break: resolve
            return resolves_to_api(request)
        if path in _API_ROOTS or path.startswith("/providers/Microsoft.") or _ARM_SUBSCRIPTION(path):
            return True
    return resolves_to_api(request)


_API_ROOTS = frozenset({"/subscriptions", "/providers", "/tenants"})
#: ``/subscriptions/`` then the head of a GUID (the API's catch-all: ``^subscriptions/[0-9A-Fa-f]{8}-…``).
_ARM_SUBSCRIPTION = re.compile(r"/subscriptions/[0-9A-Fa-f]{8}-").match


def resolves_to_api(request) -> bool:
    """``takes_bearer_tokens`` by resolving the path: its view is an ``ArmView`` or named in
    ``BEARER_URL_NAMES``."""
    try:
        match = get_resolver(getattr(request, "urlconf", None)).resolve(request.path_info)
    except Resolver404:
        return False
    view_class = getattr(match.func, "view_class", None) or getattr(match.func, "cls", None)
    if isinstance(view_class, type) and issubclass(view_class, ArmView):
        return True
    return match.url_name in BEARER_URL_NAMES


def _refused(message: str) -> JsonResponse:
    return JsonResponse(
        {"error": {"code": "InvalidAuthenticationToken", "message": message, "target": None, "details": []}},
        status=401,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


class AccessMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header[:7].lower() == "bearer ":
            if not takes_bearer_tokens(request):
                return _refused(NOT_HERE)
            base = public_base(request)
            audiences = tokens.audiences(base)
            audience = audiences["graph"] if request.path_info.startswith("/graph/") else audiences["arm"]
            user, error = tokens.authenticate(header[7:].strip(), audience, base)
            if user is None:
                return _refused(error)
            request.user = user
            request.auser = _constant(user)
            # A bearer token is not a cookie: a cross-site page cannot send it, so CSRF does not apply.
            request._dont_enforce_csrf_checks = True
        user = request.user
        if getattr(user, "is_authenticated", False):
            user._access_memo = {}
        return self.get_response(request)
