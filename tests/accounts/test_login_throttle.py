"""Login throttling (F1, N5) with django-axes: after AXES_FAILURE_LIMIT wrong passwords for one username
from one address, the sign-in page and the token endpoint's password grant answer 429 for the cool-off
time — even to the right password. A success before the limit starts the count again; other usernames
and other addresses are not affected. Attempts live in the test database, so nothing leaks between tests."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from axes.models import AccessAttempt
from django.urls import reverse

from accounts import directory
from accounts.activity import Caller

LIMIT = 3
PASSWORD = "Alice-Test-Pass-1"
WRONG_PASSWORD_MESSAGE = "Please enter a correct username and password"
LOCKED_MESSAGE = (
    "Too many failed sign-in attempts for this account from your address. Try again in 15 minutes."
)


@pytest.fixture(autouse=True)
def _throttle(settings, db):
    """A small limit, and proof that no attempt is left over from an earlier test."""
    assert not AccessAttempt.objects.exists(), "axes attempts leaked from an earlier test"
    settings.AXES_FAILURE_LIMIT = LIMIT
    assert settings.AXES_COOLOFF_TIME == 0.25  # 15 minutes, the default of LOGIN_COOLOFF_MINUTES


def sign_in(client, username, password, address="127.0.0.1"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def token_by_password(client, username, password, address="127.0.0.1"):
    return client.post(
        "/oauth2/token",
        urlencode({"grant_type": "password", "username": username, "password": password}),
        content_type="application/x-www-form-urlencoded",
        REMOTE_ADDR=address,
    )


def assert_wrong_password(response):
    assert response.status_code == 200
    assert WRONG_PASSWORD_MESSAGE in response.content.decode()


def assert_signed_in(client, response):
    assert response.status_code == 302, response.status_code
    assert client.get(reverse("home")).status_code == 200


def assert_locked_page(client, response):
    assert response.status_code == 429
    assert response["Retry-After"] == "900"
    assert "registration/locked_out.html" in [t.name for t in response.templates]
    page = response.content.decode()
    assert LOCKED_MESSAGE in page and 'name="password"' not in page
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("home")).status_code == 302  # not signed in: off to the sign-in page


def assert_locked_token(response):
    assert response.status_code == 429
    assert response["Retry-After"] == "900"
    body = response.json()
    assert body["error"] == "temporarily_unavailable" and body["error_codes"] == [50053]
    assert body["error_description"].startswith(f"AADSTS50053: {LOCKED_MESSAGE} Trace ID: ")


def test_the_limit_of_wrong_passwords_locks_the_sign_in_page_even_for_the_right_password(client, user):
    for _ in range(LIMIT - 1):
        assert_wrong_password(sign_in(client, user.username, "wrong"))
    # The attempt that reaches the limit is already answered with the lockout.
    assert_locked_page(client, sign_in(client, user.username, "wrong"))
    assert_locked_page(client, sign_in(client, user.username, PASSWORD))
    attempt = AccessAttempt.objects.get()
    # The attempt made during the lockout counts too (and restarts the cool-off: axes' default).
    assert (attempt.username, attempt.ip_address) == (user.username, "127.0.0.1")
    assert attempt.failures_since_start == LIMIT + 1


def test_the_token_endpoint_password_grant_is_throttled_too(client, user):
    for _ in range(LIMIT - 1):
        r = token_by_password(client, user.username, "wrong")
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert_locked_token(token_by_password(client, user.username, "wrong"))
    assert_locked_token(token_by_password(client, user.username, PASSWORD))


def test_the_page_and_the_token_endpoint_share_one_count(client, user):
    for _ in range(LIMIT):
        sign_in(client, user.username, "wrong")
    assert_locked_token(token_by_password(client, user.username, PASSWORD))
    AccessAttempt.objects.all().delete()  # an administrator unlocks (Django admin, axes_reset)
    r = token_by_password(client, user.username, PASSWORD)
    assert r.status_code == 200 and r.json()["token_type"] == "Bearer"


def test_a_success_before_the_limit_starts_the_count_again(client, user):
    for _ in range(LIMIT - 1):
        assert_wrong_password(sign_in(client, user.username, "wrong"))
    assert_signed_in(client, sign_in(client, user.username, PASSWORD))
    assert not AccessAttempt.objects.exists()
    client.logout()
    for _ in range(LIMIT - 1):
        assert_wrong_password(sign_in(client, user.username, "wrong"))
    assert_signed_in(client, sign_in(client, user.username, PASSWORD))


def test_a_token_issued_by_password_before_the_limit_starts_the_count_again(client, user):
    for _ in range(LIMIT - 1):
        assert token_by_password(client, user.username, "wrong").status_code == 400
    assert token_by_password(client, user.username, PASSWORD).status_code == 200
    assert not AccessAttempt.objects.exists()
    for _ in range(LIMIT - 1):
        assert token_by_password(client, user.username, "wrong").status_code == 400
    assert token_by_password(client, user.username, PASSWORD).status_code == 200


def test_other_usernames_and_other_addresses_are_not_affected(client, user, tenant):
    directory.add_user(Caller.system(), tenant, "bob@contoso.test", "Bob-Test-Pass-22")
    for _ in range(LIMIT):
        sign_in(client, user.username, "wrong")
    assert_locked_page(client, sign_in(client, user.username, PASSWORD))
    assert_signed_in(client, sign_in(client, "bob@contoso.test", "Bob-Test-Pass-22"))
    client.logout()
    assert token_by_password(client, "bob@contoso.test", "Bob-Test-Pass-22").status_code == 200
    # The same username from another address: the lockout is per username *and* address.
    assert_signed_in(client, sign_in(client, user.username, PASSWORD, address="10.0.0.7"))


def test_wrong_passwords_for_another_user_do_not_count_against_this_one(client, user, tenant):
    directory.add_user(Caller.system(), tenant, "bob@contoso.test", "Bob-Test-Pass-22")
    for _ in range(LIMIT - 1):
        sign_in(client, user.username, "wrong")
        sign_in(client, "bob@contoso.test", "wrong")
    assert_signed_in(client, sign_in(client, user.username, PASSWORD))


def test_behind_a_proxy_the_throttle_keys_on_the_address_the_proxy_saw(rf, settings):
    from accounts.views import client_ip

    request = rf.get("/login/", HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.7", REMOTE_ADDR="10.0.0.1")
    settings.SECURE_PROXY_SSL_HEADER = None
    assert client_ip(request) == "10.0.0.1"  # not behind a proxy: the header is anyone's to forge
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert client_ip(request) == "198.51.100.7"  # the address our proxy appended
