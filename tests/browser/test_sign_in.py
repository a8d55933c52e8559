"""Sign in through the form, a wrong password's message, sign out."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from accounts.services import create_tenant, create_user

from .conftest import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def person(db):
    tenant = create_tenant("Contoso", "contoso.test")
    return create_user(tenant, "ana@contoso.test", "Ana-Browser-Pass-1", "Ana")


def test_sign_in_wrong_password_then_right_then_sign_out(page, person):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))

    page.get_by_label("User name").fill("ana@contoso.test")
    page.get_by_label("Password").fill("not-her-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".errorlist")).to_contain_text("correct")
    expect(page.get_by_label("User name")).to_have_value("ana@contoso.test")  # kept for the retry

    sign_in(page, "ana@contoso.test", "Ana-Browser-Pass-1")
    expect(page.locator("#directory-switcher")).to_have_value(str(person.home_tenant_id))

    page.get_by_role("button", name="Sign out").click()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
