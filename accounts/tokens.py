"""Bearer tokens for the API (F1): issued to service principals by client credentials and to people by
username and password, signed (not stored), expiring, and checked against the principal on every use.

A token names the principal by its object id and carries the moment it was issued; it is refused once
expired, once the principal is deleted or disabled, and (for a service principal) once the app has no
unexpired secret left that existed when the token was issued — deleting a leaked secret ends the
tokens it minted within the token lifetime at the latest, and at once when it was the last one.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth import authenticate as django_authenticate
from django.core import signing
from django.db.models import Q
from django.utils import timezone

from portal.errors import ServiceError

from .models import AppRegistration, ServicePrincipal, Tenant, User

SALT = "accounts.tokens.bearer"


def lifetime() -> int:
    return int(getattr(settings, "ACCESS_TOKEN_SECONDS", 3600))


def issue(user: User) -> dict:
    """An OAuth2-style token response for ``user``."""
    now = int(time.time())
    token = signing.dumps({"oid": str(user.object_id), "iat": now}, salt=SALT, compress=True)
    return {
        "token_type": "Bearer",
        "expires_in": lifetime(),
        "expires_on": now + lifetime(),
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
    user = (
        User.objects.filter(object_id=claims.get("oid"), is_active=True).select_related("home_tenant").first()
    )
    if user is None:
        return None, "The principal this token was issued to no longer exists or is disabled."
    if user.kind == User.Kind.SERVICE_PRINCIPAL:
        issued = datetime.fromtimestamp(claims.get("iat", 0), tz=UTC)
        live = user.service_principal.app.secrets.filter(
            expires_at__gt=timezone.now(), created_at__lte=issued
        )
        if not live.exists():
            return None, "The client secret this token was issued for was deleted or has expired."
    return user, ""


def client_credentials(client_id: str, client_secret: str, tenant: str = "") -> User:
    """The service principal of the app in ``tenant`` (its home tenant by default), if the secret is right."""
    import uuid

    try:
        cid = uuid.UUID(str(client_id).strip())
    except (ValueError, AttributeError):
        raise ServiceError(
            "invalid_client", "The client_id is not a valid client id (a GUID).", "client_id"
        ) from None
    app = AppRegistration.objects.filter(client_id=cid).select_related("home_tenant").first()
    if app is None:
        raise ServiceError("invalid_client", "No app has that client_id.", "client_id")
    secrets = list(app.secrets.all())
    matching = [s for s in secrets if s.matches(client_secret or "")]
    if not matching:
        raise ServiceError("invalid_client", "The client secret is wrong.", "client_secret")
    if all(s.expired for s in matching):
        raise ServiceError(
            "invalid_client", "The client secret has expired; add a new one to the app.", "client_secret"
        )
    target = app.home_tenant
    if tenant:
        target = Tenant.objects.filter(Q(primary_domain__iexact=tenant) | Q(tenant_id=_uuid(tenant))).first()
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
    """A person by username and password, through the login throttle."""
    user = django_authenticate(request, username=username, password=password_)
    if user is None or user.kind != User.Kind.PERSON:
        raise ServiceError("invalid_grant", "The username or password is wrong.", "password")
    return user


def _uuid(value):
    import uuid

    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
