"""Issue 12, item 2: bearer tokens end with the credentials they came from, operators get none, and a
bearer token opens the API only.

- A token carries its principal's credential generation; a new password (any path: ``set_password``, the
  admin's password form) or the deletion of one of its app's client secrets moves the generation on, and
  a token from an earlier generation is refused saying why. A service principal's token also names the
  secret it was minted with and ends when that secret expires.
- Superusers and staff get no bearer token (the password grant refuses them, and a token of a principal
  who became one is refused).
- ``Authorization: Bearer`` signs in on the API's paths only (the ARM paths, the upload endpoints, the
  OpenAPI document); anywhere else — the pages, ``/admin/`` — a bearer request is refused before any view.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import jwt
import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from accounts import directory, keys, tokens
from accounts.activity import Caller
from accounts.models import ClientSecret, ServicePrincipal, User
from accounts.services import create_user

SYSTEM = Caller.system()
ARM_SUBSCRIPTIONS = "/subscriptions?api-version=2022-12-01"
BASE = "http://testserver"  # the test client's host: the public base, so the issuer and the audience


@pytest.fixture
def api():
    """A client that enforces CSRF as a browser would."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def app(tenant):
    return directory.register_app(SYSTEM, tenant, "Deployer")


@pytest.fixture
def sp(app, tenant):
    return ServicePrincipal.objects.get(app=app, tenant=tenant).user


@pytest.fixture
def operator(db):
    return User.objects.create_superuser("operator", "operator@example.test", "Operator-Test-Pass-1")


def post_token(client, **form):
    return client.post("/oauth2/token", urlencode(form), content_type="application/x-www-form-urlencoded")


def password_token(client, username, password) -> str:
    r = post_token(client, grant_type="password", username=username, password=password)
    assert r.status_code == 200, r.content
    return r.json()["access_token"]


def secret_token(client, app, secret) -> str:
    r = post_token(
        client, grant_type="client_credentials", client_id=str(app.client_id), client_secret=secret
    )
    assert r.status_code == 200, r.content
    return r.json()["access_token"]


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def works(client, token) -> bool:
    r = client.get(ARM_SUBSCRIPTIONS, **bearer(token))
    assert r.status_code in (200, 401), r.content
    return r.status_code == 200


def assert_refused(response, *words):
    assert response.status_code == 401, response.content[:500]
    assert response["WWW-Authenticate"].startswith("Bearer")
    error = response.json()["error"]
    assert error["code"] == "InvalidAuthenticationToken", error
    for w in words:
        assert w.lower() in error["message"].lower(), (w, error)


# --- Passwords ------------------------------------------------------------------------------------------


def test_a_new_password_ends_the_tokens_issued_before_it(api, user):
    token = password_token(api, user.username, "Alice-Test-Pass-1")
    assert works(api, token)
    user.set_password("Alice-New-Pass-2")
    user.save()
    assert_refused(api.get(ARM_SUBSCRIPTIONS, **bearer(token)), "password")
    assert works(api, password_token(api, user.username, "Alice-New-Pass-2"))


def test_a_new_password_saved_with_update_fields_ends_them_too(api, user):
    token = password_token(api, user.username, "Alice-Test-Pass-1")
    user.set_password("Alice-New-Pass-2")
    user.save(update_fields=["password"])
    assert not works(api, token)
    user.refresh_from_db()
    assert user.check_password("Alice-New-Pass-2")


def test_a_password_set_in_the_admin_ends_the_tokens(api, client, user, operator):
    token = password_token(api, user.username, "Alice-Test-Pass-1")
    client.force_login(operator)
    r = client.post(
        f"/admin/accounts/user/{user.pk}/password/",
        {"password1": "Alice-Admin-Set-3", "password2": "Alice-Admin-Set-3", "usable_password": "true"},
    )
    assert r.status_code == 302, r.content[:2000]
    user.refresh_from_db()
    assert user.check_password("Alice-Admin-Set-3")
    assert_refused(api.get(ARM_SUBSCRIPTIONS, **bearer(token)), "password")


def test_an_unusable_password_ends_the_tokens(api, user):
    token = password_token(api, user.username, "Alice-Test-Pass-1")
    user.set_unusable_password()
    user.save()
    assert not works(api, token)


def test_a_password_hash_upgrade_at_sign_in_is_not_a_new_password(api, user, settings):
    """Django re-hashes a password when its hasher changes (here MD5 → PBKDF2) at the next sign-in: the
    same password, so the tokens go on — including the one issued by that very sign-in."""
    token = password_token(api, user.username, "Alice-Test-Pass-1")
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    fresh = password_token(api, user.username, "Alice-Test-Pass-1")
    user.refresh_from_db()
    assert user.password.startswith("pbkdf2_sha256$")
    assert works(api, token) and works(api, fresh)


def test_other_changes_to_a_user_keep_the_tokens(api, user):
    token = password_token(api, user.username, "Alice-Test-Pass-1")
    user.display_name = "Alice Liddell"
    user.save()
    assert works(api, token)


def test_a_token_of_an_older_generation_is_refused_with_a_clear_message(api, user):
    token = tokens.issue(user, base=BASE)["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["gen"] == user.credential_generation
    user.end_tokens()  # what the admin's "End bearer tokens" does
    assert user.credential_generation == claims["gen"] + 1
    assert_refused(api.get(ARM_SUBSCRIPTIONS, **bearer(token)), "have changed", "request a new token")
    assert works(api, tokens.issue(user, base=BASE)["access_token"])
    kid, key = keys.signing_key()
    unnumbered = jwt.encode({k: v for k, v in claims.items() if k != "gen"}, key, "RS256", {"kid": kid})
    assert_refused(api.get(ARM_SUBSCRIPTIONS, **bearer(unnumbered)), "'gen'")


# --- Client secrets -------------------------------------------------------------------------------------


def test_deleting_the_secret_a_token_was_minted_with_ends_it_while_an_older_secret_lives(api, app, sp):
    """The audit's case: a secret leaks, tokens are minted with it, the administrator deletes it — and an
    older secret of the app still exists."""
    older, older_value = directory.add_client_secret(SYSTEM, app, "older")
    leaked, leaked_value = directory.add_client_secret(SYSTEM, app, "leaked")
    minted = secret_token(api, app, leaked_value)
    assert works(api, minted)
    directory.delete_client_secret(SYSTEM, leaked)
    assert_refused(api.get(ARM_SUBSCRIPTIONS, **bearer(minted)), "secret")
    assert works(api, secret_token(api, app, older_value))  # the app signs in again with what is left


def test_deleting_any_secret_of_an_app_ends_all_its_tokens(api, app, sp):
    """Deleting a secret moves every service principal of the app to a new generation: tokens of its other
    secrets end too (they are requested again in a moment), so nothing minted before survives a cleanup."""
    keep, keep_value = directory.add_client_secret(SYSTEM, app, "keep")
    gone, _ = directory.add_client_secret(SYSTEM, app, "gone")
    token = secret_token(api, app, keep_value)
    before = User.objects.get(pk=sp.pk).credential_generation
    directory.delete_client_secret(SYSTEM, gone)
    assert User.objects.get(pk=sp.pk).credential_generation == before + 1
    assert_refused(api.get(ARM_SUBSCRIPTIONS, **bearer(token)), "request a new token")
    assert works(api, secret_token(api, app, keep_value))


def test_deleting_a_secret_in_the_admin_ends_the_tokens(api, client, app, sp, operator):
    secret, value = directory.add_client_secret(SYSTEM, app, "admin")
    token = secret_token(api, app, value)
    client.force_login(operator)
    r = client.post(f"/admin/accounts/clientsecret/{secret.pk}/delete/", {"post": "yes"})
    assert r.status_code == 302, r.content[:2000]
    assert not ClientSecret.objects.filter(pk=secret.pk).exists()
    assert not works(api, token)


def test_a_token_ends_when_the_secret_it_was_minted_with_expires_while_an_older_one_lives(api, app, sp):
    older, older_value = directory.add_client_secret(SYSTEM, app, "older", days=180)
    short, short_value = directory.add_client_secret(SYSTEM, app, "short", days=1)
    token = secret_token(api, app, short_value)
    assert works(api, token)
    # Setting up time: the short secret's expiry moves into the past.
    ClientSecret.objects.filter(pk=short.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert_refused(api.get(ARM_SUBSCRIPTIONS, **bearer(token)), "expired")
    assert works(api, secret_token(api, app, older_value))


# --- Operators ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["superuser", "staff"])
def test_operators_get_no_bearer_token(api, tenant, operator, kind):
    if kind == "superuser":
        username, password = "operator", "Operator-Test-Pass-1"
    else:
        staff = create_user(tenant, "staff@contoso.test", "Staff-Test-Pass-1", "Staff")
        staff.is_staff = True
        staff.save()
        username, password = staff.username, "Staff-Test-Pass-1"
    r = post_token(api, grant_type="password", username=username, password=password)
    assert r.status_code == 400, r.content
    body = r.json()
    assert body["error"] == "unauthorized_client", body
    assert "access_token" not in body
    assert "admin" in body["error_description"].lower()
    # The wrong password still says only that: the answer does not tell operators apart.
    r = post_token(api, grant_type="password", username=username, password="Wrong-Pass-9")
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_a_token_of_a_principal_who_became_an_operator_is_refused(api, user):
    token = password_token(api, user.username, "Alice-Test-Pass-1")
    User.objects.filter(pk=user.pk).update(is_staff=True)
    assert_refused(api.get(ARM_SUBSCRIPTIONS, **bearer(token)), "operator")


# --- Where a bearer token is accepted -------------------------------------------------------------------


def test_a_bearer_request_never_reaches_the_admin(api, operator, tenant):
    """Even a token of an operator (signed with the real key, as by someone who has it) opens nothing in
    /admin/, and its CSRF exemption does not carry over: no group is created."""
    token, _ = tokens.access_token(operator, tenant, base=BASE, audience=f"{BASE}/")
    for method, path, form in [
        ("get", "/admin/", None),
        ("get", "/admin/auth/group/", None),
        ("post", "/admin/auth/group/add/", {"name": "made-with-a-token"}),
    ]:
        r = getattr(api, method)(path, form or {}, **bearer(token))
        assert_refused(r, "API")
    assert not Group.objects.filter(name="made-with-a-token").exists()


def test_a_session_in_the_admin_with_a_bearer_header_is_refused_too(api, operator, user):
    api.force_login(operator)
    assert api.get("/admin/").status_code == 200
    assert_refused(api.get("/admin/", **bearer(tokens.issue(user, base=BASE)["access_token"])), "API")


@pytest.mark.parametrize("path", ["/", "/galleries/", "/activity/", "/directory/", "/subscriptions/"])
def test_pages_do_not_take_bearer_tokens(api, user, path):
    r = api.get(path, **bearer(tokens.issue(user, base=BASE)["access_token"]))
    assert_refused(r, "API")


def test_the_api_and_the_uploads_take_bearer_tokens(api, user, rg):
    token = tokens.issue(user, base=BASE)["access_token"]
    assert api.get(ARM_SUBSCRIPTIONS, **bearer(token)).status_code == 200
    assert api.get("/uploads/999999999", **bearer(token)).status_code == 404  # signed in: no such upload
    r = api.post(
        "/uploads/",
        {"resourceGroup": rg.arm_id, "name": "d.vhd", "size": 1024 * 1024 + 512},
        content_type="application/json",
        **bearer(token),
    )
    assert r.status_code == 201, r.content  # and no CSRF token needed
    assert api.get("/api/openapi.json", **bearer(token)).status_code == 200


def test_the_admin_ends_a_principals_tokens_with_an_action(api, client, user, operator):
    token = password_token(api, user.username, "Alice-Test-Pass-1")
    client.force_login(operator)
    page = client.get(f"/admin/accounts/user/{user.pk}/change/").content.decode()
    assert "Credential generation" in page
    r = client.post(
        "/admin/accounts/user/", {"action": "end_tokens", "_selected_action": [user.pk]}, follow=True
    )
    assert r.status_code == 200 and "are refused from now on" in r.content.decode()
    assert_refused(api.get(ARM_SUBSCRIPTIONS, **bearer(token)), "have changed")
