"""The Entra-style identity endpoints (issue 14; contract point 3), authority = the portal's public base:

- ``/{tenant}/.well-known/openid-configuration`` and ``/{tenant}/v2.0/.well-known/openid-configuration``
  (OIDC discovery, what MSAL's ``authority.py`` reads: ``authorization_endpoint``, ``token_endpoint``,
  ``issuer``), ``/{tenant}/discovery/keys`` and ``/{tenant}/discovery/v2.0/keys`` (JWKS);
- ``/{tenant}/oauth2/token`` (v1, ``resource=``), ``/{tenant}/oauth2/v2.0/token`` (``scope=``) and the
  legacy ``/oauth2/token``; ``/{tenant}/oauth2[/v2.0]/authorize`` answers 400 (no interactive sign-in);
- ``/common/userrealm/{name}`` (MSAL's user realm discovery before ROPC);
- ``/msi/token`` (managed identity, App Service's protocol: ``X-IDENTITY-HEADER``).

``{tenant}`` is a tenant GUID, its primary domain, ``common`` or ``organizations``."""

from __future__ import annotations

import base64
import binascii
import uuid
from urllib.parse import unquote_plus

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET

from portal.core import inputs
from portal.core.urls import public_base

from . import grants, keys, tokens
from .grants import TokenError
from .models import ManagedIdentity, Tenant

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def oauth_error(request, err: TokenError, headers: dict | None = None) -> JsonResponse:
    """``err`` in Entra's error shape (``portal.core.inputs.oauth_error``)."""
    return inputs.oauth_error(request, err.error, err.code, err.description, err.status, headers)


def basic_credentials(request) -> tuple[str, str] | None:
    """``client_id`` and ``client_secret`` from ``Authorization: Basic`` (RFC 6749 §2.3.1), if sent."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header[:6].lower() != "basic ":
        return None
    bad = TokenError("invalid_client", 7000215, "The Basic authorization header is not valid.", 401)
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise bad from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise bad
    return unquote_plus(client_id), unquote_plus(secret)


def _tenant_or_error(request, tenant: str) -> tuple[Tenant | None, JsonResponse | None]:
    try:
        return grants.resolve_tenant(tenant), None
    except TokenError as err:
        err.error = "invalid_tenant"  # discovery names it so; the token endpoint says invalid_request
        return None, oauth_error(request, err)


@require_GET
def openid_configuration(request, tenant: str, version: str = "1.0"):
    """OIDC discovery (v1 and v2.0) in Entra's shape: the fields MSAL reads (``authorization_endpoint``,
    ``token_endpoint``, ``issuer``, ``device_authorization_endpoint`` when offered — it is not) and the
    rest of Entra's document that applies here."""
    found, error = _tenant_or_error(request, tenant)
    if error:
        return error
    base = public_base(request)
    v2 = version == "2.0"
    path = f"{base}/{tenant}"
    suffix = "/v2.0" if v2 else ""
    body = {
        "token_endpoint": f"{path}/oauth2{suffix}/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "jwks_uri": f"{path}/discovery{suffix}/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": [keys.ALGORITHM],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"] if v2 else ["openid"],
        "issuer": tokens.issuer(base, found.tenant_id if found else "{tenantid}", version),
        "request_uri_parameter_supported": False,
        "authorization_endpoint": f"{path}/oauth2{suffix}/authorize",
        "http_logout_supported": False,
        "frontchannel_logout_supported": False,
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "nbf",
            "name",
            "oid",
            "tid",
            "ver",
            "nonce",
            *(["preferred_username", "azp", "azpacr"] if v2 else ["upn", "unique_name", "appid", "appidacr"]),
        ],  # fmt: skip
        "tenant_region_scope": "WW" if found else None,
        "cloud_instance_name": request.get_host().split(":")[0],
        "cloud_graph_host_name": request.get_host().split(":")[0],
        "msgraph_host": f"{request.get_host()}/graph",
    }
    if not v2:
        body["microsoft_multi_refresh_token"] = True
    return JsonResponse(body)


@require_GET
def jwks(request, tenant: str, version: str = "1.0"):
    """The JSON Web Key Set: every key whose tokens may still be valid (``accounts.keys``)."""
    found, error = _tenant_or_error(request, tenant)
    if error:
        return error
    base = public_base(request)
    return JsonResponse(keys.jwks(tokens.issuer(base, found.tenant_id if found else "{tenantid}", version)))


def authorize(request, tenant: str, version: str = "1.0"):
    """Interactive sign-in (the authorization code flow) is not offered: a clear 400."""
    err = TokenError(
        "invalid_request",
        9002313,
        "Interactive sign-in is not offered by this portal. People sign in with username and password "
        "(az login -u <name> -p <password>), apps with client credentials (az login --service-principal).",
    )
    return oauth_error(request, err)


@require_GET
def userrealm(request, name: str):
    """User realm discovery (``/common/userrealm/{name}?api-version=1.0``), which MSAL asks before a
    password grant: ``Managed`` for names in one of our tenants' domains (the password is checked here),
    ``Unknown`` otherwise — as Entra answers, and MSAL then tries the password grant all the same."""
    domain = name.rpartition("@")[2] if "@" in name else ""
    managed = bool(domain) and Tenant.objects.filter(primary_domain__iexact=domain).exists()
    body = {
        "ver": "1.0",
        "account_type": "Managed" if managed else "Unknown",
        "cloud_instance_name": request.get_host().split(":")[0],
        "cloud_audience_urn": "urn:federation:MicrosoftOnline",
    }
    if managed:
        body["domain_name"] = domain.lower()
    return JsonResponse(body)


def _msi_error(status: int, message: str) -> JsonResponse:
    return JsonResponse(
        {"statusCode": status, "message": message, "correlationId": str(uuid.uuid4())}, status=status
    )


@csrf_exempt
@require_GET
def managed_identity_token(request):
    """A managed identity's token, App Service's protocol (``GET IDENTITY_ENDPOINT?resource=...&api-version=
    2019-08-01`` with ``X-IDENTITY-HEADER``; https://learn.microsoft.com/azure/app-service/overview-managed-
    identity#rest-endpoint-reference): ``access_token``, ``expires_on``, ``resource``, ``token_type``,
    ``client_id``."""
    header = request.headers.get("X-Identity-Header", "")
    if not header:
        return _msi_error(401, "The X-IDENTITY-HEADER header is required.")
    if request.GET.get("api-version") != "2019-08-01":
        return _msi_error(400, "api-version must be 2019-08-01.")
    resource = request.GET.get("resource", "")
    if not resource:
        return _msi_error(400, "The resource parameter is required.")
    managed = (
        ManagedIdentity.objects.filter(header_hash=ManagedIdentity.digest(header))
        .select_related("service_principal__user", "service_principal__app", "service_principal__tenant")
        .first()
    )
    if managed is None:
        return _msi_error(401, "The X-IDENTITY-HEADER is not the header of a managed identity here.")
    sp = managed.service_principal
    client_id = str(sp.app.client_id)
    for name in ("client_id", "object_id", "principal_id"):
        asked = request.GET.get(name)
        expected = client_id if name == "client_id" else str(sp.user.object_id)
        if asked and asked.lower() != expected:
            return _msi_error(400, f"{name} '{asked}' is not this managed identity's ({expected}).")
    if request.GET.get("mi_res_id"):
        return _msi_error(400, "mi_res_id is not supported: identities are named by client_id or object_id.")
    if not sp.user.is_active:
        return _msi_error(401, "The managed identity's service principal is disabled.")
    base = public_base(request)
    try:
        audience = grants.audience_for(base, resource)
    except TokenError as err:
        return _msi_error(400, err.description)
    token, expires_on = tokens.access_token(
        sp.user, sp.tenant, base=base, audience=audience, client_id=client_id, managed=managed
    )
    body = {
        "access_token": token,
        "expires_on": str(expires_on),
        "resource": audience,
        "token_type": "Bearer",
        "client_id": client_id,
    }
    return JsonResponse(body, headers=NO_STORE)
