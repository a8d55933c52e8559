"""Bearer tokens for the API (F1): issued to service principals by client credentials and to people by
username and password, signed (not stored), expiring, and checked against the principal on every use.

A token names the principal by its object id and carries the moment it was issued; it is refused once
expired, once the principal is deleted or disabled, and (for a service principal) once the app has no
unexpired secret left that existed when the token was issued — deleting a leaked secret ends the
tokens it minted within the token lifetime at the latest, and at once when it was the last one.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth import authenticate as django_authenticate
from django.core import signing
from django.utils import timezone

from portal.errors import ServiceError

from .models import AppRegistration, ServicePrincipal, Tenant, User

SALT = "accounts.tokens.bearer"


def lifetime() -> int:
    return int(getattr(settings, "ACCESS_TOKEN_SECONDS", 3600))


def issue(user: User) -> dict:
    """An OAuth2-style token response for ``user``. Nothing is written: the token is its own record.
    ``iat`` has microseconds, so a secret created a moment after the token is told apart from one before."""
    now = time.time()
    token = signing.dumps({"oid": str(user.object_id), "iat": round(now, 6)}, salt=SALT, compress=True)
    return {
        "token_type": "Bearer",
        "expires_in": lifetime(),
        "expires_on": int(now) + lifetime(),
        "access_token": token,
    }


def authenticate(token: str) -> tuple[User | None, str]:
    """The principal a token stands for, or ``(None, reason)``."""
    try:
        claims = signing.loads(token, salt=SALT, max_age=lifetime())
    except signing.SignatureExpired:
        return None, "The access token has expired; request a new one from the token endpoint."
    except signing.BadSignature:
        return None, "The access token is not valid."
    oid = _uuid(claims.get("oid")) if isinstance(claims, dict) else None
    iat = claims.get("iat") if isinstance(claims, dict) else None
    if oid is None or isinstance(iat, bool) or not isinstance(iat, int | float):
        return None, "The access token is not valid."
    user = User.objects.filter(object_id=oid, is_active=True).select_related("home_tenant").first()
    if user is None:
        return None, "The principal this token was issued to no longer exists or is disabled."
    if user.kind == User.Kind.SERVICE_PRINCIPAL:
        live = ServicePrincipal.objects.filter(
            user=user,
            app__secrets__expires_at__gt=timezone.now(),
            app__secrets__created_at__lte=datetime.fromtimestamp(iat, tz=UTC),
        )
        if not live.exists():
            return None, "The client secret this token was issued for was deleted or has expired."
    return user, ""


def client_credentials(client_id: str, client_secret: str, tenant: str = "") -> User:
    """The service principal of the app in ``tenant`` (its home tenant by default), if the secret is right."""
    _no_nul(client_id=client_id, client_secret=client_secret, tenant=tenant)
    if not (client_id or "").strip():
        raise ServiceError("invalid_request", "client_id is required.", "client_id")
    if not client_secret:
        raise ServiceError("invalid_request", "client_secret is required.", "client_secret")
    cid = _uuid(client_id)
    if cid is None:
        raise ServiceError("invalid_client", "The client_id is not a valid client id (a GUID).", "client_id")
    app = AppRegistration.objects.filter(client_id=cid).select_related("home_tenant").first()
    if app is None:
        raise ServiceError("invalid_client", "No app has that client_id.", "client_id")
    matching = [s for s in app.secrets.all() if s.matches(client_secret)]
    if not matching:
        raise ServiceError("invalid_client", "The client secret is wrong.", "client_secret")
    if all(s.expired for s in matching):
        raise ServiceError(
            "invalid_client", "The client secret has expired; add a new one to the app.", "client_secret"
        )
    target = app.home_tenant
    tenant = (tenant or "").strip()
    if tenant:
        tid = _uuid(tenant)
        found = (
            Tenant.objects.filter(tenant_id=tid)
            if tid
            else Tenant.objects.filter(primary_domain__iexact=tenant)
        )
        target = found.first()
        if target is None:
            raise ServiceError("invalid_request", f"No tenant '{tenant}'.", "tenant")
    sp = ServicePrincipal.objects.filter(app=app, tenant=target).select_related("user").first()
    if sp is None or not sp.user.is_active:
        raise ServiceError(
            "unauthorized_client",
            f"The app '{app.display_name}' has no service principal in '{target.name}': its administrator has not "
            "consented to it (or withdrew the consent).",
            "tenant",
        )
    return sp.user


def password(request, username: str, password_: str) -> User:
    """A person by username and password, through the login throttle (the authentication backends)."""
    _no_nul(username=username, password=password_)
    if not (username or "").strip() or not password_:
        raise ServiceError("invalid_request", "username and password are required.", "username")
    user = django_authenticate(request, username=username, password=password_)
    if user is None or user.kind != User.Kind.PERSON:
        raise ServiceError("invalid_grant", "The username or password is wrong.", "password")
    return user


def _no_nul(**fields) -> None:
    """NUL characters are refused before any lookup (PostgreSQL cannot even compare them)."""
    for name, value in fields.items():
        if value and "\x00" in value:
            raise ServiceError("invalid_request", f"{name} must not contain NUL characters.", name)


def _uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value).strip())
    except (ValueError, AttributeError, TypeError):
        return None
