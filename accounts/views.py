"""Sign-in pieces shared by the pages and the API: the token endpoint, the login lockout answer, and
the directory switcher (which tenant's resources the portal shows)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from portal.errors import ServiceError

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


def _oauth_error(code: str, description: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": code, "error_description": description}, status=status)


@csrf_exempt
@require_POST
def token(request, tenant: str = ""):
    """OAuth2 token endpoint (``application/x-www-form-urlencoded``): ``grant_type=client_credentials``
    with ``client_id`` and ``client_secret`` for service principals, ``grant_type=password`` with
    ``username`` and ``password`` for people. ``tenant`` (in the path or the body) picks which
    tenant's service principal of a multi-tenant app signs in."""
    grant = request.POST.get("grant_type", "")
    try:
        if grant == "client_credentials":
            user = tokens.client_credentials(
                request.POST.get("client_id", ""),
                request.POST.get("client_secret", ""),
                tenant or request.POST.get("tenant", ""),
            )
        elif grant == "password":
            user = tokens.password(
                request, request.POST.get("username", ""), request.POST.get("password", "")
            )
        else:
            return _oauth_error(
                "unsupported_grant_type", "grant_type must be 'client_credentials' or 'password'."
            )
    except ServiceError as err:
        if getattr(request, "axes_locked_out", False):
            return locked_out(request)
        return _oauth_error(
            err.code, err.message, 401 if err.code in ("invalid_client", "invalid_grant") else 400
        )
    return JsonResponse(tokens.issue(user), headers={"Cache-Control": "no-store"})


def locked_out(request, response=None, credentials=None):
    """Too many wrong passwords: the page and the token endpoint answer 429 for the cool-off time."""
    from django.conf import settings

    minutes = int(round(float(settings.AXES_COOLOFF_TIME) * 60))
    message = f"Too many failed sign-in attempts for this account from your address. Try again in {minutes} minutes."
    if request.path.rstrip("/").endswith("token"):
        return _oauth_error("temporarily_unavailable", message, status=429)
    return render(request, "registration/locked_out.html", {"message": message}, status=429)
