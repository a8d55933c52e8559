"""Sign-in pieces shared by the pages and the API: the token endpoint, the login lockout answer, and
the directory switcher (which tenant's resources the portal shows)."""

from __future__ import annotations

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

from portal.core.urls import public_base

from . import access, grants
from .grants import TokenError
from .models import Tenant
from .views_identity import NO_STORE, basic_credentials, oauth_error

SESSION_KEY = "directory"
TOKEN_URL_NAMES = ("token", "tenant-token", "tenant-token-v1")


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


@csrf_exempt
def token(request, tenant: str = "", version: str = "1.0"):
    """The token endpoints (``accounts.grants``): v1 at ``/{tenant}/oauth2/token`` and ``/oauth2/token``,
    v2 at ``/{tenant}/oauth2/v2.0/token``; a form-encoded POST. Nothing is stored: the tokens are signed."""
    if request.method != "POST":
        err = TokenError("invalid_request", 900561, "The token endpoint takes POST requests only.", 405)
        return oauth_error(request, err, {"Allow": "POST"})
    if request.content_type != "application/x-www-form-urlencoded":
        err = TokenError(
            "invalid_request",
            900144,
            "The request body must be form-encoded (application/x-www-form-urlencoded) and contain the "
            "following parameter: 'grant_type'.",
        )
        return oauth_error(request, err)
    try:
        req = grants.Request(request.POST, tenant, version, public_base(request), basic_credentials(request))
        user, body = grants.grant(req, request)
    except TokenError as err:
        if getattr(request, "axes_locked_out", False):
            return locked_out(request)
        return oauth_error(request, err)
    if user.kind == user.Kind.PERSON and req.get("grant_type") == "password":
        # A sign-in like the page's: the throttle's failure count starts again, last_login is set.
        user_logged_in.send(sender=user.__class__, request=request, user=user)
    return JsonResponse(body, headers=NO_STORE)


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
    if (match is not None and match.url_name in TOKEN_URL_NAMES) or request.path.endswith("/token"):
        return oauth_error(request, TokenError("temporarily_unavailable", 50053, message, 429), headers)
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
