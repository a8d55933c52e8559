"""Sign-in pieces shared by the pages and the API: the token endpoint, the login lockout answer, and
the directory switcher (which tenant's resources the portal shows)."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote_plus

from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_logged_in
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from portal.core.errors import ServiceError

from . import access, tokens
from .models import Tenant

SESSION_KEY = "directory"


def current_directory(request) -> Tenant | None:
    """The tenant whose resources the portal shows: the one chosen with the switcher, while the user
    still may act there, else the home tenant."""
    user = request.user
    if not user.is_authenticated:
        return None
    allowed = access.directories(user)
    chosen = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    tenant_id = (
        chosen if chosen in allowed else (user.home_tenant_id if user.home_tenant_id in allowed else None)
    )
    if tenant_id is None:
        return None
    cache = request.__dict__.setdefault("_directories", {})
    if tenant_id not in cache:
        cache[tenant_id] = Tenant.objects.get(pk=tenant_id)
    return cache[tenant_id]


def directory_choices(request) -> list[Tenant]:
    if not request.user.is_authenticated:
        return []
    return list(Tenant.objects.filter(pk__in=access.directories(request.user)).order_by("name"))


@login_required
@require_POST
def switch_directory(request):
    try:
        tenant_id = int(request.POST.get("tenant", ""))
    except ValueError:
        tenant_id = None
    if tenant_id not in access.directories(request.user):
        messages.error(request, "You are not a member or guest of that directory.")
    else:
        request.session[SESSION_KEY] = tenant_id
        messages.success(request, f"Switched to the directory {Tenant.objects.get(pk=tenant_id).name}.")
    target = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = "/"
    return HttpResponseRedirect(target)


def _oauth_error(code: str, description: str, status: int = 400, headers: dict | None = None) -> JsonResponse:
    return JsonResponse(
        {"error": code, "error_description": description},
        status=status,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def _basic_credentials(request) -> tuple[str, str] | None:
    """``client_id`` and ``client_secret`` from ``Authorization: Basic`` (RFC 6749 §2.3.1), if sent."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise ServiceError(
            "invalid_client", "The Basic authorization header is not valid.", "client_id"
        ) from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise ServiceError("invalid_client", "The Basic authorization header is not valid.", "client_id")
    return unquote_plus(client_id), unquote_plus(secret)


@csrf_exempt
def token(request, tenant: str = ""):
    """OAuth2 token endpoint (``application/x-www-form-urlencoded``): ``grant_type=client_credentials``
    with ``client_id`` and ``client_secret`` (in the body or as HTTP Basic) for service principals,
    ``grant_type=password`` with ``username`` and ``password`` for people. ``tenant`` (in the path or
    the body) picks which tenant's service principal of a multi-tenant app signs in. Nothing is stored:
    the token is signed."""
    if request.method != "POST":
        return _oauth_error(
            "invalid_request", "The token endpoint takes POST requests only.", 405, {"Allow": "POST"}
        )
    grant = request.POST.get("grant_type", "")
    try:
        if grant == "client_credentials":
            basic = _basic_credentials(request)
            client_id, secret = basic or (
                request.POST.get("client_id", ""),
                request.POST.get("client_secret", ""),
            )
            user, used = tokens.client_credentials(
                client_id, secret, tenant or request.POST.get("tenant", "")
            )
        elif grant == "password":
            used = None
            user = tokens.password(
                request, request.POST.get("username", ""), request.POST.get("password", "")
            )
            # A sign-in like the page's: the throttle's failure count starts again, last_login is set.
            user_logged_in.send(sender=user.__class__, request=request, user=user)
        elif not grant:
            return _oauth_error(
                "invalid_request",
                "grant_type is required (a form-encoded body, application/x-www-form-urlencoded).",
            )
        else:
            return _oauth_error(
                "unsupported_grant_type", "grant_type must be 'client_credentials' or 'password'."
            )
    except ServiceError as err:
        if getattr(request, "axes_locked_out", False):
            return locked_out(request)
        return _oauth_error(err.code, err.message, 401 if err.code == "invalid_client" else 400)
    return JsonResponse(tokens.issue(user, used), headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def locked_out(request, response=None, credentials=None):
    """Too many wrong passwords (django-axes' lockout answer): the sign-in page and the token endpoint
    answer 429 for the cool-off time, even to the right password."""
    cool_off = get_cool_off(request)
    minutes = max(1, round(cool_off.total_seconds() / 60)) if cool_off else None
    message = "Too many failed sign-in attempts for this account from your address. " + (
        f"Try again in {minutes} minutes." if minutes else "Ask an administrator to unlock it."
    )
    headers = {"Retry-After": str(int(cool_off.total_seconds()))} if cool_off else {}
    match = getattr(request, "resolver_match", None)
    if (match is not None and match.url_name in ("token", "tenant-token")) or request.path.endswith("/token"):
        return _oauth_error("temporarily_unavailable", message, 429, headers)
    page = render(request, "registration/locked_out.html", {"message": message}, status=429)
    for name, value in headers.items():
        page[name] = value
    return page


def client_ip(request) -> str:
    """The caller's address for the login throttle: with ``BEHIND_PROXY`` the last address the
    (one, trusted) proxy appended to X-Forwarded-For, else the socket's peer."""
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR", "")
