"""The token endpoint and bearer sign-in (F1, N5): service principals get expiring bearer tokens by client
credentials (in their home tenant or, after consent, in another), people by username and password; a
token is signed, never stored, and refused once expired or once its principal, consent or secret is gone.
A bearer request is the token's principal, needs no CSRF token, and sees exactly what its roles allow."""

from __future__ import annotations

import base64
import time
from datetime import timedelta
from urllib.parse import urlencode

import jwt
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings
from django.utils import timezone

from accounts import directory, keys, sharing, tokens
from accounts.activity import Caller
from accounts.models import ClientSecret, ServicePrincipal
from accounts.services import create_tenant
from galleries import vhd
from galleries.models import Blob

SYSTEM = Caller.system()
UPLOAD_SIZE = vhd.MIB + 512  # a 1 MiB fixed VHD: the smallest size the upload accepts


@pytest.fixture
def app(tenant):
    return directory.register_app(SYSTEM, tenant, "Deployer", multi_tenant=True)


@pytest.fixture
def secret(app):
    """The app's client secret value (shown once)."""
    return directory.add_client_secret(SYSTEM, app, "ci")[1]


@pytest.fixture
def sp(app, tenant):
    """The app's service principal in its home tenant."""
    return ServicePrincipal.objects.get(app=app, tenant=tenant).user


@pytest.fixture
def fabrikam(db):
    return create_tenant("Fabrikam", "fabrikam.test")


@pytest.fixture
def api():
    """A client that enforces CSRF like a browser would: bearer requests must pass without a CSRF token."""
    return Client(enforce_csrf_checks=True)


def post_token(client, path="/oauth2/token", **form):
    return client.post(path, urlencode(form), content_type="application/x-www-form-urlencoded")


def sp_token(client, app, secret, **extra) -> str:
    r = post_token(
        client, grant_type="client_credentials", client_id=str(app.client_id), client_secret=secret, **extra
    )
    assert r.status_code == 200, r.content
    return r.json()["access_token"]


def start_upload(client, rg, token, name="disk.vhd"):
    return client.post(
        "/uploads/",
        {"resourceGroup": rg.arm_id, "name": name, "size": UPLOAD_SIZE},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def probe(client, token):
    """An authenticated-only question: a signed-in principal gets 404 (no such upload), a refused token 401."""
    return client.get("/uploads/999999999", HTTP_AUTHORIZATION=f"Bearer {token}")


def assert_oauth_error(response, status, code, *words):
    """Entra's error shape: error, error_description (AADSTS<n>: ...), error_codes, timestamp, trace and
    correlation ids."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {
        "error",
        "error_description",
        "error_codes",
        "timestamp",
        "trace_id",
        "correlation_id",
    }
    assert body["error"] == code, body
    assert body["error_description"].startswith(f"AADSTS{body['error_codes'][0]}: "), body
    for w in words:
        assert w.lower() in body["error_description"].lower(), (w, body)
    return body


def assert_token_refused(response, *words):
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"].startswith("Bearer")
    error = response.json()["error"]
    assert error["code"] == "InvalidAuthenticationToken", error
    assert set(error) == {"code", "message", "target", "details"}
    for w in words:
        assert w.lower() in error["message"].lower(), (w, error)


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def signed_at(claims: dict, seconds_ago: int) -> str:
    """``claims`` signed with the portal's current key, as if issued ``seconds_ago`` seconds ago."""
    kid, key = keys.signing_key()
    life = claims["exp"] - claims["iat"]
    now = int(time.time()) - seconds_ago
    moved = {**claims, "iat": now, "nbf": now, "exp": now + life}
    return jwt.encode(moved, key, algorithm="RS256", headers={"kid": kid})


# --- Client credentials ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "status"), [("contributor", 201), ("reader", 403), (None, 404)])
def test_a_service_principal_uploads_with_its_bearer_token_and_no_csrf_token_as_its_role_allows(
    api, app, secret, sp, rg, role, status
):
    if role:
        sharing.grant_as_system(rg, sp, role)
    before = time.time()
    r = post_token(api, grant_type="client_credentials", client_id=str(app.client_id), client_secret=secret)
    assert r.status_code == 200, r.content
    body = r.json()
    assert set(body) == {
        "token_type",
        "expires_in",
        "ext_expires_in",
        "expires_on",
        "not_before",
        "resource",
        "access_token",
    }
    assert body["token_type"] == "Bearer" and body["resource"] == "http://testserver/"
    assert body["expires_in"] == str(tokens.lifetime()) == "3600"  # strings, as Entra's v1 endpoint sends
    assert int(before) + 3600 <= int(body["expires_on"]) <= time.time() + 3600
    assert r["Cache-Control"] == "no-store"

    r = start_upload(api, rg, body["access_token"])
    assert r.status_code == status, r.content
    if status == 201:
        blob = Blob.objects.get(pk=r.json()["id"])
        assert blob.resource_group_id == rg.pk and blob.state == Blob.State.UPLOADING
    else:
        code = {403: "AuthorizationFailed", 404: "ResourceNotFound"}[status]
        assert r.json()["error"]["code"] == code
        assert not Blob.objects.exists()


def test_the_same_client_without_a_bearer_token_is_held_to_csrf(api, user, rg):
    """The CSRF exemption is the bearer token's, not the endpoint's: a session POST without a CSRF token fails."""
    api.force_login(user)
    r = api.post(
        "/uploads/",
        {"resourceGroup": rg.arm_id, "name": "d.vhd", "size": UPLOAD_SIZE},
        content_type="application/json",
    )
    assert r.status_code == 403 and b"CSRF" in r.content
    assert not Blob.objects.exists()


def test_a_bearer_token_wins_over_the_session_of_the_same_client(api, user, app, secret, sp, rg):
    api.force_login(user)  # alice owns the subscription; the service principal has no role
    assert start_upload(api, rg, sp_token(api, app, secret)).status_code == 404


def test_the_tenant_path_and_http_basic_client_authentication_work_too(api, app, secret, sp, tenant):
    for path in (f"/{tenant.primary_domain}/oauth2/v2.0/token", f"/{tenant.tenant_id}/oauth2/v2.0/token"):
        token = sp_token(api, app, secret, path=path, scope="http://testserver/.default")
        assert claims_of(token)["oid"] == str(sp.object_id)
    basic = base64.b64encode(f"{app.client_id}:{secret}".encode()).decode()
    r = api.post(
        "/oauth2/token",
        "grant_type=client_credentials",
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=f"Basic {basic}",
    )
    assert r.status_code == 200, r.content
    assert probe(api, r.json()["access_token"]).status_code == 404


def test_a_wrong_secret_is_refused(api, app, secret):
    other = directory.register_app(SYSTEM, app.home_tenant, "Other")
    other_secret = directory.add_client_secret(SYSTEM, other)[1]
    for wrong in (secret[:-1] + ("A" if secret[-1] != "A" else "B"), other_secret):
        r = post_token(
            api, grant_type="client_credentials", client_id=str(app.client_id), client_secret=wrong
        )
        assert_oauth_error(r, 401, "invalid_client", "AADSTS7000215", "Invalid client secret")
        assert "access_token" not in r.json()


def test_an_expired_secret_is_refused_saying_it_expired(api, app, secret):
    # Setting up time: the secret's expiry moves into the past (no service sets a past expiry).
    ClientSecret.objects.filter(app=app).update(expires_at=timezone.now() - timedelta(seconds=1))
    r = post_token(api, grant_type="client_credentials", client_id=str(app.client_id), client_secret=secret)
    assert_oauth_error(r, 401, "invalid_client", "AADSTS7000222", "expired")


def test_an_expired_token_is_refused_and_its_exp_is_what_counts(api, app, secret, sp):
    claims = claims_of(sp_token(api, app, secret))
    assert probe(api, signed_at(claims, seconds_ago=3600 - 60)).status_code == 404  # a minute left
    assert_token_refused(probe(api, signed_at(claims, seconds_ago=3600 + 60)), "expired")
    with override_settings(ACCESS_TOKEN_SECONDS=60):
        r = post_token(
            api, grant_type="client_credentials", client_id=str(app.client_id), client_secret=secret
        )
        assert r.json()["expires_in"] == "60"
        claims = claims_of(r.json()["access_token"])
        assert claims["exp"] - claims["iat"] == 60
        assert probe(api, r.json()["access_token"]).status_code == 404
        assert_token_refused(probe(api, signed_at(claims, seconds_ago=61 + tokens.LEEWAY)), "expired")


def test_garbage_tokens_are_refused_in_the_arm_shape(api, app, secret, sp):
    claims = claims_of(sp_token(api, app, secret))
    kid, key = keys.signing_key()
    forged = {
        "": "not a JSON Web Token",
        "not-a-token": "not a JSON Web Token",
        "é:ü:ß": "not a JSON Web Token",
        jwt.encode(
            {**claims, "oid": "not-a-uuid"}, key, algorithm="RS256", headers={"kid": kid}
        ): "not valid",
        jwt.encode({k: v for k, v in claims.items() if k != "tid"}, key, "RS256", {"kid": kid}): "'tid'",
        jwt.encode({**claims, "gen": "0"}, key, algorithm="RS256", headers={"kid": kid}): "not valid",
    }
    for token, words in forged.items():
        assert_token_refused(probe(api, token), words)
    # A page, too, refuses a bad bearer token rather than ignoring it.
    assert_token_refused(api.get("/", HTTP_AUTHORIZATION="Bearer nope"))


def test_withdrawing_the_consent_ends_the_tokens_of_that_tenants_service_principal(
    api, app, secret, fabrikam
):
    directory.consent(SYSTEM, fabrikam, str(app.client_id))
    token = sp_token(api, app, secret, tenant="fabrikam.test")
    fab_sp = ServicePrincipal.objects.get(app=app, tenant=fabrikam)
    assert claims_of(token)["oid"] == str(fab_sp.user.object_id)
    assert claims_of(token)["tid"] == str(fabrikam.tenant_id)
    assert probe(api, token).status_code == 404
    directory.withdraw_consent(SYSTEM, fab_sp)
    assert_token_refused(probe(api, token), "no longer exists")
    r = post_token(
        api,
        grant_type="client_credentials",
        client_id=str(app.client_id),
        client_secret=secret,
        tenant="fabrikam.test",
    )
    assert_oauth_error(r, 400, "unauthorized_client", "AADSTS700016", "consented")


def test_deleting_the_app_ends_the_tokens_of_its_service_principals(api, app, secret, fabrikam):
    directory.consent(SYSTEM, fabrikam, str(app.client_id))
    home, there = sp_token(api, app, secret), sp_token(api, app, secret, tenant=str(fabrikam.tenant_id))
    assert probe(api, home).status_code == 404 and probe(api, there).status_code == 404
    directory.delete_app(SYSTEM, app)
    assert_token_refused(probe(api, home), "no longer exists")
    assert_token_refused(probe(api, there), "no longer exists")


def test_deleting_a_user_ends_their_tokens(api, tenant, user, rg):
    bob = directory.add_user(SYSTEM, tenant, "bob@contoso.test", "Bob-Test-Pass-22")
    sharing.grant_as_system(rg, bob, "contributor")
    r = post_token(api, grant_type="password", username="bob@contoso.test", password="Bob-Test-Pass-22")
    token = r.json()["access_token"]
    assert start_upload(api, rg, token).status_code == 201
    directory.delete_user(SYSTEM, bob)
    assert_token_refused(start_upload(api, rg, token, name="second.vhd"), "no longer exists")
    assert Blob.objects.count() == 1


def test_a_tenant_without_consent_gets_no_token(api, app, secret, fabrikam, tenant):
    for asked in ("fabrikam.test", str(fabrikam.tenant_id)):
        r = post_token(
            api,
            grant_type="client_credentials",
            client_id=str(app.client_id),
            client_secret=secret,
            tenant=asked,
        )
        assert_oauth_error(r, 400, "unauthorized_client", "Fabrikam", "consented")
        r = post_token(
            api,
            f"/{asked}/oauth2/v2.0/token",
            scope="http://testserver/.default",
            grant_type="client_credentials",
            client_id=str(app.client_id),
            client_secret=secret,
        )
        assert_oauth_error(r, 400, "unauthorized_client", "AADSTS700016", "consented")


def test_deleting_the_only_secret_stops_the_tokens_it_minted_and_a_new_secret_does_not_revive_them(
    api, app, secret, sp
):
    token = sp_token(api, app, secret)
    assert probe(api, token).status_code == 404
    directory.delete_client_secret(SYSTEM, app.secrets.get())
    assert_token_refused(probe(api, token), "secret")
    fresh = directory.add_client_secret(SYSTEM, app)[1]
    assert_token_refused(probe(api, token), "secret")
    assert probe(api, sp_token(api, app, fresh)).status_code == 404


def test_rotation_deleting_the_old_secret_ends_the_tokens_minted_before_and_the_new_secret_signs_in(
    api, app, secret, sp
):
    """Rotation: add a second secret, delete the first — every token minted before the deletion ends (issue
    12: a token minted with a leaked secret must not outlive it while another secret exists); the second
    secret mints tokens that live until it expires."""
    second, second_value = directory.add_client_secret(SYSTEM, app, "rotation")
    token = sp_token(api, app, secret)
    directory.delete_client_secret(SYSTEM, app.secrets.exclude(pk=second.pk).get())
    assert_token_refused(probe(api, token), "request a new token")
    fresh = sp_token(api, app, second_value)
    assert probe(api, fresh).status_code == 404
    ClientSecret.objects.filter(pk=second.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_token_refused(probe(api, fresh), "expired")


# --- People ---------------------------------------------------------------------------------------------


def test_people_get_tokens_with_username_and_password(api, user, rg):
    r = post_token(api, grant_type="password", username="alice@contoso.test", password="Alice-Test-Pass-1")
    assert r.status_code == 200, r.content
    token = r.json()["access_token"]
    assert claims_of(token)["oid"] == str(user.object_id)
    r = start_upload(api, rg, token)
    assert r.status_code == 201, r.content
    r = post_token(api, grant_type="password", username="alice@contoso.test", password="Wrong-Pass-1")
    assert_oauth_error(r, 400, "invalid_grant", "AADSTS50126", "invalid username or password")


def test_a_service_principal_cannot_use_the_password_grant(api, app, secret, sp):
    for name in (sp.username, str(app.client_id)):
        r = post_token(api, grant_type="password", username=name, password=secret)
        assert_oauth_error(r, 400, "invalid_grant")
        assert "access_token" not in r.json()


# --- Signed, not stored ---------------------------------------------------------------------------------


def test_tokens_are_signed_not_stored(api, app, secret, sp, tenant):
    keys.signing_key()  # the very first signature creates the signing key; after that nothing is written
    with CaptureQueriesContext(connection) as issuing:
        token = sp_token(api, app, secret)
    with CaptureQueriesContext(connection) as using:
        assert probe(api, token).status_code == 404
    for q in [*issuing.captured_queries, *using.captured_queries]:
        assert q["sql"].lstrip("( ").split()[0].upper() == "SELECT", q["sql"]
    claims = claims_of(token)
    secret_id = app.secrets.get().pk
    assert claims == {
        "aud": "http://testserver/",
        "iss": f"http://testserver/{tenant.tenant_id}/",
        "iat": claims["iat"],
        "nbf": claims["iat"],
        "exp": claims["iat"] + 3600,
        "idtyp": "app",
        "oid": str(sp.object_id),
        "sub": str(sp.object_id),
        "tid": str(tenant.tenant_id),
        "uti": claims["uti"],
        "ver": "1.0",
        "appid": str(app.client_id),
        "appidacr": "1",
        "gen": sp.credential_generation,
        "csid": secret_id,
    }


# --- Bad input is a clear 4xx, never a 500 -------------------------------------------------------------


BAD_REQUESTS = [
    ({"grant_type": "client_credentials", "client_secret": "x"}, 400, "invalid_request", "client_id"),
    ({"grant_type": "client_credentials", "client_id": "{cid}"}, 401, "invalid_client", "'client_secret'"),
    (
        {"grant_type": "client_credentials", "client_id": "not-a-guid", "client_secret": "x"},
        400,
        "unauthorized_client",
        "GUID",
    ),
    (
        {
            "grant_type": "client_credentials",
            "client_id": "00000000-0000-0000-0000-000000000000",
            "client_secret": "x",
        },
        400,
        "unauthorized_client",
        "was not found in the directory",
    ),
    (
        {
            "grant_type": "client_credentials",
            "client_id": "{cid}",
            "client_secret": "{secret}",
            "tenant": "nowhere.test",
        },
        400,
        "invalid_request",
        "nowhere.test",
    ),
    ({"grant_type": "password", "username": "alice@contoso.test"}, 400, "invalid_request", "'password'"),
    ({"grant_type": "password", "password": "x"}, 400, "invalid_request", "'username'"),
    ({"grant_type": "authorization_code", "code": "x"}, 400, "unsupported_grant_type", "client_credentials"),
    ({}, 400, "invalid_request", "grant_type"),
    # NUL characters: PostgreSQL cannot even compare them, so they are refused before any lookup.
    (
        {"grant_type": "password", "username": "alice\x00@contoso.test", "password": "x"},
        400,
        "invalid_request",
        "NUL",
    ),
    (
        {
            "grant_type": "client_credentials",
            "client_id": "{cid}",
            "client_secret": "{secret}",
            "tenant": "a\x00",
        },
        400,
        "invalid_request",
        "NUL",
    ),
    (
        {"grant_type": "client_credentials", "client_id": "{cid}", "client_secret": "x\x00"},
        400,
        "invalid_request",
        "NUL",
    ),
]


@pytest.mark.parametrize(("form", "status", "code", "word"), BAD_REQUESTS)
def test_bad_token_requests_get_a_clear_oauth_error(api, app, secret, user, form, status, code, word):
    form = {k: v.format(cid=app.client_id, secret=secret) for k, v in form.items()}
    assert_oauth_error(post_token(api, **form), status, code, word)


def test_the_token_endpoint_refuses_other_methods_bodies_and_headers_clearly(api, app, secret):
    r = api.get("/oauth2/token")
    assert_oauth_error(r, 405, "invalid_request", "POST")
    assert r["Allow"] == "POST"
    r = api.post(
        "/oauth2/token",
        {"grant_type": "client_credentials", "client_id": str(app.client_id), "client_secret": secret},
        content_type="application/json",
    )
    assert_oauth_error(r, 400, "invalid_request", "form-encoded")
    for header in (
        "Basic !!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b"\xff:\xfe").decode(),
    ):
        r = api.post(
            "/oauth2/token",
            "grant_type=client_credentials",
            content_type="application/x-www-form-urlencoded",
            HTTP_AUTHORIZATION=header,
        )
        assert_oauth_error(r, 401, "invalid_client", "Basic")
