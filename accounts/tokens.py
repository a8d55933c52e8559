"""Bearer tokens for the API (F1): issued to service principals by client credentials and to people by
username and password, signed (not stored), expiring, and checked against the principal on every use.

A token names the principal by its object id, the principal's credential generation when it was issued
(``User.credential_generation``) and, for a service principal, the client secret it was minted with. It is
refused once expired; once the principal is deleted, disabled or made an operator (staff and superusers
get no bearer tokens: the Django admin is theirs, with the browser); once the principal's generation moved
on — a new password, or for a service principal the deletion of any client secret of its app; and (a
service principal) once the secret it was minted with is deleted or has expired.

Where a token is accepted is ``accounts.middleware``'s business: on the API's paths only.
"""

from __future__ import annotations

import time
import uuid

from django.conf import settings
from django.contrib.auth import authenticate as django_authenticate
from django.core import signing
from django.utils import timezone

from portal.core.errors import ServiceError

from .models import AppRegistration, ClientSecret, ServicePrincipal, Tenant, User

SALT = "accounts.tokens.bearer"


def lifetime() -> int:
    return int(getattr(settings, "ACCESS_TOKEN_SECONDS", 3600))


def issue(user: User, secret: ClientSecret | None = None) -> dict:
    """An OAuth2-style token response for ``user`` (for a service principal, minted with ``secret``).
    Nothing is written: the token is its own record."""
    now = time.time()
    claims = {"oid": str(user.object_id), "gen": user.credential_generation, "iat": round(now, 6)}
    if secret is not None:
        claims["sid"] = secret.pk
    token = signing.dumps(claims, salt=SALT, compress=True)
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
    if not isinstance(claims, dict):
        return None, "The access token is not valid."
    oid, gen, sid = _uuid(claims.get("oid")), claims.get("gen"), claims.get("sid")
    if oid is None or not _whole(gen) or not (sid is None or _whole(sid)):
        return None, "The access token is not valid."
    user = User.objects.filter(object_id=oid, is_active=True).select_related("home_tenant").first()
    if user is None:
        return None, "The principal this token was issued to no longer exists or is disabled."
    if user.is_staff or user.is_superuser:
        return (
            None,
            "Operators (staff and superusers) get no bearer tokens: sign in to /admin/ with the browser.",
        )
    if gen != user.credential_generation:
        return None, (
            "The credentials this token was issued for have changed since (a new password, or a client secret "
            "of the app deleted): request a new token from the token endpoint."
        )
    if user.kind == User.Kind.SERVICE_PRINCIPAL:
        live = ClientSecret.objects.filter(
            pk=sid, app__service_principals__user=user, expires_at__gt=timezone.now()
        )
        if sid is None or not live.exists():
            return None, "The client secret this token was issued for was deleted or has expired."
    return user, ""


def client_credentials(client_id: str, client_secret: str, tenant: str = "") -> tuple[User, ClientSecret]:
    """The service principal of the app in ``tenant`` (its home tenant by default) and the secret it signs
    in with, if the secret is right."""
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
    live = [s for s in matching if not s.expired]
    if not live:
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
    return sp.user, live[0]


def password(request, username: str, password_: str) -> User:
    """A person by username and password, through the login throttle (the authentication backends)."""
    _no_nul(username=username, password=password_)
    if not (username or "").strip() or not password_:
        raise ServiceError("invalid_request", "username and password are required.", "username")
    user = django_authenticate(request, username=username, password=password_)
    if user is None or user.kind != User.Kind.PERSON:
        raise ServiceError("invalid_grant", "The username or password is wrong.", "password")
    if user.is_staff or user.is_superuser:
        raise ServiceError(
            "unauthorized_client",
            "Operators (staff and superusers) get no bearer tokens: the Django admin at /admin/ is for the "
            "browser, and the API is for tenants' people and service principals.",
            "username",
        )
    return user


def _no_nul(**fields) -> None:
    """NUL characters are refused before any lookup (PostgreSQL cannot even compare them)."""
    for name, value in fields.items():
        if value and "\x00" in value:
            raise ServiceError("invalid_request", f"{name} must not contain NUL characters.", name)


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value).strip())
    except (ValueError, AttributeError, TypeError):
        return None
