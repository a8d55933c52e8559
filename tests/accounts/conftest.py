"""Fixtures of the directory page tests: Contoso's administrator (signed in or not) and a second
tenant. A test module's own fixture of the same name takes precedence."""

from __future__ import annotations

import pytest

from accounts.services import create_tenant, create_user

ADMIN_PASS = "Admin-Test-Pass-1"


@pytest.fixture
def admin(tenant):
    return create_user(tenant, "root@contoso.test", ADMIN_PASS, "Contoso Admin", is_tenant_admin=True)


@pytest.fixture
def as_admin(client, admin):
    client.force_login(admin)
    return client


@pytest.fixture
def fabrikam(db):
    return create_tenant("Fabrikam", "fabrikam.test")
