"""The token endpoints' grants, as Entra ID answers them (https://learn.microsoft.com/entra/identity-platform/
v2-oauth2-client-creds-grant-flow, .../v2-oauth-ropc, .../v2-oauth2-auth-code-flow#refresh-the-access-token,
and the v1 endpoint's ``resource=`` form): ``client_credentials`` for service principals, ``password``
(ROPC, what MSAL sends for ``az login -u -p``) and ``refresh_token`` for people. Errors are ``TokenError``s
carrying Entra's error, AADSTS code and status (``accounts.views_identity`` renders them)."""

from __future__ import annotations

import uuid

from django.contrib.auth import authenticate as django_authenticate

from . import tokens
from .models import AppRegistration, ClientSecret, ServicePrincipal, Tenant, User

OIDC_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})
GRANTS = ("client_credentials", "password", "refresh_token")


class TokenError(Exception):
    """An OAuth2 error answer: ``error`` (RFC 6749 §5.2), Entra's AADSTS number, a description, the status."""

    def __init__(self, error: str, code: int, description: str, status: int = 400):
        super().__init__(description)
        self.error, self.code, self.description, self.status = error, code, description, status


def missing(name: str) -> TokenError:
    return TokenError(
        "invalid_request", 900144, f"The request body must contain the following parameter: '{name}'."
    )


def app_not_found(client_id: str, directory: str, why: str) -> TokenError:
    """AADSTS700016: no such app, or none consented into the directory; ``why`` ends the sentence."""
    return TokenError(
        "unauthorized_client",
        700016,
        f"Application with identifier '{client_id}' was not found in the directory '{directory}'{why}",
    )


def resolve_tenant(name: str) -> Tenant | None:
    """The tenant an authority path names (its GUID or primary domain); ``None`` for ``common`` and
    ``organizations`` (the principal's home tenant)."""
    name = (name or "").strip()
    if not name or name.lower() in ("common", "organizations"):
        return None
    tid = tokens.as_uuid(name)
    found = (
        Tenant.objects.filter(tenant_id=tid) if tid else Tenant.objects.filter(primary_domain__iexact=name)
    )
    tenant = found.first()
    if tenant is None:
        raise TokenError(
            "invalid_request",
            90002,
            f"Tenant '{name}' not found. Check to make sure you have the correct tenant ID and are signing "
            "into the correct cloud.",
        )
    return tenant


def audience_for(base: str, resource: str) -> str:
    """``resource`` if it names one of our APIs (the resource manager or Graph, with or without the
    trailing slash), else AADSTS500011."""
    norm = resource.strip().rstrip("/")
    for aud in tokens.audiences(base).values():
        if norm == aud.rstrip("/"):
            return norm + "/" if resource.strip().endswith("/") else norm
    raise TokenError(
        "invalid_resource",
        500011,
        f"The resource principal named {resource} was not found in the tenant. This portal issues tokens for "
        f"{tokens.audiences(base)['arm']} (resource manager) and {tokens.audiences(base)['graph']} (Graph).",
    )


class Request:
    """One token request: the form, the authority's tenant, the endpoint's version and the public base."""

    def __init__(self, form, tenant_name: str, version: str, base: str, basic: tuple[str, str] | None):
        for name, value in form.items():
            if "\x00" in value:
                raise TokenError("invalid_request", 900144, f"{name} must not contain NUL characters.")
        self.form, self.version, self.base, self.basic = form, version, base, basic
        kind = self.get("grant_type")
        if not kind:
            raise missing("grant_type")
        if kind not in GRANTS:
            raise TokenError(
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{kind}': this portal offers client_credentials, "
                "password and refresh_token.",
            )
        self.tenant = resolve_tenant(tenant_name or (form.get("tenant", "") if version == "1.0" else ""))
        self.scopes: set[str] = set()
        self.resource, self.scope = self._target()

    def get(self, name: str) -> str:
        return self.form.get(name, "")

    def _target(self) -> tuple[str, str]:
        """The audience asked for and the scope to answer with: v1 ``resource`` (default: the resource
        manager), v2 ``scope`` (``<resource>/.default`` or ``/user_impersonation``, plus OIDC scopes)."""
        if self.version == "1.0":
            self.scopes = set(self.get("scope").split()) & OIDC_SCOPES
            resource = self.get("resource") or tokens.audiences(self.base)["arm"]
            return audience_for(self.base, resource), "user_impersonation"
        raw = self.get("scope").split()
        if not raw:
            raise missing("scope")
        self.scopes = set(raw) & OIDC_SCOPES
        asked = [s for s in raw if s not in OIDC_SCOPES]
        resources = set()
        for scope in asked:
            head, sep, tail = scope.rpartition("/")
            if not sep or tail not in (".default", "user_impersonation") or not head:
                raise TokenError(
                    "invalid_scope",
                    70011,
                    f"The provided value for the input parameter 'scope' is not valid. The scope {scope} is not "
                    "valid: ask for '<resource>/.default'.",
                )
            resources.add(head.rstrip("/"))
        if not resources:
            raise TokenError(
                "invalid_scope",
                70011,
                "The provided value for the input parameter 'scope' is not valid: name a resource "
                f"('{tokens.audiences(self.base)['arm']}/.default').",
            )
        if len(resources) > 1:
            raise TokenError(
                "invalid_scope",
                28000,
                "Provided value for the input parameter scope is not valid because it contains more than one "
                "resource.",
            )
        head = asked[0].rpartition("/")[0]
        return audience_for(self.base, head), " ".join(asked)


def answer(req: Request, user: User, tenant: Tenant, client_id: str, **minted) -> tuple[User, dict]:
    """The token response in the endpoint's version's shape (v1: string numbers and ``resource``)."""
    token, expires_on = tokens.access_token(
        user,
        tenant,
        base=req.base,
        audience=req.resource,
        version=req.version,
        client_id=client_id,
        scope="user_impersonation" if user.kind == User.Kind.PERSON else "",
        **minted,
    )
    life = tokens.lifetime()
    if req.version == "1.0":
        body = {
            "token_type": "Bearer",
            "expires_in": str(life),
            "ext_expires_in": str(life),
            "expires_on": str(expires_on),
            "not_before": str(expires_on - life),
            "resource": req.resource,
            "access_token": token,
        }
    else:
        body = {
            "token_type": "Bearer",
            "scope": req.scope,
            "expires_in": life,
            "ext_expires_in": life,
            "access_token": token,
        }
    if user.kind == User.Kind.PERSON:
        if req.version == "1.0" or "offline_access" in req.scopes:
            body["refresh_token"] = tokens.refresh_token(
                user, tenant, base=req.base, client_id=client_id, scope=req.scope
            )
        if "openid" in req.scopes:
            body["id_token"] = tokens.id_token(
                user, tenant, base=req.base, version=req.version, client_id=client_id
            )
        if req.version == "1.0":
            body["scope"] = "user_impersonation"
    if req.get("client_info") == "1":
        body["client_info"] = tokens.client_info(user)
    return user, body


def client_credentials(req: Request) -> tuple[User, dict]:
    client_id, secret = req.basic or (req.get("client_id"), req.get("client_secret"))
    if not client_id.strip():
        raise missing("client_id")
    if not secret:
        raise TokenError(
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            401,
        )
    app = _app(client_id, req.tenant)
    used = _secret(app, secret)
    tenant = req.tenant or app.home_tenant
    sp = ServicePrincipal.objects.filter(app=app, tenant=tenant).select_related("user").first()
    if sp is None or not sp.user.is_active:
        raise app_not_found(
            client_id,
            tenant.primary_domain,
            f". Its administrator has not consented to the app '{app.display_name}' (or withdrew the consent).",
        )
    return answer(req, sp.user, tenant, str(app.client_id), secret=used)


def _app(client_id: str, tenant: Tenant | None) -> AppRegistration:
    cid = tokens.as_uuid(client_id)
    app = AppRegistration.objects.filter(client_id=cid).select_related("home_tenant").first() if cid else None
    if app is None:
        where = tenant.primary_domain if tenant else "any directory here"
        raise app_not_found(client_id, where, " (client_id must be an app's client id, a GUID).")
    return app


def _secret(app: AppRegistration, value: str) -> ClientSecret:
    matching = [s for s in app.secrets.all() if s.matches(value)]
    if not matching:
        raise TokenError(
            "invalid_client",
            7000215,
            f"Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
            f"value, not the client secret ID, for a secret added to app '{app.client_id}'.",
            401,
        )
    live = [s for s in matching if not s.expired]
    if not live:
        raise TokenError(
            "invalid_client",
            7000222,
            f"The provided client secret keys for app '{app.client_id}' are expired. Create new keys for your app.",
            401,
        )
    return live[0]


def _public_client(req: Request, tenant: Tenant) -> str:
    """The client a person signs in through: the Azure CLI (first-party, no registration needed, the
    default when no client_id is sent) or an app with a service principal in the tenant."""
    client_id = (req.get("client_id") or tokens.AZ_CLI_CLIENT_ID).strip().lower()
    if client_id == tokens.AZ_CLI_CLIENT_ID:
        return client_id
    app = _app(client_id, tenant)
    if not ServicePrincipal.objects.filter(app=app, tenant=tenant).exists():
        raise app_not_found(client_id, tenant.primary_domain, ".")
    if req.get("client_secret"):
        _secret(app, req.get("client_secret"))
    return str(app.client_id)


def password(req: Request, request) -> tuple[User, dict]:
    username, password_ = req.get("username"), req.get("password")
    if not username.strip():
        raise missing("username")
    if not password_:
        raise missing("password")
    user = django_authenticate(request, username=username, password=password_)
    if user is None or user.kind != User.Kind.PERSON:
        raise TokenError(
            "invalid_grant", 50126, "Error validating credentials due to invalid username or password."
        )
    _not_operator(user)
    tenant = req.tenant or user.home_tenant
    if not tokens.in_directory(user, tenant):
        raise TokenError(
            "invalid_grant",
            50020,
            f"User account '{username}' from identity provider '{user.home_tenant.primary_domain}' does not exist "
            f"in tenant '{tenant.primary_domain}' and cannot access the application.",
        )
    return answer(req, user, tenant, _public_client(req, tenant))


def _not_operator(user: User) -> None:
    if user.is_staff or user.is_superuser:
        raise TokenError(
            "unauthorized_client",
            53003,
            "Operators (staff and superusers) get no bearer tokens: the Django admin at /admin/ is for the "
            "browser, and the API is for tenants' people and service principals.",
        )


def refresh(req: Request) -> tuple[User, dict]:
    value = req.get("refresh_token")
    if not value:
        raise missing("refresh_token")
    claims, reason = tokens.decode(value, tokens.REFRESH_AUDIENCE)
    if claims is None:
        code = 700082 if "expired" in reason else 9002313
        raise TokenError("invalid_grant", code, f"The refresh token is not valid: {reason}")
    user, reason = tokens.principal(claims, req.base)
    if user is None:
        raise TokenError(
            "invalid_grant",
            50173,
            f"The provided grant has expired due to it being revoked, a fresh auth token is needed. {reason}",
        )
    client_id = (req.get("client_id") or tokens.AZ_CLI_CLIENT_ID).strip().lower()
    if client_id != claims.get("azp"):
        raise TokenError("invalid_grant", 70000, "The refresh token was issued to a different client.")
    # As Entra's multi-resource, multi-tenant refresh tokens: redeemed at another tenant's authority, it
    # gives a token of that tenant if the person is in its directory (what az login does per tenant).
    tenant = req.tenant or Tenant.objects.get(tenant_id=uuid.UUID(claims["tid"]))
    if not tokens.in_directory(user, tenant):
        raise TokenError(
            "invalid_grant",
            50020,
            f"User account '{user.username}' from identity provider '{user.home_tenant.primary_domain}' does not "
            f"exist in tenant '{tenant.primary_domain}' and cannot access the application.",
        )
    return answer(req, user, tenant, client_id)


def grant(req: Request, request) -> tuple[User, dict]:
    """The principal signed in and the token response."""
    kind = req.get("grant_type")
    if kind == "client_credentials":
        return client_credentials(req)
    if kind == "password":
        return password(req, request)
    return refresh(req)
