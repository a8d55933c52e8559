"""Per-request access state: the grants memo (computed at most once per request, never kept longer)
and bearer-token sign-in for API clients.

``Authorization: Bearer <token>`` makes the token's principal ``request.user`` for that request (the
session, if any, is ignored); a token that is invalid, expired or whose principal is gone answers 401 in
the ARM error shape before any view runs."""

from __future__ import annotations

from django.http import JsonResponse

from . import tokens


def _constant(user):
    async def auser():
        return user

    return auser


class AccessMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header[:7].lower() == "bearer ":
            user, error = tokens.authenticate(header[7:].strip())
            if user is None:
                return JsonResponse(
                    {
                        "error": {
                            "code": "InvalidAuthenticationToken",
                            "message": error,
                            "target": None,
                            "details": [],
                        }
                    },
                    status=401,
                    headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
                )
            request.user = user
            request.auser = _constant(user)
            # A bearer token is not a cookie: a cross-site page cannot send it, so CSRF does not apply.
            request._dont_enforce_csrf_checks = True
        user = request.user
        if getattr(user, "is_authenticated", False):
            user._access_memo = {}
        return self.get_response(request)
