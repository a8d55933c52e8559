"""Bearer tokens for the API (F1), Entra-style: access tokens and id tokens are JWTs signed RS256 with
the rotating keys of ``accounts.keys`` (``kid`` in the header), carrying the claims Entra ID sends
(https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference and
.../id-token-claims-reference), issued by ``accounts.grants`` (the token endpoints) and checked on every
use by ``authenticate`` (``accounts.middleware``). Nothing is stored: a token is its own record.

A token names its principal (``oid``), the tenant it was issued in (``tid``; the principal's home tenant,
or for a person a tenant they are a guest of), the principal's credential generation when it was issued
(``gen``, ``User.credential_generation``) and, for a service principal, the client secret it was minted
with (``csid``) or its managed identity (``miid``). It is refused once expired; once the principal is
deleted, disabled or made an operator (staff and superusers get no bearer tokens: the Django admin is
theirs, with the browser); once the principal's generation moved on — a new password, or for a service
principal the deletion of any client secret of its app; once (a service principal) the secret it was
minted with is deleted or has expired, or its managed identity's header was replaced; and once the
principal is no longer in the tenant's directory (consent withdrawn — the service principal is gone —
or a guest's access ended). Refresh tokens (password grant only) are JWTs too and obey the same rules.

Where a token is accepted, and for which audience, is ``accounts.middleware``'s business.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from urllib.parse import urlsplit

import jwt
from django.conf import settings
from django.utils import timezone

from . import access, keys
from .models import ClientSecret, ManagedIdentity, ServicePrincipal, Tenant, User

#: The Azure CLI's client id (a Microsoft first-party public client: no registration here, as in Entra).
AZ_CLI_CLIENT_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
#: The ``aud`` of refresh tokens: never an API's audience, so a refresh token opens nothing.
REFRESH_AUDIENCE = "urn:sig-portal:refresh-token"
#: Clock skew tolerated on exp/nbf/iat, in seconds.
LEEWAY = 30
REQUIRED = ["aud", "iss", "iat", "nbf", "exp", "tid", "oid", "sub", "ver", "gen"]


def lifetime() -> int:
    return int(getattr(settings, "ACCESS_TOKEN_SECONDS", 3600))


def refresh_lifetime() -> int:
    return int(getattr(settings, "REFRESH_TOKEN_SECONDS", 90 * 86400))


def issuer(base: str, tenant_guid, version: str = "1.0") -> str:
    """``{base}/{tenant}/`` (v1) or ``{base}/{tenant}/v2.0`` (v2), as the discovery documents say."""
    return f"{base}/{tenant_guid}/v2.0" if version == "2.0" else f"{base}/{tenant_guid}/"


def audiences(base: str) -> dict[str, str]:
    """The resources we issue tokens for: the resource manager and the Graph API (contract point 2)."""
    return {"arm": f"{base}/", "graph": f"{base}/graph/"}


def in_directory(user: User, tenant: Tenant) -> bool:
    """Whether ``user`` is in ``tenant``'s directory: a service principal there; a person at home or a
    guest there (with the door open, as ``accounts.access`` decides)."""
    if user.kind == User.Kind.SERVICE_PRINCIPAL:
        return ServicePrincipal.objects.filter(user=user, tenant=tenant).exists()
    return tenant.pk == user.home_tenant_id or tenant.pk in access.directories(user)


def client_info(user: User) -> str:
    """``client_info`` as Entra returns it with ``client_info=1``: base64url of ``{"uid", "utid"}``
    (the object id and home tenant id), which MSAL turns into the account's home_account_id."""
    info = {"uid": str(user.object_id), "utid": str(user.home_tenant.tenant_id)}
    return base64.urlsafe_b64encode(json.dumps(info, separators=(",", ":")).encode()).rstrip(b"=").decode()


def _sign(claims: dict) -> str:
    kid, key = keys.signing_key()
    return jwt.encode(claims, key, algorithm=keys.ALGORITHM, headers={"kid": kid, "typ": "JWT"})


def _person_claims(user: User, version: str) -> dict:
    name = user.display_name or user.username
    if version == "2.0":
        return {"name": name, "preferred_username": user.username}
    return {"name": name, "upn": user.username, "unique_name": user.username}


def _times(now: int, seconds: int) -> dict:
    return {"iat": now, "nbf": now, "exp": now + seconds}


def access_token(
    user: User,
    tenant: Tenant,
    *,
    base: str,
    audience: str,
    version: str = "1.0",
    client_id: str = "",
    secret: ClientSecret | None = None,
    managed: ManagedIdentity | None = None,
    scope: str = "",
) -> tuple[str, int]:
    """A signed access token for ``audience`` and its expiry (epoch seconds)."""
    now = int(time.time())
    person = user.kind == User.Kind.PERSON
    acr = "2" if managed is not None else ("1" if secret is not None else "0")
    claims = {
        "aud": audience,
        "iss": issuer(base, tenant.tenant_id, version),
        **_times(now, lifetime()),
        "idtyp": "user" if person else "app",
        "oid": str(user.object_id),
        "sub": str(user.object_id),
        "tid": str(tenant.tenant_id),
        "uti": uuid.uuid4().hex,
        "ver": version,
        "gen": user.credential_generation,
    }
    if version == "2.0":
        claims.update(azp=client_id, azpacr=acr)
    else:
        claims.update(appid=client_id, appidacr=acr)
    if person:
        claims.update(_person_claims(user, version), scp=scope or "user_impersonation", amr=["pwd"])
        if user.home_tenant and user.home_tenant_id != tenant.pk:  # a guest: the home tenant is the idp
            claims["idp"] = issuer(base, user.home_tenant.tenant_id)
    if secret is not None:
        claims["csid"] = secret.pk
    if managed is not None:
        claims["miid"] = managed.pk
    return _sign(claims), claims["exp"]


def id_token(user: User, tenant: Tenant, *, base: str, version: str, client_id: str, nonce: str = "") -> str:
    """An OpenID Connect id token for a person (``aud`` = the client id)."""
    now = int(time.time())
    claims = {
        "aud": client_id,
        "iss": issuer(base, tenant.tenant_id, version),
        **_times(now, lifetime()),
        "oid": str(user.object_id),
        "sub": str(user.object_id),
        "tid": str(tenant.tenant_id),
        "ver": version,
        **_person_claims(user, version),
    }
    if version != "2.0":
        claims["amr"] = ["pwd"]
    if nonce:
        claims["nonce"] = nonce
    return _sign(claims)


def refresh_token(user: User, tenant: Tenant, *, base: str, client_id: str, scope: str) -> str:
    """A refresh token (a JWT only this service reads): who, where, for which client and scope."""
    now = int(time.time())
    claims = {
        "aud": REFRESH_AUDIENCE,
        "iss": issuer(base, tenant.tenant_id),
        **_times(now, refresh_lifetime()),
        "oid": str(user.object_id),
        "sub": str(user.object_id),
        "tid": str(tenant.tenant_id),
        "ver": "1.0",
        "gen": user.credential_generation,
        "azp": client_id,
        "scp": scope,
    }
    return _sign(claims)


def issue(user: User, secret: ClientSecret | None = None, *, base: str, tenant: Tenant | None = None) -> dict:
    """An access token for the resource manager at ``base`` (a service principal's minted with
    ``secret``), as a token response: what scripts and tests need without the token endpoint."""
    tenant = tenant or user.home_tenant
    client_id = AZ_CLI_CLIENT_ID
    if user.kind == User.Kind.SERVICE_PRINCIPAL:
        client_id = str(ServicePrincipal.objects.get(user=user).app.client_id)
    token, expires_on = access_token(
        user, tenant, base=base, audience=audiences(base)["arm"], client_id=client_id, secret=secret
    )
    return {"token_type": "Bearer", "expires_in": lifetime(), "expires_on": expires_on, "access_token": token}


# --- Validation -------------------------------------------------------------------------------------------


def _base_of(audience: str) -> str:
    parts = urlsplit(audience)
    return f"{parts.scheme}://{parts.netloc}"


def decode(token: str, audience: str | list[str]) -> tuple[dict | None, str]:
    """The claims of a token we signed for ``audience``, or ``(None, reason)``. Only RS256 with one of
    our live keys (by ``kid``); ``exp``, ``nbf``, ``iat``, ``iss``, ``aud``, ``tid``, ``oid`` required."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        return None, "The access token is not valid: it is not a JSON Web Token."
    alg = header.get("alg")
    if alg != keys.ALGORITHM:
        return (
            None,
            f"The access token is signed with '{alg}'; only RS256 tokens of this portal are accepted.",
        )
    kid = header.get("kid")
    key = keys.public_key(kid)
    if key is None:
        return None, (
            f"The access token is signed with a key that is not one of this portal's (kid '{kid}'): "
            "request a new token from the token endpoint."
        )
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[keys.ALGORITHM],
            audience=audience,
            leeway=LEEWAY,
            options={"require": REQUIRED},
        )
    except jwt.ExpiredSignatureError:
        return None, "The access token has expired; request a new one from the token endpoint."
    except jwt.InvalidAudienceError:
        return None, "The access token was issued for another audience (aud); request one for this resource."
    except jwt.ImmatureSignatureError:
        return None, "The access token is not valid yet (nbf/iat in the future)."
    except jwt.InvalidSignatureError:
        return None, f"The access token's signature does not verify with key '{kid}'."
    except jwt.MissingRequiredClaimError as err:
        return None, f"The access token is not valid: the claim '{err.claim}' is missing."
    except jwt.InvalidTokenError:
        return None, "The access token is not valid."
    return claims, ""


def authenticate(token: str, audience: str, base: str | None = None) -> tuple[User | None, str]:
    """The principal an access token for ``audience`` stands for, or ``(None, reason)``. ``aud`` may be
    the audience with or without its trailing slash; ``iss`` must be our issuer (at ``base``, by default
    the audience's origin) of the token's tenant."""
    accepted = [audience, audience.rstrip("/")]
    claims, reason = decode(token, accepted)
    if claims is None:
        return None, reason
    user, reason = principal(claims, base or _base_of(audience))
    if user is None:
        return None, reason
    if user.kind == User.Kind.SERVICE_PRINCIPAL:
        csid, miid = claims.get("csid"), claims.get("miid")
        if _whole(miid):
            live = ManagedIdentity.objects.filter(pk=miid, service_principal__user=user).exists()
            if not live:
                return (
                    None,
                    "The managed identity this token was issued to was disabled or its header replaced.",
                )
        elif (
            not _whole(csid)
            or not ClientSecret.objects.filter(
                pk=csid, app__service_principals__user=user, expires_at__gt=timezone.now()
            ).exists()
        ):
            return None, "The client secret this token was issued for was deleted or has expired."
    return user, ""


def principal(claims: dict, base: str) -> tuple[User | None, str]:
    """The principal of verified ``claims`` if every revocation rule lets it be."""
    tid, oid, gen = as_uuid(claims.get("tid")), as_uuid(claims.get("oid")), claims.get("gen")
    if tid is None or oid is None or not _whole(gen) or claims.get("ver") not in ("1.0", "2.0"):
        return None, "The access token is not valid."
    expected = issuer(base, tid, claims["ver"] if claims.get("aud") != REFRESH_AUDIENCE else "1.0")
    if claims.get("iss") != expected:
        return None, f"The token's issuer '{claims.get('iss')}' is not this portal's issuer ({expected})."
    user = User.objects.filter(object_id=oid, is_active=True).select_related("home_tenant").first()
    # The token's tenant: most tokens are for the principal's home tenant, read with it (one query less).
    home = user.home_tenant if user is not None else None
    tenant = (
        home if home is not None and home.tenant_id == tid else Tenant.objects.filter(tenant_id=tid).first()
    )
    if tenant is None:
        return None, f"The token's tenant '{tid}' does not exist here."
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
    if not in_directory(user, tenant):
        return None, (
            f"The principal is not in the directory of the token's tenant '{tenant.primary_domain}' "
            "(consent withdrawn or guest access ended)."
        )
    return user, ""


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def as_uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value).strip())
    except (ValueError, AttributeError, TypeError):
        return None
