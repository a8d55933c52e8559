"""Entra-style identity (issue 14): OIDC discovery, JWKS, the v1 and v2 token endpoints (client credentials,
password, refresh token), id tokens and client_info, userrealm, signing-key rotation, and the bearer
validation: only RS256 tokens signed by one of our live keys, for this API's audience, from the issuer of
a tenant whose directory holds the principal, and not expired."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import timedelta
from io import StringIO
from urllib.parse import urlencode

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.test.utils import override_settings
from django.utils import timezone

from accounts import directory, keys, tokens
from accounts.activity import Caller
from accounts.models import ManagedIdentity, ServicePrincipal, SigningKey
from accounts.services import create_tenant

SYSTEM = Caller.system()
BASE = "http://testserver"
ARM = f"{BASE}/"
ARM_SUBSCRIPTIONS = "/subscriptions?api-version=2022-12-01"
AZ_CLI = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"


@pytest.fixture
def api():
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def app(tenant):
    return directory.register_app(SYSTEM, tenant, "Deployer", multi_tenant=True)


@pytest.fixture
def secret(app):
    return directory.add_client_secret(SYSTEM, app, "ci")[1]


@pytest.fixture
def sp(app, tenant):
    return ServicePrincipal.objects.get(app=app, tenant=tenant)


@pytest.fixture
def fabrikam(db):
    return create_tenant("Fabrikam", "fabrikam.test")


def post(client, path, **form):
    return client.post(path, urlencode(form), content_type="application/x-www-form-urlencoded")


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def refused(client, token, *words, path=ARM_SUBSCRIPTIONS):
    r = client.get(path, **bearer(token))
    assert r.status_code == 401, r.content
    message = r.json()["error"]["message"]
    assert r.json()["error"]["code"] == "InvalidAuthenticationToken"
    for w in words:
        assert w.lower() in message.lower(), (w, message)
    return message


def works(client, token) -> bool:
    return client.get(ARM_SUBSCRIPTIONS, **bearer(token)).status_code == 200


def entra_error(r, status, error, code):
    assert r.status_code == status, r.content
    body = r.json()
    assert body["error"] == error and body["error_codes"] == [code], body
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert {"timestamp", "trace_id", "correlation_id"} <= set(body)
    return body


def password_v2(client, tenant="common", **extra):
    form = {
        "grant_type": "password",
        "client_id": AZ_CLI,
        "username": "alice@contoso.test",
        "password": "Alice-Test-Pass-1",
        "scope": f"{ARM}/.default openid profile offline_access",
        "client_info": "1",
        **extra,
    }
    return post(client, f"/{tenant}/oauth2/v2.0/token", **form)


# --- Discovery and keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_discovery_names_the_endpoints_and_the_issuer_for_a_tenant_by_id_domain_or_common(
    api, tenant, version
):
    v = "/v2.0" if version == "2.0" else ""
    for name in (str(tenant.tenant_id), tenant.primary_domain, "common", "organizations"):
        r = api.get(f"/{name}{v}/.well-known/openid-configuration")
        assert r.status_code == 200, r.content
        doc = r.json()
        assert doc["token_endpoint"] == f"{BASE}/{name}/oauth2{v}/token"
        assert doc["authorization_endpoint"] == f"{BASE}/{name}/oauth2{v}/authorize"
        assert doc["jwks_uri"] == f"{BASE}/{name}/discovery{v}/keys"
        assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
        assert "device_authorization_endpoint" not in doc  # no device code flow here
        guid = "{tenantid}" if name in ("common", "organizations") else tenant.tenant_id
        assert doc["issuer"] == (f"{BASE}/{guid}/v2.0" if v else f"{BASE}/{guid}/")
    for unknown in ("nowhere.test", str(uuid.uuid4())):
        for path in (f"/{unknown}{v}/.well-known/openid-configuration", f"/{unknown}/discovery{v}/keys"):
            r = api.get(path)
            entra_error(r, 400, "invalid_tenant", 90002)
            assert unknown in r.json()["error_description"]


def test_the_jwks_publishes_the_key_that_signs_and_verifies_tokens(api, tenant, user):
    token = tokens.issue(user, base=BASE)["access_token"]
    for path in (f"/{tenant.tenant_id}/discovery/keys", "/common/discovery/v2.0/keys"):
        published = api.get(path).json()["keys"]
        assert [k["kid"] for k in published] == [jwt.get_unverified_header(token)["kid"]]
        assert published[0]["kty"] == "RSA" and published[0]["use"] == "sig"
    key = jwt.PyJWK(published[0]).key
    assert jwt.decode(token, key, algorithms=["RS256"], audience=ARM)["oid"] == str(user.object_id)


def test_signing_keys_rotate_and_a_retired_key_leaves_the_jwks_once_its_tokens_expired(api, user):
    entry = settings.CELERY_BEAT_SCHEDULE["signing-keys"]
    assert entry["task"] == "accounts.keys.maintain" and entry["options"] == {"in_beat": True}
    old_token = tokens.issue(user, base=BASE)["access_token"]
    old = SigningKey.objects.get()
    # Setting up time: the key is older than SIGNING_KEY_DAYS.
    SigningKey.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))
    new_token = tokens.issue(user, base=BASE)["access_token"]
    new = SigningKey.objects.exclude(pk=old.pk).get()
    assert jwt.get_unverified_header(new_token)["kid"] == new.kid != old.kid
    old.refresh_from_db()
    assert old.retires_at >= timezone.now() + timedelta(seconds=keys.longest_lifetime() - 60)
    assert [k["kid"] for k in api.get("/common/discovery/keys").json()["keys"]] == [new.kid, old.kid]
    assert works(api, old_token) and works(api, new_token)  # both verify while the old key's tokens live
    with override_settings(SIGNING_KEY_DAYS=60):
        assert keys.signing_key()[0] == new.kid
    # Setting up time: every token the old key signed has expired.
    SigningKey.objects.filter(pk=old.pk).update(retires_at=timezone.now() - timedelta(seconds=1))
    assert [k["kid"] for k in api.get("/common/discovery/keys").json()["keys"]] == [new.kid]
    refused(api, old_token, "not one of this portal's")
    assert keys.maintain() == f"signing with {new.kid}; 1 retired key(s) deleted"  # beat's daily pass
    assert not SigningKey.objects.filter(pk=old.pk).exists()


# --- What the bearer validation refuses --------------------------------------------------------------------


def forge(claims: dict, key, kid: str | None, algorithm="RS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid} if kid else None)


def test_expired_foreign_key_none_hs256_and_wrong_audience_tokens_are_refused(api, user, fabrikam):
    token = tokens.issue(user, base=BASE)["access_token"]
    assert works(api, token)
    claims = claims_of(token)
    kid, key = keys.signing_key()
    now = int(time.time())

    expired = forge({**claims, "iat": now - 7200, "nbf": now - 7200, "exp": now - 60}, key, kid)
    refused(api, expired, "expired")

    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    refused(api, forge(claims, stranger, "made-up-kid"), "not one of this portal's", "made-up-kid")
    refused(api, forge(claims, stranger, kid), "signature does not verify")

    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": kid})
    refused(api, unsigned, "'none'", "only RS256")

    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": kid}).encode()).rstrip(b"=")
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    mac = hmac.new(public_pem, header + b"." + payload, hashlib.sha256).digest()
    hs256 = b".".join([header, payload, base64.urlsafe_b64encode(mac).rstrip(b"=")]).decode()
    refused(api, hs256, "'HS256'")

    for aud in (f"{BASE}/graph/", "https://elsewhere.test/", "http://testserver.evil/"):
        refused(api, forge({**claims, "aud": aud}, key, kid), "another audience")
    assert works(api, forge({**claims, "aud": BASE}, key, kid))  # without the trailing slash is the same
    # A token our key signed for another issuer (another portal's URL) is refused.
    refused(api, forge({**claims, "iss": f"https://other.test/{claims['tid']}/"}, key, kid), "issuer")
    # A token of another tenant: Fabrikam's issuer and tid, for a principal not in Fabrikam's directory.
    other = {**claims, "tid": str(fabrikam.tenant_id), "iss": f"{BASE}/{fabrikam.tenant_id}/"}
    refused(api, forge(other, key, kid), "not in the directory", "fabrikam.test")
    made_up = str(uuid.uuid4())
    refused(api, forge({**claims, "tid": made_up, "iss": f"{BASE}/{made_up}/"}, key, kid), "does not exist")


def test_a_graph_token_opens_graph_only_and_an_arm_token_not_graph(api, user):
    r = post(api, "/oauth2/token", grant_type="password", username=user.username, password="Alice-Test-Pass-1",
             resource=f"{BASE}/graph/")  # fmt: skip
    assert r.status_code == 200, r.content
    graph = r.json()["access_token"]
    assert claims_of(graph)["aud"] == f"{BASE}/graph/"
    refused(api, graph, "another audience")


# --- The token endpoints -------------------------------------------------------------------------------


def test_v2_client_credentials_gives_a_v2_token_for_the_scopes_resource(api, app, secret, sp, tenant):
    r = post(api, f"/{tenant.primary_domain}/oauth2/v2.0/token", grant_type="client_credentials",
             client_id=str(app.client_id), client_secret=secret, scope=f"{ARM}.default")  # fmt: skip
    assert r.status_code == 200, r.content
    body = r.json()
    assert set(body) == {"token_type", "scope", "expires_in", "ext_expires_in", "access_token"}
    assert body["expires_in"] == 3600 and body["scope"] == f"{ARM}.default"
    claims = claims_of(body["access_token"])
    assert claims["ver"] == "2.0" and claims["iss"] == f"{BASE}/{tenant.tenant_id}/v2.0"
    assert claims["aud"] == BASE and claims["azp"] == str(app.client_id) and claims["azpacr"] == "1"
    assert claims["idtyp"] == "app" and claims["oid"] == str(sp.user.object_id)
    assert works(api, body["access_token"])


@pytest.mark.parametrize(
    ("scope", "error", "code"),
    [
        (None, "invalid_request", 900144),
        ("openid profile", "invalid_scope", 70011),
        (f"{ARM}", "invalid_scope", 70011),
        (f"{ARM}.default {BASE}/graph/.default", "invalid_scope", 28000),
        ("https://management.azure.com/.default", "invalid_resource", 500011),
    ],
)
def test_v2_scopes_are_checked(api, app, secret, sp, scope, error, code):
    form = {"grant_type": "client_credentials", "client_id": str(app.client_id), "client_secret": secret}
    if scope is not None:
        form["scope"] = scope
    entra_error(post(api, "/common/oauth2/v2.0/token", **form), 400, error, code)


def test_the_azure_clis_password_sign_in_gets_an_id_token_client_info_and_a_refresh_token(api, user, tenant):
    r = password_v2(api)
    assert r.status_code == 200, r.content
    body = r.json()
    assert {"access_token", "refresh_token", "id_token", "client_info"} <= set(body)
    assert body["scope"] == f"{ARM}/.default"
    access = claims_of(body["access_token"])
    assert (
        access["aud"] == ARM and access["idtyp"] == "user" and access["preferred_username"] == user.username
    )
    assert access["azp"] == AZ_CLI and access["azpacr"] == "0" and access["scp"] == "user_impersonation"
    id_claims = claims_of(body["id_token"])
    assert id_claims["aud"] == AZ_CLI and id_claims["iss"] == f"{BASE}/{tenant.tenant_id}/v2.0"
    assert id_claims["oid"] == str(user.object_id) and id_claims["tid"] == str(tenant.tenant_id)
    assert id_claims["preferred_username"] == user.username and id_claims["name"] == "Alice"
    padded = body["client_info"] + "=" * (-len(body["client_info"]) % 4)
    assert json.loads(base64.urlsafe_b64decode(padded)) == {
        "uid": str(user.object_id),
        "utid": str(tenant.tenant_id),
    }
    assert works(api, body["access_token"])
    refused(api, body["refresh_token"], "another audience")  # a refresh token opens nothing
    refused(api, body["id_token"])  # an id token neither (no credential generation, another audience)

    again = post(api, "/common/oauth2/v2.0/token", grant_type="refresh_token", client_id=AZ_CLI,
                 refresh_token=body["refresh_token"], scope=f"{ARM}/.default offline_access")  # fmt: skip
    assert again.status_code == 200, again.content
    assert works(api, again.json()["access_token"]) and "refresh_token" in again.json()
    other_client = post(api, "/common/oauth2/v2.0/token", grant_type="refresh_token", client_id=str(uuid.uuid4()),
                        refresh_token=body["refresh_token"], scope=f"{ARM}/.default")  # fmt: skip
    entra_error(other_client, 400, "invalid_grant", 70000)

    user.set_password("Alice-New-Pass-2")
    user.save()
    r = post(api, "/common/oauth2/v2.0/token", grant_type="refresh_token", client_id=AZ_CLI,
             refresh_token=body["refresh_token"], scope=f"{ARM}/.default")  # fmt: skip
    entra_error(r, 400, "invalid_grant", 50173)
    assert "changed" in r.json()["error_description"]
    garbage = post(api, "/common/oauth2/v2.0/token", grant_type="refresh_token", client_id=AZ_CLI,
                   refresh_token="nope", scope=f"{ARM}/.default")  # fmt: skip
    entra_error(garbage, 400, "invalid_grant", 9002313)


def test_v1_password_grant_answers_in_the_v1_shape(api, user, tenant):
    r = post(api, f"/{tenant.tenant_id}/oauth2/token", grant_type="password", client_id=AZ_CLI,
             username=user.username, password="Alice-Test-Pass-1", resource=ARM, scope="openid")  # fmt: skip
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["resource"] == ARM and body["expires_in"] == "3600" and "refresh_token" in body
    claims = claims_of(body["access_token"])
    assert claims["ver"] == "1.0" and claims["upn"] == claims["unique_name"] == user.username
    assert claims["appid"] == AZ_CLI and claims["appidacr"] == "0"
    assert claims_of(body["id_token"])["iss"] == f"{BASE}/{tenant.tenant_id}/"


def test_a_person_gets_a_token_for_a_tenant_only_while_a_guest_there(api, user, tenant, fabrikam):
    r = password_v2(api, tenant="fabrikam.test")
    entra_error(r, 400, "invalid_grant", 50020)
    admin = directory.add_user(SYSTEM, fabrikam, "admin@fabrikam.test", "Admin-Test-Pass-1")
    admin.is_tenant_admin = True
    admin.save()
    contoso_admin = directory.add_user(SYSTEM, tenant, "admin@contoso.test", "Admin-Test-Pass-1")
    contoso_admin.is_tenant_admin = True
    contoso_admin.save()
    directory.set_partner(Caller(admin), fabrikam, tenant)  # the door: both tenants' partner lists
    directory.set_partner(Caller(contoso_admin), tenant, fabrikam)
    invitation = directory.invite_guest(Caller(admin), fabrikam, user.username)
    directory.accept_invitation(Caller(user), invitation)
    r = password_v2(api, tenant=str(fabrikam.tenant_id))
    assert r.status_code == 200, r.content
    token = r.json()["access_token"]
    claims = claims_of(token)
    assert claims["tid"] == str(fabrikam.tenant_id) and claims["idp"] == f"{BASE}/{tenant.tenant_id}/"
    assert works(api, token)
    # A refresh token of the home tenant redeemed at Fabrikam's authority: a Fabrikam token (az login
    # does this for every tenant it finds).
    home = password_v2(api).json()
    r = post(api, f"/{fabrikam.primary_domain}/oauth2/v2.0/token", grant_type="refresh_token", client_id=AZ_CLI,
             refresh_token=home["refresh_token"], scope=f"{ARM}/.default")  # fmt: skip
    assert r.status_code == 200, r.content
    assert claims_of(r.json()["access_token"])["tid"] == str(fabrikam.tenant_id)
    directory.revoke_invitation(Caller(admin), invitation)
    r = post(api, f"/{fabrikam.primary_domain}/oauth2/v2.0/token", grant_type="refresh_token", client_id=AZ_CLI,
             refresh_token=home["refresh_token"], scope=f"{ARM}/.default")  # fmt: skip
    entra_error(r, 400, "invalid_grant", 50020)
    refused(api, token, "not in the directory", "fabrikam.test")


def test_the_password_grant_takes_the_cli_or_a_registered_app_as_client(api, user, app, sp, fabrikam):
    assert password_v2(api, client_id=str(app.client_id)).status_code == 200
    entra_error(password_v2(api, client_id=str(uuid.uuid4())), 400, "unauthorized_client", 700016)
    other = directory.register_app(SYSTEM, fabrikam, "Elsewhere")
    entra_error(password_v2(api, client_id=str(other.client_id)), 400, "unauthorized_client", 700016)
    entra_error(password_v2(api, password="wrong"), 400, "invalid_grant", 50126)


def test_unsupported_grants_and_interactive_sign_in_are_refused_clearly(api, tenant):
    entra_error(post(api, "/common/oauth2/v2.0/token", grant_type="authorization_code", code="x"),
                400, "unsupported_grant_type", 70003)  # fmt: skip
    for path in ("/common/oauth2/v2.0/authorize", f"/{tenant.primary_domain}/oauth2/authorize"):
        body = entra_error(api.get(path), 400, "invalid_request", 9002313)
        assert "az login -u" in body["error_description"]


def test_userrealm_says_managed_for_our_domains_and_unknown_otherwise(api, user):
    r = api.get("/common/userrealm/alice@contoso.test?api-version=1.0")
    assert r.status_code == 200
    assert r.json() == {
        "ver": "1.0",
        "account_type": "Managed",
        "domain_name": "contoso.test",
        "cloud_instance_name": "testserver",
        "cloud_audience_urn": "urn:federation:MicrosoftOnline",
    }
    for name in ("nobody@elsewhere.test", "no-domain"):
        assert api.get(f"/common/userrealm/{name}?api-version=1.0").json()["account_type"] == "Unknown"


# --- Managed identity ------------------------------------------------------------------------------------


def msi(client, header, **params):
    query = urlencode({"api-version": "2019-08-01", "resource": ARM, **params})
    return (
        client.get(f"/msi/token?{query}", HTTP_X_IDENTITY_HEADER=header)
        if header
        else client.get(f"/msi/token?{query}")
    )


def test_a_managed_identity_gets_tokens_with_its_header_until_the_header_is_replaced(api, app, sp):
    out = StringIO()
    call_command("managed_identity", str(app.client_id), "--url", BASE, stdout=out)
    lines = dict(line.split("=", 1) for line in out.getvalue().split())
    assert lines["IDENTITY_ENDPOINT"] == f"{BASE}/msi/token"
    header = lines["IDENTITY_HEADER"]
    assert ManagedIdentity.objects.get().header_hash == ManagedIdentity.digest(header) != header

    r = msi(api, header)
    assert r.status_code == 200, r.content
    body = r.json()
    assert set(body) == {"access_token", "expires_on", "resource", "token_type", "client_id"}
    assert body["client_id"] == str(app.client_id) and body["resource"] == ARM
    assert int(body["expires_on"]) > time.time()
    claims = claims_of(body["access_token"])
    assert claims["appid"] == str(app.client_id) and claims["appidacr"] == "2" and claims["idtyp"] == "app"
    assert works(api, body["access_token"])

    assert msi(api, None).status_code == 401
    assert msi(api, "wrong").status_code == 401
    assert msi(api, header, **{"api-version": "2017-09-01"}).status_code == 400
    assert msi(api, header, resource="https://management.azure.com/").status_code == 400
    assert msi(api, header, client_id=str(uuid.uuid4())).json()["statusCode"] == 400
    assert msi(api, header, client_id=str(app.client_id)).status_code == 200

    call_command("managed_identity", str(app.client_id), stdout=StringIO())  # a new header
    assert msi(api, header).status_code == 401
    refused(api, body["access_token"], "managed identity")


@pytest.mark.parametrize(
    "path",
    [
        "/common/userrealm/a%00b?api-version=1.0",
        "/a%00b/.well-known/openid-configuration",
        "/common/discovery/keys?x=%00",
        "/msi/token?resource=a%00&api-version=2019-08-01",
    ],
)
def test_nul_characters_in_identity_requests_get_json_refusals(api, path):
    r = api.get(path)
    assert r.status_code == 400 and r["Content-Type"] == "application/json", r.content
    assert "NUL" in r.json()["error"]["message"]
